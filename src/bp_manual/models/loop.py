"""The minibatch training loop of a chain of layers (:class:`bp_manual.layers.Sequential`), by the hand derivation.

What this module is for: :func:`fit_model`, the loop :func:`bp_manual.train.fit`
is for the dense network, for any :class:`~bp_manual.layers.Sequential`: each
epoch a fresh permutation of the samples from the caller's Generator, one
:meth:`~bp_manual.layers.Sequential.loss_and_grads` (the container's forward
and backward over the layers' hand-derived pairs) and one
:mod:`bp_manual.optim` update per minibatch, a history of the loss, progress
through a callback, nothing printed. Also :func:`evaluate` (loss and accuracy
in batches, without gradients) and the learning-rate schedules.

What it is not for: the dense network (:func:`bp_manual.train.fit`), the update
rules (:mod:`bp_manual.optim`) or the gradients (:mod:`bp_manual.layers`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bp_manual.initializers import Params, ParamsLike, as_generator
from bp_manual.layers.sequential import Sequential
from bp_manual.losses import cross_entropy
from bp_manual.optim import DivergedError, Optimizer, adam
from bp_manual.scalars import positive_int
from bp_manual.train import Callback, History, minibatches
from bp_manual.validation import check_params_list

#: ``schedule(epoch, epochs) -> factor``: the learning rate of epoch ``epoch`` (from 0) is ``lr * factor``.
Schedule = Callable[[int, int], float]

#: ``augment(x_batch, rng) -> x_batch``: a random transformation of a batch of inputs, drawn from ``rng``.
Augment = Callable[[Any, np.random.Generator], Any]


def constant(epoch: int, epochs: int) -> float:
    """The same learning rate every epoch: factor 1."""
    return 1.0


def cosine(epoch: int, epochs: int) -> float:
    """Cosine decay without restarts (Loshchilov and Hutter, SGDR, 2017): ``(1 + cos(pi * epoch / epochs)) / 2``.

    Factor 1 at the first epoch, falling smoothly towards 0 at the last
    (``(1 + cos(pi (E - 1) / E)) / 2``, about ``(pi / 2E)**2``), so the last
    epochs take small steps and the final parameters do not jump about with
    the minibatch noise.
    """
    return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


SCHEDULES: dict[str, Schedule] = {"constant": constant, "cosine": cosine}


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the BLAS library to ``n`` threads inside the block (``None``: leave it as it is).

    The models here multiply small matrices (the CNN's largest product is
    ``(16, 144) @ (144, 2048)``, thousands of them per epoch), where BLAS threads
    mostly wait for each other, and far worse when the machine has other work:
    measured on a 2-core machine shared with other jobs, ``bp train --model cnn``
    trained in 90 s with OpenBLAS's default threads and in 14 s with one, to the
    same bits. Through ``threadpoolctl`` (installed with scikit-learn), imported
    only when a limit is asked for.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=positive_int("n", n), user_api="blas"):
        yield


def _labels(y: Any) -> Any:
    """The batch's labels as the rows of the model's output: flattened in row-major order.

    ``(B,)`` stays ``(B,)``; ``(B, T)`` (a label per position of a sequence) becomes ``(B*T,)``, the order
    in which a final ``flatten`` with ``start_dim=0, end_dim=1`` lays out the ``(B, T, K)`` logits.
    """
    return y.reshape(-1)


def fit_model(
    model: Sequential,
    params: ParamsLike,
    x: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: Optimizer | None = None,
    seed: int | np.random.Generator | None = None,
    schedule: str | Schedule = "constant",
    augment: Augment | None = None,
    callback: Callback | None = None,
) -> tuple[Params, History]:
    """Minibatch training of ``model`` on ``(x, y)`` by its hand derivation; returns ``(new_params, history)``.

    Each epoch draws a fresh permutation of the ``N`` samples from the
    Generator (``seed``), and for each minibatch computes every gradient at the
    current params (:meth:`Sequential.loss_and_grads`: mean cross-entropy) and
    then updates them all at once with ``optimizer`` at the epoch's learning
    rate ``optimizer.lr * schedule(epoch, epochs)``. The optimiser's state
    carries over from epoch to epoch.

    Args:
        model: the chain; it must end in ``(rows, K)`` logits.
        params: as ``model.init`` returns; not modified.
        x: ``(N, ...)``, the model's input, one sample per index of the first axis.
        y: integer labels ``(N,)``, or ``(N, T)`` for a model that predicts every
            position of a sequence and ends in ``flatten(start_dim=0, end_dim=1)``
            (each batch's labels are flattened in row-major order).
        epochs, batch_size: positive integers (the last batch may be smaller).
        optimizer: from :mod:`bp_manual.optim` (default ``adam()``).
        seed: an int, a ``numpy.random.Generator`` (advanced: shuffles, then
            augmentation draws), or ``None``.
        schedule: ``"constant"``, ``"cosine"`` or a :data:`Schedule`.
        augment: an :data:`Augment` applied to each batch's inputs, or ``None``.
        callback: ``callback(epoch, mean loss, params)`` after each epoch
            (``epoch`` from 1); a true return value stops training.

    Returns:
        ``(params, history)``: ``history.loss`` holds, per epoch, the mean over
        its minibatches of the loss each had just before its update (weighted by
        batch size). If a step would make the loss or the params non-finite,
        training stops there, the params from before that step are returned and
        ``history.stop_reason`` says what happened.

    Raises:
        TypeError / ValueError: a model that is not a ``Sequential``, params that
            no update rule takes, ``x`` and ``y`` of different lengths, a bad
            ``epochs``, ``batch_size``, optimiser or schedule; errors of the
            model's layers on the first batch, naming the step.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a bp_manual.layers.Sequential, got {type(model).__name__}")
    dtype = check_params_list(params)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    optimizer = adam() if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a bp_manual.optim.Optimizer, got {type(optimizer).__name__}")
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
        schedule = SCHEDULES[schedule]
    elif not callable(schedule):
        raise TypeError(f"schedule must be a name or a callable, got {type(schedule).__name__}")
    if not (hasattr(x, "shape") and hasattr(y, "shape")) or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"x and y must be arrays with one sample per index of their first axis, as many of each (at least 1); "
            f"got {getattr(x, 'shape', type(x).__name__)} and {getattr(y, 'shape', type(y).__name__)}"
        )
    rng = as_generator(seed)

    history = History()
    state = optimizer.init(params)
    current: Params = [dict(p) for p in params]  # new list and dicts; the caller's arrays are never modified
    step = 0
    for epoch in range(epochs):
        opt = dataclasses.replace(optimizer, lr=optimizer.lr * schedule(epoch, epochs))
        total = 0.0
        for idx in minibatches(len(x), batch_size, rng):
            step += 1
            xb = x[idx] if augment is None else augment(x[idx], rng)
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned
                    loss, grads = model.loss_and_grads(current, xb, _labels(y[idx]))
                if not np.isfinite(loss):
                    raise DivergedError("the loss", opt.lr)
                current, state = opt.update_prepared(current, grads, state, dtype)
            except DivergedError as exc:
                history.stopped_early = True
                history.stop_reason = f"epoch {epoch + 1}, {exc.at_step(step)}"
                history.opt_state = state
                return current, history
            total += float(loss) * len(idx)
        history.loss.append(total / len(x))
        history.opt_state = state
        if callback is not None and callback(epoch + 1, history.loss[-1], current):
            history.stopped_early, history.stop_reason = True, "callback"
            break
    return current, history


def evaluate(model: Sequential, params: ParamsLike, x: Any, y: Any, batch_size: int = 256) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` of ``model`` on ``(x, y)``, forward passes only, ``batch_size`` at a time.

    ``y`` as for :func:`fit_model` (``(N,)``, or ``(N, T)`` flattened per batch);
    each batch's rows are weighted by their number. The accuracy is the
    fraction of rows whose largest logit is the label (ties to the first).
    """
    total_loss, correct, rows = 0.0, 0, 0
    for start in range(0, len(x), positive_int("batch_size", batch_size)):
        logits, _ = model.forward(params, x[start : start + batch_size])
        labels = _labels(y[start : start + batch_size])
        onehot = (labels[:, None] == np.arange(logits.shape[1])).astype(logits.dtype)
        total_loss += float(cross_entropy(logits, onehot)) * len(labels)
        correct += int(np.sum(np.argmax(logits, axis=1) == labels))
        rows += len(labels)
    return total_loss / rows, correct / rows
