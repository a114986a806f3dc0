"""Residual blocks, the option-A shortcut, global average pooling and the new layer factories,
each through check_layer (hand vs jax.grad vs central differences) over shapes with batches
of 1 and 2; the fork's gradient, and planted bugs the check catches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import gradcheck, layers
from jaxnn.errors import ShapeError
from jaxnn.layers import residual, sequential


def _main(n_C, stride=1):
    return (("conv1", layers.conv2d(n_C, 3, stride, "same", bias=False)),
            ("bn1", layers.batch_norm()), ("relu1", layers.activation("relu")),
            ("conv2", layers.conv2d(n_C, 3, 1, "same", bias=False)),
            ("bn2", layers.batch_norm()))  # fmt: skip


def _block(kind, n_C_prev):
    if kind == "identity":
        return residual.residual(_main(n_C_prev))
    if kind == "pad":
        return residual.residual(_main(2 * n_C_prev, 2),
                                 (("pad", residual.pad_shortcut(2 * n_C_prev, 2)),))  # fmt: skip
    projection = (("proj", layers.conv2d(2 * n_C_prev, 1, 2, "valid", bias=False)),
                  ("proj_bn", layers.batch_norm()))  # fmt: skip
    return residual.residual(_main(2 * n_C_prev, 2), projection)


@settings(max_examples=3)
@given(kind=st.sampled_from(["identity", "pad", "projection"]), size=st.integers(3, 5),
       n_C=st.integers(1, 2), m=st.integers(1, 2))  # fmt: skip
def test_residual_blocks_three_ways(kind, size, n_C, m):
    """A projection from one channel is left out: conv 1×1 of one channel then batch norm is
    invariant to the kernel's one entry per output channel, so ∂J/∂W is O(ε) — rounding
    noise that no relative error can compare (found by this test at n_C = 1)."""
    n_C = max(n_C, 2) if kind == "projection" else n_C
    report = gradcheck.check_layer(_block(kind, n_C), (size, size, n_C), m=m, max_per_leaf=6)
    assert report.ok, report.format()


@settings(max_examples=4)
@given(case=st.sampled_from(["gap", "pad", "bn_dense", "bn_spatial", "ln", "conv_nobias"]),
       size=st.integers(2, 4), m=st.integers(1, 2))  # fmt: skip
def test_new_layers_three_ways(case, size, m):
    layer, shape = {
        "gap": (layers.global_avg_pool(), (size, size + 1, 2)),
        "pad": (residual.pad_shortcut(3, 2), (size, size, 2)),
        "bn_dense": (layers.batch_norm(), (size,)),
        "bn_spatial": (layers.batch_norm(backward="explicit"), (size, size, 2)),
        "ln": (layers.layer_norm(), (size + 1,)),
        "conv_nobias": (layers.conv2d(2, 3, 1, "same", bias=False), (size, size, 1)),
    }[case]
    m = m + 2 if case == "bn_dense" else m  # dense batch norm needs ≥ 2 (N = 2: dX = O(ε))
    report = gradcheck.check_layer(layer, shape, m=m)
    assert report.ok, report.format()


def test_identity_fork_passes_the_gradient_through(x64):
    """With the main branch's last γ = 0, F ≡ 0 and the block is relu(x): dA_prev = dA ⊙ 1[x>0]
    — the shortcut alone carries the gradient."""
    block = residual.residual(_main(2))
    params = block.init(jax.random.PRNGKey(0), (3, 3, 2), jnp.float64)
    params["bn2"]["gamma"] = jnp.zeros_like(params["bn2"]["gamma"])
    X = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 3, 2), jnp.float64)
    A, cache = block.forward(params, X)
    np.testing.assert_allclose(A, jax.nn.relu(X + params["bn2"]["beta"]))
    dA = jax.random.normal(jax.random.PRNGKey(2), A.shape, jnp.float64)
    dX, _ = block.backward(params, cache, dA, True)
    np.testing.assert_allclose(dX, dA * (X + params["bn2"]["beta"] > 0), atol=1e-12)


def _drops_the_shortcut(layer):
    """Planted bug: the fork forgotten, dA_prev from the main branch alone."""

    def backward(params, cache, dA, need):
        main_caches, _, Z = cache
        dZ = dA * (Z > 0)
        names = {"conv1", "bn1", "relu1", "conv2", "bn2"}
        main = tuple((n, lyr) for n, lyr in _main(2))
        return sequential.backward_to_input(
            main, {k: v for k, v in params.items() if k in names}, main_caches, dZ
        )

    return layer._replace(backward=backward)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_check_catches_a_forgotten_fork(seed):
    report = gradcheck.check_layer(_drops_the_shortcut(_block("identity", 2)), (3, 3, 2),
                                   seed=seed)  # fmt: skip
    assert [r.name for r in report.rows if not r.ok] == ["input"], report.format()


def test_shapes_that_do_not_add_up_are_a_one_line_error():
    with pytest.raises(ShapeError, match="projection or padding shortcut"):
        residual.residual(_main(4, 2)).shape((8, 8, 2))
