"""Tolerances for comparing two computations of the same gradient, derived here.

What this module is for: the one tolerance policy that the tests
(``tests/tolerances.py`` re-exports it), the auditor (:mod:`bp_autodiff.auditor`)
and ``bp check`` share. NumPy only; nothing here imports JAX.

What it is not for: deciding *what* to compare (the auditor and the tests do).

The comparison, per array (each ``W_l``, ``b_l``, ``delta_l``)::

    |manual - reference| <= atol + rtol * |reference|   elementwise,
    atol = rtol * max(max|reference|, T)                  (the array's inf-norm, or T)

``atol`` is scaled by the size of the array's *terms*, because an entry that
is small through cancellation (``dW_ij = sum_n delta_ni A_nj`` with terms of
both signs) carries the absolute rounding error of its largest terms, not of
its own size. Usually the array's largest entry measures those terms. It does
not when the whole array cancels: with zero weights and as many samples of
each class, ``dW_L = 0`` exactly, and the two sides differ by rounding alone
(the property test found such a case: 0 against 6.9e-18). ``T``
(:func:`term_scales`) is the largest entry of the same backward pass run on
absolute values, ``|delta_L| = (|Y_hat| + |Y|) / N``,
``|delta_l| = (|delta_{l+1}| @ |W_{l+1}|) * |f'(Z_l)|``,
``|dW_l| = |delta_l|^T @ |A_{l-1}|``, ``|db_l| = sum_n |delta_l|``: entry by
entry the sum of the absolute values of the terms (Higham's componentwise
bound), never below ``|reference|``. Comparisons that do not have the network
at hand pass no ``T`` and use the array's norm.

Error model. Both sides evaluate the same mathematical expression in floating
point with unit roundoff ``u`` (2**-53 for float64, 2**-24 for float32), in
different orders (XLA fuses and reassociates). A dot product of length ``k``
has a forward error of at most ``k u`` times ``|x| . |y|`` (Higham, *Accuracy
and Stability of Numerical Algorithms*, 3.1); each element-wise step
(activation, derivative, the product in the delta recursion) adds a few ``u``.
Along the longest path of a step there are ``L`` forward products of length at
most ``w + 1`` (width ``w``, plus the bias), ``L - 1`` backward products of the
same length, about three element-wise operations per layer and direction, and
the final sum over the batch, of length ``N``::

    n_ops = 2 L (w + 4) + N

First-order errors add along the path, so the relative error of a gradient
array is at most about ``kappa * n_ops * u``, where ``kappa`` collects the
amplification by cancellation and by the condition of ``exp``/``log``/``tanh``
(about ``|Z|`` for pre-activations of order 1 to 10). We take ``kappa = 8``.

Saturated derivatives. One step is not covered by ``n_ops``: ``f'(Z)`` is
computed from ``A = f(Z)`` (``tanh' = 1 - A**2``, ``sigmoid' = A (1 - A)``),
which has an *absolute* rounding error of about ``c u`` (``c = 3`` for tanh and
sigmoid: ``1 + 2 A**2`` and ``A + (1 - A) + A (1 - A)``; ``c = 1`` for
softplus, whose derivative is a sigmoid computed directly; exact for the
piecewise-linear ones). Where a unit saturates, ``f'`` is small and that error
is large *relative* to it: at ``Z = 3.6``, ``tanh' = 0.0029`` carries a relative
error of about ``3u / 0.0029``, 1000 ``u``. In the recursion
``delta_l = U_l * f'(Z_l)`` with ``U_l = delta_{l+1} @ W_{l+1}``, the array
``delta_l`` therefore gets a relative error (against its largest entry) of at
most ``c u max|U_l| / max|U_l * f'(Z_l)|``, which every gradient below inherits.
So each hidden layer adds ``s_l = c max|U_l| / max|U_l * f'(Z_l)|`` operations'
worth of error (:func:`saturation`; 0 to 3 for unsaturated units, large only
when a whole layer saturates), and the bound is ``kappa * (n_ops + sum_l s_l) * u``.

float64: the largest case the tests draw (``L = 5``, ``w = 32``, ``N = 16``)
gives ``8 * 376 * 1.1e-16 = 3.3e-13``. The project's bar is ``rtol = 1e-9``,
3000 times above that bound: it cannot be met by luck, and a wrong gradient
(an error of order 1 relative, or even 1e-6 from a float32 slip) fails it by
orders of magnitude. Only a layer saturated throughout (``sum_l s_l`` above
about 5e5, e.g. every ``|Z| > 8`` in a tanh layer) pushes the derived bound
past ``1e-9``; the float64 tolerance is then that bound, never less than ``1e-9``.

float32: ``rtol = kappa * (n_ops + sum_l s_l) * 2**-24``, computed per case:
without saturation from ``8 * 11 * 6e-8 = 5.2e-6`` for ``L = w = N = 1`` up to
``8 * 376 * 6e-8 = 1.8e-4`` for the largest networks the tests draw. (Before the
saturation term was added, a property run with 4x the examples found a correct
float32 case, one tanh unit at ``Z = 3.6``, outside the tolerance: 3.1e-5
against 1e-5. That case is now a regression test.)

The kink margin for ReLU-like activations uses the forward half of the same
model: ``|Z_manual - Z_ref| <= kappa * l (w + 4) u * (|A_{l-1}| |W_l|^T + |b_l|)``
elementwise at layer ``l``; a pre-activation farther from 0 than that has the
same sign on both sides, so both take the same branch of ``relu'``.

Finite differences (the third witness, always in float64). With step ``h``,
``D(h) = (L(t + h) - L(t - h)) / 2h = L'(t) + c h**2 + O(h**4)`` (Taylor, with
``c = L'''(t) / 6``), plus the rounding of the two loss evaluations divided by
``2h``. Rather than bound ``L'''`` a priori (it depends on the network), the
truncation error is estimated from the same evaluations at ``2h``:
``D(2h) - D(h) = 3 c h**2 + O(h**4)``, so ``|D(h) - L'| ~ |D(2h) - D(h)| / 3``.
Each loss evaluation is a forward pass with ``n_ops`` as above (also in the
batched evaluation of :mod:`bp_autodiff.auditor.finite_differences`, whose
docstring counts its operations), so its
rounding error is at most ``kappa * n_ops * u * (1 + |L|)`` (the ``1 +``
covers losses near 0 whose terms are not), and ``D(h)`` carries that divided by
``h``. The allowance per element is ten times the sum (a safety factor for the
first-order estimates), plus the manual side's own rounding (``rtol`` above,
which matters for float32)::

    allow_i = 10 * (|D(2h)_i - D(h)_i| / 3 + kappa * n_ops * u64 * (1 + |L|) / h)
              + rtol * (max|D(h)| + |D(h)_i|)

With ``h = 2**-17`` and ``n_ops`` around 100 the rounding part is about
``1.2e-7 (1 + |L|)``, ten million times smaller than the ``O(|g|)`` errors a
wrong derivation makes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import Cache, backward, forward, forward_prepared
from bp_manual.spec import NetworkSpec
from bp_manual.validation import prepare_batch

KAPPA = 8.0
FLOAT64_RTOL = 1e-9
#: Finite-difference step, about the optimum ``(3 c u / M3)**(1/3)`` for float64.
FD_STEP = 2.0**-17
#: Safety factor on the first-order finite-difference error estimates.
FD_SAFETY = 10.0


def unit_roundoff(dtype: DTypeLike) -> float:
    """``u = eps / 2``: 2**-53 for float64, 2**-24 for float32."""
    return float(np.finfo(dtype).eps) / 2


def n_ops(sizes: tuple[int, ...], n_samples: int) -> int:
    """``2 L (w + 4) + N`` with ``w`` the widest layer (see the module docstring)."""
    L = len(sizes) - 1
    return 2 * L * (max(sizes) + 4) + n_samples


#: Absolute rounding error of ``f'`` computed from ``A = f(Z)``, in units of ``u`` (module docstring).
DERIVATIVE_ROUNDING = {"tanh": 3.0, "sigmoid": 3.0, "softplus": 1.0}


def gradient_rtol(sizes: tuple[int, ...], n_samples: int, dtype: DTypeLike, saturation: float = 0.0) -> float:
    """The relative tolerance for a gradient array of a network with ``sizes``.

    ``kappa * (n_ops + saturation) * u``, where ``saturation`` is
    :func:`saturation` of the case (0 when unknown or not applicable); for
    float64 never less than ``1e-9`` (module docstring).
    """
    bound = KAPPA * (n_ops(sizes, n_samples) + saturation) * unit_roundoff(dtype)
    if np.dtype(dtype) == np.float64:
        return max(FLOAT64_RTOL, bound)
    return bound


class Float64Forward(NamedTuple):
    """A problem in float64 and ``bp_manual``'s forward pass on it (:func:`float64_forward`).

    Attributes:
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]`` in float64.
        X, Y: ``(N, n_in)``, ``(N, n_out)`` prepared (``prepare_batch``), float64.
        cache: ``bp_manual.network.forward_prepared(spec, params, X)[1]``.
    """

    params: Params
    X: NDArray[np.floating]
    Y: NDArray[np.floating]
    cache: Cache


def float64_forward(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object, *, checked: bool = False
) -> Float64Forward:
    """The problem converted to float64 and checked (``prepare_batch``: ``TypeError``/``ValueError``
    naming the argument), and its forward pass: what :func:`saturation`, :func:`term_scales` and the
    auditor's finite differences all start from, computed once when they are given it.

    ``checked=True`` (keyword only): ``params``, ``X (N, n_in)`` and ``Y (N, n_out)`` were already
    checked and prepared (``prepare_batch``, as the auditor does first), and are only converted.
    """
    p64: Params = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    X64: NDArray[np.floating]
    Y64: NDArray[np.floating]
    if checked:
        X64, Y64 = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    else:
        X64, Y64 = prepare_batch(spec, p64, X, Y)  # X, Y as given: checked, then converted to float64
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return Float64Forward(p64, X64, Y64, forward_prepared(spec, p64, X64)[1])


def saturation(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object, *, at: Float64Forward | None = None
) -> float:
    """``sum_l s_l``, ``s_l = c max|U_l| / max|U_l * f'(Z_l)|`` over the hidden layers (module docstring).

    Evaluated in float64 from ``bp_manual``'s forward cache and deltas, with
    ``U_l = delta_{l+1} @ W_{l+1}``. 0 for activations whose derivative is exact.
    Shapes as for ``bp_manual.loss_and_grads``; ``at``: :func:`float64_forward` of
    the same problem, if at hand (keyword only).
    """
    c = DERIVATIVE_ROUNDING.get(spec.hidden, 0.0)
    if c == 0.0 or spec.n_layers < 2:
        return 0.0
    p64, _, Y64, cache = at or float64_forward(spec, params, X, Y)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        _, deltas = backward(spec, p64, cache, Y64)
        total = 0.0
        for l in range(1, spec.n_layers):  # hidden layer l is cache[l - 1]; delta_{l+1} is deltas[l]
            U = deltas[l] @ p64[l]["W"]
            below = cache[l - 1]
            weighted = float(np.max(np.abs(U * HIDDEN[spec.hidden].derivative(below.Z, below.A))))
            if weighted > 0.0:
                total += c * float(np.max(np.abs(U))) / weighted
    return total


def term_scales(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object, *, at: Float64Forward | None = None
) -> dict[str, float]:
    """``T`` of the module docstring for every gradient and delta array, by name.

    Keys ``"W1"``, ``"b1"``, ..., ``"delta1"``, ... (layer ``l`` is ``params[l - 1]``).
    Each value is the largest entry of the backward pass on absolute values,
    in float64: how large the terms summed into that array's entries are, so
    ``rtol * T`` is their rounding error however much they cancel. Shapes as
    for ``bp_manual.loss_and_grads``; ``at``: :func:`float64_forward` of the
    same problem, if at hand (keyword only).
    """
    p64, X64, Y64, cache = at or float64_forward(spec, params, X, Y)
    derivative = HIDDEN[spec.hidden].derivative
    scales: dict[str, float] = {}
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        Y_hat = cache[-1].A
        M = (np.abs(Y_hat) + np.abs(Y64)) / X64.shape[0]  # |delta_L|: the terms of (Y_hat - Y) / N
        for l in range(spec.n_layers, 0, -1):
            scales[f"delta{l}"] = float(np.max(M))
            scales[f"W{l}"] = float(np.max(M.T @ np.abs(cache[l - 1].A_prev)))
            if spec.bias:
                scales[f"b{l}"] = float(np.max(M.sum(axis=0)))
            if l > 1:
                below = cache[l - 2]
                M = (M @ np.abs(p64[l - 1]["W"])) * np.abs(derivative(below.Z, below.A))
    return scales


def params_difference(actual: ParamsLike, reference: ParamsLike) -> tuple[float, float]:
    """Norm-wise agreement of two params-shaped lists: ``(max abs diff, max over arrays of
    max|actual - reference| / max|reference|)`` (an all-zero reference counts the raw difference).

    The per-array summary that ``bp demo`` and ``bp train --backend both`` print; the tests use the
    element-wise :func:`close` instead.
    """
    worst_abs, worst_rel = 0.0, 0.0
    for a, r in zip(actual, reference, strict=True):
        for key in r:
            diff = float(np.max(np.abs(np.asarray(a[key]) - np.asarray(r[key])), initial=0.0))
            scale = float(np.max(np.abs(np.asarray(r[key])), initial=0.0))
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / scale if scale > 0 else diff)
    return worst_abs, worst_rel


def kink_margin(l: int, width: int, dtype: DTypeLike) -> float:
    """Relative forward error bound of ``Z_l``: ``kappa * l (w + 4) u``."""
    return KAPPA * l * (width + 4) * unit_roundoff(dtype)


def fd_rounding(sizes: tuple[int, ...], n_samples: int, loss: float, h: float = FD_STEP) -> float:
    """Rounding part of a float64 central difference: ``kappa n_ops u (1 + |L|) / h``."""
    return KAPPA * n_ops(sizes, n_samples) * unit_roundoff(np.float64) * (1.0 + abs(loss)) / h


def allowance(reference: NDArray[Any], rtol: float, scale: float = 0.0) -> NDArray[np.float64]:
    """Elementwise ``rtol * (max(max|r|, scale) + |r_i|)``: how far an entry may be from ``r_i``.

    The one definition of "close" in the project: :func:`relative_errors`,
    :func:`close` and the auditor's comparisons all divide by this expression.
    ``scale`` is the array's ``T`` (:func:`term_scales`) when known.
    """
    r = np.abs(np.asarray(reference, dtype=np.float64))
    return np.asarray(rtol * (max(float(r.max(initial=0.0)), scale) + r), dtype=np.float64)


def relative_errors(actual: NDArray[Any], reference: NDArray[Any], scale: float = 0.0) -> NDArray[np.float64]:
    """Elementwise ``|a_i - r_i| / (max(max|r|, scale) + |r_i|)``, the auditor's relative error.

    Both arrays have the same shape; computed in float64. ``scale`` is the
    array's ``T`` (:func:`term_scales`) when known. Where the denominator is 0
    (the whole reference is 0 and no scale) the error is 0 if ``a_i == 0``,
    else inf. The comparison ``close(a, r, rtol, scale)`` holds exactly when
    every entry is ``<= rtol``.
    """
    err = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(reference, dtype=np.float64))
    return ratios(err, allowance(reference, 1.0, scale))


def ratios(err: NDArray[np.floating], allowed: NDArray[np.floating]) -> NDArray[np.float64]:
    """Elementwise ``err / allowed`` of two float64 arrays of one shape, with ``0 / 0`` read as 0 and
    ``x / 0`` as inf (an allowance of 0 admits only an exact match)."""
    positive = allowed > 0
    if positive.all():  # the usual case, without the floating-point state switch
        return np.asarray(err / allowed, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(positive, err / np.where(positive, allowed, 1.0), np.where(err == 0, 0.0, np.inf))
    return np.asarray(rel, dtype=np.float64)


def close(actual: NDArray[Any], reference: NDArray[Any], rtol: float, scale: float = 0.0) -> tuple[bool, float, float]:
    """Check ``|actual - reference| <= rtol * (max(max|reference|, scale) + |reference|)``.

    ``scale`` is the array's ``T`` (:func:`term_scales`) when the network is at
    hand. Returns ``(ok, rel, fraction)``: ``rel = max|actual - reference| /
    max(max|reference|, scale)`` (0/0 read as 0) and ``fraction``, the largest
    ratio of an element's error to its allowance (<= 1 when ``ok``). Arrays of
    different shapes, or holding NaN or inf, are not close.
    """
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        return False, float("inf"), float("inf")
    if not (np.all(np.isfinite(actual)) and np.all(np.isfinite(reference))):
        return False, float("inf"), float("inf")
    err = np.abs(actual - reference)
    norm = max(float(np.max(np.abs(reference), initial=0.0)), scale)
    if norm == 0.0:
        ok = bool(np.all(err == 0.0))
        return ok, (0.0 if ok else float("inf")), (0.0 if ok else float("inf"))
    fraction = float(np.max(relative_errors(actual, reference, scale), initial=0.0)) / rtol
    return fraction <= 1.0, float(np.max(err, initial=0.0)) / norm, fraction


def kinks_are_clear(spec: NetworkSpec, params: ParamsLike, X: object) -> bool:
    """True when every pre-activation of a kinked hidden layer is farther from 0
    than the forward rounding error could move it (see :func:`kink_margin`),
    so a hand derivation and JAX take the same branch of ``relu'``.

    ``params`` as for ``bp_manual.forward``; ``X (N, n_in)``.
    """
    if not HIDDEN[spec.hidden].kinked:
        return True
    _, cache = forward(spec, params, X)
    width = max(spec.sizes)
    dtype = cache[0].Z.dtype
    for l, (layer, c) in enumerate(zip(params[:-1], cache[:-1], strict=True), start=1):
        magnitude = np.abs(c.A_prev) @ np.abs(layer["W"]).T
        if spec.bias:
            magnitude = magnitude + np.abs(layer["b"])
        if np.any(np.abs(c.Z) <= kink_margin(l, width, dtype) * magnitude):
            return False
    return True
