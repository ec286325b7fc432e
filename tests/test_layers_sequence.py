"""The sequence layers (softmax, log_softmax, cross_entropy, rnn, lstm, attention) against JAX.

For every layer, over random shapes, configs (``axis``; ``causal``; ``T`` from 1 to 6
time steps; as many, fewer or more keys than queries), a random non-uniform ``dout``
and both float64 and float32: the hand forward and backward of :mod:`bp_manual.layers`
equal the JAX twin of :mod:`bp_autodiff.witness.layers` and ``jax.vjp`` of it. Also:
the manual pairs trace under ``jax.jit``, they leave their inputs alone, bad input is
refused naming the argument, and every classic mistake of the catalogs fails the same
comparison, on exactly the gradients it names.

The witness runs on padded shapes: one compiled executable per layer, dtype (and
``causal``), not one per drawn shape (a compile costs 0.3-1.5 s here). Each padding is
exact in exact arithmetic, and the zeros it adds to sums add no rounding error
(``x + 0 = x``), so it changes neither the answer nor the error bound. Per layer
(details at each ``_witness_*``): extra batch rows and queries get ``dout = 0``; extra
time steps come after the last one (they cannot reach earlier steps); extra features
and hidden units are zero with zero weights in and out; extra softmax entries and
extra keys get the score ``FAR = -1e4``, whose probability ``exp(FAR - max)`` is
exactly 0 in both dtypes.

Tolerance, derived. Each array ``g`` (the forward output and every gradient) is
compared as in :func:`bp_autodiff.tolerance.close`::

    |g_manual - g_jax| <= KAPPA * n * u * (max(max|g_jax|, scale) + |g_jax|)

with ``u`` the unit roundoff (2**-53, 2**-24), ``n`` a count of roundings on the longest
path to ``g`` on one side, and ``scale`` the size of the terms summed into ``g``'s
entries: the same computation run on absolute values (Higham's componentwise bound,
*Accuracy and Stability of Numerical Algorithms*, 3.1; ``tolerance.term_scales`` does
the same for the dense network), so a gradient that cancels to 0 is held to the
rounding of its terms (a softmax gradient is exactly 0 at ``K = 1``, tiny when one class
dominates). ``KAPPA = 8``: 2 for the two sides, each within ``n u scale`` of the exact
value, times 4 for the first-order model (second-order terms dropped). A sum or dot
product of ``k`` terms counts ``k``, an element-wise operation 1, and each evaluation of
``exp``, ``log``, ``tanh`` or the logistic function ``TAU = 8``: NumPy's and XLA's are
within ``TAU u`` of the exact value (measured on 2e5 points per function and dtype:
at most 7 u, XLA's float64 tanh; the others 1.3 to 3.8 u). ``K`` entries along ``axis``:

- softmax: ``s`` costs the shift, exp, the sum of ``K`` and the division, and the
  shift's absolute error ``u |x_i - max|`` becomes a relative error of ``s_i`` with
  ``s_i |x_i - max| <= 1/e``: ``n_fwd = K + TAU + 3``. The backward uses ``s`` twice,
  then a product, a sum of ``K``, a difference and a product: ``3 K + 2 TAU + 9``.
- log_softmax: ``(x - max) - log sum``: ``K + 2 TAU + 4``, held to the terms
  ``|x| + |max| + log sum + 1`` (either order of evaluation; ``+ 1`` for a logarithm's
  absolute rounding near 1). The backward ``dout - exp(y) sum(dout)``: ``y``'s absolute
  error becomes ``exp(y)``'s relative one, plus exp, a sum of ``K``, product, difference:
  ``2 K + 3 TAU + 6``.
- cross_entropy: the label's log-probability and a mean of ``N``: ``K + N + 2 TAU + 4``;
  the gradient ``dout (s - Y) / N``: ``K + TAU + 6``, with ``scale = |dout| (s + Y) / N``.
- attention: a score is a dot product of ``d`` and the scale, and its absolute error
  becomes its weight's relative error through ``exp``: ``(d + 1) (1 + Z)`` with
  ``Z = max |q| |k|^T / sqrt(d)``; the weights ``P`` then cost ``w = (d + 1) (1 + Z) +
  S + TAU + 3`` and the output ``w + S``. The gradients use ``P`` twice, ``dP`` (``dv``),
  the softmax backward (``S + 3``) and the last products (``max(S, T) + 1``).
- rnn, lstm: a running error bound (Higham, 3.3), carried through time. Forward, per
  entry and in units of ``u``: ``da_t = (D + H + 2) (|x_t| |Wx|^T + |h_{t-1}| |Wh|^T + |b|)
  + dh_{t-1} |Wh|^T``; each activation adds its slope times the error of its argument
  plus ``TAU`` times itself (``dh_t = (1 - h_t**2) da_t + TAU |h_t|``); the LSTM's cell
  ``dc_t = f dc_{t-1} + |c_{t-1}| df + i dg + |g| di + 2 (f |c_{t-1}| + i |g|)``, then
  ``tanh(c_t)`` and ``h_t = o tanh(c_t)`` likewise. The output is held to ``max dh``.
  Backward: the BPTT on absolute values gives the terms ``M`` of every ``da_t``; beside
  it, ``E`` carries the errors of the forward factors by the product rule
  (``E(m a) = E(m) a + m da``), a derivative computed from its activation ``A`` with error
  ``dA`` being off by ``2 |A| dA + 2`` (``1 - A**2``) or ``|1 - 2 A| dA + 2`` (``A (1 - A)``).
  The backward's own roundings: per step the carry, the products and ``da_t Wh``
  (``H + 2``; the LSTM ``4 H + 7``), the weight gradients' sums of ``N T`` terms and
  ``dx``: ``n = T (H + 2) + N T + H`` (LSTM ``T (4 H + 7) + N T + 4 H``), with
  ``scale = max(M + E / n)``. Both the count and ``E`` grow with the number of steps:
  ``n`` linearly in ``T``, ``E`` as fast as the case's own recurrence lets errors grow
  (``dh_{t-1} |Wh|^T``, damped by the slopes), so the bound follows ``T`` instead of
  assuming a rate; it is also why saturated units (``1 - h**2`` tiny, known only to a
  few ``u`` absolute) get room without any loosening elsewhere.

In float64 the drawn cases get ``KAPPA n u`` from 4e-15 to 4e-13; a wrong
derivation is off by ``O(1)``, and so is every catalog mistake (tested below; the
subtlest, the LSTM's ``1 - c**2`` for ``1 - tanh(c)**2``, fails float64 by 1e9 times the
tolerance and float32 by 4 to 15 times). No input is moved off a kink: none of these
layers has one (ties of the maximum in the stable softmax do not matter: the shift is
a constant, differentiated nowhere).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.catalog import attention as attention_catalog
from bp_autodiff.catalog import recurrent as recurrent_catalog
from bp_autodiff.catalog import softmax as softmax_catalog
from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_autodiff.layer_strategies import build_case, draw_choose, random_geometry
from bp_autodiff.witness.layers import attention as witness_attention
from bp_autodiff.witness.layers import recurrent as witness_recurrent
from bp_autodiff.witness.layers import softmax as witness_softmax
from bp_manual import layers
from strategies import examples
from tolerances import KAPPA, close, record, unit_roundoff

DTYPES = (np.float64, np.float32)
#: The score given to padded softmax entries and padded keys: ``exp(FAR - max)`` is exactly 0.
FAR = -1e4
#: Accuracy, in ulps, of the tanh and logistic functions of NumPy and XLA (module docstring).
TAU = 8
MISTAKES: dict[str, LayerMistake] = {
    **softmax_catalog.MISTAKES,
    **recurrent_catalog.MISTAKES,
    **attention_catalog.MISTAKES,
}


@dataclass
class Case:
    """One drawn problem: the layer, its inputs in order (float arrays and int labels), config and ``dout``."""

    layer: str
    inputs: dict[str, np.ndarray]
    config: dict[str, Any]
    dout: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*(a for a in self.inputs.values() if a.dtype.kind == "f"))

    def describe(self) -> str:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in self.inputs.items())
        return f"{self.layer}({shapes}, {self.config}) {self.dtype.name}"


# ------------------------------------------------------------------ witness runs


def _jit_vjp(f: Callable[..., Any], n_diff: int) -> Callable[..., Any]:
    """``jax.jit`` of ``(args, dout) -> (f(*args), vjp of f w.r.t. args[:n_diff] at dout)``."""

    def run(args: tuple[Any, ...], dout: Any) -> tuple[Any, Any]:
        out, pullback = jax.vjp(lambda *diff: f(*diff, *args[n_diff:]), *args[:n_diff])
        return out, pullback(dout)

    return jax.jit(run)


def _run(fn: Callable[..., Any], args: tuple[np.ndarray, ...], dout: np.ndarray) -> tuple[np.ndarray, list]:
    with jax.enable_x64(True):
        out, grads = fn(tuple(jnp.asarray(a) for a in args), jnp.asarray(dout))
        return np.asarray(out), [np.asarray(g) for g in grads]


_SOFTMAX = {
    "softmax": _jit_vjp(lambda x: witness_softmax.softmax(x, axis=1), 1),
    "log_softmax": _jit_vjp(lambda x: witness_softmax.log_softmax(x, axis=1), 1),
}
_CROSS_ENTROPY = _jit_vjp(witness_softmax.cross_entropy, 1)
_RNN = _jit_vjp(witness_recurrent.rnn, 5)
_LSTM = _jit_vjp(witness_recurrent.lstm, 6)
_ATTENTION = {
    causal: _jit_vjp(lambda q, k, v, c=causal: witness_attention.attention(q, k, v, causal=c), 3)
    for causal in (False, True)
}

SOFTMAX_BUCKET = (9, 6, 9)  # (entries before the axis, along it, after it)
CE_BUCKET = (5, 6)  # (N, K)
RNN_BUCKET = {"N": 3, "T": 6, "D": 3, "H": 3}
ATTENTION_BUCKET = {"N": 3, "T": 5, "S": 5, "d": 5, "dv": 3}  # d: 4 real features + the key-padding feature


def _pad(a: np.ndarray, shape: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
    out = np.full(shape, fill, dtype=a.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def _crop(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return a[tuple(slice(0, n) for n in shape)]


def _witness_softmax(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``x`` seen as ``(A, K, B)`` (the axes before ``axis``, ``axis``, those after), which is
    the same array in C order, padded to ``SOFTMAX_BUCKET``: extra rows and columns of the
    other axes are 0 with ``dout = 0`` (rows are independent), extra entries along the axis
    are ``FAR`` (probability exactly 0, so every sum over the axis is unchanged)."""
    x = case.inputs["x"]
    axis = case.config["axis"] % x.ndim
    A, K, B = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :])
    x3 = _pad(x.reshape(A, K, B), (A, SOFTMAX_BUCKET[1], B), FAR)
    out, (dx,) = _run(
        _SOFTMAX[case.layer], (_pad(x3, SOFTMAX_BUCKET),), _pad(case.dout.reshape(A, K, B), SOFTMAX_BUCKET)
    )
    return _crop(out, (A, K, B)).reshape(x.shape), {"x": _crop(dx, (A, K, B)).reshape(x.shape)}


def _witness_cross_entropy(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Padded to ``CE_BUCKET``: extra classes get ``FAR`` (probability exactly 0); extra rows are
    ``[0, FAR, ...]`` with label 0, whose loss is exactly ``-log(1) = 0``. The witness's mean
    over ``Np`` rows is then ``(N / Np)`` times the mean over the real ``N``: its value is scaled
    back by ``Np / N`` and it is pulled back with ``dout * Np / N``."""
    logits, labels = case.inputs["logits"], case.inputs["labels"]
    (N, K), (Np, Kp) = logits.shape, CE_BUCKET
    padded = _pad(_pad(logits, (N, Kp), FAR), (Np, Kp))
    padded[N:, 1:] = FAR
    ratio = Np / N
    dout = np.asarray(case.dout * ratio, dtype=logits.dtype)
    out, (dlogits,) = _run(_CROSS_ENTROPY, (padded, _pad(labels, (Np,))), dout)
    return np.asarray(out * ratio, dtype=logits.dtype), {"logits": _crop(dlogits, (N, K))}


def _pad_gates(W: np.ndarray, G: int, H: int, Hp: int, cols: int) -> np.ndarray:
    """``(G H, c)`` -> ``(G Hp, cols)`` (or ``(G H,)`` -> ``(G Hp,)``): each of the ``G`` gate
    blocks padded with zero rows, and zero columns."""
    if W.ndim == 1:
        return _pad(W.reshape(G, H), (G, Hp)).reshape(G * Hp)
    return _pad(W.reshape(G, H, W.shape[1]), (G, Hp, cols)).reshape(G * Hp, cols)


def _crop_gates(W: np.ndarray, G: int, H: int, Hp: int, cols: int) -> np.ndarray:
    """The inverse of :func:`_pad_gates`."""
    if W.ndim == 1:
        return W.reshape(G, Hp)[:, :H].reshape(G * H)
    return W.reshape(G, Hp, W.shape[1])[:, :H, :cols].reshape(G * H, cols)


def _witness_recurrent(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Padded to ``RNN_BUCKET``: extra sequences and extra hidden units start at 0, extra
    input features are 0, and every weight into or out of an extra unit or feature is 0, so
    an extra unit stays at ``h = 0`` (``c = 0``: its gates are ``1/2, 1/2, 0, 1/2``) and feeds
    nothing; extra steps come after the last, with ``dout = 0``, so nothing flows back from
    them. The gradients of the real entries are the unpadded ones."""
    x = case.inputs["x"]
    N, T, D = x.shape
    H = case.inputs["h0"].shape[1]
    G = 4 if case.layer == "lstm" else 1
    Np, Tp, Dp, Hp = (RNN_BUCKET[k] for k in "NTDH")
    states = [_pad(case.inputs[s], (Np, Hp)) for s in (("h0", "c0") if G == 4 else ("h0",))]
    args = (
        _pad(x, (Np, Tp, Dp)),
        *states,
        _pad_gates(case.inputs["Wx"], G, H, Hp, Dp),
        _pad_gates(_pad(case.inputs["Wh"], (G * H, Hp)), G, H, Hp, Hp),
        _pad_gates(case.inputs["b"], G, H, Hp, 0),
    )
    out, grads = _run(_LSTM if G == 4 else _RNN, args, _pad(case.dout, (Np, Tp, Hp)))
    names = list(case.inputs)
    result = {"x": _crop(grads[0], (N, T, D))}
    for name, g in zip(names[1:-3], grads[1:-3], strict=True):
        result[name] = _crop(g, (N, H))
    result["Wx"] = _crop_gates(grads[-3], G, H, Hp, D)
    result["Wh"] = _crop_gates(grads[-2], G, H, Hp, H)
    result["b"] = _crop_gates(grads[-1], G, H, Hp, 0)
    return _crop(out, (N, T, H)), result


def _witness_attention(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Padded to ``ATTENTION_BUCKET``. Extra batch rows and queries get ``dout = 0``; extra value
    columns are 0. Extra features: the witness scales by ``1/sqrt(dp)`` for its ``dp`` columns,
    so the real queries are multiplied by ``c = sqrt(dp / d)`` (``q k^T c / sqrt(dp) = q k^T / sqrt(d)``)
    and ``dq`` by ``c`` on the way back (the chain rule); extra columns are 0, except the last:
    1 for every real query, 0 for real keys and ``FAR sqrt(dp)`` for extra keys, so an extra
    key scores exactly ``FAR`` (weight exactly 0) and a real key's score is unchanged."""
    q, k, v = case.inputs["q"], case.inputs["k"], case.inputs["v"]
    (N, T, d), S, dv = q.shape, k.shape[1], v.shape[2]
    B = ATTENTION_BUCKET
    dp = B["d"]
    c = math.sqrt(dp / d)
    qp = _pad(q * q.dtype.type(c), (B["N"], B["T"], dp))
    qp[:N, :T, -1] = 1.0
    kp = _pad(k, (B["N"], B["S"], dp))
    kp[:, S:, -1] = FAR * math.sqrt(dp)
    vp = _pad(v, (B["N"], B["S"], B["dv"]))
    out, (dq, dk, dvv) = _run(
        _ATTENTION[case.config["causal"]], (qp, kp, vp), _pad(case.dout, (B["N"], B["T"], B["dv"]))
    )
    grads = {
        "q": _crop(dq, (N, T, d)) * q.dtype.type(c),
        "k": _crop(dk, (N, S, d)),
        "v": _crop(dvv, (N, S, dv)),
    }
    return _crop(out, (N, T, dv)), grads


WITNESS: dict[str, Callable[[Case], tuple[np.ndarray, dict[str, Any]]]] = {
    "softmax": _witness_softmax,
    "log_softmax": _witness_softmax,
    "cross_entropy": _witness_cross_entropy,
    "rnn": _witness_recurrent,
    "lstm": _witness_recurrent,
    "attention": _witness_attention,
}


# ------------------------------------------------------------------ tolerances: counts and term scales


@dataclass
class Bounds:
    """The tolerance of one case: roundings counted on the longest path of the forward
    (``n_fwd``) and of the gradients (``n_bwd``), per side, and each array's scale (``"out"``
    and one per differentiable input): ``|manual - jax| <= KAPPA n u (max(max|jax|, scale) + |jax|)``."""

    n_fwd: float
    n_bwd: float
    scales: dict[str, float]


def _f64(case: Case) -> dict[str, np.ndarray]:
    return {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in case.inputs.items()}


def _log_terms(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(|x| + |max| + log sum exp(x - max) + 1, softmax(x))`` along ``axis``: the terms of
    ``log softmax(x) = x - max - log sum`` in either order of evaluation (``(x - max) - log sum``,
    ``x - (max + log sum)``), plus 1 for the absolute rounding of a logarithm near 1 (the sum
    lies in ``[1, K]``)."""
    m = x.max(axis=axis, keepdims=True)
    total = np.exp(x - m).sum(axis=axis, keepdims=True)
    return np.abs(x) + np.abs(m) + np.log(total) + 1.0, np.exp(x - m) / total


def _bounds_softmax(case: Case) -> Bounds:
    """Counts of the module docstring; ``T`` of ``s * (dout - sum(dout s))`` and of
    ``dout - s sum(dout)`` is the same with every term made positive; log-softmax's
    output is held to its terms (:func:`_log_terms`)."""
    x, axis = _f64(case)["x"], case.config["axis"]
    K = x.shape[axis]
    terms, s = _log_terms(x, axis)
    g = np.abs(case.dout.astype(np.float64))
    if case.layer == "softmax":
        dx = s * (g + (g * s).sum(axis=axis, keepdims=True))
        return Bounds(K + TAU + 3, 3 * K + 2 * TAU + 9, {"out": float(np.max(s)), "x": float(np.max(dx))})
    dx = g + s * g.sum(axis=axis, keepdims=True)
    return Bounds(K + 2 * TAU + 4, 2 * K + 3 * TAU + 6, {"out": float(np.max(terms)), "x": float(np.max(dx))})


def _bounds_cross_entropy(case: Case) -> Bounds:
    """Counts of the module docstring. ``T`` of the gradient is ``|dout| (s + Y) / N``; of the
    loss, the mean over rows of the terms of the label's log-probability (:func:`_log_terms`)."""
    logits, labels = _f64(case)["logits"], case.inputs["labels"]
    N, K = logits.shape
    terms, s = _log_terms(logits, 1)
    Y = np.eye(K)[labels]
    scales = {"out": float(np.mean(terms[np.arange(N), labels])), "logits": float(abs(case.dout) * np.max(s + Y) / N)}
    return Bounds(K + N + 2 * TAU + 4, K + TAU + 6, scales)


def _bounds_attention(case: Case) -> Bounds:
    """Counts of the module docstring with ``Z = max |q| |k|^T / sqrt(d)``; ``T`` from the
    backward on absolute values, and ``P |v|`` for the output."""
    i = _f64(case)
    q, k, v = i["q"], i["k"], i["v"]
    (_, T, d), S, dv = q.shape, k.shape[1], v.shape[2]
    _, cache = layers.attention_forward(q, k, v, **case.config)
    P, scale = cache.P, cache.scale
    Z = float(np.max(np.abs(q) @ np.abs(k).transpose(0, 2, 1))) * scale
    weights = (d + 1) * (1.0 + Z) + S + TAU + 3  # the relative error of P
    g = np.abs(case.dout.astype(np.float64))
    M_dP = g @ np.abs(v).transpose(0, 2, 1)
    M_ds = P * (M_dP + (M_dP * P).sum(axis=2, keepdims=True))
    scales = {
        "out": float(np.max(P @ np.abs(v))),
        "q": float(np.max(M_ds @ np.abs(k))) * scale,
        "k": float(np.max(M_ds.transpose(0, 2, 1) @ np.abs(q))) * scale,
        "v": float(np.max(P.transpose(0, 2, 1) @ g)),
    }
    return Bounds(weights + S, 2 * weights + dv + S + 3 + max(S, T) + 1, scales)


def _sigmoid_prime(A: np.ndarray, dA: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A (1 - A)`` and its error bound from ``A``'s bound ``dA`` (in ``u``): ``|1 - 2A| dA + 2``."""
    return A * (1 - A), np.abs(1 - 2 * A) * dA + 2


def _tanh_prime(A: np.ndarray, dA: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 - A**2`` and its error bound from ``A``'s bound ``dA`` (in ``u``): ``2 |A| dA + 2``."""
    return 1 - A**2, 2 * np.abs(A) * dA + 2


def _recurrent_scales(
    M_a: np.ndarray, E_a: np.ndarray, n: float, x: np.ndarray, h_prev: np.ndarray, dh_prev: np.ndarray, Wx: np.ndarray
) -> dict[str, float]:
    """The scales of ``dx = da Wx``, ``dWx = da^T x``, ``dWh = da^T h_prev``, ``db = sum da``, ``max(M + E / n)``,
    from the terms ``M_a`` of ``da``, their error bounds ``E_a`` and the bound ``dh_prev`` of ``h_prev``."""
    flat = [a.reshape(-1, a.shape[-1]) for a in (M_a, E_a, x, h_prev, dh_prev)]
    M2, E2, x2, h2, dh2 = flat
    return {
        "x": float(np.max((M_a + E_a / n) @ np.abs(Wx))),
        "Wx": float(np.max((M2 + E2 / n).T @ np.abs(x2))),
        "Wh": float(np.max((M2 + E2 / n).T @ np.abs(h2) + M2.T @ dh2 / n)),
        "b": float(np.max((M2 + E2 / n).sum(axis=0))),
    }


def _bounds_rnn(case: Case) -> Bounds:
    """Running error bounds (module docstring): forward ``dA``, backward terms ``M`` and errors ``E``."""
    i = _f64(case)
    x, h0, Wx, Wh, b = i["x"], i["h0"], i["Wx"], i["Wh"], i["b"]
    (N, T, D), H = x.shape, h0.shape[1]
    _, cache = layers.rnn_forward(x, h0, Wx, Wh, b)
    h = cache.h
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dh = np.zeros_like(h)  # error bounds of h_t, in u
    for t in range(T):
        F = np.abs(x[:, t]) @ np.abs(Wx).T + np.abs(b) + np.abs(h_prev[:, t]) @ np.abs(Wh).T
        da = (D + H + 2) * F + (dh[:, t - 1] @ np.abs(Wh).T if t else 0.0)
        dh[:, t] = (1 - h[:, t] ** 2) * da + TAU * np.abs(h[:, t])
    dh_prev = np.concatenate([np.zeros_like(h0)[:, None], dh[:, :-1]], axis=1)
    n_bwd = T * (H + 2) + N * T + H
    g = np.abs(case.dout.astype(np.float64))
    M_next, E_next = np.zeros_like(h0), np.zeros_like(h0)
    M_a, E_a = np.zeros_like(h), np.zeros_like(h)
    for t in reversed(range(T)):
        M_h, E_h = g[:, t] + M_next, E_next
        fp, dfp = _tanh_prime(h[:, t], dh[:, t])
        M_a[:, t], E_a[:, t] = M_h * fp, E_h * fp + M_h * dfp
        M_next, E_next = M_a[:, t] @ np.abs(Wh), E_a[:, t] @ np.abs(Wh)
    scales = _recurrent_scales(M_a, E_a, n_bwd, x, h_prev, dh_prev, Wx)
    return Bounds(1, n_bwd, {"out": float(np.max(dh)), "h0": float(np.max(M_next + E_next / n_bwd)), **scales})


def _bounds_lstm(case: Case) -> Bounds:
    """As :func:`_bounds_rnn`, through the LSTM step."""
    i = _f64(case)
    x, h0, c0, Wx, Wh, b = i["x"], i["h0"], i["c0"], i["Wx"], i["Wh"], i["b"]
    (N, T, D), H = x.shape, h0.shape[1]
    _, cache = layers.lstm_forward(x, h0, c0, Wx, Wh, b)
    h, c, tc = cache.h, cache.c, cache.tanh_c
    gi, gf, gg, go = (cache.gates[..., k * H : (k + 1) * H] for k in range(4))
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    c_prev = np.concatenate([c0[:, None], c[:, :-1]], axis=1)
    d = {name: np.zeros_like(h) for name in ("i", "f", "g", "o", "c", "tc", "h")}  # error bounds, in u
    for t in range(T):
        F = np.abs(x[:, t]) @ np.abs(Wx).T + np.abs(b) + np.abs(h_prev[:, t]) @ np.abs(Wh).T
        da = (D + H + 2) * F + (d["h"][:, t - 1] @ np.abs(Wh).T if t else 0.0)
        for k, (name, gate) in enumerate(zip("ifgo", (gi, gf, gg, go), strict=True)):
            A, da_k = gate[:, t], da[:, k * H : (k + 1) * H]
            slope = (1 - A**2) if name == "g" else A * (1 - A)
            d[name][:, t] = slope * da_k + TAU * np.abs(A)
        dc_prev = d["c"][:, t - 1] if t else 0.0
        cell_terms = gf[:, t] * np.abs(c_prev[:, t]) + gi[:, t] * np.abs(gg[:, t])
        d["c"][:, t] = (
            gf[:, t] * dc_prev
            + np.abs(c_prev[:, t]) * d["f"][:, t]
            + gi[:, t] * d["g"][:, t]
            + np.abs(gg[:, t]) * d["i"][:, t]
            + 2 * cell_terms
        )
        d["tc"][:, t] = (1 - tc[:, t] ** 2) * d["c"][:, t] + TAU * np.abs(tc[:, t])
        d["h"][:, t] = go[:, t] * d["tc"][:, t] + np.abs(tc[:, t]) * d["o"][:, t] + np.abs(h[:, t])
    dh_prev = np.concatenate([np.zeros_like(h0)[:, None], d["h"][:, :-1]], axis=1)
    dc_prev_all = np.concatenate([np.zeros_like(c0)[:, None], d["c"][:, :-1]], axis=1)
    n_bwd = T * (4 * H + 7) + N * T + 4 * H
    g = np.abs(case.dout.astype(np.float64))
    Mh_next, Eh_next, Mc_next, Ec_next = (np.zeros_like(h0) for _ in range(4))
    M_a, E_a = np.zeros_like(cache.a), np.zeros_like(cache.a)
    for t in reversed(range(T)):
        i_, f_, g_, o_, tc_, cp = gi[:, t], gf[:, t], gg[:, t], go[:, t], tc[:, t], np.abs(c_prev[:, t])
        di, df, dg, do, dtc = (d[k][:, t] for k in ("i", "f", "g", "o", "tc"))
        dcp = dc_prev_all[:, t]
        M_h, E_h = g[:, t] + Mh_next, Eh_next
        tpc, dtpc = _tanh_prime(tc_, dtc)
        M_c = Mc_next + M_h * o_ * tpc
        E_c = Ec_next + E_h * o_ * tpc + M_h * (do * tpc + o_ * dtpc)
        blocks = (  # (incoming M, E; the other factor and its bound; the derivative and its bound)
            (M_c, E_c, np.abs(g_), dg, *_sigmoid_prime(i_, di)),
            (M_c, E_c, cp, dcp, *_sigmoid_prime(f_, df)),
            (M_c, E_c, i_, di, *_tanh_prime(g_, dg)),
            (M_h, E_h, np.abs(tc_), dtc, *_sigmoid_prime(o_, do)),
        )
        M_a[:, t] = np.concatenate([m * a * fp for m, _, a, _, fp, _ in blocks], axis=1)
        E_a[:, t] = np.concatenate([e * a * fp + m * (da * fp + a * dfp) for m, e, a, da, fp, dfp in blocks], axis=1)
        Mh_next, Eh_next = M_a[:, t] @ np.abs(Wh), E_a[:, t] @ np.abs(Wh)
        Mc_next, Ec_next = M_c * f_, E_c * f_ + M_c * df
    scales = _recurrent_scales(M_a, E_a, n_bwd, x, h_prev, dh_prev, Wx)
    scales["h0"] = float(np.max(Mh_next + Eh_next / n_bwd))
    scales["c0"] = float(np.max(Mc_next + Ec_next / n_bwd))
    return Bounds(1, n_bwd, {"out": float(np.max(d["h"])), **scales})


BOUNDS: dict[str, Callable[[Case], Bounds]] = {
    "softmax": _bounds_softmax,
    "log_softmax": _bounds_softmax,
    "cross_entropy": _bounds_cross_entropy,
    "rnn": _bounds_rnn,
    "lstm": _bounds_lstm,
    "attention": _bounds_attention,
}


def rtol(count: float, dtype: np.dtype) -> float:
    """``KAPPA * n_ops * u`` (module docstring)."""
    return KAPPA * count * unit_roundoff(dtype)


# ------------------------------------------------------------------ the comparison


Reference = Callable[[Case], tuple[np.ndarray, dict[str, Any]]]


def compare(
    case: Case, backward: Callable[..., Any] | None = None, reference: Reference | None = None
) -> dict[str, tuple[bool, float, float]]:
    """``name -> (ok, rel, fraction)`` for the forward output (``"out"``) and every gradient of
    ``case``: the hand layer (with ``backward`` in place of its own, if given) against
    ``reference`` (the JAX witness unless given), by the derived tolerance. Shapes and dtypes
    must match exactly; integer inputs must get ``None``."""
    forward = getattr(layers, f"{case.layer}_forward")
    backward = backward or getattr(layers, f"{case.layer}_backward")
    out, cache = forward(*case.inputs.values(), **case.config)
    grads = backward(case.dout, cache)
    ref_out, ref_grads = (reference or WITNESS[case.layer])(case)
    bounds = BOUNDS[case.layer](case)
    dtype = case.dtype
    out = np.asarray(out)
    assert out.dtype == dtype and out.shape == ref_out.shape, (out.dtype, out.shape, ref_out.shape)
    results = {"out": close(out, ref_out, rtol(bounds.n_fwd, dtype), bounds.scales["out"])}
    assert len(grads) == len(case.inputs)
    for (name, value), grad in zip(case.inputs.items(), grads, strict=True):
        if value.dtype.kind != "f":
            assert grad is None, f"{name} is not differentiable, got {type(grad)}"
            continue
        assert grad.shape == value.shape and grad.dtype == dtype, (name, grad.shape, grad.dtype)
        results[name] = close(grad, ref_grads[name], rtol(bounds.n_bwd, dtype), bounds.scales[name])
    return results


def assert_matches(case: Case, reference: Reference | None = None, key: str = "") -> None:
    """Every array of ``case`` within tolerance of ``reference`` (the witness); the worst errors recorded."""
    for name, (ok, rel, fraction) in compare(case, reference=reference).items():
        record(f"layers.{case.layer}{key} {case.dtype.name}", rel, fraction, f"{name}: {case.describe()}")
        assert ok, f"{name} differs: rel error {rel:.2e}, {fraction:.2f} x tolerance, for {case.describe()}"


# ------------------------------------------------------------------ strategies

SEEDS = st.integers(0, 2**32 - 1)


def fixed_geometry_case(
    layer: str,
    rng: np.random.Generator,
    geometry: tuple[Mapping[str, Any], Mapping[str, Any]],
    dtype: type,
    **scales: float,
) -> Case:
    """The inputs at ``geometry`` (``layer_strategies.build_case``, each named input scaled by ``scales``), then a
    standard normal ``dout`` of the output's shape from the same ``rng``."""
    built = build_case(layer, rng, *geometry, dtype, scale=scales)
    out, _ = getattr(layers, f"{layer}_forward")(*built.inputs.values(), **built.config)
    return Case(layer, built.inputs, built.config, rng.normal(0.0, 1.0, np.shape(out)).astype(dtype))


@st.composite
def softmax_cases(draw: st.DrawFn, layer: str, dtype: type) -> Case:
    """1 to 3 axes of 1 to 3 entries, ``axis`` anywhere, up to ``SOFTMAX_BUCKET[1]`` entries along it."""
    geometry = random_geometry(layer, draw_choose(draw), rank=(1, 3), size=(1, 3), K=(1, SOFTMAX_BUCKET[1]))
    scale = draw(st.sampled_from([0.1, 1.0, 4.0, 30.0]))
    return fixed_geometry_case(layer, np.random.default_rng(draw(SEEDS)), geometry, dtype, x=scale)


@st.composite
def cross_entropy_cases(draw: st.DrawFn, dtype: type) -> Case:
    """Up to ``CE_BUCKET`` rows and classes; ``dout`` a scalar of either sign, never 1."""
    geometry = random_geometry("cross_entropy", draw_choose(draw), N=(1, CE_BUCKET[0]), K=(1, CE_BUCKET[1]))
    scale = draw(st.sampled_from([0.1, 1.0, 4.0, 30.0]))
    rng = np.random.default_rng(draw(SEEDS))
    case = fixed_geometry_case("cross_entropy", rng, geometry, dtype, logits=scale)
    case.dout = np.asarray(dtype(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)))
    return case


@st.composite
def recurrent_cases(draw: st.DrawFn, layer: str, dtype: type, T: int | None = None) -> Case:
    """Up to ``RNN_BUCKET``; weights at ``gain / sqrt(fan_in)``, inputs at ``x_scale`` (``build_case``)."""
    B = RNN_BUCKET
    steps = (T, T) if T else (1, B["T"])
    geometry = random_geometry(layer, draw_choose(draw), N=(1, B["N"]), T=steps, D=(1, B["D"]), H=(1, B["H"]))
    gain = draw(st.sampled_from([0.5, 1.0, 2.0]))
    x_scale = draw(st.sampled_from([0.3, 1.0, 3.0]))
    return fixed_geometry_case(layer, np.random.default_rng(draw(SEEDS)), geometry, dtype, x=x_scale, Wx=gain, Wh=gain)


@st.composite
def attention_cases(draw: st.DrawFn, dtype: type, causal: bool | None = None) -> Case:
    """Up to ``ATTENTION_BUCKET`` (``d`` one less: the key-padding feature); as many, fewer or more keys than
    queries, ``causal`` or not."""
    B = ATTENTION_BUCKET
    bounds = {"N": (1, B["N"]), "T": (1, B["T"]), "S": (1, B["S"]), "d": (1, B["d"] - 1), "dv": (1, B["dv"])}
    config = None if causal is None else {"causal": causal}
    geometry = random_geometry("attention", draw_choose(draw), config=config, **bounds)
    scale = draw(st.sampled_from([0.3, 1.0, 3.0]))
    return fixed_geometry_case("attention", np.random.default_rng(draw(SEEDS)), geometry, dtype, q=scale, k=scale)


# ------------------------------------------------------------------ 1. the property tests


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", ["softmax", "log_softmax"])
@settings(max_examples=examples(0.3))
@given(data=st.data())
def test_softmax_and_log_softmax_equal_jax(layer: str, dtype: type, data: st.DataObject) -> None:
    assert_matches(data.draw(softmax_cases(layer, dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=examples(0.3))
@given(data=st.data())
def test_cross_entropy_equals_jax(dtype: type, data: st.DataObject) -> None:
    assert_matches(data.draw(cross_entropy_cases(dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", ["rnn", "lstm"])
@settings(max_examples=examples(0.3))
@given(data=st.data())
def test_recurrent_bptt_equals_jax(layer: str, dtype: type, data: st.DataObject) -> None:
    assert_matches(data.draw(recurrent_cases(layer, dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=examples(0.3))
@given(data=st.data())
def test_attention_equals_jax(dtype: type, data: st.DataObject) -> None:
    assert_matches(data.draw(attention_cases(dtype)))


# ------------------------------------------------------------------ 5. every catalog mistake is caught


def fixed_case(layer: str, dtype: type, config: dict[str, Any] | None = None, seed: int = 7, T: int = 4) -> Case:
    """One case at a shape where every catalog mistake shows: several rows, ``K = 5``,
    ``N = 4`` and ``dout != 1`` (cross-entropy), ``T = 4`` steps, ``d = 3`` and ``T = S``."""
    config = config or {}
    rng = np.random.default_rng(seed)
    if layer in ("softmax", "log_softmax"):
        return fixed_geometry_case(layer, rng, ({"x": (3, 5)}, {"axis": -1, **config}), dtype, x=2.0)
    if layer == "cross_entropy":
        case = fixed_geometry_case(layer, rng, ({"logits": (4, 5), "labels": (4,)}, config), dtype)
        case.dout = np.asarray(dtype(1.7))
        return case
    if layer in ("rnn", "lstm"):
        shapes, _ = random_geometry(layer, lambda lo, hi: hi, N=(2, 2), T=(T, T), D=(3, 3), H=(3, 3))
        return fixed_geometry_case(layer, rng, (shapes, config), dtype)
    geometry = ({"q": (2, 4, 3), "k": (2, 4, 3), "v": (2, 4, 2)}, {"causal": False, **config})
    return fixed_geometry_case("attention", rng, geometry, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_every_catalog_mistake_fails_the_property(name: str, dtype: type) -> None:
    """The comparison of the property tests, with the mistaken backward in place of the right one:
    exactly the gradients the entry names as ``wrong`` fail; the forward and the others pass."""
    mistake = MISTAKES[name]
    case = fixed_case(mistake.layer, dtype, mistake.config)
    assert_matches(case)  # the right backward passes at this case
    results = compare(case, backward=mistake.backward)
    failed = {key for key, (ok, _, _) in results.items() if not ok}
    assert failed == set(mistake.wrong), f"{name}: failed {sorted(failed)}, expected {sorted(mistake.wrong)}"


def test_every_catalog_entry_names_a_layer_and_a_known_kind() -> None:
    kinds = {"lost_accumulation", "layer_mistake", "scale", "sign", "transpose", "zero", "ignores_upstream"}
    kinds |= {"unreduced", "swapped"}
    for name, mistake in MISTAKES.items():
        assert mistake.kind in kinds, name
        forward = getattr(layers, f"{mistake.layer}_forward")
        assert set(mistake.wrong) <= set(inspect.signature(forward).parameters), name
        assert "# MISTAKE" in inspect.getsource(mistake.backward), name


# ------------------------------------------------------------------ 3. the manual pairs under jax.jit

LAYERS = ["softmax", "log_softmax", "cross_entropy", "rnn", "lstm", "attention"]


@pytest.mark.parametrize("layer", LAYERS)
def test_manual_pair_runs_under_jit(layer: str) -> None:
    """``jax.jit`` of forward-then-backward on JAX arrays gives the NumPy result (float64 and
    float32 in one program, held to the same derived tolerance, with the NumPy run as reference).
    Two time steps: the loop unrolls under ``jit``, and two steps already carry."""
    forward = getattr(layers, f"{layer}_forward")
    backward = getattr(layers, f"{layer}_backward")
    config = {"causal": True} if layer == "attention" else None
    cases = [fixed_case(layer, dtype, config, T=2) for dtype in DTYPES]

    def pair(inputs: list[tuple[Any, ...]], douts: list[Any]) -> list[tuple[Any, Any]]:
        results = []
        for args, dout, case in zip(inputs, douts, cases, strict=True):
            out, cache = forward(*args, **case.config)
            results.append((out, backward(dout, cache)))
        return results

    with jax.enable_x64(True):
        traced = jax.jit(pair)(
            [tuple(jnp.asarray(a) for a in c.inputs.values()) for c in cases], [jnp.asarray(c.dout) for c in cases]
        )
        traced = jax.tree.map(np.asarray, traced)
    for case, (out, grads) in zip(cases, traced, strict=True):
        by_name = {n: g for n, g in zip(case.inputs, grads, strict=True) if g is not None}

        def reference(_: Case, out: np.ndarray = out, by_name: dict[str, Any] = by_name) -> tuple[np.ndarray, dict]:
            return out, by_name

        assert_matches(case, reference=reference, key=" under jit")


# ------------------------------------------------------------------ purity


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_leave_their_inputs_and_dout_alone(layer: str) -> None:
    case = fixed_case(layer, np.float64, {"causal": True} if layer == "attention" else None)
    before = {k: v.copy() for k, v in case.inputs.items()}
    dout = case.dout.copy()
    _, cache = getattr(layers, f"{layer}_forward")(*case.inputs.values(), **case.config)
    getattr(layers, f"{layer}_backward")(case.dout, cache)
    for k, v in case.inputs.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    np.testing.assert_array_equal(case.dout, dout)


# ------------------------------------------------------------------ 4. bad input

_OK_X = np.zeros((2, 3))
_OK_RNN = {
    "x": np.zeros((2, 4, 3)),
    "h0": np.zeros((2, 5)),
    "Wx": np.zeros((5, 3)),
    "Wh": np.zeros((5, 5)),
    "b": np.zeros(5),
}
_OK_LSTM = {
    "x": np.zeros((2, 4, 3)),
    "h0": np.zeros((2, 5)),
    "c0": np.zeros((2, 5)),
    "Wx": np.zeros((20, 3)),
    "Wh": np.zeros((20, 5)),
    "b": np.zeros(20),
}
_OK_QKV = {"q": np.zeros((2, 3, 4)), "k": np.zeros((2, 5, 4)), "v": np.zeros((2, 5, 6))}

BAD_INPUTS: list[tuple[str, dict[str, Any], type, str]] = [
    ("softmax", {"x": "abc"}, TypeError, r"^x must be a real numeric array"),
    ("softmax", {"x": np.float64(1.0)}, ValueError, r"^x must have at least 1 dimension, got shape \(\)$"),
    (
        "softmax",
        {"x": _OK_X, "axis": 2},
        ValueError,
        r"^axis must lie in \[-2, 2\) for an array with 2 dimensions, got 2$",
    ),
    ("log_softmax", {"x": _OK_X, "axis": -3}, ValueError, r"^axis must lie in \[-2, 2\)"),
    ("softmax", {"x": _OK_X, "axis": 1.0}, TypeError, r"^axis must be an integer, got float$"),
    ("log_softmax", {"x": np.array([1.0, np.nan])}, ValueError, r"^x must be finite; it holds NaN or inf$"),
    ("softmax", {"x": np.zeros((3, 0))}, ValueError, r"^x must have at least one entry along axis 1"),
    (
        "cross_entropy",
        {"logits": _OK_X, "labels": np.array([0.0, 1.0])},
        TypeError,
        r"^labels must be an integer array",
    ),
    ("cross_entropy", {"logits": _OK_X, "labels": np.array([True, False])}, TypeError, r"^labels must be an integer"),
    (
        "cross_entropy",
        {"logits": _OK_X, "labels": np.array([0, 3])},
        ValueError,
        r"^labels must lie in \[0, 3\), got 3 at index \(1,\)$",
    ),
    (
        "cross_entropy",
        {"logits": _OK_X, "labels": np.array([-100, 1])},
        ValueError,
        r"^labels must lie in \[0, 3\), got -100 at index",
    ),
    (
        "cross_entropy",
        {"logits": _OK_X, "labels": np.array([0, 1, 2])},
        ValueError,
        r"^labels must have shape \(2,\) \(one per",
    ),
    ("cross_entropy", {"logits": np.zeros(3), "labels": np.array([0])}, ValueError, r"^logits must have 2 dimensions"),
    (
        "cross_entropy",
        {"logits": np.zeros((0, 3)), "labels": np.zeros(0, int)},
        ValueError,
        r"^logits must have at least",
    ),
    (
        "rnn",
        {**_OK_RNN, "Wx": np.zeros((5, 2))},
        ValueError,
        r"^Wx must have shape \(5, 3\) \(H from h0, D from x\), got \(5, 2\)$",
    ),
    (
        "rnn",
        {**_OK_RNN, "Wh": np.zeros((5, 4))},
        ValueError,
        r"^Wh must have shape \(5, 5\) \(H from h0\), got \(5, 4\)$",
    ),
    ("rnn", {**_OK_RNN, "b": np.zeros(4)}, ValueError, r"^b must have shape \(5,\)"),
    (
        "rnn",
        {**_OK_RNN, "h0": np.zeros((3, 5))},
        ValueError,
        r"^h0 must have shape \(2, 5\) \(N from x\), got \(3, 5\)$",
    ),
    ("rnn", {**_OK_RNN, "x": np.zeros((4, 3))}, ValueError, r"^x must have 3 dimensions, got shape \(4, 3\)$"),
    ("rnn", {**_OK_RNN, "x": np.zeros((2, 0, 3))}, ValueError, r"^x must have at least one time step"),
    (
        "rnn",
        {**_OK_RNN, "b": np.zeros(5, np.float32)},
        TypeError,
        r"^inputs must share one floating dtype, got .*b float32",
    ),
    (
        "lstm",
        {**_OK_LSTM, "Wx": np.zeros((5, 3))},
        ValueError,
        r"^Wx must have shape \(20, 3\) \(4H from h0, D from x\)",
    ),
    ("lstm", {**_OK_LSTM, "c0": np.zeros((2, 4))}, ValueError, r"^c0 must have shape \(2, 5\) \(the shape of h0\)"),
    (
        "attention",
        {**_OK_QKV, "k": np.zeros((2, 5, 3))},
        ValueError,
        r"^k must have shape \(2, 5, 4\) \(N and d from q\)",
    ),
    (
        "attention",
        {**_OK_QKV, "v": np.zeros((2, 4, 6))},
        ValueError,
        r"^v must have shape \(2, 5, 6\) \(N from q, S from k\)",
    ),
    ("attention", {**_OK_QKV, "q": np.zeros((3, 4))}, ValueError, r"^q must have 3 dimensions"),
    ("attention", {**_OK_QKV, "causal": "yes"}, TypeError, r"^causal must be a bool, got str 'yes'$"),
    (
        "attention",
        {**_OK_QKV, "k": np.zeros((2, 0, 4)), "v": np.zeros((2, 0, 6))},
        ValueError,
        r"^k must have at least",
    ),
]


@pytest.mark.parametrize(
    ("layer", "kwargs", "error", "match"), BAD_INPUTS, ids=[f"{b[0]}-{b[3][1:30]}" for b in BAD_INPUTS]
)
def test_bad_input_is_refused_naming_the_argument(layer: str, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        getattr(layers, f"{layer}_forward")(**kwargs)
