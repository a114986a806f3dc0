"""The three-way gradient check of test_autoencoder, test_vae and test_gan, in float64.

The hand gradients, ``jax.grad`` and the finite differences of every cost run in one
compiled program per case: the time of these tests goes to XLA compiling, not to the
arithmetic of tiny networks."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import compat, gradcheck, models


def assert_three_way(name: str, input_shape, options: dict, m: int, seed: int = 0,
                     l2: float = 0.0) -> None:  # fmt: skip
    """Hand-derived vs ``jax.grad`` ≤ 1e-10 and vs central differences ≤ 1e-7 (relative
    error per leaf) for every cost ``jaxnn.models.checks`` gives for model ``name``."""
    tight, loose = gradcheck.TOLERANCES[np.dtype("float64")]
    with compat.enable_x64(True):
        model = models.build(name, input_shape, 0, **options)

        key_params, key_data, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
        params = jax.tree_util.tree_map_with_path(
            lambda path, leaf: leaf + 0.1 if path[-1].key == "b" else leaf,
            model.init(key_params, jnp.float64),
        )  # biases off zero: no unit exactly at a kink
        X, Y = models.example(model, key_data, m, jnp.float64)

        @jax.jit
        def everything(params, X, Y, key_noise):
            return {
                label: (hand, jax.grad(cost_fn)(params), gradcheck.numerical_grad(cost_fn, params))
                for label, cost_fn, hand in models.checks(model, params, X, Y, l2, key_noise)
            }

        compared = everything(params, X, Y, key_noise)
        for label, (hand, auto, numeric) in compared.items():
            leaves = zip(gradcheck.leaf_names(params), jax.tree.leaves(hand),
                         jax.tree.leaves(auto), jax.tree.leaves(numeric), strict=True)  # fmt: skip
            for leaf, h, a, _ in leaves:
                assert h.dtype == jnp.float64 and h.shape == a.shape
                assert gradcheck.relative_error(h, a) <= tight, (label, leaf, "hand~auto")
            # over the whole gradient, as the MLP's test: per leaf, a leaf whose gradient is
            # ~1e-4 of the others would measure the differences' round-off, not the formula
            assert gradcheck.relative_error(hand, numeric) <= loose, (label, "hand~num")
