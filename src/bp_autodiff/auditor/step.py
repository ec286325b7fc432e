"""The entry point for update rules: :func:`audit_step` holds a step against ``params - lr * JAX gradient``.

What this module is for: auditing ``new_params = step_fn(spec, params, X, Y,
lr)`` through the gradient each array's update implies, ``(p - new) / lr``,
with the diagnosis of a gradient (:mod:`bp_autodiff.auditor.classify`) re-read
for steps: ``ascent`` (the update climbs the loss), ``lr_scale`` (an effective
learning rate of ``c * lr``) and ``stale_weights`` (a layer updated before the
error was propagated through it).

What it is not for: optimisers with state (momentum, Adam): only plain SGD is
the reference here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff.auditor.classify import classify, derivative_variants, step_kind
from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import copy_params, exception_finding, flatten, function_name, parse_grads
from bp_autodiff.auditor.report import AuditReport, Comparison, Finding
from bp_autodiff.auditor.tolerance import allowance as rtol_allowance
from bp_autodiff.auditor.tolerance import gradient_rtol, saturation, term_scales, unit_roundoff
from bp_autodiff.witness import grads as jax_grads
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import Cache, backward, forward_prepared
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_lr, prepare_batch

Array = NDArray[np.floating]
StepFn = Callable[[NetworkSpec, Params, Array, Array, float], Any]


def stale_gradient(spec: NetworkSpec, params: ParamsLike, cache: Cache, Y: Array, lr: float) -> Params:
    """What a backward pass gives if it updates ``W_{l+1}`` before propagating through it.

    ``delta_l`` then uses ``W_{l+1} - lr dW_{l+1}``. The dependence is
    triangular (layer ``l`` needs only the layers above), so ``L`` rounds of
    ``bp_manual.backward`` on the progressively updated weights reach it exactly.
    """
    current: Params = [dict(layer) for layer in params]
    g: Params = []
    for _ in range(spec.n_layers):
        g, _ = backward(spec, current, cache, Y)
        current = bp_manual.sgd_step(params, g, lr)
    return g


def audit_step(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    lr: float,
    step_fn: StepFn,
    *,
    name: str | None = None,
) -> AuditReport:
    """Audit an update rule ``new_params = step_fn(spec, params, X, Y, lr)`` against
    ``params - lr * JAX gradient``.

    Each array is compared through its implied gradient ``(p - new) / lr``
    (float64), with the allowance ``rtol (max(max|g|, T) + |g_i|) + 2 u (max|p| + max|new|) / lr``
    (the gradient tolerance, ``T`` the term size of ``tolerance.term_scales``,
    plus the rounding of the subtraction on each side).

    Args:
        spec, params, X, Y: as for :func:`audit`.
        lr: the learning rate, finite and > 0.
        step_fn: the update rule; it gets copies.
        name: how the report names ``step_fn``.

    Returns:
        An :class:`AuditReport` (mode ``"step"``) whose ``extra`` holds the
        loss before and after the step. Findings add ``ascent``, ``lr_scale``
        and ``stale_weights`` to the gradient kinds.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    lr = check_lr(lr)
    dtype = X_.dtype
    N = X_.shape[0]
    rtol = gradient_rtol(spec.sizes, N, dtype, saturation(spec, params, X_, Y_))
    u = unit_roundoff(dtype)
    who = name or function_name(step_fn)
    report = AuditReport(who, "step", spec, np.dtype(dtype).name, N, rtol)
    loss_before, grads_j = jax_grads.loss_and_grads(spec, params, X_, Y_)
    refs = flatten(spec, grads_j)
    scales = term_scales(spec, params, X_, Y_)
    report.extra["loss before"] = float(loss_before)
    try:
        with np.errstate(all="ignore"):
            new = step_fn(spec, copy_params(params), X_.copy(), Y_.copy(), lr)
    except Exception as exc:
        report.findings.append(exception_finding("step_fn", who, exc))
        return report
    _, found, _, structural = parse_grads(spec, (None, new), who)
    report.findings += [dataclasses.replace(f, detail=f.detail.replace("grads", "the new params")) for f in structural]
    if structural:
        return report
    p_flat = {k: v.astype(np.float64) for k, v in flatten(spec, params).items()}
    implied = {k: (p_flat[k] - found[k].astype(np.float64)) / lr for k in found if found[k].shape == p_flat[k].shape}
    _, cache = forward_prepared(spec, params, X_)
    variants = derivative_variants(spec, params, cache, Y_, rtol)
    if spec.n_layers > 1:
        variants["stale weights (each layer updated before the error was propagated through it)"] = flatten(
            spec, stale_gradient(spec, params, cache, Y_, lr)
        )

    def allowance(name: str, r: Array) -> Array:
        new_max = float(np.max(np.abs(found[name].astype(np.float64)), initial=0.0))
        extra = 2 * u * (float(np.max(np.abs(p_flat[name]), initial=0.0)) + new_max) / lr
        return rtol_allowance(r, rtol, scales[name]) + extra

    for n, r in refs.items():
        m = found.get(n)
        if m is None or n not in implied:
            report.comparisons.append(Comparison(n, "jax", tuple(r.shape), "shape"))
            report.findings.append(Finding.of(n, "shape", f"the new {n} has shape {None if m is None else m.shape}"))
            continue
        g = implied[n]
        c = compare(n, "jax", g, r.astype(np.float64), rtol, allowance=allowance(n, r.astype(np.float64)))
        report.comparisons.append(c)
        if c.verdict == "pass":
            continue

        def ok(a: Array, b: Array, n: str = n) -> bool:
            if a.shape != b.shape or not np.all(np.isfinite(a)):
                return False
            return bool(np.all(np.abs(a - b) <= allowance(n, b)))

        report.findings.append(step_kind(classify(n, g, refs, variants, ok, N, c, spec.loss)))
    try:
        new_params = [{k: np.asarray(new[i][k], dtype=dtype) for k in params[i]} for i in range(spec.n_layers)]
        loss_after = float(bp_manual.loss(spec, new_params, X_, Y_))
        report.extra["loss after"] = loss_after
    except (ValueError, TypeError):
        pass
    return report
