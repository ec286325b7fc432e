"""The comparison rows of one input of :func:`bp_autodiff.audit_vjp`, against finite differences and JAX.

What this module is for: turning the witnesses of one input
(:class:`~bp_autodiff.auditor.vjp_witness.FDResult`, JAX's gradient) and the
user's gradient into :class:`~bp_autodiff.auditor.report.Comparison` rows (entry by
entry, or one row for a large input's random directions), the entries left out
at kinks (:class:`~bp_autodiff.auditor.report.Inconclusive`), and the reference
and allowance the diagnosis reads. The allowances are derived in
:mod:`bp_autodiff.auditor.vjp_witness`: the witness's own, plus the user's
rounding ``FD_SAFETY * noise + KAPPA u |m_i|`` (:func:`own_allowance`), plus, against
JAX, JAX's float64 rounding (the same noise scaled to float64).

What it is not for: running the witnesses (:mod:`bp_autodiff.auditor.vjp_witness`,
:mod:`bp_autodiff.auditor.vjp_jax`) or naming mistakes
(:mod:`bp_autodiff.auditor.vjp_diagnosis`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.report import Comparison, Inconclusive
from bp_autodiff.auditor.tolerance import FD_SAFETY, KAPPA
from bp_autodiff.auditor.vjp_witness import U64, Evaluator, FDResult, elementwise

Array = Any


def own_allowance(noise_m: float, u: float, m: Array | None) -> Array:
    """The user's own rounding per entry: ``FD_SAFETY * noise + KAPPA u |m_i|`` (0 without a gradient)."""
    if m is None:
        return np.zeros(())
    return FD_SAFETY * noise_m + KAPPA * u * np.abs(m.astype(np.float64))


def escalate(
    ev: Evaluator, name: str, base: Array, dout: Array, e: float, fd: FDResult, m: Array, r: Array, nz: float, u: float,
    budget: int,
) -> None:  # fmt: skip
    """Difference, one by one, the entries where the user and JAX disagree that finite differences have not seen."""
    allow = FD_SAFETY * (nz + nz * U64 / u) + KAPPA * u * np.abs(r)
    ratio = np.abs(m.astype(np.float64) - r) / np.where(allow > 0, allow, np.inf)
    ratio[np.isfinite(fd.value) | fd.kinked] = 0.0
    worst = [int(i) for i in np.argsort(-ratio.reshape(-1))[:budget] if ratio.reshape(-1)[i] > 1.0]
    if not worst:
        return
    extra = elementwise(ev, name, base, dout, e, worst, keep_columns=False)
    for attr in ("value", "error", "kinked", "left", "right", "side_error"):
        target, source = getattr(fd, attr).reshape(-1), getattr(extra, attr).reshape(-1)
        target[worst] = source[worst]


def compare_input(
    name: str, m: Array, fd: FDResult, r: Array | None, nz: float, u: float
) -> tuple[list[Comparison], list[Inconclusive], Array, Array]:
    """The comparison rows of one input, its inconclusive entries, and the reference/allowance for the diagnosis."""
    shape = tuple(fd.value.shape)
    if m.shape != shape:
        ref, allow = best_reference(fd, r, None, nz, u)
        return [Comparison(name, "jax" if r is not None else "fd", shape, "shape")], [], ref, allow
    if not np.all(np.isfinite(m)):
        ref, allow = best_reference(fd, r, None, nz, u)
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(m))[0])
        row = Comparison(name, "fd", shape, "nonfinite", worst_index=bad, checked=m.size)
        return [row], [], ref, allow
    m64 = m.astype(np.float64)
    own = own_allowance(nz, u, m)
    rows: list[Comparison] = []
    inconclusive: list[Inconclusive] = []
    known = fd.known
    if np.any(known):
        allow_fd = fd.error + own
        index_map = [tuple(int(i) for i in idx) for idx in np.argwhere(known)]
        row = compare(name, "fd", m64[known], fd.value[known], 0.0, allowance=allow_fd[known], index_map=index_map)
        rows.append(dataclasses.replace(row, shape=shape))
    elif fd.directions:
        rows.append(directions_row(name, shape, m64, fd, own))
    failed = {tuple(int(k) for k in np.unravel_index(f, shape)) for f in fd.failed_steps}
    for idx in np.argwhere(fd.kinked):
        i = tuple(int(k) for k in idx)
        if i in failed:
            reason = "the forward raised, changed its output's shape or returned NaN/inf at a step"
            inconclusive.append(Inconclusive(name, i, "fd", reason, None))
            continue
        side = None
        for label in ("left", "right"):
            d = float(getattr(fd, label)[i])
            if side is None and math.isfinite(d) and abs(m64[i] - d) <= fd.side_error[i] + own[i]:
                side = label
        reason = "the finite-difference stencil crosses a kink or a tie: the left and right derivatives differ"
        inconclusive.append(Inconclusive(name, i, "fd", reason, side))
    if r is not None:
        allow_jax = FD_SAFETY * (nz + nz * U64 / u) + KAPPA * u * np.abs(r)
        at_kink = fd.kinked & (np.abs(m64 - r) > allow_jax)
        for idx in np.argwhere(at_kink):
            i = tuple(int(k) for k in idx)
            sided = any(abs(m64[i] - float(getattr(fd, s)[i])) <= fd.side_error[i] + own[i] for s in ("left", "right"))
            reason = "JAX and the function take different sides of a kink or a tie there"
            inconclusive.append(Inconclusive(name, i, "jax", reason, "other" if sided else None))
        judged = np.where(at_kink, m64, r)
        rows.append(compare(name, "jax", m64, judged, 0.0, allowance=allow_jax))
    ref, allow = best_reference(fd, r, m64, nz, u)
    return rows, inconclusive, ref, allow


def directions_row(name: str, shape: tuple[int, ...], m: Array, fd: FDResult, own: Array) -> Comparison:
    """The random directions of a large input as one row: ``|<m, w> - D|`` over ``error + sum |w_i| allow_i``."""
    fractions, offs = [], []
    for central, error, kinked, w in fd.directions:
        if kinked:
            continue
        off = abs(float(np.sum(m * w)) - central)
        allowed = error + float(np.sum(np.abs(w) * own))
        offs.append(off)
        fractions.append(off / allowed if allowed > 0 else (math.inf if off > 0 else 0.0))
    if not fractions:
        return Comparison(name, "fd", shape, "pass", checked=0)
    worst = max(fractions)
    return Comparison(
        name, "fd", shape, "pass" if worst <= 1 else "FAIL", max_abs=max(offs), fraction=worst, checked=len(fractions)
    )


def best_reference(fd: FDResult, r: Array | None, m: Array | None, nz: float, u: float) -> tuple[Array, Array]:
    """The diagnosis's reference and allowance: JAX's where given, else the conclusive finite differences."""
    if r is not None:
        allow = FD_SAFETY * (nz + nz * U64 / u) + KAPPA * u * np.abs(r)
        return r, allow
    ref = np.where(fd.known, fd.value, np.nan)
    own = own_allowance(nz, u, m) if m is not None else KAPPA * u * np.abs(np.nan_to_num(ref))
    return ref, np.where(fd.known, fd.error + own, np.inf)
