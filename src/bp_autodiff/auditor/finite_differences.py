"""The third witness: float64 central finite differences of the loss.

What this module is for: a check of a user's gradient that shares nothing
with JAX: the loss alone is evaluated (by ``bp_manual``'s forward pass, in
float64) at ``p +- h`` and ``p +- 2h`` for each chosen entry, and the
difference quotient is compared with the user's value. The allowance per
entry (truncation estimated from the two steps, plus rounding) is derived in
:mod:`bp_autodiff.auditor.tolerance`.

What it is not for: derivatives of anything but the network's loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import param_names
from bp_autodiff.auditor.report import Comparison
from bp_autodiff.auditor.tolerance import FD_SAFETY, FD_STEP, fd_rounding
from bp_manual.initializers import ParamsLike
from bp_manual.network import forward_prepared, loss_from_cache
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


def chosen_entries(
    size: int, max_entries: int, ref: Array, manual: Array | None, rng: np.random.Generator
) -> NDArray[np.intp]:
    """Flat indices to difference: all of them when ``size <= max_entries``; otherwise the largest
    reference entry, the entry where the function and JAX differ most, and a random sample of the rest."""
    if size <= max_entries:
        return np.arange(size)
    picks: list[int] = [int(np.argmax(np.abs(ref)))]
    if manual is not None and manual.shape == ref.shape and np.all(np.isfinite(manual)):
        picks.append(int(np.argmax(np.abs(manual.astype(np.float64) - ref))))
    rest = rng.choice(size, size=max_entries, replace=False)
    return np.array(list(dict.fromkeys([*picks, *map(int, rest)]))[:max_entries])


def fd_witness(
    spec: NetworkSpec,
    params: ParamsLike,
    X: Array,
    Y: Array,
    manual: Mapping[str, Array],
    jax_refs: Mapping[str, Array],
    rtol: float,
    max_entries: int,
    rng: np.random.Generator,
) -> list[Comparison]:
    """Float64 central differences at ``h`` and ``2h`` for up to ``max_entries`` entries per array.

    Args:
        spec, params, X, Y: the problem, ``X (N, n_in)`` and ``Y (N, n_out)`` prepared.
        manual: the function's gradients by name (``"W1"``...); a missing one is reported ``missing``.
        jax_refs: JAX's gradients by name (to choose the entries to check).
        rtol: the gradient tolerance, added to the difference quotient's own allowance.
        max_entries: entries per array at most (four loss evaluations each).
        rng: for the sample of entries.

    Returns:
        One :class:`Comparison` (witness ``"fd"``) per parameter.
    """
    p64 = [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    X64 = X.astype(np.float64)
    Y64 = Y.astype(np.float64)

    def loss_now() -> float:
        _, cache = forward_prepared(spec, p64, X64)
        return float(loss_from_cache(spec, cache, Y64))

    noise = fd_rounding(spec.sizes, X.shape[0], loss_now())
    out: list[Comparison] = []
    for i, key, name in param_names(spec):
        arr = p64[i][key]
        m = manual.get(name)
        if m is None:
            out.append(Comparison(name, "fd", tuple(arr.shape), "missing"))
            continue
        if m.shape != arr.shape:
            out.append(Comparison(name, "fd", tuple(arr.shape), "shape"))
            continue
        chosen = chosen_entries(arr.size, max_entries, jax_refs[name], m, rng)
        flat = arr.reshape(-1)  # a view: perturb in place, restore after
        d1 = np.empty(chosen.size)
        d2 = np.empty(chosen.size)
        for j, k in enumerate(chosen):
            t = flat[k]
            vals = []
            for step in (FD_STEP, -FD_STEP, 2 * FD_STEP, -2 * FD_STEP):
                flat[k] = t + step
                vals.append(loss_now())
            flat[k] = t
            d1[j] = (vals[0] - vals[1]) / (2 * FD_STEP)
            d2[j] = (vals[2] - vals[3]) / (4 * FD_STEP)
        index_map = [tuple(int(x) for x in np.unravel_index(int(k), arr.shape)) for k in chosen]
        m_sel = np.asarray(m).reshape(-1)[chosen]
        allowed = FD_SAFETY * (np.abs(d2 - d1) / 3 + noise) + rtol * (
            float(np.max(np.abs(d1), initial=0.0)) + np.abs(d1)
        )
        out.append(compare(name, "fd", m_sel, d1, rtol, allowance=allowed, index_map=index_map, shape=tuple(arr.shape)))
    return out
