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

Coordinates come from the arguments, else JAX's environment variables
(``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``), else a cluster
manager JAX detects itself (SLURM, Open MPI, Cloud TPU, Kubernetes).
"""

from __future__ import annotations

import os
import socket
import sys
import time

import jax
import numpy as np

from jaxnn.errors import ConfigError, DistributedError

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
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


def run(main, prefix: str) -> int:
    """``main()`` of one process of a distributed run. Errors end the process at once with
    one line (``prefix: error: …``) and their exit code; an error that is not jaxnn's own
    comes from the collectives (a peer died), ``lost_contact``."""
    from jaxnn.errors import JaxnnError

    try:
        code = main()
        # every process finishes here, or hears that one did not: JAX's own shutdown at
        # exit waits for all of them and aborts with a stack trace when one is gone
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxnn: run finished")
        jax.distributed.shutdown()
        return code
    except JaxnnError as error:
        abandon(f"{prefix}: error: {error}", error.exit_code)
    except KeyboardInterrupt:
        abandon(f"{prefix}: interrupted", 130)
    except Exception as error:
        if not _is_lost_contact(error):
            import traceback

            traceback.print_exc()  # a bug, not a peer that died: the traceback helps
            abandon(f"{prefix}: error: process {jax.process_index()} failed", 1)
        lost = lost_contact(error)
        abandon(f"{prefix}: error: {lost}", lost.exit_code)
    return 1  # not reached: abandon exits
