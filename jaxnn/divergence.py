"""Divergence: a run whose cost becomes non-finite, or stays finite but explodes.

Two checks after every epoch, on the minibatch costs the epoch returns (``costs[k]`` is J
before step k + 1) and the params after its last step:

* **non-finite** — a NaN/Inf cost at some step, or non-finite params after the last step
  (a NaN gradient at step k shows as a NaN cost at step k + 1).
* **finite but exploding** — the losses are written stably (log-sum-exp, ``log1p``), so a
  learning rate far too large can keep every cost finite while the params fly off: on the
  8×8 digits, ``--lr 10000`` gives an epoch-1 mean minibatch cost of ~3e14 against 2.3 at the
  initial params, and a chance-level model. The rule: the epoch's *mean* minibatch cost
  exceeds ``J0 + FACTOR · max(|J0|, 1)``, with ``J0`` the cost at the initial params (the
  first minibatch cost of epoch 1; kept in history.jsonl's first row as ``initial_cost`` so
  a resumed run compares with the same value). A mean, not one step, so that a single
  noisy minibatch never stops a run; ``max(|J0|, 1)`` so that a cost starting near 0 (an
  autoencoder's squared error) needs an absolute rise too.

``FACTOR = 100``: a softmax cross-entropy averaging 100× its chance level (≈ 230 for 10
classes) means logits hundreds apart on the wrong class — no run that learns passes there.
Every configuration the README, the experiments and the tests train stays far below it
(the largest ratio measured is in docs/scale.md).

Both raise ``DivergenceError`` (exit code 6) with the same message; the run keeps the
epochs before it (``jaxnn.run`` checkpoints them, ``--resume`` continues from there).
"""

from __future__ import annotations

import numpy as np

from jaxnn.errors import DivergenceError

FACTOR = 100.0  # an epoch's mean cost above J0 + FACTOR · max(|J0|, 1) has diverged


def threshold(initial_cost: float) -> float:
    """The mean minibatch cost above which an epoch has diverged, given ``J0``."""
    return initial_cost + FACTOR * max(abs(initial_cost), 1.0)


def initial_cost(history: list[dict], costs: np.ndarray) -> float | None:
    """``J0``: the value saved in the run's first history row, else (a fresh run, or one
    written before the row had it) the first minibatch cost of the epoch just trained —
    the cost at the initial params on a fresh run."""
    if history and history[0].get("initial_cost") is not None:
        return float(history[0]["initial_cost"])
    if costs.size and np.isfinite(costs[0]):
        return float(costs[0])
    return None


def check(costs: np.ndarray, params_finite: bool, epoch: int, lr: float,
          reference: float | None) -> None:  # fmt: skip
    """Raise ``DivergenceError`` if epoch ``epoch`` (0-based) diverged: a non-finite cost or
    non-finite params (``params_finite``: every param finite after the last step), or a mean
    cost above ``threshold(reference)``."""
    costs = np.asarray(costs, dtype=np.float64)
    finite = np.append(np.isfinite(costs), params_finite)
    if not finite.all():
        bad = int(np.argmin(finite))
        value = costs[bad] if bad < len(costs) else "non-finite (in the last update)"
        _raise(value, epoch, min(bad + 1, len(costs)), costs, lr, "")
    if reference is None or not costs.size:
        return
    limit = threshold(reference)
    if costs.mean() > limit:
        bad = int(np.argmax(costs > limit))
        _raise(f"{costs[bad]:.4g}", epoch, bad + 1, costs, lr,
               f", above {limit:.4g} = {reference:.4g} (the cost at the initial params) + "
               f"{FACTOR:g}·max(|J0|, 1), the epoch's mean {costs.mean():.4g}")  # fmt: skip


def _raise(value, epoch: int, step: int, costs: np.ndarray, lr: float, why: str):
    good = costs[np.isfinite(costs)][: max(step - 1, 0)]
    last = float(good[-1]) if good.size else float("nan")
    raise DivergenceError(
        f"training diverged: the cost is {value} at epoch {epoch + 1}, step {step} of "
        f"{len(costs)}{why} (learning rate {lr}; cost before it {last:.4g}). Lower --lr "
        f"(e.g. {lr / 10:g}) or standardize the inputs. The epochs before it are "
        "checkpointed, this one is not."
    )
