"""Vacuity: comparisons that passed without testing anything.

What this module is for: a pass where both sides are (almost) zero (``max|r|``
and ``max|m|`` below ``sqrt(u)`` times the largest gradient in the network)
becomes the verdict ``vacuous``, with a warning; hidden units that are dead or
saturated on every sample (``|f'(Z)| <= sqrt(u)``) are named in a warning:
their rows of ``W_l``, ``b_l`` are zero on both sides and test nothing.

For :func:`bp_autodiff.audit_vjp`, :func:`vacuous_vjp`: a gradient whose
reference lies within the comparison's own allowance of zero, with the
function's value there too, could not have failed as the zero gradient
(``sum(softmax(x))``, whose gradient is 0; batch norm's ``dx`` under an all-ones
``dout``).

What it is not for: failures (a vacuous comparison is one that passed).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.report import Comparison
from bp_manual.activations import HIDDEN
from bp_manual.network import Cache
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


def vacuity(
    spec: NetworkSpec,
    cache: Cache,
    refs: Mapping[str, Array],
    manual: Mapping[str, Array],
    comparisons: list[Comparison],
    dtype: np.dtype[Any],
) -> tuple[list[Comparison], list[str]]:
    """``(comparisons, warnings)``: passes where both sides are (almost) zero turned ``vacuous``,
    and a warning for each such array and each layer with dead or saturated units."""
    root_u = math.sqrt(float(np.finfo(dtype).eps) / 2)
    largest = {name: float(np.abs(r).max(initial=0.0)) for name, r in refs.items()}
    biggest = max(largest.values(), default=0.0)
    tiny = root_u * biggest
    warnings: list[str] = []
    vacuous: set[str] = set()
    for name, r in refs.items():
        m, r_max = manual.get(name), largest[name]
        if r_max > tiny or m is None or m.shape != r.shape or not np.isfinite(m).all():
            continue
        if float(np.abs(m).max(initial=0.0)) <= tiny:
            vacuous.add(name)
            warnings.append(
                f"{name}: passed only because both sides are (almost) zero (max |g| = {r_max:.3g}, "
                f"largest gradient in the network {biggest:.3g}): nothing was tested"
            )
    out = [
        dataclasses.replace(c, verdict="vacuous") if c.param in vacuous and c.verdict == "pass" else c
        for c in comparisons
    ]
    return out, warnings + _flat_units(spec, cache, root_u)


def _flat_units(spec: NetworkSpec, cache: Cache, root_u: float) -> list[str]:
    """A warning per hidden layer with units whose derivative is (almost) zero on every sample."""
    act = HIDDEN[spec.hidden]
    warnings = []
    for l, c in enumerate(cache[:-1], start=1):
        fp = np.abs(act.derivative(c.Z, c.A))
        flat_units = np.flatnonzero(np.max(fp, axis=0) <= root_u)
        if flat_units.size:
            what = "dead" if act.kinked else "saturated"
            units = ", ".join(map(str, flat_units[:8])) + (" ..." if flat_units.size > 8 else "")
            warnings.append(
                f"layer {l}: {flat_units.size} of {c.Z.shape[1]} hidden units are {what} on every sample "
                f"(|f'(Z)| <= {root_u:.1e}; units {units}): their rows of W{l}"
                + (f", b{l}" if spec.bias else "")
                + " are zero on both sides and test nothing"
            )
    return warnings


def vacuous_vjp(name: str, reference: Array, manual: Array, allowance: Array) -> str | None:
    """A warning when both ``reference`` and ``manual`` lie within ``allowance`` of zero on every entry
    the reference knows (NaN entries are unknown), else None: zero itself would have passed."""
    known = np.isfinite(reference)
    if manual.shape != reference.shape or not np.any(known):
        return None
    r, m, a = np.abs(reference[known]), np.abs(manual.astype(np.float64)[known]), allowance[known]
    if np.all(r <= a) and np.all(m <= a):
        return (
            f"{name}: passed only because the reference gradient is (almost) zero (max |g| = "
            f"{float(np.max(r, initial=0.0)):.3g}, within the allowance of 0): the check could not fail"
        )
    return None
