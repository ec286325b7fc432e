"""The finite-difference witness for any backward pass, and the derivation of every allowance of audit_vjp.

What this module is for: what the gradients of ``L(inputs) = sum_k out_k * dout_k``
are, computed without the user's backward, for :func:`bp_autodiff.audit_vjp`,
with an error allowance per entry derived below; which entries sit where the
function has a kink or a tie; and how much rounding the user's own arrays carry.

What it is not for: deciding what a wrong array resembles
(:mod:`bp_autodiff.auditor.vjp_diagnosis`), calling the user's backward, or JAX
(:mod:`bp_autodiff.auditor.vjp_jax`, whose allowance is derived here too).

The scalar. ``dout`` is random normal (seeded, never uniform: an all-ones
``dout`` makes batch norm's true ``dx`` exactly 0, and a check against 0
cannot fail), so ``dL/dx = J^T dout`` is the vector-Jacobian product the
backward computes.

Finite differences, always in float64 (float32 inputs widen exactly). For one
entry ``x_i`` with step ``h`` (``FD_STEP = 2**-17`` times ``max(|x_i|, rms(x))``
rounded down to a power of two, so ``x_i +- h`` and ``x_i +- 2h`` are exact for
the usual magnitudes), the forward is evaluated at ``x_i +- h, +- 2h`` and the
four loss *differences* are formed output by output,
``L(t) - L(0) = sum_k dout_k (out_k(t) - out_k(0))``, so an output that the entry
does not touch contributes exactly 0 and rounding stays local:

- central ``D(h) = (L(h) - L(-h)) / 2h = L' + c h**2 + ...``; ``|D(2h) - D(h)| / 3``
  estimates its truncation (Richardson), as in :mod:`bp_autodiff.auditor.tolerance`;
- rounding: each ``out_k`` is computed with an absolute error of at most ``e``
  (below), so each loss difference errs by at most
  ``eps_i = 2 e sum_{k touched} |dout_k| + n_touched u64 sum_k |dout_k delta out_k|``
  (the two evaluations, and the dot product, Higham 3.1); ``D(h)`` by ``eps_i / h``;
- the allowance of the estimate is ``FD_SAFETY * (truncation + eps_i / h)``
  (``FD_SAFETY = 10``: the estimates are first order).

Kinks and ties, found without knowing the function. The one-sided Richardson
estimates ``2 D(t) - D(2t)`` on the right (``t = h``) and on the left (``t = -h``)
(:func:`bp_autodiff.auditor.finite_differences.one_sided`) agree for a smooth
function to ``O(h**2)``, well within their truncation estimates ``|D(t) - D(2t)|``
(which are ``O(h)``), plus rounding (``2.5 eps_i / h`` each). A kink at distance
``delta = r h`` inside the stencil makes the estimate on its side off by
``1.5 |jump| r`` against a truncation estimate of ``0.5 |jump| r``: for a
piecewise-linear function the two sides then disagree beyond
``trunc_right + trunc_left + FD_SAFETY * rounding`` whenever ``r < 1/2``, and for
``r >= 0.38`` (the kink far enough out) the central difference already passes
within its own allowance: no gap between the two. A max-pool tie is a kink at
distance 0.

Several kinks inside one stencil (a max-pool element tied in one window and
``1e-9`` below the maximum of another) can leave a narrow interval around the
point whose slope differs from the slopes on both sides, which agree: the
two one-sided estimates then agree too, and the central difference measures
the outer slope. What gives it away is the truncation: for a smooth function
``|D(t) - D(2t)|`` is ``|t L2 / 2 + t**2 L3 / 2|`` on either side (``L2``, ``L3`` the
second and third derivatives), the same up to the ``t**2`` term, while a side
that crosses a kink has a truncation estimate of its own and a clean
piecewise-linear side has none. So a stencil whose two truncation estimates
differ by more than half their sum (beyond rounding) is differenced again at
``h / 32`` and ``h / 1024`` (where a smooth function's ``t**2`` term has shrunk
away and the kinks have moved out of the stencil); the first scale whose
stencil is symmetric gives the estimate, a scale whose two sides disagree
makes the entry inconclusive, and so does asymmetry at every scale. Such an
entry is *inconclusive* (left out of the verdict), with the one-sided
derivative the user's value equals, if any.

Large inputs (more than ``fd_max_entries`` entries): random signed directions
``w = s * scale`` (Rademacher signs ``s``), the same stencil along ``w``, and the
user's ``<g, w>`` judged against the allowance of the estimate plus the sum of the
absolute terms ``sum_i |w_i| allow_i`` of the user's own rounding: an allowance
that does not grow with the size of the Jacobian (unlike a norm, or torch's
``(sum u)(sum v)`` scaling of ``atol``), so one wrong entry shows. A direction
that fails (or crosses a kink) escalates to single entries, found by halving the
direction's support toward the worst half, so the report names the element.

The rounding of the functions themselves, measured. Rounding errors are linear
in the unit roundoff to first order: the same operations in float32 err
``u32 / u64 = 2**29`` times more than in float64. So the function is run once
more in the other precision (float32 for float64 inputs, float64 for float32
ones), and ``e = (u64 / u32) max|out32 - out64|`` is the float64 forward's
rounding (at least ``KAPPA u64 max|out|``); likewise the user's gradient array
carries ``noise = max|g_other - g|``, scaled to the user's dtype. This measures
cancellation and conditioning that no operation count would (batch norm of
inputs with a large mean, or of two samples, whose ``dx`` is rounding noise
in float32 against terms of order 1). Two things bound what it can hide: for
float64 inputs the float32 difference enters scaled by ``2**-29`` (a tie that
rounding to float32 breaks differently moves the allowance by ``6e-8`` of the
gradient at most); for float32 inputs the float64 run is the same function on
the same numbers, so the difference *is* the user's rounding, and when it
exceeds ``sqrt(u) max|g|`` (half the digits) the report says so. A function that
cannot run in the other precision gets ``sqrt(u) max|g|``. Against a witness, the user's array is allowed
``FD_SAFETY * noise + KAPPA u |r_i|``, plus the witness's own allowance (finite
differences above; JAX's float64 rounding, the same noise scaled to float64).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.finite_differences import one_sided
from bp_autodiff.auditor.tolerance import FD_SAFETY, FD_STEP, KAPPA, unit_roundoff
from bp_autodiff.auditor.vjp_contract import Forward, Slot, arguments, read_forward

Array = NDArray[np.float64]
U64 = unit_roundoff(np.float64)
U32 = unit_roundoff(np.float32)
#: The most entries a finite-difference direction is narrowed to before single entries are differenced.
LEAF = 4


class ForwardFailedError(Exception):
    """The forward raised or returned something unreadable at a perturbed point."""


@dataclass
class Evaluator:
    """The forward as a function of the float inputs, in float64: ``outs(floats) -> flat out vector``.

    Attributes:
        forward, slots, config: the audited function and its inputs.
        base: the float inputs in float64, by name.
        calls: how many forward evaluations were made (for the report).
    """

    forward: Forward
    slots: Sequence[Slot]
    config: Mapping[str, Any]
    base: dict[str, Array]
    calls: int = 0

    def outs(self, name: str | None = None, value: Array | None = None) -> Array:
        """The outputs (float pieces, flattened and joined) with input ``name`` replaced by ``value``."""
        floats = self.base if name is None or value is None else {**self.base, name: value}
        self.calls += 1
        try:
            with np.errstate(all="ignore"):
                result = self.forward(*arguments(self.slots, floats), **self.config)
        except Exception as exc:
            raise ForwardFailedError(f"{type(exc).__name__}: {exc}") from exc
        outputs, problem = read_forward(result, "forward")
        if outputs is None:
            raise ForwardFailedError(problem.detail if problem else "unreadable output")
        flat = [np.asarray(a, dtype=np.float64).reshape(-1) for a in outputs.arrays]
        return flat[0].copy() if len(flat) == 1 else np.concatenate(flat)  # a fresh array either way


@dataclass
class FDResult:
    """The finite-difference witness for one input.

    Attributes:
        value: the estimate of ``dL/dx`` (float64, the input's shape), NaN where not estimated.
        error: the estimate's allowance (``inf`` where not estimated or inconclusive).
        kinked: where the stencil crosses a kink or a tie (or the forward failed at a step).
        left, right: the one-sided estimates (meaningful where ``kinked``); ``side_error`` their allowance.
        columns: the Jacobian's columns ``dout/dx_i`` as a ``(n_out, x.size)`` matrix (central
            differences at ``h``), when every entry was differenced and it fits; else None.
        directions: per random direction ``(estimate, allowance, kinked, w)``, for a large input.
        failed_steps: flat indices where the forward raised at a step.
    """

    value: Array
    error: Array
    kinked: NDArray[np.bool_]
    left: Array
    right: Array
    side_error: Array
    columns: Array | None = None
    directions: list[tuple[float, float, bool, Array]] = field(default_factory=list)
    failed_steps: list[int] = field(default_factory=list)

    @property
    def known(self) -> NDArray[np.bool_]:
        """Where the estimate is conclusive."""
        return np.isfinite(self.value) & ~self.kinked


def steps(x: Array) -> Array:
    """Per entry ``FD_STEP * max(|x_i|, rms(x))`` (1 for an all-zero ``x``), rounded down to a power of two."""
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    scale = np.maximum(np.abs(x), rms if rms > 0 else 1.0)
    return FD_STEP * np.exp2(np.floor(np.log2(scale)))


@dataclass(frozen=True)
class Stencil:
    """One central/one-sided estimate along a direction, with its allowances (module docstring)."""

    central: float
    error: float
    left: float
    right: float
    side_error: float
    kinked: bool
    column: Array
    asymmetric: bool = False


STEPS = (1, -1, 2, -2)  #: the steps of a stencil in units of ``h``, in the order they are evaluated
#: The finer steps tried when a stencil's two sides curve differently (module docstring): ``h / k``.
REFINE = (1, 32, 1024)


def resolved(ev: Evaluator, name: str, direction: Array, h: float, base: Array, dout: Array, e: float) -> Stencil:
    """:func:`stencil` at ``h``, then at the finer steps of :data:`REFINE` while its two sides curve differently.

    Returns the first symmetric stencil, the first one whose sides disagree (``kinked``),
    or the finest one marked ``kinked``. Raises :class:`ForwardFailedError` as :func:`stencil`.
    """
    s = stencil(ev, name, direction, h, base, dout, e)
    for k in REFINE[1:]:
        if s.kinked or not s.asymmetric:
            return s
        s = stencil(ev, name, direction, h / k, base, dout, e)
    return s if not s.asymmetric else dataclasses.replace(s, kinked=True)


def stencil(ev: Evaluator, name: str, direction: Array, h: float, base: Array, dout: Array, e: float) -> Stencil:
    """Evaluate the forward at ``x + t direction``, ``t = +-h, +-2h``, and form the estimates of ``<dL/dx, direction>``.

    Raises :class:`ForwardFailedError` when the forward fails at a step, or its output changes shape or is
    not finite there (the entry is then inconclusive: the input sits at the edge of the function's domain).
    """
    x = ev.base[name]
    diffs = np.empty((len(STEPS), base.size))  # row j: out(x + STEPS[j] h direction) - out(x)
    for row, t in zip(diffs, STEPS, strict=True):
        out = ev.outs(name, x + t * h * direction)
        if out.shape != base.shape or not np.isfinite(out).all():
            raise ForwardFailedError(f"the output changed its shape or became non-finite at a step of {t} h")
        np.subtract(out, base, out=row)
    touched = (diffs != 0).any(axis=0)
    dout_t = dout[touched]
    weight = np.abs(dout_t)
    # Every operand below is a fresh masked copy, as with four separate arrays: the same bits (test_audit_vjp_fast)
    L1, Lm1, L2, Lm2 = (float(np.dot(dout_t, d[touched])) for d in diffs)
    eps = 2 * e * float(np.sum(weight)) + dout_t.size * U64 * float(np.sum(weight * np.abs(diffs[2][touched])))
    d1 = (L1 - Lm1) / (2 * h)
    d2 = (L2 - Lm2) / (4 * h)
    right, trunc_r = one_sided(0.0, L1, L2, h)
    left, trunc_l = one_sided(0.0, Lm1, Lm2, -h)
    side_rounding = 2.5 * eps / h
    kinked = abs(right - left) > trunc_r + trunc_l + FD_SAFETY * 2 * side_rounding
    asymmetric = abs(trunc_r - trunc_l) > 0.5 * (trunc_r + trunc_l) + FD_SAFETY * 2 * side_rounding
    error = FD_SAFETY * (abs(d2 - d1) / 3 + eps / h)
    side_error = FD_SAFETY * (max(trunc_r, trunc_l) + side_rounding)
    column = (diffs[0] - diffs[1]) / (2 * h)
    return Stencil(d1, error, left, right, side_error, kinked, column, asymmetric)


def elementwise(
    ev: Evaluator, name: str, base: Array, dout: Array, e: float, flat_indices: Sequence[int], keep_columns: bool
) -> FDResult:
    """Central differences entry by entry at ``flat_indices`` of input ``name``."""
    x = ev.base[name]
    shape = x.shape
    hs = steps(x).reshape(-1)
    value = np.full(x.size, np.nan)
    error = np.full(x.size, np.inf)
    kinked = np.zeros(x.size, dtype=bool)
    left = np.full(x.size, np.nan)
    right = np.full(x.size, np.nan)
    side_error = np.full(x.size, np.inf)
    columns = np.zeros((base.size, x.size)) if keep_columns else None
    failed: list[int] = []
    for i in flat_indices:
        unit = np.zeros(x.size)
        unit[i] = 1.0
        try:
            s = resolved(ev, name, unit.reshape(shape), float(hs[i]), base, dout, e)
        except ForwardFailedError:
            kinked[i] = True
            failed.append(int(i))
            continue
        value[i], error[i], kinked[i] = s.central, s.error, s.kinked
        left[i], right[i], side_error[i] = s.left, s.right, s.side_error
        if columns is not None:
            columns[:, i] = s.column
    return FDResult(
        value.reshape(shape),
        error.reshape(shape),
        kinked.reshape(shape),
        left.reshape(shape),
        right.reshape(shape),
        side_error.reshape(shape),
        columns,
        failed_steps=failed,
    )


def directional(
    ev: Evaluator,
    name: str,
    base: Array,
    dout: Array,
    e: float,
    manual: Array | None,
    allow: Array,
    rng: np.random.Generator,
    n_directions: int,
    budget: int,
) -> tuple[FDResult, bool]:
    """Random signed directions for a large input; ``(result, escalated)``.

    Each direction is ``w = signs * step_scale`` (steps of :func:`steps` divided by ``FD_STEP``).
    When ``manual`` (the user's gradient, float64) is given and a direction fails
    (``|<m, w> - D| > error + sum_i |w_i| allow_i``) or every direction crosses a kink, the
    worst entries are found by halving (:func:`narrow`) and differenced one by one, up to
    ``budget`` entries; those estimates fill ``value`` (NaN elsewhere).
    """
    x = ev.base[name]
    scale = steps(x) / FD_STEP
    result = elementwise(ev, name, base, dout, e, [], keep_columns=False)
    suspicious = False
    all_kinked = True
    for _ in range(n_directions):
        w = rng.choice((-1.0, 1.0), size=x.shape) * scale
        try:
            s = resolved(ev, name, w, FD_STEP, base, dout, e)
        except ForwardFailedError:
            continue
        result.directions.append((s.central, s.error, s.kinked, w))
        all_kinked = all_kinked and s.kinked
        if manual is not None and not s.kinked:
            off = abs(float(np.sum(manual * w)) - s.central)
            suspicious = suspicious or off > s.error + float(np.sum(np.abs(w) * allow))
    if manual is None or not (suspicious or all_kinked):
        return result, False
    entries = narrow(ev, name, base, dout, e, manual, allow, scale, rng, budget)
    found = elementwise(ev, name, base, dout, e, entries, keep_columns=False)
    found.directions = result.directions
    return found, True


def narrow(
    ev: Evaluator,
    name: str,
    base: Array,
    dout: Array,
    e: float,
    manual: Array,
    allow: Array,
    scale: Array,
    rng: np.random.Generator,
    budget: int,
) -> list[int]:
    """Flat indices of entries where ``manual`` is most likely wrong, by best-first halving.

    A block of entries is tested with a direction supported on it (random signs);
    its score is the error over the allowance (a kink counts as a failure). The
    worst block is split in two and both halves tested, until blocks of
    :data:`LEAF` entries are reached; at most ``budget`` entries are returned.
    """
    flat_m = manual.reshape(-1)
    flat_scale = scale.reshape(-1)
    flat_allow = allow.reshape(-1)

    def score(block: NDArray[np.intp]) -> float:
        w = np.zeros(flat_m.size)
        w[block] = rng.choice((-1.0, 1.0), size=block.size) * flat_scale[block]
        try:
            s = resolved(ev, name, w.reshape(manual.shape), FD_STEP, base, dout, e)
        except ForwardFailedError:
            return math.inf
        if s.kinked:
            return math.inf
        allowed = s.error + float(np.sum(np.abs(w) * flat_allow))
        off = abs(float(np.dot(flat_m, w)) - s.central)
        return off / allowed if allowed > 0 else (math.inf if off > 0 else 0.0)

    heap: list[tuple[float, int, NDArray[np.intp]]] = [(-math.inf, 0, np.arange(flat_m.size))]
    leaves: list[int] = []
    counter = 1
    while heap and len(leaves) < budget:
        neg, _, block = heapq.heappop(heap)
        if -neg <= 1.0:
            break
        if block.size <= LEAF:
            leaves.extend(int(i) for i in block)
            continue
        for half in np.array_split(block, 2):
            heapq.heappush(heap, (-score(half), counter, half))
            counter += 1
    return leaves


def noise(user: Array, other: Array | None, u_user: float, u_other: float) -> float:
    """The rounding ``user`` carries, measured against the same computation at another precision (module docstring).

    ``max|other - user|``, scaled to the user's precision when ``other`` is the
    less precise one, and at least ``KAPPA u_user max|user|``; ``sqrt(u_user) max|user|``
    when ``other`` is missing or unusable (not finite, another shape).
    """
    magnitude = float(np.max(np.abs(user), initial=0.0))
    if other is None or other.shape != user.shape or not np.all(np.isfinite(other)):
        return math.sqrt(u_user) * magnitude
    measured = float(np.max(np.abs(other.astype(np.float64) - user.astype(np.float64)), initial=0.0))
    if u_other > u_user:
        measured *= u_user / u_other
    return max(measured, KAPPA * u_user * magnitude)
