"""The third witness: float64 central finite differences of the loss.

What this module is for: a check of a user's gradient that shares nothing
with JAX: the loss alone is evaluated (by ``bp_manual``'s forward pass, in
float64) at ``p +- h`` and ``p +- 2h`` for each chosen entry, and the
difference quotient is compared with the user's value. The allowance per
entry (truncation estimated from the two steps, plus rounding) is derived in
:mod:`bp_autodiff.auditor.tolerance`.

Batched. The network is ``bp_manual``'s, so the perturbations are a batch
dimension (:func:`perturbed_losses`): moving ``W_l[r, c]`` by ``s`` changes
only column ``r`` of ``Z_l``, by ``s * A_{l-1}[:, c]`` (``b_l[r]``: by ``s``),
so the perturbed ``Z_l`` of the ``4 K`` perturbations of an array are built at
once, ``(4 K, N, n_l)``, from the point's forward pass. Their rows join one
2-D stack at layer ``l`` and go up layers ``l + 1 .. L`` with the rows of the
arrays below (``bp_manual.network.layer_forward`` and the hidden activation,
one call per layer for every array: rows are independent), and the loss of
each perturbation is ``bp_manual``'s own loss on a stack of batches. The
estimates, the kink records and the allowances are then computed for every
entry at once; each array gets its own comparison. ``tests/test_finite_differences_batched.py`` holds this
against the one-evaluation-per-perturbation code it replaced (kept there as
the reference): the same losses within the rounding bound, the same kink
records, the same inconclusive entries.

What it is not for: derivatives of anything but the network's loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import param_names
from bp_autodiff.auditor.report import Comparison, Inconclusive
from bp_autodiff.auditor.tolerance import FD_SAFETY, FD_STEP, Float64Forward, allowance, fd_rounding, float64_forward
from bp_manual.activations import HIDDEN
from bp_manual.initializers import ParamsLike
from bp_manual.losses import LOSSES
from bp_manual.network import Cache, layer_forward, loss_from_cache
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]
Mask = NDArray[np.bool_]
FloatOrArray = TypeVar("FloatOrArray", float, Array)

#: The four steps of every entry, in the order of the steps axis of :func:`perturbed_losses`.
STEPS = np.array([FD_STEP, -FD_STEP, 2 * FD_STEP, -2 * FD_STEP])


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


def perturbed_losses(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: Cache,
    Y: Array,
    arrays: Sequence[tuple[int, str, NDArray[np.intp]]],
    steps: Array = STEPS,
) -> tuple[Array, list[Array]]:
    """The loss with one entry of an array moved by each step, for every array, entry and step at once.

    Args:
        spec, params: the network (float64); ``cache``: its forward pass on the batch
            (``bp_manual.network.forward_prepared``); ``Y (N, n_out)`` the prepared targets.
        arrays: ``(layer, key, entries)`` per array, layers in increasing order:
            ``params[layer][key]`` (``"W"`` ``(n_l, n_{l-1})`` or ``"b"`` ``(n_l,)``)
            and ``(K_a,)`` flat indices into it. The ``P = sum K_a`` entries are
            numbered in this order.
        steps: ``(S,)`` the steps ``s`` (default :data:`STEPS`).

    Returns:
        ``(losses, signs)``: ``losses (P, S)``, the loss at ``p + s e_k``;
        ``signs``, for a kinked hidden activation, one array per hidden layer
        ``j``: ``np.sign(Z_j)`` for the first ``P_j`` entries, ``(P_j, S, N, n_j)``,
        those of the arrays in layers up to ``j`` (the others do not reach
        layer ``j``: its signs are the point's); empty otherwise.

    Raises:
        ValueError: ``arrays`` not in the order of their layers.

    The perturbed ``Z_l`` is ``Z_l + s * A_{l-1}[:, c]`` in column ``r`` (a
    bias: ``+ s``), ``s`` a power of two times the step, so the step itself
    is exact (no ``(t + h) - t``). Every perturbation is ``S N`` rows of one
    2-D stack: a layer's perturbations join the stack at their layer and go
    up with the rest, one ``layer_forward`` per layer in all. Rounding: see
    :func:`fd_witness`.
    """
    layers = [layer for layer, _, _ in arrays]
    if layers != sorted(layers):
        raise ValueError(f"arrays must be in the order of their layers, got layers {layers}")
    act = HIDDEN[spec.hidden]
    S, N = len(steps), cache[0].Z.shape[0]
    stack: Array = np.empty((0, cache[0].A_prev.shape[1]))  # rows of Z_j: S N per entry joined so far
    signs: list[Array] = []
    for j, c in enumerate(cache):
        joining: list[Array] = [layer_forward(params[j]["W"], params[j].get("b"), act.f(stack))] if j else []
        for layer, key, entries in arrays:
            if layer != j:
                continue
            K, n = len(entries), c.Z.shape[1]
            Z = np.array(np.broadcast_to(c.Z, (K, S, N, n)))
            if key == "W":
                rows, cols = np.divmod(entries, c.A_prev.shape[1])
                Z[np.arange(K), :, :, rows] += steps[None, :, None] * c.A_prev.T[cols][:, None, :]
            else:
                Z[np.arange(K), :, :, entries] += steps[None, :, None]
            joining.append(Z.reshape(K * S * N, n))
        stack = np.concatenate(joining) if len(joining) > 1 else joining[0] if joining else np.empty((0, c.Z.shape[1]))
        if act.kinked and j < spec.n_layers - 1:
            signs.append(np.sign(stack).reshape(-1, S, N, stack.shape[1]))
    losses = LOSSES[spec.loss].value(stack.reshape(-1, S, N, stack.shape[1]), Y)
    return np.asarray(losses, dtype=np.float64).reshape(-1, S), signs


def kink_records(base: list[Array], signs: list[Array], P: int) -> tuple[Mask, Mask, Mask]:
    """``(right_clean, left_clean, on_kink)``, ``(P,)`` each, from the signs of :func:`perturbed_losses`
    (per hidden layer, the first ``P_j`` entries; steps in the order of :data:`STEPS`) and the point's
    signs ``base`` of the same layers, ``(N, n_j)`` each.

    A side is clean when no kinked pre-activation changes sign between the point and the steps
    ``h``, ``2h`` on that side (an entry exactly 0 at the point may take either sign, as long as it
    keeps it); an entry is on the kink when a pre-activation exactly 0 at the point moves.
    """
    right, left, on_kink = np.ones(P, bool), np.ones(P, bool), np.zeros(P, bool)
    for b, s in zip(base, signs, strict=True):
        moved, k = b != 0, s.shape[0]
        right[:k] &= ~np.any((s[:, 0] != s[:, 2]) | (moved & (s[:, 0] != b)), axis=(1, 2))
        left[:k] &= ~np.any((s[:, 1] != s[:, 3]) | (moved & (s[:, 1] != b)), axis=(1, 2))
        on_kink[:k] |= np.any(~moved & ((s[:, 0] != 0) | (s[:, 1] != 0)), axis=(1, 2))
    return right, left, on_kink


def one_sided(base: float, near: FloatOrArray, far: FloatOrArray, t: float) -> tuple[FloatOrArray, FloatOrArray]:
    """Richardson's one-sided derivative from ``L(p)``, ``L(p + t)``, ``L(p + 2t)`` (``t < 0``: the left side).

    With ``D(t) = (L(p + t) - L(p)) / t = L' + t L''/2 + O(t**2)``, the estimate
    ``2 D(t) - D(2t)`` is ``L' + O(t**2)``; ``|D(t) - D(2t)|``, about ``|t L''| / 2``,
    bounds its truncation error with room to spare. Returns ``(estimate, truncation)``
    (floats, or arrays elementwise).
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
    *,
    at: Float64Forward | None = None,
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

    Rounding. The losses at the steps come from :func:`perturbed_losses`: the
    layers below the perturbed one are the point's own forward pass, the
    perturbed ``Z_l`` is the point's plus one product and one addition, and the
    layers above are the same forward equations, so each perturbed loss is a
    forward pass with at most one operation more on its longest path than
    ``L (w + 4) + N``, the forward half of ``n_ops``; the allowance
    (:func:`~bp_autodiff.auditor.tolerance.fd_rounding`) counts both halves,
    ``2 L (w + 4) + N``, so it still bounds the rounding of every evaluation.
    (The rounding the layers below share with the point cancels in
    ``L(p + s) - L(p)``; the old per-perturbation forward did not share it.)

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
        at: :func:`~bp_autodiff.auditor.tolerance.float64_forward` of the problem, if at hand
            (keyword only; default: computed here).

    Returns:
        One :class:`Comparison` (witness ``"fd"``) per parameter, over its
        conclusive entries, and the inconclusive entries.
    """
    p64, _, Y64, cache = at or float64_forward(spec, params, X, Y)
    base = float(loss_from_cache(spec, cache, Y64))
    base_signs = [np.sign(c.Z) for c in cache[:-1]] if HIDDEN[spec.hidden].kinked else []
    noise = fd_rounding(spec.sizes, X.shape[0], base)
    h = FD_STEP
    kinks: list[Inconclusive] = []
    rows: list[Comparison | None] = []  # None: to be judged, in the order of todo
    todo: list[tuple[int, str, NDArray[np.intp]]] = []
    for i, key, name in param_names(spec):
        arr, m = p64[i][key], manual.get(name)
        if m is None or m.shape != arr.shape:
            rows.append(Comparison(name, "fd", tuple(arr.shape), "missing" if m is None else "shape"))
            continue
        rows.append(None)
        todo.append((i, key, chosen_entries(arr.size, max_entries, jax_refs[name], m, rng)))  # the draws in order

    vals, signs = perturbed_losses(spec, p64, cache, Y64, todo)
    right_clean, left_clean, on_kink = kink_records(base_signs, signs, vals.shape[0])
    right = one_sided(base, vals[:, 0], vals[:, 2], h)
    left = one_sided(base, vals[:, 1], vals[:, 3], -h)
    central = right_clean & left_clean & ~on_kink
    conclusive = (right_clean | left_clean) & ~on_kink
    d1 = (vals[:, 0] - vals[:, 1]) / (2 * h)
    d2 = (vals[:, 2] - vals[:, 3]) / (4 * h)
    estimate = np.where(central, d1, np.where(right_clean, right[0], left[0]))
    truncation = np.where(central, np.abs(d2 - d1) / 3, np.where(right_clean, right[1], left[1]))
    rounding = np.where(central, noise, 5 * noise)

    def judge(i: int, key: str, chosen: NDArray[np.intp], at: slice) -> Comparison:
        """The comparison of array ``params[i][key]``, whose entries ``chosen`` are ``at`` in the stack."""
        name, arr = f"{key}{i + 1}", p64[i][key]
        m_flat = np.asarray(manual[name], dtype=np.float64).reshape(-1)
        keep = conclusive[at]
        for j in at.start + np.flatnonzero(~keep) if not keep.all() else ():
            k = int(chosen[j - at.start])
            side = None
            for label, d, trunc, clean in (
                ("right", right[0][j], right[1][j], right_clean[j]),
                ("left", left[0][j], left[1][j], left_clean[j]),
            ):
                allowed = FD_SAFETY * (trunc + 5 * noise) + rtol * 2 * abs(d)
                if clean and side is None and abs(m_flat[k] - d) <= allowed:
                    side = label
            reason = (
                "a pre-activation lies exactly on the kink: the derivative there is a convention"
                if on_kink[j]
                else f"the finite-difference steps (h = {h:.2g}, 2h) cross a kink on both sides"
            )
            index = tuple(int(x) for x in np.unravel_index(k, arr.shape))
            kinks.append(Inconclusive(name, index, "fd", reason, side))
        if not keep.any():
            return Comparison(name, "fd", tuple(arr.shape), "pass", 0.0, 0.0, 0.0, checked=0)
        idx = chosen[keep]
        fd_values = estimate[at][keep]
        size = max(float(np.abs(jax_refs[name]).max(initial=0.0)), (scales or {}).get(name, 0.0))
        allowed = FD_SAFETY * (truncation[at][keep] + rounding[at][keep]) + allowance(fd_values, rtol, size)
        index_map = list(zip(*(i.tolist() for i in np.unravel_index(idx, arr.shape)), strict=True))
        row = compare(name, "fd", m_flat[idx], fd_values, rtol, allowance=allowed, index_map=index_map)
        return dataclasses.replace(row, shape=tuple(arr.shape))

    ends = np.cumsum([len(chosen) for _, _, chosen in todo])
    judged = iter(
        judge(i, key, chosen, slice(int(end) - len(chosen), int(end)))
        for (i, key, chosen), end in zip(todo, ends, strict=True)
    )
    out = [row if row is not None else next(judged) for row in rows]
    return out, kinks
