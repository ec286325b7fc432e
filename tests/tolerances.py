"""The tests' view of the tolerance policy, plus the session record of observed errors.

The policy itself (derivation, ``close``, ``gradient_rtol``, ``kink_margin``)
lives in :mod:`bp_autodiff.auditor.tolerance`, so the tests and the auditor use one
implementation; it is re-exported here. What stays here is test bookkeeping:
the worst observed errors, recorded by :func:`record` and printed at the end of
the test session (``conftest.py``).
"""

from __future__ import annotations

from collections import defaultdict

from bp_autodiff.auditor.tolerance import (
    FLOAT64_RTOL,
    KAPPA,
    close,
    gradient_rtol,
    kink_margin,
    kinks_are_clear,
    n_ops,
    relative_errors,
    saturation,
    term_scales,
    unit_roundoff,
)

__all__ = [
    "COUNTS",
    "FLOAT64_RTOL",
    "KAPPA",
    "WORST",
    "close",
    "gradient_rtol",
    "kink_margin",
    "kinks_are_clear",
    "n_ops",
    "problem_rtol",
    "record",
    "relative_errors",
    "saturation",
    "term_scales",
    "unit_roundoff",
]

#: worst observed errors: key -> (relative error, fraction of tolerance, description)
WORST: dict[str, tuple[float, float, str]] = {}
COUNTS: defaultdict[str, int] = defaultdict(int)


def record(key: str, rel: float, fraction: float, what: str) -> None:
    """Remember the worst relative error seen under ``key`` (for the session summary)."""
    COUNTS[key] += 1
    if key not in WORST or rel > WORST[key][0]:
        WORST[key] = (rel, fraction, what)


def problem_rtol(problem: object) -> float:
    """``gradient_rtol`` for a drawn ``strategies.Problem``, with its saturation term."""
    spec, params, X, Y = problem.spec, problem.params, problem.X, problem.Y  # type: ignore[attr-defined]
    return gradient_rtol(spec.sizes, X.shape[0], X.dtype, saturation(spec, params, X, Y))
