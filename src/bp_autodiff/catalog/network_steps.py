"""The network catalog's wrong update rules and predictions, and the seed's published code as a specimen.

What this module is for: step functions (``step_fn(spec, params, X, Y, lr) ->
new params``, for :func:`bp_autodiff.audit_step`), a gradient function and a
prediction function (for :func:`bp_autodiff.audit_forward`) with one classic
mistake each, marked ``# MISTAKE`` or taken as published. The registry is
:mod:`bp_autodiff.catalog.network`.

What it is not for: correct code (``bp_manual.optim``, ``bp_manual.BPNetwork``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff.catalog.network_grads import forward_with_loss
from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import delta_below, layer_grads
from bp_manual.seed_published import PublishedBPNetwork
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_lr, prepare_batch

Array = NDArray[np.floating]
GradResult = tuple[np.floating, Params, list[Array]]


# ---------------------------------------------------------------- update rules


def update_before_propagating(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> Params:
    """Mistake: each layer is updated as soon as its gradient is known, then the error is propagated
    through the *new* weights.

    ``delta_{l-1}`` should use the ``W_l`` the forward pass used. The output
    layer's update is right; every layer below sees stale weights (demonstrated
    with ``lr = 0.5``, where the difference is plain). Expected finding
    (``bp_autodiff.audit_step``): ``stale_weights``.
    """
    Y_, cache, _ = forward_with_loss(spec, params, X, Y)
    lr = check_lr(lr)
    f_prime = HIDDEN[spec.hidden].derivative
    new: Params = [dict(layer) for layer in params]
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    for l in range(spec.n_layers, 0, -1):
        g = layer_grads(delta, cache[l - 1].A_prev, spec.bias)
        new[l - 1] = {k: params[l - 1][k] - lr * g[k] for k in g}
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, new[l - 1]["W"], f_prime(below.Z, below.A))  # MISTAKE: new W, use params
    return new


# ---------------------------------------------------------------- the seed, as published


def _published(spec: NetworkSpec, params: ParamsLike) -> PublishedBPNetwork:
    """The seed's class with these weights: needs ``(n_in, n_hidden, n_out)``, sigmoid, identity, mse, no bias."""
    if not (
        spec.n_layers == 2
        and spec.hidden == "sigmoid"
        and spec.output == "identity"
        and spec.loss == "mse"
        and not spec.bias
    ):
        raise ValueError(
            "the seed's BPNetwork is (n_in, n_hidden, n_out) with sigmoid hidden units, identity output, "
            f"mse and no bias; got {spec}"
        )
    n_in, n_hidden, n_out = spec.sizes
    net = PublishedBPNetwork(n_in, n_hidden, n_out, 1.0, seed=0)
    net.w_in2hid = np.array(params[0]["W"], dtype=np.float64)
    net.w_hid2out = np.array(params[1]["W"], dtype=np.float64)
    return net


def _one_sample(X: Array) -> None:
    if X.shape[0] != 1:
        raise ValueError(f"the seed's train() takes one sample per update; X has {X.shape[0]} (use --batch 1)")


def seed_published_train(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> Params:
    """The seed blog's ``BPNetwork.train`` as published, as an update rule (one sample, ``N = 1``).

    Mistake: ``out_error = out - target`` is ``dL/d out``, and then
    ``w += lr * ...``: it adds the gradient. Expected finding
    (``bp_autodiff.audit_step``): ``ascent``.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _one_sample(X_)
    net = _published(spec, params)
    net.lr = check_lr(lr)
    net.train(X_[0], Y_[0])
    dtype = X_.dtype
    return [{"W": net.w_in2hid.astype(dtype)}, {"W": net.w_hid2out.astype(dtype)}]


def seed_published_gradients(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Any, Params]:
    """The gradient the seed's published ``train()`` descends along: ``(W_before - W_after) / lr``.

    Its derivative is right, its update adds it, so the direction it descends
    is minus the gradient. Expected finding (``bp_autodiff.audit``): ``sign``.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    lr = 1.0
    new = seed_published_train(spec, params, X_, Y_, lr)
    grads = [{"W": (params[i]["W"] - new[i]["W"]) / lr} for i in range(2)]
    return bp_manual.loss(spec, params, X_, Y_), grads


def seed_published_run(spec: NetworkSpec, params: ParamsLike, X: object) -> Array:
    """The seed's published ``BPNetwork.run``, one sample at a time: ``(N, n_in) -> (N, n_out)``.

    Mistake: the second product uses ``w_in2hid`` instead of ``w_hid2out``; for
    784-32-64 (and any ``n_hidden != n_in``) it raises a shape error.
    Expected finding (``bp_autodiff.audit_forward``): ``shape``.
    """
    net = _published(spec, params)
    X_ = np.atleast_2d(np.asarray(X, dtype=np.float64))
    return np.stack([net.run(x)[:, 0] for x in X_])
