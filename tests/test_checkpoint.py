import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import checkpoint, mlp
from jaxnn.errors import CheckpointError


def _state(seed=0, dims=(3, 4, 2)):
    params = mlp.init(jax.random.PRNGKey(seed), list(dims))
    opt_state = optax.sgd(0.1).init(params)
    return {"params": params, "opt_state": opt_state, "epoch": jnp.asarray(1),
            "step": jnp.asarray(7), "key": jax.random.PRNGKey(seed)}  # fmt: skip


def _largest_file(step_dir):
    files = [os.path.join(r, n) for r, _, ns in os.walk(step_dir) for n in ns
             if n != checkpoint.MANIFEST]  # fmt: skip
    return max(files, key=os.path.getsize)


def test_roundtrip_is_exact(tmp_path):
    state = _state()
    checkpoint.save(str(tmp_path), 1, state)
    epoch, restored = checkpoint.restore(str(tmp_path), _state(seed=1))
    assert epoch == 1
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(restored["step"]) == 7


def test_a_crash_during_save_leaves_the_previous_checkpoint(tmp_path):
    checkpoint.save(str(tmp_path), 1, _state())
    # what a crash mid-save leaves: a step folder with partial files and no manifest
    partial = tmp_path / "2"
    partial.mkdir()
    (partial / "half-written").write_bytes(b"\x00" * 10)
    assert checkpoint.latest_epoch(str(tmp_path)) == 1
    epoch, _ = checkpoint.restore(str(tmp_path), _state())
    assert epoch == 1
    checkpoint.save(str(tmp_path), 2, _state(seed=3))  # the next save replaces the debris
    assert checkpoint.latest_epoch(str(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "empty"])
def test_damaged_checkpoint_is_detected(tmp_path, damage):
    checkpoint.save(str(tmp_path), 1, _state())
    target = _largest_file(tmp_path / "1")
    data = bytearray(open(target, "rb").read())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "bitflip":
        data[len(data) // 2] ^= 0x01
    else:
        data = bytearray()
    with open(target, "wb") as file:
        file.write(data)
    with pytest.raises(CheckpointError, match="checksum"):
        checkpoint.restore(str(tmp_path), _state())


def test_missing_checkpoint_and_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.restore(str(tmp_path), _state())
    checkpoint.save(str(tmp_path), 1, _state())
    os.remove(tmp_path / "1" / checkpoint.MANIFEST)
    with pytest.raises(CheckpointError, match="incomplete"):
        checkpoint.verify(str(tmp_path), 1)


def test_another_architecture_lists_leaves_and_shapes(tmp_path):
    checkpoint.save(str(tmp_path), 1, _state())
    with pytest.raises(CheckpointError, match=r"W1: checkpoint \(4, 3\) vs run \(5, 3\)"):
        checkpoint.restore(str(tmp_path), _state(dims=(3, 5, 2)))


def test_never_writes_nan(tmp_path):
    state = _state()
    state["params"]["W1"] = state["params"]["W1"].at[0, 0].set(jnp.nan)
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoint.save(str(tmp_path), 1, state)
    assert checkpoint.latest_epoch(str(tmp_path)) is None
