"""Tolerances for comparing two computations of the same gradient, derived here.

The comparison, per array (each ``W_l``, ``b_l``, ``delta_l``)::

    |manual - reference| <= atol + rtol * |reference|   elementwise,
    atol = rtol * max|reference|                          (the array's inf-norm)

``atol`` is scaled by the array's norm because an entry that is small through
cancellation (``dW_ij = sum_n delta_ni A_nj`` with terms of both signs) carries
the absolute rounding error of its largest terms, not of its own size; the
array's largest entry is the natural measure of those terms.

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
(about ``|Z|`` for the pre-activations these tests draw, inputs of scale <= 3,
init schemes that keep ``|Z|`` of order 1 to 10). We take ``kappa = 8``.

float64: the largest case the strategies draw (``L = 5``, ``w = 32``,
``N = 16``) gives ``8 * 376 * 1.1e-16 = 3.3e-13``. The project's bar is
``rtol = 1e-9``, 3000 times above that bound: it cannot be met by luck, and a
wrong gradient (an error of order 1 relative, or even 1e-6 from a float32
slip) fails it by orders of magnitude.

float32: ``rtol = kappa * n_ops * 2**-24``, computed per example from its
``L``, ``w`` and ``N``: from ``8 * 11 * 6e-8 = 5.2e-6`` for ``L = w = N = 1``
up to ``8 * 376 * 6e-8 = 1.8e-4`` for the largest networks drawn.

The kink margin for ReLU-like activations uses the forward half of the same
model: ``|Z_manual - Z_ref| <= kappa * l (w + 4) u * (|A_{l-1}| |W_l|^T + |b_l|)``
elementwise at layer ``l``; a pre-activation farther from 0 than that has the
same sign on both sides, so both take the same branch of ``relu'``.

The observed worst errors, as a fraction of these tolerances, are recorded by
:func:`record` and printed at the end of the test session.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from numpy.typing import NDArray

KAPPA = 8.0
FLOAT64_RTOL = 1e-9

#: worst observed errors: key -> (relative error, fraction of tolerance, description)
WORST: dict[str, tuple[float, float, str]] = {}
COUNTS: defaultdict[str, int] = defaultdict(int)


def unit_roundoff(dtype: np.dtype | type) -> float:
    """``u = eps / 2``: 2**-53 for float64, 2**-24 for float32."""
    return float(np.finfo(dtype).eps) / 2


def n_ops(sizes: tuple[int, ...], n_samples: int) -> int:
    """``2 L (w + 4) + N`` with ``w`` the widest layer (see the module docstring)."""
    L = len(sizes) - 1
    return 2 * L * (max(sizes) + 4) + n_samples


def gradient_rtol(sizes: tuple[int, ...], n_samples: int, dtype: np.dtype | type) -> float:
    """The relative tolerance for a gradient array of a network with ``sizes``."""
    if np.dtype(dtype) == np.float64:
        return FLOAT64_RTOL
    return KAPPA * n_ops(sizes, n_samples) * unit_roundoff(dtype)


def kink_margin(l: int, width: int, dtype: np.dtype | type) -> float:
    """Relative forward error bound of ``Z_l``: ``kappa * l (w + 4) u``."""
    return KAPPA * l * (width + 4) * unit_roundoff(dtype)


def close(actual: NDArray, reference: NDArray, rtol: float) -> tuple[bool, float, float]:
    """Check ``|actual - reference| <= rtol * (max|reference| + |reference|)``.

    Returns ``(ok, rel, fraction)``: ``rel = max|actual - reference| / max|reference|``
    (0/0 read as 0) and ``fraction``, the largest ratio of an element's error
    to its allowance (<= 1 when ``ok``).
    """
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        return False, float("inf"), float("inf")
    if not (np.all(np.isfinite(actual)) and np.all(np.isfinite(reference))):
        return False, float("inf"), float("inf")
    err = np.abs(actual - reference)
    scale = float(np.max(np.abs(reference), initial=0.0))
    allowance = rtol * (scale + np.abs(reference))
    if scale == 0.0:
        ok = bool(np.all(err == 0.0))
        return ok, (0.0 if ok else float("inf")), (0.0 if ok else float("inf"))
    fraction = float(np.max(err / allowance, initial=0.0))
    return fraction <= 1.0, float(np.max(err, initial=0.0)) / scale, fraction


def record(key: str, rel: float, fraction: float, what: str) -> None:
    """Remember the worst relative error seen under ``key`` (for the session summary)."""
    COUNTS[key] += 1
    if key not in WORST or rel > WORST[key][0]:
        WORST[key] = (rel, fraction, what)
