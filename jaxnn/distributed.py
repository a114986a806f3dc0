"""Several processes training one run (hosts of a cluster, or processes on one machine):
``jax.distributed`` connects them, and the run's ``jax.sharding`` mesh spans every
process's devices, so XLA's own collectives do the communication (on CPUs: Gloo over TCP).

* ``initialize`` wraps ``jax.distributed.initialize``: CPU collectives through Gloo (JAX's
  CPU backend has none by default), a coordinator that answers within ``timeout`` seconds
  or a one-line ``DistributedError`` (JAX itself aborts the process with a C++ stack trace
  after its ``initialization_timeout``), and a heartbeat timeout of ``HEARTBEAT_SECONDS``
  (JAX's default is 100 s) so that a process that dies silently stops the others soon.
* ``is_writer``: exactly one process (0) writes the run folder; ``agree`` makes a decision
  taken from one process's clock (is a checkpoint due?) the same on every process.
* ``lost_contact`` / ``abandon``: a peer that dies mid-run shows as an error from the next
  collective (Gloo: "Connection reset by peer"); the survivors print one line and exit at
  once, without JAX's shutdown barrier, which would wait for the dead process.
* ``Watch``: a process that fails says so in the coordination service's key-value store
  before it exits (``announce``), and a thread of every process waits for that word and
  polls which processes are alive (``get_live_nodes``: a process killed outright stops
  sending heartbeats); either ends this process at once with one line and exit 7, also
  when it waits outside any collective (loading data, compiling, in a barrier). JAX's
  coordination service runs "recoverable" (``jax_enable_recoverability``): by default it
  kills every surviving process with a C++ stack trace as soon as one is gone.
  ``jaxnn.supervise`` catches the one abort left: the coordinator's own process gone.
* ``finished``: a process whose run finished exits at once after flushing its output, not
  through Python's shutdown, where a thread still inside a coordination-client call
  aborts the process (see its docstring).
* ``agree_any`` / ``same_settings``: decisions (stream or not) and settings every process
  must share, checked once over the processes.

Coordinates come from the arguments, else JAX's environment variables
(``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``), else a cluster
manager JAX detects itself (SLURM, Open MPI, Cloud TPU, Kubernetes).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time

import jax
import numpy as np

from jaxnn import supervise
from jaxnn.errors import ConfigError, DistributedError, Preempted

LOCAL_PATHS = ("data_dir", "manual_dir", "out_dir")  # may differ between processes
HEARTBEAT_SECONDS = 10  # a process silent this long is dead (JAX's default: 100)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--coordinator {address!r} must be HOST:PORT, e.g. 10.0.0.1:1234")
    return host, int(port)


def _is_local(host: str) -> bool:
    """Can this machine bind ``host`` (is it one of its addresses)?"""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    for family, _, _, _, address in infos:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address[0], 0))
                return True
            except OSError:
                continue
    return False


def _wait_for(host: str, port: int, timeout: float) -> bool:
    """Does something accept TCP connections at ``host:port`` within ``timeout`` seconds?"""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(min(left, 2.0), 0.1)):
                return True
        except OSError:
            if left <= 0:
                return False
            time.sleep(min(0.2, max(left, 0)))


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout: float = 20.0) -> None:  # fmt: skip
    """Join the run's processes (call before any other JAX operation). Arguments left None
    come from ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` or
    the cluster manager. Process 0 serves the coordinator at ``coordinator``; every other
    process waits up to ``timeout`` seconds for it to answer."""
    if not timeout > 0:
        raise ConfigError(f"--coordinator-timeout must be > 0 seconds; got {timeout}")
    coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and os.environ.get("JAX_PROCESS_ID"):
        process_id = int(os.environ["JAX_PROCESS_ID"])
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes must be ≥ 1; got {num_processes}")
    if None not in (num_processes, process_id) and not 0 <= process_id < num_processes:
        raise ConfigError(f"--process-id must be in 0..{num_processes - 1}; got {process_id}")
    # JAX's CPU client has no collectives unless one is chosen; a GPU/TPU ignores this
    if not os.environ.get("JAX_CPU_COLLECTIVES_IMPLEMENTATION"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # without it, the coordination service aborts every other process (C++ stack trace,
    # exit 134) once one is gone; jaxnn's own Watch ends them with one line instead
    jax.config.update("jax_enable_recoverability", True)
    if coordinator is not None:
        host, port = _split_address(coordinator)
        if process_id == 0 and not _is_local(host):
            raise DistributedError(
                f"process 0 serves the coordinator, but {host} is not an address of this "
                f"machine ({socket.gethostname()}): start process 0 on {host}, or give "
                "--coordinator this machine's address"
            )
        if process_id not in (0, None) and not _wait_for(host, port, timeout):
            raise DistributedError(
                f"no coordinator answers at {coordinator} after {timeout:g} s: start process 0 "
                "(it serves the coordinator) with the same --coordinator, check the address "
                "and that the port is open, or wait longer with --coordinator-timeout"
            )
    try:
        jax.distributed.initialize(
            coordinator, num_processes, process_id,
            initialization_timeout=max(int(timeout), 1),
            heartbeat_timeout_seconds=HEARTBEAT_SECONDS,
        )  # fmt: skip
    except (ValueError, TypeError, RuntimeError) as error:
        raise DistributedError(
            f"cannot start the distributed run ({str(error).splitlines()[0]}): give "
            "--coordinator HOST:PORT, --num-processes and --process-id (or JAX_COORDINATOR_"
            "ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), or run under SLURM"
        ) from None


def global_devices(requested: int, given: bool) -> int:
    """The mesh of a distributed run spans every process's devices: ``--devices`` left out
    means all of them; a count that leaves a process out is an error."""
    total = jax.device_count()
    if not given or requested == total:
        return total
    raise ConfigError(
        f"--devices {requested}: a distributed run trains on every process's devices, "
        f"{total} here ({jax.process_count()} processes × {jax.local_device_count()}); "
        f"use --devices {total} or leave it out"
    )


def sweep_over_processes(run, configs: list[dict]):
    """``run(part) -> sweep.SweepResult`` on this process's block of ``configs`` (the
    configurations are independent: no communication while they train), then every
    process's costs and accuracies gathered in ``configs``' order
    (``multihost_utils.process_allgather``). ``params`` stay this process's block's."""
    processes, index = jax.process_count(), jax.process_index()
    if processes == 1:
        return run(configs)
    from jax.experimental import multihost_utils

    per = -(-len(configs) // processes)
    mine = configs[index * per : (index + 1) * per] or configs[-1:]
    result = run(mine + mine[-1:] * (per - len(mine)))  # padded: same shapes everywhere

    def gather(values):
        return np.asarray(multihost_utils.process_allgather(np.asarray(values)))

    def rows(values):  # (processes, per, ...) -> (len(configs), ...): the padding last
        return gather(values).reshape(processes * per, *np.shape(values)[1:])[: len(configs)]

    return result._replace(
        configs=list(configs), costs=rows(result.costs),
        train_metrics={name: rows(v) for name, v in result.train_metrics.items()},
        test_metrics={name: rows(v) for name, v in result.test_metrics.items()},
        seconds=float(gather(result.seconds).max()),
        compile_seconds=float(gather(result.compile_seconds).max()),
        devices=jax.device_count(),
    )  # fmt: skip


def agree_any(flag: bool) -> bool:
    """True on every process when ``flag`` is True on any of them (a max over the
    processes; free when there is one)."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(bool(flag)))))


def same_settings(settings: dict) -> None:
    """Every process must train the same run: a process whose ``settings`` differ from
    process 0's stops with a ConfigError naming them (process 0 then hears that it failed).
    Paths that name one machine's files (``--data-dir``, ``--manual-dir``, ``--out``) may
    differ and are left out by the caller."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    settings = {key: value for key, value in settings.items() if key not in LOCAL_PATHS}
    text = json.dumps(settings, sort_keys=True, default=str)
    if is_writer():  # for the message of a process whose settings differ
        _client().key_value_set("jaxnn/settings/0", text, True)
    digest = np.frombuffer(hashlib.sha256(text.encode()).digest(), np.uint8)
    first = np.asarray(multihost_utils.broadcast_one_to_all(digest))
    if np.array_equal(first, digest):
        return
    announced = _client().blocking_key_value_get("jaxnn/settings/0", 10_000)
    theirs = json.loads(announced)
    mine = json.loads(text)
    differ = [f"--{key.replace('_', '-')} {theirs.get(key)!r} there, {value!r} here"
              for key, value in sorted(mine.items()) if theirs.get(key) != value]  # fmt: skip
    raise ConfigError(
        f"process {jax.process_index()} was started with other settings than process 0 "
        f"({'; '.join(differ) or 'they differ'}): start every process with the same command"
    )


def is_writer() -> bool:
    """The one process that writes the run folder: process 0."""
    return jax.process_index() == 0


def agree(flag: bool) -> bool:
    """``flag`` as process 0 sees it, on every process (one tiny broadcast; free when there
    is one process). For decisions that depend on a process's own clock."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def lost_contact(error: BaseException) -> DistributedError:
    """The one-line error of a process whose peer stopped answering."""
    first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return DistributedError(
        f"process {jax.process_index()} of {jax.process_count()} lost contact with the others "
        f"({first[:200]}); every process stops. Restart all of them with --resume to continue "
        "from the last checkpoint"
    )


# what a collective or the coordination service says when a peer is gone
_LOST = ("gloo", "connection reset", "connection refused", "broken pipe", "heartbeat",
         "unavailable", "deadline exceeded", "socket closed", "barrier")  # fmt: skip


def _is_lost_contact(error: BaseException) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _LOST)


def abandon(message: str, code: int) -> None:
    """Print ``message`` and exit now, skipping JAX's shutdown barrier (which waits for
    every process, the dead one too, and then aborts with a stack trace)."""
    say(message)
    _exit_now(code)


def say(line: str) -> None:
    """``line`` and its newline on stderr in one write: ``print`` writes the newline
    separately, and JAX's client aborting in that instant (process 0 gone) wrote its fatal
    log line between the two (seen under load), so that the supervisor could not tell it
    from the child's own line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _exit_now(code: int) -> None:
    """Flush what this process has to say and exit with ``code`` without Python's shutdown
    (see ``finished``)."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    os._exit(code)


def finished(code: int) -> None:
    """End a process whose run finished: flush its output and exit with ``code`` at once.

    Not by returning to Python's shutdown: the watch's threads and the coordination
    client's are still inside C++ calls (``blocking_key_value_get``, ``get_live_nodes``),
    and one that comes back while the interpreter finalizes is ended by ``pthread_exit``,
    which unwinds through C++ frames that cannot let it pass: ``terminate called after
    throwing an instance of '' / FATAL: exception not rethrown``, SIGABRT, and a finished
    run reported as ``lost contact`` (exit 7). Everything the run writes is complete by
    now: checkpoints are waited for (``BackgroundSaver.close``), files are closed."""
    _exit_now(code)


def _client():
    from jax._src import distributed as jax_distributed

    return jax_distributed.global_state.client


FAILED_KEY = "jaxnn/failed"  # the first process that fails writes its index here
POLL_SECONDS = 0.5  # how often each process looks for a failed or silent peer
WAIT_MS = 60_000  # one wait for the failure word (then it waits again)
ACK_SECONDS = 3.0  # how long process 0 waits for the others to say they are leaving


_WATCH: Watch | None = None


def stopping() -> None:
    """Every process stops together (preempted): the watch no longer needs to."""
    if _WATCH is not None:
        _WATCH.leaving = True


class Watch:
    """A daemon thread that ends this process with one line and exit 7 (``prefix: error:
    process N failed`` / ``lost contact``) as soon as another process announces that it
    failed (``announce``) or stops answering the coordination service (killed, its machine
    gone: ``get_live_nodes`` drops it after ``HEARTBEAT_SECONDS``)."""

    def __init__(self, prefix: str):
        # the one line a process prints: whichever thread speaks first (the main thread's
        # error, or a watch thread's) holds the lock until the process has exited
        self.prefix, self.leaving, self.lock = prefix, False, threading.RLock()
        self.processes, self.index = jax.process_count(), jax.process_index()
        for watch in (self._watch_failures, self._watch_liveness):
            threading.Thread(target=watch, name=f"jaxnn{watch.__name__}", daemon=True).start()

    def announce(self, why: str) -> None:
        """Tell the other processes that this one fails (``why``: its one line), once.
        Process 0 then waits (up to ``ACK_SECONDS``) until each has said it is leaving
        (``exit``): its own exit takes the coordination service down, and a process still
        connected then is aborted by JAX's client (SIGABRT, reported as ``lost contact``)."""
        self.leaving = True
        client = _client()
        try:
            client.key_value_set(FAILED_KEY, json.dumps([self.index, why[:300]]))
        except Exception:  # another process announced first, or the service is gone
            return
        if self.index == 0:
            self._wait_gone(range(1, self.processes))

    def _wait_gone(self, others) -> None:
        deadline = time.monotonic() + ACK_SECONDS
        for other in others:
            left = int(max(deadline - time.monotonic(), 0.001) * 1000)
            try:
                _client().blocking_key_value_get(f"{FAILED_KEY}/gone/{other}", left)
            except Exception:  # gone already, or slower than ACK_SECONDS
                pass

    def exit(self, message: str, code: int) -> None:
        """Print ``message``, say that this process is leaving (process 0 waits for that
        word before it takes the coordination service down), and exit with ``code``."""
        with self.lock:  # the other threads wait here until the process has exited
            self.leaving = True
            say(message)
            sys.stdout.flush()  # all said before process 0 may leave
            supervise.chosen(code)  # stands even if JAX's client aborts this process now
            try:
                _client().key_value_set(f"{FAILED_KEY}/gone/{self.index}", "1")
            except Exception:  # the service is gone already
                pass
            _exit_now(code)

    def _stop(self, message: str, failed: int | None = None) -> None:
        """End this process with ``message`` and exit 7; ``failed``: the process that
        announced its failure, which process 0 lets leave first."""
        with self.lock:  # one of the two threads speaks
            if self.leaving:
                return
            self.leaving = True
            if self.index == 0 and failed is not None:
                self._wait_gone([failed])
            self.exit(f"{self.prefix}: error: {message}", DistributedError.exit_code)

    def _watch_failures(self) -> None:
        client = _client()
        while not self.leaving:
            try:
                announced = client.blocking_key_value_get(FAILED_KEY, WAIT_MS)
            except Exception as error:  # not yet (DEADLINE_EXCEEDED), or the service is gone
                if "deadline" not in str(error).lower():
                    time.sleep(POLL_SECONDS)  # the liveness thread names what happened
                continue
            index, why = json.loads(announced)
            if index != self.index and not self.leaving:
                self._stop(
                    f"process {index} of {self.processes} failed ({why}); every process "
                    "stops. Fix it and start all of them again (with --resume to continue "
                    "from the last checkpoint)",
                    failed=index,
                )
            return

    def _watch_liveness(self) -> None:
        # get_live_nodes returns once every live process has asked (or after the heartbeat
        # timeout has declared the silent ones dead), hence a thread of its own
        client, everyone = _client(), list(range(self.processes))
        while not self.leaving:
            try:
                live = client.get_live_nodes(everyone)
            except Exception as error:  # the coordinator (process 0) is gone
                time.sleep(POLL_SECONDS)  # a failure announced meanwhile names its cause
                self._stop(str(lost_contact(error)))
                return
            gone = sorted(set(everyone) - set(live))
            if gone:
                time.sleep(POLL_SECONDS)
                silent = f"process {gone[0]} stopped answering for {HEARTBEAT_SECONDS} s"
                self._stop(str(lost_contact(RuntimeError(silent))))
                return
            time.sleep(POLL_SECONDS)


def _leave_in_order(timeout: float = 2 * HEARTBEAT_SECONDS) -> None:
    """The other processes disconnect first, then process 0 stops the coordination service
    it serves: a process still connected when the service goes away is aborted by JAX's
    client (a C++ stack trace), even after a run that finished."""
    if not is_writer():
        jax.distributed.shutdown()  # disconnects this process
        return
    client, others = _client(), list(range(1, jax.process_count()))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not set(others) & set(client.get_live_nodes(list(range(jax.process_count())))):
            return
        time.sleep(0.05)


def run(main, prefix: str) -> int:
    """``main()`` of one process of a distributed run. Errors end the process at once with
    one line (``prefix: error: …``) and their exit code, after telling the other processes
    (``Watch.announce``), which then stop with ``process N failed`` (exit 7); an error that
    is not jaxnn's own comes from the collectives (a peer died), ``lost_contact``."""
    from jaxnn.errors import JaxnnError

    global _WATCH
    watch = _WATCH = Watch(prefix) if jax.process_count() > 1 else None

    def leave(line: str, code: int, why: str | None = None) -> None:
        """Exit with ``line`` and ``code``; ``why``: the failure the others hear of."""
        if watch is None:
            abandon(line, code)
        if why is not None:
            watch.announce(why)
        watch.exit(line, code)

    try:
        code = main()
        # every process finishes here, or hears that one did not: JAX's own shutdown at
        # exit waits for all of them and aborts with a stack trace when one is gone
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxnn: run finished")
        if watch is not None:
            watch.leaving = True
            _leave_in_order()
        jax.distributed.shutdown()
        finished(code)
    except JaxnnError as error:
        leave(f"{prefix}: error: {error}", error.exit_code, why=str(error))
    except Preempted as stop:  # every process stops together, at the same point
        if watch is not None and watch.index == 0:
            # the others leave first, as after a failure (announce): process 0's exit takes
            # the coordination service down, and JAX's client aborts a process still on it
            # (a stop inside an epoch has no checkpoint barrier to hold process 0 back)
            watch._wait_gone(range(1, watch.processes))
        leave(f"{prefix}: {stop}", stop.exit_code)
    except KeyboardInterrupt:
        leave(f"{prefix}: interrupted", 130, why=f"{prefix}: interrupted")
    except Exception as error:
        if not _is_lost_contact(error):
            import traceback

            traceback.print_exc()  # a bug, not a peer that died: the traceback helps
            first = next((line for line in str(error).splitlines() if line.strip()), "")
            leave(f"{prefix}: error: process {jax.process_index()} failed", 1,
                  why=f"{type(error).__name__}: {first}")  # fmt: skip
        lost = lost_contact(error)
        leave(f"{prefix}: error: {lost}", lost.exit_code)
    return 1  # not reached: finished and abandon exit
