"""Update rules as pure functions: params and gradients in, new params out.

What this module is for: the step that follows the backward pass. Every
gradient of a step is computed first (:func:`bp_manual.network.loss_and_grads`)
and only then are the weights changed, all at once, so layer ``l``'s gradient
never sees layer ``l + 1``'s new weights (the seed gets this ordering right).

What it is not for: computing gradients, or keeping state between calls.
"""

from __future__ import annotations

from bp_manual.initializers import Params, ParamsLike
from bp_manual.validation import check_grads, check_lr


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
        TypeError / ValueError: a bad ``lr``, or ``grads`` not shaped like ``params``.
    """
    lr = check_lr(lr)
    check_grads(params, grads)
    return [{key: p[key] - lr * g[key] for key in p} for p, g in zip(params, grads, strict=True)]
