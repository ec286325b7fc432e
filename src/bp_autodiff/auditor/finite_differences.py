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

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import param_names
from bp_autodiff.auditor.report import Comparison, Inconclusive
from bp_autodiff.auditor.tolerance import FD_SAFETY, FD_STEP, allowance, fd_rounding
from bp_manual.activations import HIDDEN
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


def _side_is_clean(base: list[Array], near: list[Array], far: list[Array]) -> bool:
    """No kinked pre-activation changes sign between the point and the steps ``h``, ``2h`` on one side
    (an entry that is exactly 0 at the point may take either sign, as long as it keeps it)."""
    return not any(np.any(n != f) or np.any((b != 0) & (n != b)) for b, n, f in zip(base, near, far, strict=True))


def one_sided(base: float, near: float, far: float, t: float) -> tuple[float, float]:
    """Richardson's one-sided derivative from ``L(p)``, ``L(p + t)``, ``L(p + 2t)`` (``t < 0``: the left side).

    With ``D(t) = (L(p + t) - L(p)) / t = L' + t L''/2 + O(t**2)``, the estimate
    ``2 D(t) - D(2t)`` is ``L' + O(t**2)``; ``|D(t) - D(2t)|``, about ``|t L''| / 2``,
    bounds its truncation error with room to spare. Returns ``(estimate, truncation)``.
    Its rounding error is at most 5 times a central difference's (``2 * 2 + 1`` terms over ``|t|``).
    """
    d_near, d_far = (near - base) / t, (far - base) / (2 * t)
    return 2 * d_near - d_far, abs(d_near - d_far)


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
    scales: Mapping[str, float] | None = None,
) -> tuple[list[Comparison], list[Inconclusive]]:
    """Float64 central differences at ``h`` and ``2h`` for up to ``max_entries`` entries per array.

    Kinks. For a kinked hidden activation (ReLU, leaky ReLU) the sign of every
    hidden pre-activation is recorded at the point and at each of the four
    steps. Where a step crosses a kink the loss is not smooth over the stencil
    and the central difference measures nothing; then the side without a
    crossing gives the derivative (Richardson's one-sided estimate
    ``2 D(h) - D(2h)`` with ``D(t) = +-(L(p +- t) - L(p)) / t``, truncation
    estimated by ``|D(h) - D(2h)|``). An entry with no clean side, or whose
    point lies exactly on a kink (the derivative there is a convention), is
    *inconclusive*: it is left out of the comparison and returned as a
    :class:`~bp_autodiff.auditor.report.Inconclusive`, with the one-sided
    derivative the function's value equals, if any.

    Args:
        spec, params, X, Y: the problem, ``X (N, n_in)`` and ``Y (N, n_out)`` prepared.
        manual: the function's gradients by name (``"W1"``...); a missing one is reported ``missing``.
        jax_refs: JAX's gradients by name (to choose the entries to check).
        rtol: the gradient tolerance: the function's own rounding, added to the
            difference quotient's allowance as ``rtol * (max(S, max|D|) + |D_i|)``
            with ``S`` the larger of the whole array's largest JAX entry and its
            term size ``T`` (``scales``, :func:`~bp_autodiff.auditor.tolerance.term_scales`).
            A float32 gradient carries the rounding of its terms, not of its own
            size: a nearly saturated softmax has ``Y_hat - Y`` of ``4.6e-5``
            computed from ``Y_hat`` near 1, off by ``u |Y_hat|`` (hypothesis found
            such a case, ``W3`` 1.4 times a size-based allowance).
        max_entries: entries per array at most (four loss evaluations each).
        rng: for the sample of entries.
        scales: the term size ``T`` of each array by name (default: none, the array's norm).

    Returns:
        One :class:`Comparison` (witness ``"fd"``) per parameter, over its
        conclusive entries, and the inconclusive entries.
    """
    p64 = [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    X64 = X.astype(np.float64)
    Y64 = Y.astype(np.float64)
    kinked = HIDDEN[spec.hidden].kinked

    def evaluate() -> tuple[float, list[Array]]:
        _, cache = forward_prepared(spec, p64, X64)
        signs = [np.sign(c.Z) for c in cache[:-1]] if kinked else []
        return float(loss_from_cache(spec, cache, Y64)), signs

    base, base_signs = evaluate()
    noise = fd_rounding(spec.sizes, X.shape[0], base)
    h = FD_STEP
    out: list[Comparison] = []
    kinks: list[Inconclusive] = []
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
        m_flat = np.asarray(m, dtype=np.float64).reshape(-1)
        flat = arr.reshape(-1)  # a view: perturb in place, restore after
        estimate: list[float] = []
        truncation: list[float] = []
        rounding: list[float] = []
        keep: list[tuple[int, tuple[int, ...]]] = []
        for k in chosen:
            t = flat[k]
            vals, signs = {}, {}
            for step in (h, -h, 2 * h, -2 * h):
                flat[k] = t + step
                vals[step], signs[step] = evaluate()
            flat[k] = t
            index = tuple(int(x) for x in np.unravel_index(int(k), arr.shape))
            right_clean = not kinked or _side_is_clean(base_signs, signs[h], signs[2 * h])
            left_clean = not kinked or _side_is_clean(base_signs, signs[-h], signs[-2 * h])
            on_kink = kinked and any(  # a pre-activation exactly 0 at the point, which this entry moves
                np.any((b == 0) & ((p != 0) | (q != 0)))
                for b, p, q in zip(base_signs, signs[h], signs[-h], strict=True)
            )
            right = one_sided(base, vals[h], vals[2 * h], h)
            left = one_sided(base, vals[-h], vals[-2 * h], -h)
            if right_clean and left_clean and not on_kink:
                d1 = (vals[h] - vals[-h]) / (2 * h)
                d2 = (vals[2 * h] - vals[-2 * h]) / (4 * h)
                estimate.append(d1)
                truncation.append(abs(d2 - d1) / 3)
                rounding.append(noise)
            elif (right_clean or left_clean) and not on_kink:
                d, trunc = right if right_clean else left
                estimate.append(d)
                truncation.append(trunc)
                rounding.append(5 * noise)
            else:
                side = None
                for label, (d, trunc), clean in (("right", right, right_clean), ("left", left, left_clean)):
                    allowed = FD_SAFETY * (trunc + 5 * noise) + rtol * 2 * abs(d)
                    if clean and side is None and abs(m_flat[k] - d) <= allowed:
                        side = label
                reason = (
                    "a pre-activation lies exactly on the kink: the derivative there is a convention"
                    if on_kink
                    else f"the finite-difference steps (h = {h:.2g}, 2h) cross a kink on both sides"
                )
                kinks.append(Inconclusive(name, index, "fd", reason, side))
                continue
            keep.append((int(k), index))
        if not keep:
            out.append(Comparison(name, "fd", tuple(arr.shape), "pass", 0.0, 0.0, 0.0, checked=0))
            continue
        fd_values = np.array(estimate)
        size = max(float(np.max(np.abs(jax_refs[name]), initial=0.0)), (scales or {}).get(name, 0.0))
        allowed = FD_SAFETY * (np.array(truncation) + np.array(rounding)) + allowance(fd_values, rtol, size)
        idx = np.array([k for k, _ in keep])
        index_map = [index for _, index in keep]
        row = compare(name, "fd", m_flat[idx], fd_values, rtol, allowance=allowed, index_map=index_map)
        out.append(dataclasses.replace(row, shape=tuple(arr.shape)))
    return out, kinks
