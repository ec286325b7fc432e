"""The minibatch training loop: shuffle, step, record, report through a callback.

What this module is for: ``fit``, a pure function from starting params to
trained params and a history. It prints nothing; progress goes to the callback.

What it is not for: the update rule (:mod:`bp_manual.optim`) or the gradients
(:mod:`bp_manual.network`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import Params, ParamsLike, as_generator
from bp_manual.network import _loss_grads_and_deltas
from bp_manual.optim import DivergedError, _sgd_update
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_lr, prepare_batch

Array = NDArray[np.floating]

#: ``callback(epoch, loss, params)`` after each epoch (``epoch`` counts from 1);
#: a true return value stops training after that epoch (None continues).
Callback = Callable[[int, float, Params], "bool | None"]


@dataclass
class History:
    """What ``fit`` did.

    Attributes:
        loss: per epoch, the mean over that epoch's minibatches of the loss
            each minibatch had just before its update, weighted by batch size
            (the Keras convention: no extra forward pass).
        stopped_early: True when training ended before ``epochs``.
        stop_reason: why it ended early: ``"callback"``, or the message of the
            :class:`bp_manual.optim.DivergedError` that refused a step (the
            params returned are those from before that step); None otherwise.
    """

    loss: list[float] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str | None = None


def train_step(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> tuple[np.floating, Params]:
    """One gradient-descent step on the batch ``(X, Y)``: ``(loss before it, new params)``.

    The loss is a NumPy scalar of the params' dtype.

    All gradients are computed at ``params`` (``loss_and_grads``), then every
    layer is updated at once (``sgd_step``). ``params`` is never modified.
    Shapes and dtypes as for :func:`bp_manual.loss_and_grads`.

    Raises:
        TypeError / ValueError: bad inputs (named), before anything is computed.
        DivergedError: the loss or the new params would be NaN or inf; NumPy's
            overflow warnings on the way there are suppressed in favour of it.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    return _train_step(spec, params, X_, Y_, check_lr(lr))


def _train_step(spec: NetworkSpec, params: ParamsLike, X: Array, Y: Array, lr: float) -> tuple[np.floating, Params]:
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned
        loss, grads, _ = _loss_grads_and_deltas(spec, params, X, Y)
    if not np.isfinite(loss):
        raise DivergedError("the loss", lr)
    return loss, _sgd_update(params, grads, lr)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def fit(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 0.1,
    seed: int | np.random.Generator | None = None,
    callback: Callback | None = None,
) -> tuple[Params, History]:
    """Minibatch SGD for ``epochs`` passes over ``(X, Y)``.

    Each epoch draws a fresh permutation of the samples from its own Generator
    (``seed``) and steps through it in batches of ``batch_size`` (the last
    batch may be smaller).

    Args:
        spec, params: the network; ``params`` is not modified.
        X: ``(N, n_in)``; Y: ``(N, n_out)`` or labels (see :mod:`bp_manual.validation`).
        epochs, batch_size: positive integers.
        lr: learning rate, finite and > 0.
        seed: ``None``, an integer or a ``numpy.random.Generator`` for the shuffles.
        callback: see ``Callback``.

    Returns:
        ``(new_params, history)``. If a step would make the params non-finite
        (divergence), training stops there: the params from before that step
        are returned and ``history.stop_reason`` says what happened; the loss of
        an incomplete epoch is not recorded.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    lr = check_lr(lr)
    rng = as_generator(seed)

    history = History()
    current: Params = [dict(layer) for layer in params]  # new list and dicts; arrays shared, never modified
    n = X_.shape[0]
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            step += 1
            try:
                loss, current = _train_step(spec, current, X_[idx], Y_[idx], lr)
            except DivergedError as exc:
                history.stopped_early = True
                history.stop_reason = f"epoch {epoch}, {exc.at_step(step)}"
                return current, history
            total += float(loss) * len(idx)
        history.loss.append(total / n)
        if callback is not None and callback(epoch, history.loss[-1], current):
            history.stopped_early, history.stop_reason = True, "callback"
            break
    return current, history
