"""The seed's regime (one sample per update) as one XLA program: ``jax.lax.scan`` over an epoch.

What this module is for: :func:`sgd_epoch` runs plain SGD with one sample per
update over every row of ``X`` in order, each step being **the hand
derivation itself**: ``bp_manual``'s forward pass, backward pass and loss
kernels (``bp_manual.network.loss_grads_and_deltas_prepared``), traced on
``jax.numpy`` arrays (the kernels use the array namespace of their inputs),
then ``p - lr * g``. ``jax.jit`` compiles the whole epoch once per
``(spec, shapes, dtype)``, so the per-sample cost is XLA's, with no Python in
the loop (``docs/performance.md`` has the figures); the same code runs on a GPU
when JAX has one. ``tests/test_scan.py`` holds it to ``bp_manual.train_step``
applied sample by sample.

What it is not for: minibatches, shuffling or other optimisers
(:func:`bp_manual.fit`); the caller orders the samples.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from numpy.typing import NDArray

from bp_autodiff.witness.grads import prepare, to_numpy
from bp_autodiff.witness.jitcache import bounded_jit
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import loss_grads_and_deltas_prepared
from bp_manual.optim import DivergedError, check_update
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_lr

Array = NDArray[np.floating]


#: Steps per iteration of the compiled loop. Unrolling by 4 lets XLA schedule four
#: updates between loop-carried copies: 8.7 against 9.7 us per sample for the seed's
#: 784-32-64 in float64 on one core (2 and 8 gave 9.3 and 8.5-8.9; see docs/performance.md).
UNROLL = 4


def _epoch_impl(spec: NetworkSpec, params: Any, X: jax.Array, Y: jax.Array, lr: jax.Array) -> Any:
    """``(new params, losses (N,))``: ``lax.scan`` of one-sample SGD steps over the rows of ``X``, ``Y``."""

    def step(params: Any, xy: Any) -> tuple[Any, jax.Array]:
        x, y = xy
        loss, grads, _ = loss_grads_and_deltas_prepared(spec, params, x[None, :], y[None, :])  # the hand derivation
        new = [{key: p[key] - lr * g[key] for key in p} for p, g in zip(params, grads, strict=True)]
        return new, jax.numpy.asarray(loss)

    return jax.lax.scan(step, params, (X, Y), unroll=UNROLL)


epoch = bounded_jit(_epoch_impl, static_argnums=(0,))
"""The compiled epoch on JAX arrays: ``epoch(spec, params, X, Y, lr)`` with ``lr`` an
array of the params' dtype; no checks (for benchmarks; use :func:`sgd_epoch`)."""


def sgd_epoch(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float
) -> tuple[Params, NDArray[np.floating]]:
    """One epoch of one-sample SGD over the rows of ``X`` in order, compiled by XLA.

    Args:
        spec, params: the network; ``params`` ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``,
            float32 or float64, is not modified.
        X: ``(N, n_in)``; Y: ``(N, n_out)`` or labels (as for :func:`bp_manual.loss_and_grads`).
        lr: the learning rate, finite and > 0.

    Returns:
        ``(new_params, losses)``: the params after ``N`` updates (NumPy, the
        params' dtype) and ``losses (N,)``, the loss of each sample just before
        its update.

    Raises:
        TypeError / ValueError: bad inputs, named, before anything is computed.
        DivergedError: a loss or the final params are NaN or inf (it names the
            first sample whose loss was not finite).
    """
    lr = check_lr(lr)
    params_, X_, Y_ = prepare(spec, params, X, Y)
    with jax.enable_x64(True):
        new, losses = epoch(spec, params_, X_, Y_, X_.dtype.type(lr))
        new_params, losses_np = to_numpy(new), np.asarray(losses)
    bad = np.flatnonzero(~np.isfinite(losses_np))
    if bad.size:
        raise DivergedError(f"the loss of sample {int(bad[0])}", lr)
    check_update(new_params, lr)
    return new_params, losses_np
