"""Training the hand-derived and the JAX network in lockstep, to watch them stay together.

What this module is for: :func:`fit_lockstep`, ``bp train --backend both``.
Both networks start from the same params and see the same minibatches in the
same order (one shuffle per epoch, shared); each takes its gradients from its
own side (:func:`bp_manual.loss_and_grads` and :func:`bp_autodiff.loss_and_grads`)
and applies the same update rule (:mod:`bp_manual.optim`, itself held to
optax by the tests) to its own params and optimiser state. After every step
the largest parameter difference is recorded. In float64 it should stay near
rounding error: that is the figure a learner should see.

What it is not for: fast training (the JAX side converts to and from NumPy on
every step), or other loops: the manual side is :func:`bp_manual.train.fit`'s
loop step for step, and a test checks it gives the same params bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import bp_manual
from bp_autodiff.auditor.tolerance import params_difference
from bp_autodiff.witness.grads import loss_and_grads as jax_loss_and_grads
from bp_manual.initializers import Params, ParamsLike, as_generator
from bp_manual.optim import DivergedError, Optimizer
from bp_manual.scalars import positive_int
from bp_manual.spec import NetworkSpec
from bp_manual.train import Callback, checked_loss_and_grads, minibatches
from bp_manual.validation import prepare_batch


@dataclass
class LockstepHistory:
    """What :func:`fit_lockstep` saw.

    Attributes:
        loss_manual, loss_jax: per epoch, the mean minibatch loss of each side
            (as :class:`bp_manual.train.History` defines it).
        max_abs_diff: per epoch, the largest ``|W_manual - W_jax|`` (or ``b``)
            over every array and every step so far.
        max_rel_diff: the same divided by the largest ``|W_jax|`` of that array at that step
            (:func:`bp_autodiff.auditor.tolerance.params_difference`).
    """

    loss_manual: list[float] = field(default_factory=list)
    loss_jax: list[float] = field(default_factory=list)
    max_abs_diff: list[float] = field(default_factory=list)
    max_rel_diff: list[float] = field(default_factory=list)


def fit_lockstep(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: Optimizer | None = None,
    seed: int | np.random.Generator | None = None,
    callback: Callback | None = None,
) -> tuple[Params, Params, LockstepHistory]:
    """Train both sides from ``params`` in lockstep; return ``(params_manual, params_jax, history)``.

    Args:
        spec, params: the network and its starting params (not modified).
        X: ``(N, n_in)``; Y: ``(N, n_out)`` or labels, as for :func:`bp_manual.train.fit`.
        epochs, batch_size: positive integers.
        optimizer: the update rule for both sides (default plain SGD, lr 0.1).
        seed: the shuffles' seed (one permutation per epoch, shared).
        callback: ``callback(epoch, loss_manual, params_manual)`` after each epoch;
            a true return value stops.

    Raises:
        DivergedError: a step made the loss or the params non-finite on either
            side (the message names the step).
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    optimizer = bp_manual.optim.sgd(0.1) if optimizer is None else optimizer
    rng = as_generator(seed)
    pm: Params = [dict(layer) for layer in params]
    pj: Params = [dict(layer) for layer in params]
    sm, sj = optimizer.init(pm), optimizer.init(pj)
    history = LockstepHistory()
    worst_abs, worst_rel = 0.0, 0.0
    n, dtype, step = X_.shape[0], X_.dtype, 0
    for epoch in range(1, epochs + 1):
        total_m = total_j = 0.0
        for idx in minibatches(n, batch_size, rng):
            step += 1
            try:  # the same checked step as bp_manual.fit, on each side
                loss_m, grads_m = checked_loss_and_grads(spec, pm, X_[idx], Y_[idx], None, optimizer.lr)
                loss_j, grads_j = checked_loss_and_grads(spec, pj, X_[idx], Y_[idx], jax_loss_and_grads, optimizer.lr)
                pm, sm = optimizer.update_prepared(pm, grads_m, sm, dtype)
                pj, sj = optimizer.update_prepared(pj, grads_j, sj, dtype)
            except DivergedError as exc:
                raise exc.at_step(step) from None
            total_m += float(loss_m) * len(idx)
            total_j += float(loss_j) * len(idx)
            d_abs, d_rel = params_difference(pm, pj)
            worst_abs, worst_rel = max(worst_abs, d_abs), max(worst_rel, d_rel)
        history.loss_manual.append(total_m / n)
        history.loss_jax.append(total_j / n)
        history.max_abs_diff.append(worst_abs)
        history.max_rel_diff.append(worst_rel)
        if callback is not None and callback(epoch, history.loss_manual[-1], pm):
            break
    return pm, pj, history
