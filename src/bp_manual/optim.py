"""Update rules as pure functions: params and gradients in, new params out.

What this module is for: the step that follows the backward pass. Every
gradient of a step is computed first (:func:`bp_manual.network.loss_and_grads`)
and only then are the weights changed, all at once, so layer ``l``'s gradient
never sees layer ``l + 1``'s new weights (the seed gets this ordering right).

A step whose new params would hold NaN or inf is refused with
:class:`DivergedError` instead of being returned: divergence (usually a
learning rate too large for the problem) surfaces at the step where it happens,
naming the layer, and the caller's params are untouched because nothing is
modified in place.

What it is not for: computing gradients, or keeping state between calls.
"""

from __future__ import annotations

import numpy as np

from bp_manual.initializers import Params, ParamsLike
from bp_manual.validation import check_update_args


class DivergedError(FloatingPointError):
    """A step produced NaN or inf; the params it started from are unchanged.

    Attributes:
        where: what became non-finite, e.g. ``"W2 (layer 2)"`` or ``"the loss"``.
        lr: the learning rate of the step.
        step: the step number when the caller knows it (``MLP.step``, ``fit``), else None.
    """

    def __init__(self, where: str, lr: float, step: int | None = None) -> None:
        self.where, self.lr, self.step = where, lr, step
        at = f"step {step}: " if step is not None else ""
        super().__init__(
            f"{at}{where} became non-finite (NaN or inf) with lr={lr!r}; training diverged, most "
            "likely because the learning rate is too large. The params were left as they were."
        )

    def at_step(self, step: int) -> DivergedError:
        """The same error, with the step number the caller knows."""
        return DivergedError(self.where, self.lr, step)


def check_update(new_params: ParamsLike, lr: float) -> None:
    """Raise :class:`DivergedError` if any array of ``new_params`` holds NaN or inf.

    One reduction per array (a sum is finite exactly when its terms are, unless
    they overflow it, which is divergence too); no temporary arrays.
    """
    for l, layer in enumerate(new_params, start=1):
        for key, value in layer.items():
            with np.errstate(over="ignore", invalid="ignore"):
                finite = np.isfinite(np.sum(value))
            if not finite:
                raise DivergedError(f"{key}{l} (layer {l})", lr)


def sgd_step(params: ParamsLike, grads: ParamsLike, lr: float) -> Params:
    """Gradient descent: ``W <- W - lr * dW`` and ``b <- b - lr * db`` for every layer.

    Args:
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``.
        grads: the same structure and shapes, e.g. from ``loss_and_grads``.
        lr: the learning rate, a finite number > 0.

    Returns:
        New params in the params' dtype (a Python float ``lr`` does not promote
        float32). ``params`` and ``grads`` are left untouched.

    Raises:
        TypeError / ValueError: bad ``params`` (structure, dtype, NaN or inf),
            ``grads`` not like ``params``, or a bad ``lr``; the message names it.
        DivergedError: the new params would hold NaN or inf.
    """
    return _sgd_update(params, grads, check_update_args(params, grads, lr))


def _sgd_update(params: ParamsLike, grads: ParamsLike, lr: float) -> Params:
    """``sgd_step`` on arguments already checked (the training loop's own gradients)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by check_update
        new: Params = [{key: p[key] - lr * g[key] for key in p} for p, g in zip(params, grads, strict=True)]
    check_update(new, lr)
    return new
