"""The diagnosis: what kind of mistake a wrong array resembles.

What this module is for: given a failing array and the references, name the
mistake from a fixed vocabulary (:data:`bp_autodiff.auditor.report.KINDS`),
tested in this order against the JAX reference: ``shape``, ``transpose``,
``nonfinite``, ``zero``, ``sign``, ``scale`` (with its factor), ``swapped``,
and the chain rule with a known wrong hidden derivative
(``activation_derivative``) or stale weights (``stale_weights``); else
``mismatch``. :func:`step_kind` re-reads a gradient finding as an update
rule's (``ascent``, ``lr_scale``).

What it is not for: deciding *whether* an array is wrong (a failing
:class:`~bp_autodiff.auditor.report.Comparison` says so before this is asked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.contract import deltas_by_name, flatten
from bp_autodiff.auditor.report import Comparison, Finding, number
from bp_autodiff.auditor.tolerance import close
from bp_manual.activations import HIDDEN
from bp_manual.initializers import ParamsLike
from bp_manual.network import Cache, backward
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]
#: ``ok(a, b)``: is ``a`` within tolerance of ``b`` (same shape, finite)?
Ok = Callable[[Array, Array], bool]


def describe_scale(c: float, n_samples: int, loss: str | None = None) -> str:
    """``c = ...`` with the usual reason for that factor when it is one of them and fits the problem:
    ``N`` and ``1/N`` for any batch-mean loss with ``N > 1``; 2 as the forgotten 1/2 only for ``mse``."""
    candidates: dict[str, float] = {}
    if n_samples > 1:
        candidates["the batch size N: a sum over the batch where the loss takes the mean"] = float(n_samples)
        candidates["1/N: the mean over the batch taken twice"] = 1.0 / n_samples
    if loss == "mse":
        candidates["the 1/2 of the squared error forgotten"] = 2.0
    candidates["a stray 1/2"] = 0.5
    for label, value in candidates.items():
        if value != 1.0 and abs(c - value) <= 1e-6 * abs(value):
            return f"c = {c:.6g} ({label})"
    return f"c = {c:.6g}"


def classify(
    name: str,
    manual: Array,
    refs: Mapping[str, Array],
    variants: Mapping[str, Mapping[str, Array]],
    ok: Ok,
    n_samples: int,
    comparison: Comparison,
    loss: str | None = None,
) -> Finding:
    """Name the mistake ``manual`` (the function's ``name``) resembles, against the JAX references ``refs``.

    ``variants`` maps a label (``"the hidden derivative dropped (f' = 1)"``) to
    what the chain rule gives with that known mistake, per array name;
    ``loss`` (the spec's) chooses which hints fit. ``scale`` is named only for an
    array with at least two non-zero reference entries that one factor fits:
    any number is some multiple of another, so one entry says nothing.
    """
    r = refs[name]
    if manual.shape != r.shape:
        return _classify_shape(name, manual, refs, ok)
    if not np.all(np.isfinite(manual)):
        return Finding.of(name, "nonfinite", f"contains NaN or inf (first at {comparison.worst_index})")
    m = manual.astype(np.float64)
    r = r.astype(np.float64)
    scale = float(np.max(np.abs(r), initial=0.0))
    if scale > 0 and not np.any(m):
        return Finding.of(name, "zero", f"is all zeros; JAX's gradient is not (max |g| = {scale:.3g})")
    if scale > 0 and ok(-m, r):
        return Finding.of(name, "sign", "equals minus the JAX gradient")
    rr = float(np.sum(r * r))
    if rr > 0 and np.count_nonzero(r) >= 2:
        c = float(np.sum(m * r)) / rr
        if c != 0 and abs(c - 1) > 1e-3 and ok(m / c, r):
            detail = f"equals c times the JAX gradient, {describe_scale(c, n_samples, loss)}"
            return Finding.of(name, "scale", detail, factor=c)
    if m.ndim == 2 and m.shape == r.T.shape and ok(m, r.T):
        return Finding.of(name, "transpose", "equals the JAX gradient transposed (a square matrix)")
    for other, ref in refs.items():
        if other != name and ref.shape == m.shape and ok(m, ref):
            return Finding.of(name, "swapped", f"equals the JAX gradient of {other}")
    for label, variant in variants.items():
        if name in variant and variant[name].shape == m.shape and ok(m, variant[name]):
            kind = "stale_weights" if label.startswith("stale") else "activation_derivative"
            return Finding.of(name, kind, f"matches the chain rule with {label}")
    return Finding.of(
        name,
        "mismatch",
        f"differs from JAX (max rel error {comparison.max_rel:.3g}, {comparison.fraction:.3g} x tolerance); "
        f"worst at {comparison.worst_index}: manual {number(comparison.manual, '.6g')}, "
        f"JAX {number(comparison.reference, '.6g')}",
    )


def _classify_shape(name: str, manual: Array, refs: Mapping[str, Array], ok: Ok) -> Finding:
    """An array of the wrong shape: transposed, not summed over the batch, another array's, or just wrong."""
    r = refs[name]
    if manual.ndim == 2 and manual.shape == r.T.shape and np.all(np.isfinite(manual)) and ok(manual.T, r):
        detail = f"has shape {manual.shape}, the transpose of {r.shape}; transposed, it matches JAX"
        return Finding.of(name, "transpose", detail)
    if manual.ndim == r.ndim + 1 and manual.shape[1:] == r.shape and ok(manual.sum(axis=0), r):
        return Finding.of(
            name,
            "shape",
            f"has shape {manual.shape}, expected {r.shape}: one gradient per sample, not summed over the batch "
            "(summed over axis 0 it matches JAX)",
        )
    for other, ref in refs.items():
        if other != name and ref.shape == manual.shape and ok(manual, ref):
            return Finding.of(
                name, "swapped", f"has the shape and the values of {other}'s gradient (shape {ref.shape})"
            )
    return Finding.of(name, "shape", f"has shape {manual.shape}, expected {r.shape}")


def derivative_variants(
    spec: NetworkSpec, params: ParamsLike, cache: Cache, Y: Array, rtol: float
) -> dict[str, dict[str, Array]]:
    """What the chain rule gives with a known wrong hidden derivative, by ``bp_manual.backward``.

    Only variants that differ from the correct gradients are kept. Keys are
    parameter names and ``delta1..``.
    """
    act = HIDDEN[spec.hidden]
    candidates: dict[str, Callable[[Array, Array], Array]] = {
        "the hidden derivative dropped (f' = 1)": lambda Z, A: np.ones_like(Z),
        f"{spec.hidden}' written for A but evaluated at Z": lambda Z, A: act.derivative(Z, Z),
        f"{spec.hidden}' evaluated at A instead of Z": lambda Z, A: act.derivative(A, act.f(A)),
    }
    right_grads, right_deltas = backward(spec, params, cache, Y)
    right = {**flatten(spec, right_grads), **deltas_by_name(right_deltas)}
    out: dict[str, dict[str, Array]] = {}
    if spec.n_layers < 2:
        return out
    with np.errstate(all="ignore"):
        for label, fp in candidates.items():
            g, d = backward(spec, params, cache, Y, f_prime=fp)
            flat = {**flatten(spec, g), **deltas_by_name(d)}
            if any(not close(flat[k], right[k], rtol)[0] for k in right):
                out[label] = flat
    return out


def step_kind(f: Finding) -> Finding:
    """Re-read a gradient finding on the gradient an update implies, ``(p - new) / lr``, as an update-rule finding."""
    if f.kind == "sign":
        return Finding(f.param, "ascent", "the update is p + lr * gradient: it climbs the loss", -1.0, f.layer)
    if f.kind == "scale" and f.factor is not None:
        c = f.factor
        if c < 0:
            detail = f"the update is p + {-c:.6g} * lr * gradient: it climbs the loss"
            return Finding(f.param, "ascent", detail, c, f.layer)
        detail = f"the update is p - c * lr * gradient with c = {c:.6g} (an effective lr of c * lr)"
        return Finding(f.param, "lr_scale", detail, c, f.layer)
    if f.kind == "zero":
        return Finding(f.param, "zero", "the update leaves it unchanged", layer=f.layer)
    return f
