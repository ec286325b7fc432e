"""One array against one witness: the :class:`Comparison` row of a report.

What this module is for: measuring how far a user's array is from a
reference, entry by entry, against an allowance (by default the project's one
definition of "close", :func:`bp_autodiff.auditor.tolerance.allowance`), and
recording the worst entry.

What it is not for: the allowance's derivation (:mod:`bp_autodiff.auditor.tolerance`)
or naming the mistake (:mod:`bp_autodiff.auditor.classify`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.report import Comparison
from bp_autodiff.auditor.tolerance import allowance as default_allowance
from bp_autodiff.auditor.tolerance import ratios

Array = NDArray[np.floating]


def compare(
    param: str,
    witness: str,
    manual: Array,
    reference: Array,
    rtol: float,
    allowance: Array | None = None,
    index_map: Sequence[tuple[int, ...]] | None = None,
    scale: float = 0.0,
) -> Comparison:
    """Compare ``manual`` with ``reference`` entry by entry: a pass when every error is within its allowance.

    Args:
        param, witness: how the row is labelled (``"W1"``, ``"jax"``).
        manual, reference: arrays of one shape (else the verdict is ``"shape"``).
        rtol: the relative tolerance; the allowance is
            ``rtol * (max(max|r|, scale) + |r_i|)`` unless ``allowance`` is given.
        allowance: per-entry allowance overriding that expression (finite differences, steps).
        index_map: when the entries are a flat sample of a larger array, the
            index in that array of each entry (for ``worst_index``).
        scale: the array's term size ``T`` (``tolerance.term_scales``), so a
            gradient that cancels to rounding noise is judged by its terms.
    """
    shape = tuple(reference.shape)
    if manual.shape != reference.shape:
        return Comparison(param, witness, shape, "shape")
    finite = np.isfinite(manual)
    if not finite.all():
        bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = index_map[bad[0]] if index_map is not None else bad
        return Comparison(
            param, witness, shape, "nonfinite", worst_index=where, manual=float(manual[bad]), checked=manual.size
        )
    m = manual.astype(np.float64, copy=False)
    r = reference.astype(np.float64, copy=False)
    if not r.size:
        return Comparison(param, witness, shape, "pass", max_abs=0.0, max_rel=0.0, fraction=0.0)
    err = np.abs(m - r)
    denom = default_allowance(r, 1.0, scale)  # max(max|r|, scale) + |r_i|: tolerance.relative_errors' denominator
    if allowance is None:
        allowance = rtol * denom  # tolerance.allowance(r, rtol, scale), the same bits
    frac = ratios(err, allowance)
    idx = tuple(int(i) for i in np.unravel_index(int(frac.argmax()), frac.shape))
    fraction = float(frac[idx])
    return Comparison(
        param,
        witness,
        shape,
        "pass" if fraction <= 1.0 else "FAIL",
        max_abs=float(err.max()),
        max_rel=float(ratios(err, denom).max()),
        fraction=fraction,
        worst_index=tuple(index_map[idx[0]]) if index_map is not None else idx,
        manual=float(m[idx]),
        reference=float(r[idx]),
        checked=int(m.size),
    )


def by_param(*groups: list[Comparison]) -> list[Comparison]:
    """The comparisons of several witnesses, regrouped so each parameter's rows stand together."""
    rows: dict[str, list[Comparison]] = {}
    for group in groups:
        for c in group:
            rows.setdefault(c.param, []).append(c)
    return [c for param_rows in rows.values() for c in param_rows]
