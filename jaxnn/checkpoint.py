"""Checkpoints of a training run through orbax-checkpoint.

A checkpoint holds the params, the optimizer state, the step count, the run's base PRNG key
and the number of finished epochs. The data order of epoch ``e`` is drawn from
``fold_in(key, e)``, so a run resumed from the checkpoint after epoch ``e`` continues with
exactly the permutations the uninterrupted run would have used. orbax writes each checkpoint
to a temporary folder and renames it when complete, so a crash during a save leaves the
previous checkpoint loadable.

On top of orbax, jaxnn writes a SHA-256 manifest of every file of a checkpoint
(``jaxnn_checksums.json``, itself written atomically) once orbax has committed it. A
checkpoint without its manifest is incomplete and skipped; restoring one whose files no
longer match (empty, truncated, bit-flipped) is a ``CheckpointError`` that names the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil

import jax

from jaxnn.checkpoint_folder import MANIFEST, latest_epoch
from jaxnn.errors import CheckpointError

# orbax logs each save at INFO through absl; keep the progress bar readable.
logging.getLogger("absl").setLevel(logging.ERROR)


def _manager(directory: str, max_to_keep: int = 2):
    import orbax.checkpoint as ocp

    # several processes: each manager serves its own process alone (no barriers with the
    # others); jaxnn's state is replicated, so process 0 saves it and every process restores
    # it by itself (see ``save``)
    alone = ocp.options.MultiprocessingOptions(
        primary_host=jax.process_index(), active_processes={jax.process_index()}
    )
    several = jax.process_count() > 1
    if several:  # orbax creates the folder only when every process takes part
        os.makedirs(directory, exist_ok=True)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, enable_async_checkpointing=False, create=not several,
        **({"multiprocessing_options": alone} if several else {}),
    )  # fmt: skip
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(directory: str, epoch: int, state: dict) -> None:
    """Save ``state`` (a pytree of arrays) as the checkpoint after ``epoch`` epochs.

    Several processes (``jax.distributed``): only process 0 writes, a host copy of the
    state, which every process holds whole (data parallelism replicates the params and the
    optimizer state); the others return at once. The run folder must be one that every
    process reads (a shared filesystem), as for any multi-host checkpoint."""
    import orbax.checkpoint as ocp

    if jax.process_count() > 1:
        if jax.process_index() != 0:
            return
        state = host_copy(state)
    for leaf in jax.tree.leaves(state):
        if (
            hasattr(leaf, "dtype")
            and leaf.dtype.kind == "f"
            and not bool(jax.numpy.isfinite(leaf).all())
        ):
            raise CheckpointError("refusing to save a checkpoint with NaN/Inf values")
    from jaxnn import safe_write

    step_dir = os.path.join(os.path.abspath(directory), str(epoch))
    safe_write.install()  # orbax's writer threads' error logs: collected, not printed
    try:
        safe_write.clean_partial(directory)  # left by a crashed or failed save
        if os.path.exists(step_dir):  # a run resumed before it
            shutil.rmtree(step_dir)
        os.makedirs(directory, exist_ok=True)
        safe_write.check_space(directory, _nbytes(state), f"checkpoint {epoch}")
        with safe_write.quiet_stderr():  # what orbax's threads print when a write fails
            manager = _manager(directory)
            try:
                manager.save(epoch, args=ocp.args.StandardSave(state), force=True)
                manager.wait_until_finished()
            finally:
                with contextlib.suppress(Exception):  # its error is the one raised above
                    manager.close()
        _write_manifest(step_dir)
    except (OSError, ValueError, RuntimeError) as error:  # disk full, quota, lost mount
        raise safe_write.failed(f"checkpoint {epoch}", step_dir, directory, error,
                                clean=True) from None  # fmt: skip


def _nbytes(state) -> int:
    """The bytes of the state's arrays: about what a checkpoint of it takes on disk."""
    return sum(int(getattr(leaf, "nbytes", 0)) for leaf in jax.tree.leaves(state))


def host_copy(tree):
    """Every leaf as a numpy array on this host (a leaf that spans several processes must be
    replicated: each process holds all of it)."""
    import numpy as np

    return jax.tree.map(np.asarray, tree)


class BackgroundSaver:
    """Saves checkpoints in a background thread while the next epoch computes (JAX arrays
    are immutable, so the state cannot change under the writer). One save at a time, in
    order; ``wait()`` blocks until the last one is complete and re-raises its error."""

    def __init__(self):
        import concurrent.futures

        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._pending = None

    def save(self, directory: str, epoch: int, state: dict) -> None:
        self.wait()
        self._pending = self._pool.submit(save, directory, epoch, state)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """Wait for the save in flight and drop its error: the run is already ending on
        another one (a failed write), which is the one to report."""
        with contextlib.suppress(Exception):
            self.close()


def _files(step_dir: str) -> list[str]:
    found = []
    for root, _, names in os.walk(step_dir):
        for name in names:
            path = os.path.relpath(os.path.join(root, name), step_dir)
            if path != MANIFEST:
                found.append(path)
    return sorted(found)


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _write_manifest(step_dir: str) -> None:
    manifest = {path: _sha256(os.path.join(step_dir, path)) for path in _files(step_dir)}
    tmp = os.path.join(step_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as file:
        json.dump(manifest, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, os.path.join(step_dir, MANIFEST))


def verify(directory: str, epoch: int) -> None:
    """Check every file of checkpoint ``epoch`` against its manifest; CheckpointError if not."""
    step_dir = os.path.join(os.path.abspath(directory), str(epoch))
    fix = f"delete {step_dir} to resume from the checkpoint before it, or start the run afresh"
    manifest_path = os.path.join(step_dir, MANIFEST)
    if not os.path.exists(manifest_path):
        raise CheckpointError(
            f"checkpoint {epoch} in {directory} is incomplete (no manifest); {fix}"
        )
    try:
        with open(manifest_path) as file:
            manifest = json.load(file)
    except (OSError, ValueError):
        raise CheckpointError(f"checkpoint {epoch}: its manifest is unreadable; {fix}") from None
    if not manifest:
        raise CheckpointError(f"checkpoint {epoch} in {directory} is empty; {fix}")
    for path, expected in manifest.items():
        full = os.path.join(step_dir, path)
        if not os.path.exists(full):
            raise CheckpointError(f"checkpoint {epoch} is missing {path}; {fix}")
        if _sha256(full) != expected:
            raise CheckpointError(
                f"checkpoint {epoch} is corrupt: {path} does not match its checksum "
                f"(truncated or changed on disk); {fix}"
            )


def restore(directory: str, template: dict, epoch: int | None = None) -> tuple[int, dict]:
    """Restore the checkpoint after ``epoch`` (default: the latest) into ``template``'s
    structure, shapes and dtypes. Returns ``(epoch, state)``."""
    import orbax.checkpoint as ocp

    epoch = latest_epoch(directory) if epoch is None else epoch
    if epoch is None:
        raise CheckpointError(
            f"no checkpoint in {directory}: start without --resume, or point --out at a run"
        )
    verify(directory, epoch)
    _check_compatible(_leaf_shapes(directory, epoch), template)
    manager = _manager(directory)
    try:
        if jax.process_count() > 1:  # each process reads a host copy (``save``)
            template = host_copy(template)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        state = manager.restore(epoch, args=ocp.args.StandardRestore(abstract))
    except CheckpointError:
        raise
    except Exception as error:  # orbax/tensorstore raise many kinds on corrupt files
        raise CheckpointError(
            f"checkpoint {epoch} in {directory} cannot be read ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); delete it to fall back "
            "to an older one, or start the run afresh"
        ) from None
    finally:
        manager.close()
    return epoch, state


def _item_path(directory: str, epoch: int) -> str:
    return os.path.join(os.path.abspath(directory), str(epoch), "default")


def _leaf_shapes(directory: str, epoch: int) -> dict[str, tuple[int, ...]]:
    """``{"W1": shape, …}`` of the saved params, read from the checkpoint's metadata."""
    import orbax.checkpoint as ocp

    try:
        metadata = ocp.StandardCheckpointer().metadata(_item_path(directory, epoch))
        return leaf_shapes(dict(metadata.item_metadata["params"]))
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {epoch} in {directory} cannot be read ({type(error).__name__}); "
            "delete it to fall back to an older one, or start the run afresh"
        ) from None


def load(directory: str, epoch: int | None = None) -> dict:
    """The saved state (``params``, ``opt_state``, ``epoch``, ``step``, ``key``) as arrays on
    the first local device, without a template: for inspecting a finished run (also one
    trained on several devices)."""
    import orbax.checkpoint as ocp

    epoch = latest_epoch(directory) if epoch is None else epoch
    if epoch is None:
        raise CheckpointError(f"no checkpoint in {directory}")
    verify(directory, epoch)
    checkpointer = ocp.StandardCheckpointer()
    metadata = checkpointer.metadata(_item_path(directory, epoch)).item_metadata
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
        dict(metadata),
        is_leaf=lambda leaf: hasattr(leaf, "shape") and hasattr(leaf, "dtype"),
    )
    return checkpointer.restore(_item_path(directory, epoch), abstract)


def leaf_shapes(params) -> dict[str, tuple[int, ...]]:
    """``{"W1": shape, …}`` (MLP) or ``{"conv1.W": shape, …}`` (nested params): every leaf
    named by its path."""
    flat = jax.tree_util.tree_flatten_with_path(
        params, is_leaf=lambda leaf: hasattr(leaf, "shape") and hasattr(leaf, "dtype")
    )[0]
    return {".".join(str(getattr(k, "key", k)) for k in path): tuple(leaf.shape)
            for path, leaf in flat}  # fmt: skip


def _check_compatible(saved: dict[str, tuple[int, ...]], template: dict) -> None:
    """Name the leaves whose shapes differ (e.g. a checkpoint of another architecture)."""
    wanted = leaf_shapes(template["params"])
    mismatched = [
        f"{key}: checkpoint {saved.get(key)} vs run {wanted.get(key)}"
        for key in sorted(set(saved) | set(wanted))
        if saved.get(key) != wanted.get(key)
    ]
    if mismatched:
        raise CheckpointError(
            "checkpoint is from another architecture: "
            + "; ".join(mismatched)
            + ". Use the run's original --model, --layers and --width, or a new --out"
        )
