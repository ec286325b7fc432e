"""The minibatch training loop: shuffle, step, record, report through a callback.

What this module is for: ``fit``, a pure function from starting params to
trained params and a history. It prints nothing; progress goes to the callback.

What it is not for: the update rule (:mod:`bp_manual.optim`) or the gradients
(:mod:`bp_manual.network`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import Params, ParamsLike, as_generator
from bp_manual.network import loss_grads_and_deltas_prepared
from bp_manual.optim import DivergedError, Optimizer, OptState, sgd, sgd_update_prepared
from bp_manual.scalars import positive_int
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, as_targets, check_lr, check_params, check_spec, prepare_batch

Array = NDArray[np.floating]

#: ``grads_fn(spec, params, X_batch, Y_batch) -> (loss, grads)``: where the
#: gradients come from (default: this package's hand derivation; pass
#: ``bp_autodiff.loss_and_grads`` to train on JAX's gradients with the same loop).
GradsFn = Callable[[NetworkSpec, Params, Array, Array], tuple[np.floating, Params]]

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
        opt_state: the optimiser's state after the last step; pass it back to
            ``fit`` (``opt_state=``) to continue where training stopped.
    """

    loss: list[float] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str | None = None
    opt_state: OptState | None = None


def train_step(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> tuple[np.floating, Params]:
    """One gradient-descent step on the batch ``(X, Y)``: ``(loss before it, new params)``.

    The loss is a NumPy scalar of the params' dtype. All gradients are computed
    at ``params`` (``loss_and_grads``), then every layer is updated at once
    (``sgd_step``). ``params`` is never modified. Shapes and dtypes as for
    :func:`bp_manual.loss_and_grads`.

    Raises:
        TypeError / ValueError: bad inputs (named); nothing is returned or changed.
        DivergedError: the loss or the new params would be NaN or inf; NumPy's
            overflow warnings on the way there are suppressed in favour of it.

    Speed: ``X``, ``Y``, ``lr`` and the structure, shapes and dtype of
    ``params`` are checked before anything is computed. The *values* of
    ``params`` (a full pass over every weight) are checked only if the step
    fails: a NaN or inf in ``params`` always reaches the new params
    (``p - lr * g`` keeps it), so the divergence check catches it, and then
    the ``ValueError`` naming ``params`` is raised instead of ``DivergedError``.
    """
    check_spec(spec)
    dtype = check_params(spec, params, values=False)
    X_ = as_inputs(spec, X, dtype)
    Y_ = as_targets(spec, Y, X_.shape[0], dtype)
    lr = check_lr(lr)
    try:
        return train_step_prepared(spec, params, X_, Y_, lr)
    except DivergedError:
        check_params(spec, params)  # non-finite params are the bad argument, not a divergence
        raise


def train_step_prepared(
    spec: NetworkSpec, params: ParamsLike, X: Array, Y: Array, lr: float
) -> tuple[np.floating, Params]:
    """The step on checked ``X``, ``Y`` and ``lr`` and well-formed ``params`` (values unchecked: see ``train_step``).

    One ``np.errstate`` for the whole step (the gradients, the update and its
    divergence check), rather than one for each.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported by DivergedError, not warned
        loss, grads, _ = loss_grads_and_deltas_prepared(spec, params, X, Y)
        check_loss(loss, lr)
        return loss, sgd_update_prepared(params, grads, lr, reuse_grads=True)  # the gradients are this step's own


def check_loss(loss: Any, lr: float) -> None:
    """``DivergedError`` (``"the loss"``, with ``lr``) unless the loss, a scalar, is finite."""
    if not (math.isfinite(loss) if isinstance(loss, float | np.floating) else np.isfinite(loss)):
        raise DivergedError("the loss", lr)


def checked_loss_and_grads(
    spec: NetworkSpec, params: ParamsLike, X: Array, Y: Array, grads_fn: GradsFn | None, lr: float
) -> tuple[np.floating, Params]:
    """The loss and gradients of one step on prepared ``X``, ``Y``; ``DivergedError`` if the loss is not finite.

    ``grads_fn`` (``(spec, params, X, Y) -> (loss, grads)``) replaces the hand
    derivation when given (the lockstep trainer passes JAX's).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned
        if grads_fn is None:
            loss, grads, _ = loss_grads_and_deltas_prepared(spec, params, X, Y)
        else:
            loss, grads = grads_fn(spec, [dict(layer) for layer in params], X, Y)
    check_loss(loss, lr)
    return loss, grads


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[NDArray[np.intp]]:
    """One epoch's minibatches: the indices of a fresh permutation of ``range(n)`` drawn from ``rng``,
    in consecutive slices of ``batch_size`` (the last one shorter when ``batch_size`` does not divide ``n``)."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def fit(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float | None = None,
    seed: int | np.random.Generator | None = None,
    callback: Callback | None = None,
    optimizer: Optimizer | None = None,
    opt_state: OptState | None = None,
    grads_fn: GradsFn | None = None,
) -> tuple[Params, History]:
    """Minibatch training for ``epochs`` passes over ``(X, Y)`` (plain SGD unless told otherwise).

    Each epoch draws a fresh permutation of the samples from its own Generator
    (``seed``) and steps through it in batches of ``batch_size`` (the last
    batch may be smaller).

    Args:
        spec, params: the network; ``params`` is not modified.
        X: ``(N, n_in)``; Y: ``(N, n_out)`` or labels (see :mod:`bp_manual.validation`).
        epochs, batch_size: positive integers.
        lr: learning rate of plain SGD, finite and > 0 (default 0.1); give it
            only without ``optimizer`` (an optimiser carries its own).
        seed: ``None``, an integer or a ``numpy.random.Generator`` for the shuffles.
        callback: see ``Callback``.
        optimizer: an update rule from :mod:`bp_manual.optim` (default
            ``sgd(lr)``: ``W <- W - lr * dW``, bit for bit ``sgd_step``).
        opt_state: the state to start from (default ``optimizer.init(params)``),
            e.g. ``history.opt_state`` of an earlier call.
        grads_fn: see ``GradsFn`` (default: :mod:`bp_manual.network`'s).

    Returns:
        ``(new_params, history)``. If a step would make the loss or the params
        non-finite (divergence), training stops there: the params from before
        that step are returned and ``history.stop_reason`` says what happened;
        the loss of an incomplete epoch is not recorded.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    if optimizer is None:
        optimizer = sgd(0.1 if lr is None else check_lr(lr))
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a bp_manual.optim.Optimizer, got {type(optimizer).__name__}")
    elif lr is not None:
        raise TypeError("give lr either to fit or to the optimizer, not both")
    state = optimizer.init(params) if opt_state is None else opt_state
    rng = as_generator(seed)

    history = History()
    current: Params = [dict(layer) for layer in params]  # new list and dicts; arrays shared, never modified
    n = X_.shape[0]
    dtype = X_.dtype
    step = 0
    for epoch in range(1, epochs + 1):
        total = 0.0
        for idx in minibatches(n, batch_size, rng):
            step += 1
            try:
                loss, grads = checked_loss_and_grads(spec, current, X_[idx], Y_[idx], grads_fn, optimizer.lr)
                current, state = optimizer.update_prepared(current, grads, state, dtype)
            except DivergedError as exc:
                history.stopped_early = True
                history.stop_reason = f"epoch {epoch}, {exc.at_step(step)}"
                history.opt_state = state
                return current, history
            total += float(loss) * len(idx)
        history.loss.append(total / n)
        history.opt_state = state
        if callback is not None and callback(epoch, history.loss[-1], current):
            history.stopped_early, history.stop_reason = True, "callback"
            break
    return current, history


#: multiply-adds of one matrix product below which one BLAS thread is faster than several
#: (measured on 2 cores for ``X (N, n_in) @ W.T``: one thread wins up to about 8e8, two win at 4e9;
#: docs/training.md has the numbers)
SMALL_PRODUCT = 2**30


def blas_threads(sizes: tuple[int, ...], batch_size: int) -> int | None:
    """How many BLAS threads a training step of this size should use: 1, or None for BLAS's default.

    A step's largest product is ``batch_size * n_in * n_out`` multiply-adds
    for its widest layer. Below :data:`SMALL_PRODUCT` starting and joining
    threads costs more than they save, and on a machine with other work a
    thread that waits for a core stalls every product (batch 512 on digits:
    0.97 s with 2 threads against 0.12 s with one, on a loaded 2-core
    machine), so the answer is 1. This function only decides; the caller
    applies it (``threadpoolctl.threadpool_limits``).

    Raises:
        TypeError / ValueError: ``sizes`` not positive integers, ``batch_size`` not a positive integer.
    """
    batch_size = positive_int("batch_size", batch_size)
    widths = [positive_int("sizes", s) for s in sizes]
    largest = max((widths[i] * widths[i + 1] for i in range(len(widths) - 1)), default=0)
    return 1 if batch_size * largest < SMALL_PRODUCT else None
