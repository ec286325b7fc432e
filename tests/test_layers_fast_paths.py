"""The layers' fast paths compute what the plain forms compute (``benchmarks/bench_layers.py`` times them).

Each shortcut that a layer of ``bp_manual.layers`` takes for speed is held here to the plain expression it
replaces, on NumPy and under ``jax.jit``: bit for bit where both do the same roundings (an index, a max), within a
derived bound where the shortcut rounds differently (stated at the test). The families' own property tests
(``tests/test_layers_<family>.py``) still hold every layer to its JAX twin and to torch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bp_manual.layers import (
    batch_norm_backward,
    batch_norm_forward,
    conv2d_backward,
    conv2d_forward,
    layer_norm_forward,
    max_pool2d_forward,
)
from bp_manual.layers.conv import correlate, dilate, windows
from bp_manual.layers.norm import batch_norm_dx, normalize_backward, sum_of_products
from bp_manual.layers.pool import first_index_of
from bp_manual.layers.recurrent import lstm_backward, lstm_forward, lstm_step_backward, previous_states
from strategies import examples
from tolerances import KAPPA, close, unit_roundoff

SEEDS = st.integers(0, 2**32 - 1)
DTYPES = [np.float32, np.float64]


def pool_windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """The max pool's windows as the old forward gathered them: ``(C, k*k, N, OH, OW)`` (``windows``, reshaped)."""
    cols = windows(x, k, k, s)
    return cols.reshape(cols.shape[0], k * k, *cols.shape[3:])


@settings(max_examples=examples(0.3), deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_first_index_of_is_argmax_ties_included(k: int, s: int, levels: int, dtype: type, seed: int) -> None:
    """``first_index_of`` (the max pool's argmax) equals ``np.argmax`` over the windows, bit for bit.

    The values are drawn from ``levels`` integers, so most windows hold ties (with ``levels = 1``, all do):
    the first largest in row-major order must win, as in ``np.argmax``.
    """
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.integers(0, levels, size=(2, 3, 7, 8)).astype(dtype)
    cols = pool_windows(x, k, s)
    index = first_index_of([cols[:, a] for a in range(k * k)], cols.max(axis=1))
    np.testing.assert_array_equal(index, np.argmax(cols, axis=1))
    assert index.dtype.kind == "i"


def test_first_index_of_under_jit_is_argmax() -> None:
    """The same loop traced by ``jax.jit`` on JAX arrays gives ``jnp.argmax``'s indices, ties included."""
    rng = np.random.default_rng(0)
    cols = jnp.asarray(rng.integers(0, 2, size=(3, 9, 2, 4, 5)).astype(np.float32))
    index = jax.jit(lambda c: first_index_of([c[:, a] for a in range(9)], jnp.max(c, axis=1)))(cols)
    np.testing.assert_array_equal(np.asarray(index), np.asarray(jnp.argmax(cols, axis=1)))


@settings(max_examples=examples(0.3), deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.sampled_from(DTYPES), SEEDS)
@example(1, 1, 2, np.float64, 0)  # one offset: out must still be a new array
def test_max_pool_forward_is_the_max_and_argmax_of_the_windows(
    k: int, s: int, levels: int, dtype: type, seed: int
) -> None:
    """The max pool's forward (a running maximum over the offsets, no gathered copy) is the old form, bit for bit.

    The old form gathered the windows (``windows``) and took ``max`` and ``argmax`` over them: the maximum
    is exact whatever the order, and the index is the first largest, so out and ``cache.argmax`` agree
    exactly; inputs from ``levels`` integers make most windows hold ties.
    """
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.integers(0, levels, size=(2, 3, 7, 8)).astype(dtype)
    out, cache = max_pool2d_forward(x, k, s)
    cols = pool_windows(x, k, s)
    np.testing.assert_array_equal(out, np.transpose(cols.max(axis=1), (1, 0, 2, 3)))
    np.testing.assert_array_equal(cache.argmax, np.argmax(cols, axis=1))
    assert out.dtype == np.dtype(dtype)
    assert not np.shares_memory(out, x)  # out is the caller's to write into (k = 1 has a single offset, a view)


@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 2), (3, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_forward_under_jit_is_the_max_and_argmax_of_the_windows(k: int, s: int, dtype: type) -> None:
    """Under ``jax.jit`` (``argmax`` of the stacked offsets, not the NumPy path's comparisons) the same bits."""
    rng = np.random.default_rng(k * 10 + s)
    x: np.ndarray = rng.integers(0, 2, size=(2, 3, 7, 8)).astype(dtype)
    cols = pool_windows(x, k, s)
    with jax.enable_x64(dtype == np.float64):

        def out_and_argmax(a: jax.Array) -> tuple[jax.Array, jax.Array]:
            out, cache = max_pool2d_forward(a, k, s)
            return out, cache.argmax

        out, argmax = jax.jit(out_and_argmax)(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), np.transpose(cols.max(axis=1), (1, 0, 2, 3)))
    np.testing.assert_array_equal(np.asarray(argmax), np.argmax(cols, axis=1))
    assert np.asarray(argmax).dtype == np.int32


@settings(max_examples=examples(0.3), deadline=None)
@given(st.sampled_from([(7, 5), (2, 3, 4, 5), (1, 2, 1, 3), (16, 1)]), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_batch_norm_dx_is_the_three_path_formula(shape: tuple[int, ...], dtype: type, seed: int) -> None:
    """Batch norm's ``dx`` from ``dgamma``/``dbeta`` equals :func:`normalize_backward` of ``dout * gamma``.

    The same real number (``norm.batch_norm_dx`` shows the algebra), rounded in another order: each side sums
    ``M`` terms per mean (``M`` entries per feature) and takes about ten element-wise steps, so each is within
    ``(M + 10) u T`` of the exact value (Higham 3.1), ``T`` the sum of the absolute terms
    ``inv_std (|dxhat| + mean|dxhat| + |xhat| mean|dxhat xhat|)`` in float64; both round, hence
    ``rtol = KAPPA (M + 10) u`` against ``T``, as ``tests/test_layers_norm.py`` derives. A lost path is off by O(1).
    """
    rng = np.random.default_rng(seed)
    features = shape[1]
    x: np.ndarray = (rng.normal(size=shape) * rng.uniform(0.5, 2) + rng.normal()).astype(dtype)
    gamma: np.ndarray = rng.normal(size=features).astype(dtype)
    beta: np.ndarray = rng.normal(size=features).astype(dtype)
    dout: np.ndarray = rng.normal(size=shape).astype(dtype)
    _, cache = batch_norm_forward(x, gamma, beta)
    fast = batch_norm_backward(dout, cache)[0]
    plain = normalize_backward(dout * cache.gamma, cache.xhat, cache.inv_std, cache.axes)
    M = x.size // features
    dxhat, xhat = np.abs(dout * cache.gamma).astype(np.float64), np.abs(cache.xhat).astype(np.float64)
    mean = lambda a: np.mean(a, axis=cache.axes, keepdims=True)  # noqa: E731
    T = float(np.max(np.abs(cache.inv_std) * (dxhat + mean(dxhat) + xhat * mean(dxhat * xhat))))
    ok, rel, fraction = close(fast, plain, KAPPA * (M + 10) * unit_roundoff(dtype), scale=T)
    assert ok, (rel, fraction)
    assert fast.dtype == np.dtype(dtype) and fast.shape == x.shape


NORM_SHAPES = [(7, 5), (2, 3, 4, 5), (1, 2, 1, 3), (16, 1)]


@settings(max_examples=examples(0.3), deadline=None)
@given(st.sampled_from([*NORM_SHAPES, (3, 1, 4)]), st.data(), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_sum_of_products_is_the_sum_of_the_products(
    shape: tuple[int, ...], data: st.DataObject, dtype: type, seed: int
) -> None:
    """``sum_of_products`` (on NumPy one ``einsum``) equals ``np.sum(a * b)`` over any axes, also under ``jax.jit``.

    Each side sums the same ``M`` rounded products (``M`` the entries per result), perhaps in another order:
    each is within ``M u T`` of the exact sum, ``T`` the sum of ``|a b|`` (Higham 3.1), plus ``u`` for the
    product's rounding, so ``rtol = KAPPA (M + 1) u`` against ``T``. A sum over a wrong axis is off by O(1).
    """
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    rng = np.random.default_rng(seed)
    a: np.ndarray = rng.normal(size=shape).astype(dtype)
    b: np.ndarray = rng.normal(size=shape).astype(dtype)
    plain = np.sum(a * b, axis=axes, keepdims=True)
    M = int(np.prod([shape[i] for i in axes]))
    T = float(np.max(np.sum(np.abs(a.astype(np.float64) * b), axis=axes)))
    rtol = KAPPA * (M + 1) * unit_roundoff(dtype)
    fast = sum_of_products(a, b, axes, keepdims=True)
    assert fast.shape == plain.shape and fast.dtype == np.dtype(dtype)
    assert sum_of_products(a, b, axes).shape == np.sum(a, axis=axes).shape
    with jax.enable_x64(dtype == np.float64):
        jitted = jax.jit(lambda a, b: sum_of_products(a, b, axes, keepdims=True))(jnp.asarray(a), jnp.asarray(b))
        for got in (fast, np.asarray(jitted)):
            ok, rel, fraction = close(got, plain, rtol, scale=T)
            assert ok, (rel, fraction)


@settings(max_examples=examples(0.3), deadline=None)
@given(st.sampled_from(NORM_SHAPES), st.sampled_from(["batch_norm", "layer_norm"]), st.sampled_from(DTYPES), SEEDS)
def test_norm_forward_is_the_plain_two_pass_form(shape: tuple[int, ...], layer: str, dtype: type, seed: int) -> None:
    """The forward (variance by ``sum_of_products``, ``xhat`` and ``out`` updated in place) equals the plain form.

    The plain form: ``var = mean(c * c)``, ``xhat = c * inv_std``, ``out = gamma * xhat + beta``, with the same
    ``mu`` and ``c = x - mu`` bit for bit. The two variances are sums of the same ``M`` non-negative terms in
    another order, each within ``M u`` of the exact one relatively, so they differ by ``2 M u`` relatively;
    ``inv_std`` then by ``M u`` plus its own roundings, ``xhat`` by ``(M + 3) u`` and ``out`` by ``(M + 4) u``
    of ``|gamma xhat|`` plus a rounding of the sum: ``rtol = KAPPA (M + 10) u`` against ``T = max(|gamma xhat|
    + |beta|)`` (as ``tests/test_layers_norm.py``). ``inv_std`` itself agrees to ``KAPPA (M + 10) u``.
    """
    rng = np.random.default_rng(seed)
    x: np.ndarray = (rng.normal(size=shape) * rng.uniform(0.5, 2) + rng.normal()).astype(dtype)
    features = shape[1] if layer == "batch_norm" else shape[-1]
    gamma: np.ndarray = rng.normal(size=features).astype(dtype)
    beta: np.ndarray = rng.normal(size=features).astype(dtype)
    forward = batch_norm_forward if layer == "batch_norm" else layer_norm_forward
    out, cache = forward(x, gamma, beta)
    mu = np.mean(x, axis=cache.axes, keepdims=True)
    centred = x - mu
    inv_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=cache.axes, keepdims=True) + 1e-5)
    xhat = centred * inv_std
    plain = cache.gamma * xhat + np.reshape(beta, cache.gamma.shape)
    M = x.size // inv_std.size
    rtol = KAPPA * (M + 10) * unit_roundoff(dtype)
    T = float(np.max(np.abs(cache.gamma.astype(np.float64) * xhat) + np.abs(beta).max()))
    xhat_scale = float(np.max(np.abs(xhat)))
    for got, want, scale in ((out, plain, T), (cache.xhat, xhat, xhat_scale), (cache.inv_std, inv_std, 0.0)):
        ok, rel, fraction = close(got, want, rtol, scale=scale)
        assert ok, (rel, fraction)
    assert out.dtype == np.dtype(dtype) and out.shape == x.shape


@settings(max_examples=examples(0.3), deadline=None)
@given(st.sampled_from(NORM_SHAPES), st.sampled_from(DTYPES), SEEDS)
def test_batch_norm_dx_in_one_temporary_is_the_plain_expression_bit_for_bit(
    shape: tuple[int, ...], dtype: type, seed: int
) -> None:
    """``batch_norm_dx`` (updated in place) equals ``(gamma inv_std) (dout - (xhat m1 + m0))`` exactly.

    The same operations in the same order, so the same bits; ``dout`` holds exact zeros, copies of
    ``xhat m1 + m0`` (``d - s = +0``) and, on a feature whose ``dgamma = dbeta = 0``, ``-0.0`` (``-0 - (+0) = -0``,
    which a negated form such as ``((-a) - b) + d`` turns into ``+0``) to reach the signed zeros.
    """
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.normal(size=shape).astype(dtype)
    gamma: np.ndarray = rng.normal(size=shape[1]).astype(dtype)
    _, cache = batch_norm_forward(x, gamma, rng.normal(size=shape[1]).astype(dtype))
    dout: np.ndarray = rng.normal(size=shape).astype(dtype)
    dout.flat[::3] = 0.0
    dgamma: np.ndarray = rng.normal(size=shape[1]).astype(dtype)
    dbeta: np.ndarray = rng.normal(size=shape[1]).astype(dtype)
    dgamma[0] = dbeta[0] = 0.0
    M = x.size // shape[1]
    m0, m1 = np.reshape(dbeta, cache.gamma.shape) / M, np.reshape(dgamma, cache.gamma.shape) / M
    s = cache.xhat * m1 + m0
    dout.flat[1::5] = s.flat[1::5]  # d - s = +0 exactly
    dout[:, 0] = -0.0  # feature 0 has dgamma = dbeta = 0, so s = +-0 there: d - s = -0 or +0
    plain = (cache.gamma * cache.inv_std) * (dout - (cache.xhat * m1 + m0))
    fast = batch_norm_dx(dout, cache, dgamma, dbeta)
    np.testing.assert_array_equal(fast, plain)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(plain))
    assert fast.dtype == np.dtype(dtype)


def full_correlation_dx(dout: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], s: int, p: int) -> np.ndarray:
    """``dx`` as the full correlation of the dilated ``dout`` with the flipped kernel (``docs/layers/conv.md``)."""
    _, _, H, W = x_shape
    _, _, KH, KW = w.shape
    rows_left, cols_left = (H + 2 * p - KH) % s, (W + 2 * p - KW) % s
    d_cols = windows(dilate(dout, s), KH, KW, 1, (KH - 1, KW - 1), (KH - 1 + rows_left, KW - 1 + cols_left))
    flipped = np.flip(np.transpose(w, (1, 0, 2, 3)), axis=(2, 3))
    return correlate(d_cols, flipped)[:, :, p : p + H, p : p + W]


@settings(max_examples=examples(0.3), deadline=None)
@given(
    st.sampled_from([((2, 3, 7, 8), (4, 3, 3, 3)), ((1, 2, 6, 5), (3, 2, 2, 4)), ((2, 1, 5, 5), (2, 1, 5, 5))]),
    st.integers(1, 3),
    st.integers(0, 2),
    st.sampled_from([np.float32, np.float64]),
    SEEDS,
)
def test_conv2d_col2im_dx_is_the_full_correlation(
    shapes: tuple[tuple[int, ...], tuple[int, ...]], s: int, p: int, dtype: type, seed: int
) -> None:
    """``conv2d_backward``'s ``dx`` (col2im of ``w^T dout``) equals the full correlation with the flipped kernel.

    Every entry of either is a sum of at most ``n = F*KH*KW`` products ``w * dout`` (zeros of the dilation and
    padding included), in another order: each side is within ``n u T`` of the exact sum (Higham 3.1), ``T`` the
    largest sum of absolute terms (the same computation on ``|w|``, ``|dout|``, in float64), so
    ``rtol = KAPPA n u`` against ``T``, as in ``tests/test_layers_conv.py``. Strides 1 to 3 and padding 0 to 2
    include rows no window reaches.
    """
    x_shape, w_shape = shapes
    rng = np.random.default_rng(seed)
    x: np.ndarray = rng.normal(size=x_shape).astype(dtype)
    w: np.ndarray = rng.normal(size=w_shape).astype(dtype)
    b: np.ndarray = rng.normal(size=w_shape[0]).astype(dtype)
    out, cache = conv2d_forward(x, w, b, stride=s, padding=p)
    dout: np.ndarray = rng.normal(size=out.shape).astype(dtype)
    dx = conv2d_backward(dout, cache)[0]
    reference = full_correlation_dx(dout, w, x_shape, s, p)
    T = float(np.max(full_correlation_dx(np.abs(dout).astype(np.float64), np.abs(w).astype(np.float64), x_shape, s, p)))
    F, _, KH, KW = w_shape
    ok, rel, fraction = close(dx, reference, KAPPA * F * KH * KW * unit_roundoff(dtype), scale=T)
    assert ok, (rel, fraction)
    assert dx.shape == x.shape and dx.dtype == np.dtype(dtype)


@settings(max_examples=examples(0.3), deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([np.float32, np.float64]),
    SEEDS,
)
def test_lstm_backward_is_the_step_by_step_loop_bit_for_bit(
    N: int, T: int, D: int, H: int, dtype: type, seed: int
) -> None:
    """``lstm_backward`` (the carry-free factors of all steps at once) equals a loop of ``lstm_step_backward``.

    Both compute every step's factors with the same element-wise operations in the same order (on ``(N, T, ·)``
    arrays or on one step's slices), so the results agree bit for bit.
    """
    rng = np.random.default_rng(seed)
    shapes = ((N, T, D), (N, H), (N, H), (4 * H, D), (4 * H, H), (4 * H,))
    arrays: list[np.ndarray] = [rng.normal(size=shape).astype(dtype) for shape in shapes]
    x, h0, c0, Wx, Wh, b = arrays
    h, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    dout = rng.normal(size=h.shape).astype(dtype)
    c_prev = previous_states(cache.c0, cache.c)
    dh_next, dc_next, da = np.zeros_like(h0), np.zeros_like(c0), [np.empty(0)] * T
    for t in reversed(range(T)):
        da[t], dc_next = lstm_step_backward(
            dout[:, t] + dh_next,
            dc_next,
            cache.a[:, t],
            cache.gates[:, t],
            c_prev[:, t],
            cache.c[:, t],
            cache.tanh_c[:, t],
        )
        dh_next = da[t] @ Wh
    fast = lstm_backward(dout, cache)
    np.testing.assert_array_equal(fast[0], np.stack(da, axis=1) @ Wx)
    np.testing.assert_array_equal(fast[1], dh_next)
    np.testing.assert_array_equal(fast[2], dc_next)
