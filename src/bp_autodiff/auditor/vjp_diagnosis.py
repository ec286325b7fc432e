"""The diagnosis for any backward pass: what kind of mistake a wrong gradient resembles.

What this module is for: given a failing gradient of :func:`bp_autodiff.audit_vjp`
and the evidence gathered (the references of every input, their allowances,
the finite-difference Jacobian's columns where every entry was differenced, the
user's backward run again with other upstream gradients, a layer's catalog of
classic mistakes), name the mistake from :data:`bp_autodiff.auditor.report.VJP_KINDS`,
tested in this order:

==========================  ==========================================================
``nonfinite``               NaN or inf
``nondeterministic``        forward and backward run again on the same inputs and ``dout``
                            give another gradient: something random drawn in backward
``layer_mistake`` (or the   with ``layer=``: equals what an entry of that layer's catalog
entry's kind)               (``bp_autodiff.catalog.<family>.MISTAKES``) gives on the same cache
``zero``                    all zeros where the reference is not
``ignores_upstream``        the same gradient for two different random ``dout``, or a
                            non-zero gradient for ``dout = 0``: it does not follow ``dout``
``sign``, ``scale``         minus the reference; ``c`` times it (only for at least two
                            non-zero reference entries that one ``c`` fits)
``transpose``               the reference with two axes exchanged
``swapped``                 another input's reference
``diagonal_only``           ``dout * diag(J)``: the Jacobian's diagonal alone, as if each
                            output depended on its own input entry only (softmax's
                            ``s (1 - s)``)
``lost_accumulation``       right except where an entry receives several contributions
                            (overlapping windows, repeated indices), where it holds one
                            of them (or 0): written instead of added
``mismatch``                none of the above
==========================  ==========================================================

A gradient of the wrong shape: a catalog entry, ``unreduced`` (summed over some
axes it matches: a batch or broadcast axis not reduced), ``transpose``,
``swapped``, else ``shape``.

What it is not for: deciding whether a gradient is wrong (the comparisons in
:mod:`bp_autodiff.auditor.vjp_check` do) or the network contract
(:mod:`bp_autodiff.auditor.classify`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.report import Comparison, Finding, number

Array = NDArray[np.float64]
#: ``probe(label) -> {input name: gradient}`` or None: the user's backward at ``dout`` of another kind
#: (``"again"``: the same ``dout``; ``"second"``: another random draw; ``"zero"``: all zeros).
Probe = Callable[[str], Mapping[str, Array] | None]


@dataclass
class Evidence:
    """What the diagnosis may use.

    Attributes:
        refs: per float input, the best reference (JAX's, else finite differences'), float64,
            NaN where unknown.
        allow: per float input, the allowance of each entry against ``refs``.
        dout: the upstream gradient, flattened and joined over the outputs (float64).
        out_shapes: the shapes of the float outputs.
        columns: per input, the finite-difference Jacobian ``(n_out, size)``, when computed.
        probe: the user's backward at other upstream gradients (:data:`Probe`).
        ones: per input, the gradient for an all-ones ``dout`` (JAX), when known.
        mistakes: catalog entry name -> (entry, its gradients by input name, docstring's first line).
        hints: factor -> reason, for ``scale`` (``{2.0: "1 / (1 - p) with p = 0.5"}``).
    """

    refs: dict[str, Array]
    allow: dict[str, Array]
    dout: Array
    out_shapes: list[tuple[int, ...]]
    columns: dict[str, Array] = field(default_factory=dict)
    probe: Probe | None = None
    ones: dict[str, Array] = field(default_factory=dict)
    mistakes: Mapping[str, tuple[Any, Mapping[str, Array], str]] = field(default_factory=dict)
    hints: dict[float, str] = field(default_factory=dict)

    def ok(self, candidate: Array, name: str, slack: float = 1.0) -> bool:
        """Is ``candidate`` within ``slack`` allowances of input ``name``'s reference, on its known entries?"""
        r = self.refs[name]
        if candidate.shape != r.shape or not np.all(np.isfinite(candidate)):
            return False
        known = np.isfinite(r)
        if not np.any(known):
            return False
        err = np.abs(candidate.astype(np.float64)[known] - r[known])
        return bool(np.all(err <= slack * self.allow[name][known]))


def _finding(name: str, kind: str, detail: str, factor: float | None = None) -> Finding:
    return Finding(name, kind, detail, factor)


def classify_vjp(name: str, m: Array, ev: Evidence, comparison: Comparison) -> Finding:
    """Name the mistake the failing gradient ``m`` of input ``name`` resembles (module docstring)."""
    r = ev.refs[name]
    if m.shape != r.shape:
        return _classify_shape(name, m, ev)
    if not np.all(np.isfinite(m)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(m))[0])
        return _finding(name, "nonfinite", f"contains NaN or inf (first at {list(where)})")
    m = m.astype(np.float64)
    known = np.isfinite(r)
    scale = float(np.max(np.abs(r[known]), initial=0.0))
    again = ev.probe("again") if ev.probe is not None else None
    g = None if again is None else again.get(name)
    if g is not None and g.shape == m.shape and np.any(np.abs(g - m) > _broadcast_allow(ev, name, m.shape)):
        return _finding(
            name,
            "nondeterministic",
            "forward and backward run again on the same inputs and dout give another gradient: something random "
            "is drawn in backward (a new mask); backward must use what forward used, kept in the cache",
        )
    found = _catalog(name, m, ev)
    if found is not None:
        return found
    if scale > 0 and not np.any(m):
        return _finding(name, "zero", f"is all zeros; the reference is not (max |g| = {scale:.3g})")
    found = _ignores_upstream(name, m, ev)
    if found is not None:
        return found
    if scale > 0 and ev.ok(-m, name):
        return _finding(name, "sign", "equals minus the reference gradient")
    rr = float(np.sum(r[known] ** 2))
    if rr > 0 and np.count_nonzero(r[known]) >= 2:
        c = float(np.sum(m[known] * r[known])) / rr
        if c != 0 and abs(c - 1) > 1e-3 and ev.ok(m / c, name):
            hint = next((f" ({why})" for v, why in ev.hints.items() if abs(c - v) <= 1e-6 * abs(v)), "")
            return _finding(name, "scale", f"equals c times the reference gradient, c = {c:.6g}{hint}", factor=c)
    for perm in _permutations(m.ndim):
        if np.transpose(r, perm).shape == m.shape and ev.ok(np.transpose(m, np.argsort(perm)), name):
            return _finding(name, "transpose", f"equals the reference with its axes permuted as {list(perm)}")
    for other in ev.refs:
        if other != name and ev.refs[other].shape == m.shape and ev.ok(m, other):
            return _finding(name, "swapped", f"equals the reference gradient of {other!r}")
    found = _diagonal_only(name, m, ev) or _lost_accumulation(name, m, ev)
    if found is not None:
        return found
    return _finding(
        name,
        "mismatch",
        f"differs from the reference ({comparison.witness}; {comparison.fraction:.3g} x the allowance); "
        f"worst at {list(comparison.worst_index or ())}: got {number(comparison.manual, '.6g')}, "
        f"expected {number(comparison.reference, '.6g')}",
    )


def _permutations(ndim: int) -> list[tuple[int, ...]]:
    """Axis permutations other than the identity (arrays of up to 4 axes)."""
    if ndim < 2 or ndim > 4:
        return []
    return [p for p in itertools.permutations(range(ndim)) if p != tuple(range(ndim))]


def _catalog(name: str, m: Array, ev: Evidence) -> Finding | None:
    """The first catalog entry whose gradient for ``name`` equals ``m`` (and is itself wrong there)."""
    for entry_name, (entry, grads, summary) in ev.mistakes.items():
        g = grads.get(name)
        if g is None or g.shape != m.shape or not np.all(np.isfinite(g)):
            continue
        if g.shape == ev.refs[name].shape and ev.ok(g, name):
            continue  # this entry is right for this input: it cannot explain a failure here
        err = np.abs(m - g.astype(np.float64))
        tolerance = 2 * _broadcast_allow(ev, name, m.shape)
        if np.all(err <= tolerance):
            return _finding(name, entry.kind, f"matches the layer catalog's {entry_name!r}: {summary}")
    return None


def _broadcast_allow(ev: Evidence, name: str, shape: tuple[int, ...]) -> Array:
    """The allowance of ``name`` for an array of ``shape`` (its largest entry when the shapes differ)."""
    allow = ev.allow[name]
    if allow.shape == shape:
        return np.where(np.isfinite(allow), allow, np.inf)
    return np.full(shape, float(np.max(allow[np.isfinite(allow)], initial=0.0)))


def _ignores_upstream(name: str, m: Array, ev: Evidence) -> Finding | None:
    """``m`` does not follow ``dout``: the same for another random ``dout``, or non-zero for ``dout = 0``."""
    if ev.probe is None:
        return None
    allow = _broadcast_allow(ev, name, m.shape)
    second = ev.probe("second")
    g2 = None if second is None else second.get(name)
    if g2 is not None and g2.shape == m.shape and np.any(m) and np.all(np.abs(g2 - m) <= allow):
        detail = "the same gradient for two different random dout: the backward does not multiply by dout"
        ones = ev.ones.get(name)
        # From the finite-difference columns the all-ones VJP weighs every output by 1, not by |dout_k| as the
        # allowance does. Its error (truncation h**2 |o3| / 6 ~ 6e-11 for a third derivative o3 of order 1,
        # rounding e / h ~ 1e-10, relative) is held to sqrt(u64) = 1.5e-8 of the gradient instead, a hundred
        # times above it; the detail is a hint.
        loose = allow + np.sqrt(np.finfo(np.float64).eps / 2) * float(np.max(np.abs(m), initial=0.0))
        if ones is not None and ones.shape == m.shape and np.all(np.abs(ones - m) <= loose):
            detail += " (it returns the gradient for an all-ones dout, the local derivative alone)"
        return _finding(name, "ignores_upstream", detail)
    zero = ev.probe("zero")
    g0 = None if zero is None else zero.get(name)
    if g0 is not None and g0.shape == m.shape and np.any(np.abs(g0) > allow):
        detail = (
            f"with dout = 0 it still returns a gradient (max |g| = {float(np.max(np.abs(g0))):.3g}): "
            "a term that does not depend on dout"
        )
        return _finding(name, "ignores_upstream", detail)
    return None


def _diagonal_only(name: str, m: Array, ev: Evidence) -> Finding | None:
    """``m = dout * diag(J)`` for a function whose one output has the input's shape."""
    J = ev.columns.get(name)
    if J is None or len(ev.out_shapes) != 1 or ev.out_shapes[0] != m.shape or J.shape[0] != J.shape[1]:
        return None
    candidate = (ev.dout * np.diag(J)).reshape(m.shape)
    if ev.ok(candidate, name):
        return None
    if np.all(np.abs(m - candidate) <= 2 * _broadcast_allow(ev, name, m.shape)):
        return _finding(
            name,
            "diagonal_only",
            "equals dout * diag(J): only d out_i / d x_i is kept, as if each output depended on its own input "
            "entry alone (the terms through the other entries left out)",
        )
    return None


def _lost_accumulation(name: str, m: Array, ev: Evidence) -> Finding | None:
    """Wrong only where several contributions meet, holding one of them (or 0) there."""
    J = ev.columns.get(name)
    r = ev.refs[name]
    if J is None:
        return None
    allow = ev.allow[name]
    flat_m, flat_r, flat_allow = m.reshape(-1), r.reshape(-1), allow.reshape(-1)
    failing = np.flatnonzero(np.abs(flat_m - flat_r) > flat_allow)
    witness: tuple[int, float, int] | None = None
    for i in failing:
        touched = np.abs(J[:, i]) > 0
        contributions = ev.dout[touched] * J[touched, i]
        near = np.abs(contributions - flat_m[i]) <= flat_allow[i]
        if not (abs(flat_m[i]) <= flat_allow[i] or np.any(near)):
            return None
        if witness is None and np.count_nonzero(contributions) >= 2 and np.any(near):
            witness = (int(i), float(flat_m[i]), int(np.count_nonzero(contributions)))
    if witness is None:
        return None
    at, value, k = witness
    index = [int(j) for j in np.unravel_index(at, m.shape)]
    return _finding(
        name,
        "lost_accumulation",
        f"right except at {failing.size} entries that receive several contributions (overlapping windows, "
        f"repeated indices), which hold one of them or 0: written instead of added (at {index}: {value:.6g}, "
        f"one of its {k} contributions; their sum is {flat_r[at]:.6g})",
    )


def _classify_shape(name: str, m: Array, ev: Evidence) -> Finding:
    """A gradient of the wrong shape: a catalog entry, not summed over some axes, transposed, another's, or wrong."""
    r = ev.refs[name]
    found = _catalog(name, m.astype(np.float64), ev) if np.all(np.isfinite(m)) else None
    if found is not None:
        return found
    finite = bool(np.all(np.isfinite(m)))
    if finite and (m.ndim > r.ndim or (m.ndim == r.ndim and m.size > r.size)):
        for k in range(1, m.ndim + 1):
            for axes in itertools.combinations(range(m.ndim), k):
                summed = m.sum(axis=axes, keepdims=m.ndim == r.ndim)
                if summed.shape == r.shape and ev.ok(summed, name):
                    return _finding(
                        name,
                        "unreduced",
                        f"has shape {m.shape}, expected {r.shape}: not summed over axes {list(axes)} "
                        "(a batch or broadcast axis); summed over them it matches the reference",
                    )
    for perm in _permutations(m.ndim):
        if finite and np.transpose(m, perm).shape == r.shape and ev.ok(np.transpose(m, perm), name):
            return _finding(
                name, "transpose", f"has shape {m.shape}; with its axes permuted as {list(perm)} it matches"
            )
    for other in ev.refs:
        if finite and other != name and ev.refs[other].shape == m.shape and ev.ok(m, other):
            return _finding(name, "swapped", f"has the shape and values of {other!r}'s gradient {m.shape}")
    return _finding(name, "shape", f"has shape {m.shape}, expected {r.shape}")
