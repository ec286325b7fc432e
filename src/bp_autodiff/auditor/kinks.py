"""Kinks against JAX: entries whose reference depends on which side of a kink rounding put a pre-activation.

What this module is for: at a ReLU (or leaky ReLU) kink the derivative is a
convention, and a pre-activation within rounding distance of 0 may be computed
as ``3.8e-17`` by one side and exactly ``0.0`` by the other, so JAX and a
correct function can take opposite branches. Such pre-activations are
*ambiguous* (``|Z| <= kink_margin * (|A_prev| @ |W|.T + |b|)``, the forward
rounding bound of :func:`bp_autodiff.auditor.tolerance.kink_margin`). The
gradient entries that change when the derivative at the ambiguous
pre-activations is taken from their other side are *convention-dependent*:
they are left out of the JAX comparison (inconclusive), never a finding alone.
The function's value there is reported when it equals the other side's.

What it is not for: finite differences, whose steps cross kinks at a much
larger distance (:mod:`bp_autodiff.auditor.finite_differences` handles those).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.contract import deltas_by_name, flatten
from bp_autodiff.auditor.report import Inconclusive
from bp_autodiff.auditor.tolerance import allowance, kink_margin
from bp_manual.activations import HIDDEN
from bp_manual.initializers import ParamsLike
from bp_manual.network import Cache, backward
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]
Mask = NDArray[np.bool_]


def ambiguous(spec: NetworkSpec, params: ParamsLike, cache: Cache) -> list[Mask]:
    """Per hidden layer ``l``, ``(N, n_l)``: pre-activations of a kinked activation within rounding distance of 0."""
    if not HIDDEN[spec.hidden].kinked:
        return []
    width = max(spec.sizes)
    out = []
    for l, (layer, c) in enumerate(zip(params[:-1], cache[:-1], strict=True), start=1):
        magnitude = np.abs(c.A_prev) @ np.abs(layer["W"]).T
        if spec.bias:
            magnitude = magnitude + np.abs(layer["b"])
        out.append(np.abs(c.Z) <= kink_margin(l, width, c.Z.dtype) * magnitude)
    return out


def other_side(spec: NetworkSpec, params: ParamsLike, cache: Cache, Y: Array, masks: list[Mask]) -> dict[str, Array]:
    """The gradients and deltas with ``f'`` taken from the other side of the kink at the masked pre-activations.

    For a piecewise-linear ``f`` the two one-sided derivatives are ``f'(+1)`` and
    ``f'(-1)``, so the other side's value is ``f'(+1) + f'(-1) - f'(Z)``.
    """
    act = HIDDEN[spec.hidden]
    one = np.ones((1, 1), dtype=cache[0].Z.dtype)
    both = act.derivative(one, act.f(one)) + act.derivative(-one, act.f(-one))
    flip = {id(c.Z): mask for c, mask in zip(cache[:-1], masks, strict=True)}

    def f_prime(Z: Array, A: Array) -> Array:
        d = act.derivative(Z, A)
        mask = flip.get(id(Z))
        return d if mask is None else np.where(mask, both - d, d)

    grads, deltas = backward(spec, params, cache, Y, f_prime=f_prime)
    return {**flatten(spec, grads), **deltas_by_name(deltas)}


def convention_dependent(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: Cache,
    Y: Array,
    refs: Mapping[str, Array],
    rtol: float,
    scales: Mapping[str, float],
) -> tuple[dict[str, Mask], dict[str, Array]]:
    """``(masks, other)``: per array name, the entries whose reference changes with the kink convention
    (beyond the tolerance), and the other convention's values; empty when no pre-activation is ambiguous."""
    masks = ambiguous(spec, params, cache)
    if not any(np.any(m) for m in masks):
        return {}, {}
    other = other_side(spec, params, cache, Y, masks)
    out: dict[str, Mask] = {}
    for name, r in refs.items():
        diff = np.abs(other[name].astype(np.float64) - r.astype(np.float64))
        dependent = diff > allowance(r, rtol, scales.get(name, 0.0))
        if np.any(dependent):
            out[name] = dependent
    return out, other


def judged_against(
    refs: Mapping[str, Array],
    manual: Mapping[str, Array],
    masks: Mapping[str, Mask],
    other: Mapping[str, Array],
    rtol: float,
    scales: Mapping[str, float],
) -> tuple[dict[str, Array], list[Inconclusive]]:
    """The references to judge ``manual`` by: at convention-dependent entries the function's own value, so
    they can never fail; and one :class:`Inconclusive` per such entry, with the branch the value takes
    (``"jax"``: JAX's, ``"other"``: the other one; None: neither, within the tolerance)."""
    judged = dict(refs)
    entries: list[Inconclusive] = []
    for name, mask in masks.items():
        m = manual.get(name)
        if m is None or m.shape != refs[name].shape:
            continue
        judged[name] = np.where(mask, m, refs[name])
        branches = {
            label: (c, allowance(c, rtol, scales.get(name, 0.0)))
            for label, c in (("jax", refs[name]), ("other", other[name]))
        }
        for index in zip(*np.nonzero(mask), strict=True):
            idx = tuple(int(i) for i in index)
            side = next((b for b, (c, tol) in branches.items() if abs(float(m[idx]) - float(c[idx])) <= tol[idx]), None)
            reason = "depends on which side of a ReLU kink rounding puts a pre-activation"
            entries.append(Inconclusive(name, idx, "jax", reason, side))
    return judged, entries
