"""Gradient checking: hand-derived vs ``jax.grad`` vs central finite differences.

Three modules, their names handed on here: ``compare`` (any cost: ``check``, ``probe``,
``relative_error``, the ``Report``), ``models`` (a model of the registry at a small random
point: ``check_model``, ``check_any``) and ``layers`` (one layer alone: ``check_layer``,
docs/custom_layers.md).

The notes' relative error ``‖a − b‖ / (‖a‖ + ‖b‖)`` compares gradients leaf by leaf. The
check is built so that a failure means a wrong gradient (docs/guarantees.md, "Gradient
checks"):

* hand vs ``jax.grad`` runs in the model's dtype (float32 unless ``--x64``), entry for
  entry, at ``TOLERANCES``' first number (1e-10 in float64, 1e-5 in float32);
* the finite differences always run in **float64**, at the float32 point itself when the
  model is float32 (its params and data upcast exactly; dropout masks and noise are drawn
  in float32 in both, so both see the same draw), with a **step per leaf**
  ``h = 10⁻⁴ · max(rms(leaf), 0.1)`` (the leaf's own scale);
* **kinks**: each probed entry's stencil is checked for a change of the program's branch
  pattern (``jaxnn.kinks``: ReLU/leaky-ReLU/hinge signs, max-pool winners, clip sides, …).
  An entry whose stencil crosses a kink is reported as "kink crossed — excluded" and
  counted, never compared: its central difference measures neither side's derivative
  (cs231n, "Gradient checks: kinks in the objective").

**Error model of the finite differences** (issue 33: deep batch-normed ResNets failed
correct gradients, hand~num 1.8e-6 on resnet32 and 2.4e-4 on resnet56 in float64, with
hand~auto ≤ 1e-14). A central difference is ``D(s) = ∂J + c s² + O(s⁴) + r``, its round-off
``|r| ≈ ε_mach |J| / s``; in a deep net c is large (resnet56, seed 0: D(h) off by 2.4e-4,
D(h/2) by 6.1e-5, D(h/4) by 1.5e-5 — exactly the factor 4 of c s²). So each probed entry
takes D at ``s = h, h/2, h/4`` (``STEP_SCALES``; one compiled program, kinks checked at all
six points) and **Ridders' tableau** (``_extrapolate``): column j combines neighbouring
steps, ``T = (4ʲ T(s/2) − T(s)) / (4ʲ − 1)``, removing the s²ʲ term; every entry's error is
estimated by its distance to the two entries it was made from, ``4ʲ |T(s/2) − T(s)| /
(4ʲ − 1)`` — the error of the coarser one, an overestimate where the expansion holds, which
also holds the round-off of the differences as noise — and the entry with the smallest
estimate e is used. For a leaf (its probed entries, kinks excluded):

* β = ``SAFETY`` · ‖e‖ / ‖num‖ (SAFETY = 10): the numeric gradient's estimated relative
  error. A correct gradient g then has ‖g − num‖ / (‖g‖ + ‖num‖) ≲ β/2;
* float32 models: ρ = jax.grad's own relative error, measured against ``jax.grad`` of the
  float64 cost at the same point. Deep nets amplify float32 round-off (resnet56: ρ up to
  4e-4 on the first layers, where float32's ε is 6e-8);
* the ~num tolerance is ``max(TOLERANCES' second number, β/2 + ρ + τ_hand·[ρ > 0])``
  (τ_hand: the hand~auto tolerance, 1e-5 in float32): by the triangle inequality a hand
  gradient within τ_hand of jax.grad, and a jax.grad that is right, stay inside it;
* β > ``UNVERIFIABLE`` (1e-2): the differences are too uncertain to tell a bug from
  curvature; the leaf is reported **"not verifiable by finite differences at this point"**
  (``Report.unverifiable``): neither passed nor failed by them, its hand vs ``jax.grad``
  comparison (every entry, 1e-10 / 1e-5) decides it alone.

A bug is caught by ~num when its relative error exceeds the leaf's tolerance: at the default
points that is the constant nearly everywhere (resnet56 float64: β/2 ≤ 4e-7 after the
extrapolation, against 2.4e-4 for one difference before), so dγ × 1.001 in one block
(5e-4) is caught in both dtypes (docs/guarantees.md, measured).
"""

from jaxnn.gradcheck.compare import (
    DEFAULT_EPS,
    RELATIVE_STEP,
    SAFETY,
    STEP_FLOOR,
    STEP_SCALES,
    TOLERANCES,
    UNVERIFIABLE,
    LeafReport,
    Probe,
    Report,
    check,
    leaf_names,
    leaf_steps,
    numeric_relative_error,
    numerical_grad,
    probe,
    relative_error,
    sample_entries,
)
from jaxnn.gradcheck.layers import check_layer
from jaxnn.gradcheck.models import (
    GRADCHECK_DEFAULTS,
    GRADCHECK_SIZES,
    PAPER_FIXED,
    check_any,
    check_model,
    random_problem,
)

__all__ = ["DEFAULT_EPS", "GRADCHECK_DEFAULTS", "GRADCHECK_SIZES", "PAPER_FIXED",
           "RELATIVE_STEP", "SAFETY", "STEP_FLOOR", "STEP_SCALES", "TOLERANCES", "UNVERIFIABLE",
           "LeafReport", "Probe", "Report", "check", "check_any", "check_layer", "check_model",
           "leaf_names", "leaf_steps", "numeric_relative_error", "numerical_grad", "probe",
           "random_problem", "relative_error", "sample_entries"]  # fmt: skip
