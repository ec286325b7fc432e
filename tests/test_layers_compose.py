"""The sequential container beyond dense layers: a small CNN's hand gradients equal ``jax.grad`` of the
composition of the layers' JAX twins; every layer the registry chains is wired as its own pair is; the
twins' registry mirrors the layers'; the layer inits draw from the Generator alone.

The CNN: ``conv2d, relu, max_pool2d or avg_pool2d, flatten, linear`` and the mean cross-entropy
(:meth:`bp_manual.layers.Sequential.loss_and_grads`) against
:func:`bp_autodiff.witness.layers.sequential.sequential_loss` differentiated by ``jax.grad``. The
geometries come from a small menu (each a JAX compilation; comments say what each covers); values,
dtype, pool kind and labels are drawn.

Tolerance (derived; the error model of ``tests/test_layers_dense_sequential.py``, whose per-layer counts
it extends with those of ``tests/test_layers_conv.py``). The error of any gradient of the chain is at
most the sum of the roundings along the longest path through it, each weighted by the terms it
touches, so every array is compared with ``close(hand, reference, KAPPA * n * u, T)`` where

    n = n_conv + n_relu + n_pool + n_linear + (K + N + 4)

    n_conv   = C*KH*KW + 1 + max(F*KH*KW, N*OH*OW)   its forward sum, then the longer of its backward sums
    n_relu   = 2 * ELEMENTWISE_OPS["relu"]          forward and derivative
    n_pool   = 1 + ceil(k/s)**2 (max),  (k*k + 1) + (ceil(k/s)**2 + k*k + 1) (avg)
    n_linear = D_in + 1 + max(D_out, N)
    K + N + 4                                        the loss: log-sum-exp over K, softmax, mean over N
    (flatten moves numbers without rounding: 0)

``u`` is the hand side's dtype's unit roundoff: the reference always runs in float64 (float32 inputs
widen exactly), so in float32 the comparison measures the hand derivation's own rounding. ``T``, the
array's term scale, is the backward pass run on absolute values in float64 (:func:`term_scales`): from
``(|softmax(z)| + onehot(y)) / N`` back through ``|W|``, the pools' routing (the max pool's at the
computed values, which decide it), ``relu'``, and the convolution's VJP at ``|x|, |w|``. With the menu
below ``n <= 279``: ``rtol <= 2.5e-13`` in float64, ``1.3e-4`` in float32; a wrong gradient is off by
O(1) relative (a test below shows a relu whose backward forgets its mask failing it).

Kinks and ties, by rejection (``assume``): every relu input is farther from 0 than the forward error
could move it (``KAPPA * n_conv_forward * u`` times its terms ``conv(|x|, |w|) + |b|``), and in every max
pool window whose largest value is positive that value leads the runner-up by more than twice that
margin, so both sides route each window's gradient to the same element. (A window of zeros only holds
relu outputs of negative inputs, whose gradient is 0 whichever element is picked.)
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bp_autodiff.witness.layers.conv import conv2d as conv2d_twin
from bp_autodiff.witness.layers.pool import avg_pool2d as avg_pool2d_twin
from bp_autodiff.witness.layers.pool import max_pool2d as max_pool2d_twin
from bp_autodiff.witness.layers.sequential import TWINS, sequential_loss
from bp_manual import layers
from bp_manual.layers import LAYERS, Sequential
from bp_manual.losses import cross_entropy, output_delta, softmax
from strategies import examples
from test_layers_dense import ELEMENTWISE_OPS
from tolerances import KAPPA, close, record, unit_roundoff

#: (x shape, F, kernel (KH, KW), conv stride, padding, pool kernel, pool stride, K)
GEOMETRIES = [
    ((3, 1, 8, 8), 3, (3, 3), 1, 1, 2, None, 4),  # the digits CNN's shape: "same" 3x3 conv, 2x2 pool
    ((2, 2, 7, 6), 3, (3, 2), 2, 1, 3, 1, 3),  # strided non-square conv, overlapping pool windows
    ((4, 3, 6, 6), 2, (1, 1), 1, 0, 2, 3, 5),  # 1x1 conv, pool with gaps (elements in no window)
]


def cnn(geometry: tuple[Any, ...], pool: str) -> Sequential:
    (_, C, H, W), F, (KH, KW), s, p, k, ps, K = geometry
    OH, OW = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1
    stride = ps or k
    PH, PW = (OH - k) // stride + 1, (OW - k) // stride + 1
    return Sequential(
        [
            ("conv2d", {"in_channels": C, "out_channels": F, "kernel_size": (KH, KW), "stride": s, "padding": p}),
            "relu",
            (pool, {"kernel_size": k, "stride": ps}),
            "flatten",
            ("linear", {"in_features": F * PH * PW, "out_features": K}),
        ]
    )


def op_count(geometry: tuple[Any, ...], pool: str) -> tuple[int, int]:
    """``(n, n_conv_forward)``: the chain's ``n`` of the module docstring, and the conv's forward sum length."""
    (N, C, H, W), F, (KH, KW), s, p, k, ps, K = geometry
    OH, OW = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1
    stride = ps or k
    shared = math.ceil(k / stride) ** 2
    PH, PW = (OH - k) // stride + 1, (OW - k) // stride + 1
    n_conv = C * KH * KW + 1 + max(F * KH * KW, N * OH * OW)
    n_pool = 1 + shared if pool == "max_pool2d" else (k * k + 1) + (shared + k * k + 1)
    D_in = F * PH * PW
    n = n_conv + 2 * ELEMENTWISE_OPS["relu"] + n_pool + (D_in + 1 + max(K, N)) + K + N + 4
    return n, C * KH * KW + 1


TWIN_FNS: dict[str, Callable[..., Any]] = {
    "conv2d": conv2d_twin,
    "max_pool2d": max_pool2d_twin,
    "avg_pool2d": avg_pool2d_twin,
}


@functools.partial(jax.jit, static_argnames=("name", "config"))
def twin_out(name: str, config: tuple[tuple[str, Any], ...], inputs: tuple[jax.Array, ...]) -> Any:
    """The twin ``name``'s output at ``inputs``, compiled per shape."""
    return TWIN_FNS[name](*inputs, **dict(config))


@functools.partial(jax.jit, static_argnames=("name", "config"))
def twin_vjp(name: str, config: tuple[tuple[str, Any], ...], inputs: tuple[jax.Array, ...], dout: jax.Array) -> Any:
    """The twin ``name``'s gradients at ``inputs`` pulled back from ``dout``, compiled per shape."""
    _, pullback = jax.vjp(functools.partial(TWIN_FNS[name], **dict(config)), *inputs)
    return pullback(dout)


def _f64(*arrays: np.ndarray) -> tuple[jax.Array, ...]:
    return tuple(jnp.asarray(np.asarray(a, dtype=np.float64)) for a in arrays)


def term_scales(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> dict:
    """``T`` of ``dx`` and of each parameter gradient ``(params index, key)``, and the relu margin inputs: the
    values of the chain in float64 (the twins), then the backward pass on absolute values (module docstring)."""
    (_, conv), _, (pool, pool_config), _, _ = model.steps
    cc = (("padding", conv["padding"]), ("stride", conv["stride"]))
    pc = (("kernel_size", pool_config["kernel_size"]), ("stride", pool_config["stride"]))
    conv_p, lin = params
    with jax.enable_x64(True):
        z = np.asarray(twin_out("conv2d", cc, _f64(x, conv_p["w"], conv_p["b"])))
        z_terms = np.asarray(twin_out("conv2d", cc, _f64(np.abs(x), np.abs(conv_p["w"]), np.abs(conv_p["b"]))))
        r = np.maximum(z, 0.0)
        pooled = np.asarray(twin_out(pool, pc, _f64(r)))
        a = pooled.reshape(len(x), -1)
        W = np.asarray(lin["W"], dtype=np.float64)
        logits = a @ W.T + lin["b"]
        s = np.exp(logits - logits.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
        M = (s + (y[:, None] == np.arange(logits.shape[1]))) / len(x)
        scales: dict[Any, Any] = {(1, "W"): float(np.max(M.T @ np.abs(a))), (1, "b"): float(np.max(M.sum(0)))}
        M_pool = (M @ np.abs(W)).reshape(pooled.shape)
        (M_r,) = twin_vjp(pool, pc, _f64(r), jnp.asarray(M_pool))  # routing at r itself; avg: positive shares
        M_z = np.asarray(M_r) * (z > 0)
        dx_t, dw_t, db_t = twin_vjp(
            "conv2d", cc, _f64(np.abs(x), np.abs(conv_p["w"]), np.abs(conv_p["b"])), jnp.asarray(M_z)
        )
        scales |= {"x": float(np.max(dx_t)), (0, "w"): float(np.max(dw_t)), (0, "b"): float(np.max(db_t))}
    scales |= {"z": z, "z_terms": z_terms, "r": r}
    return scales


def ties_and_kinks_are_clear(model: Sequential, scales: dict, margin: float) -> bool:
    """Relu inputs ``z`` farther from 0 than ``margin * terms``; max-pool leaders ahead by more than twice that."""
    z, terms, r = scales["z"], scales["z_terms"], scales["r"]
    bound = margin * terms
    if np.any(np.abs(z) <= bound):
        return False
    pool, config = model.steps[2]
    if pool != "max_pool2d":
        return True
    k = config["kernel_size"]
    s = config["stride"] or k
    N, F, H, W = r.shape
    for i in range(0, H - k + 1, s):
        for j in range(0, W - k + 1, s):
            window = r[:, :, i : i + k, j : j + k].reshape(N, F, -1)
            slack = bound[:, :, i : i + k, j : j + k].reshape(N, F, -1).max(axis=2)
            top2 = np.sort(window, axis=2)[:, :, -2:]
            if np.any((top2[:, :, 1] > 0) & (top2[:, :, 1] - top2[:, :, 0] <= 2 * slack)):
                return False
    return True


@functools.partial(jax.jit, static_argnames=("steps",))
def _twins_value_and_grad(steps: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...], params: Any, x: Any, y: Any):
    """Compiled once per model and shape (eagerly, every operation of the twins compiled on its own: 109 compiles
    for 20 examples); ``steps`` as ``(name, sorted config items)`` so that it can be a static argument."""
    real = tuple((name, dict(config)) for name, config in steps)
    return jax.value_and_grad(sequential_loss, argnums=(1, 2))(real, params, x, y)


def jax_grads(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> Any:
    """``jax.value_and_grad`` of the twins' composition in float64, w.r.t. the params and ``x``."""
    steps = tuple((name, tuple(sorted(config.items()))) for name, config in model.steps)
    with jax.enable_x64(True):
        jp = [{k: jnp.asarray(np.asarray(v, dtype=np.float64)) for k, v in d.items()} for d in params]
        loss, (gp, gx) = _twins_value_and_grad(steps, jp, jnp.asarray(np.asarray(x, dtype=np.float64)), jnp.asarray(y))
        return float(loss), [{k: np.asarray(v) for k, v in d.items()} for d in gp], np.asarray(gx)


def hand(model: Sequential, params: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any, Any]:
    """``(loss, grads, dx)`` by the container: ``loss_and_grads``, and ``dx`` from its backward."""
    loss, grads = model.loss_and_grads(params, x, y)
    out, caches = model.forward(params, x)
    s = np.exp(out - out.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    dx, _ = model.backward((s - (y[:, None] == np.arange(out.shape[1]))) / len(y), caches)
    return loss, grads, dx


@settings(max_examples=examples(0.2))
@given(
    geometry=st.sampled_from(GEOMETRIES),
    pool=st.sampled_from(["max_pool2d", "avg_pool2d"]),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cnn_gradients_equal_jax_grad_of_the_twins(geometry: tuple[Any, ...], pool: str, dtype: Any, seed: int):
    model = cnn(geometry, pool)
    rng = np.random.default_rng(seed)
    params = model.init(rng, dtype)
    for p in params:  # random biases too, not init's zeros
        p["b"] = rng.normal(0.0, 0.5, p["b"].shape).astype(dtype)
    x = rng.normal(0.0, 1.0, geometry[0]).astype(dtype)
    y = rng.integers(0, geometry[-1], geometry[0][0])
    n, n_forward = op_count(geometry, pool)
    u = unit_roundoff(dtype)
    T = term_scales(model, params, x, y)
    assume(ties_and_kinks_are_clear(model, T, KAPPA * n_forward * u))

    loss, grads, dx = hand(model, params, x, y)
    ref_loss, ref_grads, ref_dx = jax_grads(model, params, x, y)
    tol = KAPPA * n * u
    what = f"{geometry} {pool} {np.dtype(dtype).name}"

    def check(key: str, actual: Any, ref: Any, scale: float) -> None:
        ok, rel, frac = close(np.asarray(actual), np.asarray(ref), tol, scale)
        record(f"layers.compose {pool} {key} {np.dtype(dtype).name}", rel, frac, what)
        assert ok, f"{key} off by {rel:.3e} ({frac:.2f} x tolerance) at {what}"
        assert np.asarray(actual).dtype == dtype

    check("loss", np.array(loss), np.array(ref_loss), abs(ref_loss) + math.log(geometry[-1]))
    for k, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
        assert set(g) == set(r)
        for key in g:
            check(f"d{key}", g[key], r[key], T[(k, key)])
    check("dx", dx, ref_dx, T["x"])


def test_the_comparison_fails_a_container_that_loses_a_gradient() -> None:
    """The property's comparison can fail: the conv's ``dw`` taken from a backward that forgets the
    relu (``dout`` passed through where the input was negative) is off by O(1) relative."""
    geometry, pool = GEOMETRIES[0], "max_pool2d"
    model = cnn(geometry, pool)
    rng = np.random.default_rng(3)
    params = model.init(rng)
    x, y = rng.normal(size=geometry[0]), rng.integers(0, geometry[-1], geometry[0][0])
    n, _ = op_count(geometry, pool)
    T = term_scales(model, params, x, y)
    _, ref_grads, _ = jax_grads(model, params, x, y)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(LAYERS, "relu", LAYERS["relu"]._replace(backward=lambda dout, cache: (dout,)))
        _, wrong = model.loss_and_grads(params, x, y)
    assert not close(wrong[0]["w"], ref_grads[0]["w"], KAPPA * n * unit_roundoff(np.float64), T[(0, "w")])[0]


# --- every layer the registry chains: wired as its own pair, mirrored by a twin ---------------------------


def _chains() -> dict[str, tuple[list[Any], Any, Any]]:
    """For each registered layer, a small chain that uses it, an input and labels."""
    rng = np.random.default_rng(0)
    img, seq, ids = rng.normal(size=(3, 2, 6, 6)), rng.normal(size=(3, 5, 4)), rng.integers(0, 7, (3, 5))
    conv = ("conv2d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1})
    head = [("flatten", {}), ("linear", {"in_features": 108, "out_features": 4})]
    seq_head = [("linear", {"in_features": 6, "out_features": 4}), ("flatten", {"start_dim": 0, "end_dim": 1})]
    y_img, y_seq = rng.integers(0, 4, 3), rng.integers(0, 4, 15)
    chains: dict[str, tuple[list[Any], Any, Any]] = {
        "conv2d": ([conv, *head], img, y_img),
        "batch_norm": ([conv, ("batch_norm", {"num_features": 3, "eps": 1e-3}), *head], img, y_img),
        "max_pool2d": ([conv, ("max_pool2d", {"kernel_size": 3, "stride": 1}), ("flatten", {}),
                        ("linear", {"in_features": 48, "out_features": 4})], img, y_img),
        "avg_pool2d": ([conv, ("avg_pool2d", {"kernel_size": 2}), ("flatten", {}),
                        ("linear", {"in_features": 27, "out_features": 4})], img, y_img),
        "flatten": ([conv, *head], img, y_img),
        "rnn": ([("rnn", {"input_size": 4, "hidden_size": 6}), *seq_head], seq, y_seq),
        "lstm": ([("lstm", {"input_size": 4, "hidden_size": 6}), *seq_head], seq, y_seq),
        "layer_norm": ([("layer_norm", {"num_features": 4}), ("rnn", {"input_size": 4, "hidden_size": 6}),
                        *seq_head], seq, y_seq),
        "embedding": ([("embedding", {"num_embeddings": 7, "embedding_dim": 4}),
                       ("lstm", {"input_size": 4, "hidden_size": 6}), *seq_head], ids, y_seq),
        "softmax": ([("linear", {"in_features": 4, "out_features": 6}), ("softmax", {"axis": -1}),
                     *seq_head], seq, y_seq),
        "log_softmax": ([("linear", {"in_features": 4, "out_features": 6}), ("log_softmax", {"axis": 2}),
                         *seq_head], seq, y_seq),
    }  # fmt: skip
    chains["linear"] = ([("linear", {"in_features": 4, "out_features": 4}), seq_head[1]], seq, y_seq)
    for name in ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"):
        chains[name] = ([("linear", {"in_features": 4, "out_features": 6}), (name, {}), *seq_head], seq, y_seq)
    return chains


CHAINS = _chains()


def test_every_registered_layer_has_a_chain_here_and_a_twin_with_the_same_signature() -> None:
    assert set(CHAINS) == set(LAYERS)
    assert set(TWINS) == set(LAYERS)
    for name, layer in LAYERS.items():
        twin = TWINS[name]
        assert (twin.params, twin.settings) == (layer.params, layer.settings), name
        assert set(twin.static) <= set(twin.settings), name
        # the twin takes the same parameter names and settings as the layer's forward
        assert list(inspect.signature(twin.fn).parameters)[1 : 1 + len(twin.params)] == list(layer.params), name


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_the_container_runs_each_layer_as_its_own_pair_bit_for_bit(name: str) -> None:
    """The container adds no arithmetic: its loss and gradients are, bit for bit, those of calling the
    library's own pairs in turn (``bp_manual.layers.<name>_forward``/``_backward``, looked up here, not in
    the registry; ``rnn`` and ``lstm`` from zero states, their ``dh0``/``dc0`` dropped), so each layer's
    property test against JAX and PyTorch carries over to every chain."""
    steps, x, y = CHAINS[name]
    model = Sequential(steps)
    params = model.init(np.random.default_rng(1))
    loss, grads = model.loss_and_grads(params, x, y)

    it, out, caches = iter(params), x, []
    for step_name, config in model.steps:
        names = PARAMS.get(step_name, ())
        p = next(it) if names else {}
        forward, backward = pair(step_name, out)
        accepted = inspect.signature(forward).parameters
        settings_ = {k: v for k, v in config.items() if k in accepted}
        out, cache = forward(out, *(p[k] for k in names), **settings_)
        caches.append((names, backward, cache))
    onehot = (y[:, None] == np.arange(out.shape[1])).astype(out.dtype)
    assert loss == cross_entropy(out, onehot)  # the loss kernels themselves are held to JAX elsewhere
    dout, expected = output_delta(softmax(out), onehot), []
    for names, backward, cache in reversed(caches):
        dx, *dparams = backward(dout, cache)
        if names:
            expected.append(dict(zip(names, dparams, strict=True)))
        dout = dx
    for g, e in zip(grads, expected[::-1], strict=True):
        assert set(g) == set(e)
        for key in g:
            np.testing.assert_array_equal(g[key], e[key], strict=True)


#: The parameter inputs of each layer's forward, after ``x``, as its signature names them.
PARAMS = {
    "linear": ("W", "b"),
    "embedding": ("E",),
    "conv2d": ("w", "b"),
    "batch_norm": ("gamma", "beta"),
    "layer_norm": ("gamma", "beta"),
    "rnn": ("Wx", "Wh", "b"),
    "lstm": ("Wx", "Wh", "b"),
}


def pair(name: str, x: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The library's forward and backward of ``name``; the recurrences from zero states, as a chain runs them."""
    if name not in ("rnn", "lstm"):
        return getattr(layers, f"{name}_forward"), getattr(layers, f"{name}_backward")

    def forward(x: Any, Wx: Any, Wh: Any, b: Any) -> Any:
        zeros = np.zeros((x.shape[0], Wh.shape[1]))
        return (
            layers.rnn_forward(x, zeros, Wx, Wh, b)
            if name == "rnn"
            else layers.lstm_forward(x, zeros, zeros, Wx, Wh, b)
        )

    def backward(dout: Any, cache: Any) -> Any:
        grads = layers.rnn_backward(dout, cache) if name == "rnn" else layers.lstm_backward(dout, cache)
        return (grads[0], *grads[-3:])  # dx, dWx, dWh, db: the states' gradients dropped

    return forward, backward


# --- the layers' inits and settings --------------------------------------------------------------------


def test_inits_draw_from_the_generator_in_their_schemes() -> None:
    """Shapes and dtypes by layer; the same seed, the same bits; a convolution's ``w`` with variance
    ``2 / (C*KH*KW)`` (He): over ``n = 64*32*3*3 = 18432`` draws the sample variance has relative standard
    deviation ``sqrt(2 / (n - 1)) = 0.0104``, so 5 of them (5.2%) is the bar; the LSTM's forget gate bias 1.
    (Only ``init`` runs here: the steps' shapes need not fit one another.)"""
    model = Sequential(
        [
            ("conv2d", {"in_channels": 32, "out_channels": 64, "kernel_size": (3, 3)}),
            ("batch_norm", {"num_features": 64}),
            "flatten",
            ("lstm", {"input_size": 5, "hidden_size": 4}),
        ]
    )
    a, b = model.init(np.random.default_rng(7), np.float32), model.init(np.random.default_rng(7), np.float32)
    pairs = [(p[k], q[k]) for p, q in zip(a, b, strict=True) for k in p]
    assert all(x.tobytes() == y.tobytes() and x.dtype == np.float32 for x, y in pairs)
    conv, norm, lstm = a
    assert conv["w"].shape == (64, 32, 3, 3) and not conv["b"].any()
    assert abs(conv["w"].astype(np.float64).var() / (2 / 288) - 1) < 5 * np.sqrt(2 / (conv["w"].size - 1))
    assert (norm["gamma"] == 1).all() and (norm["beta"] == 0).all()
    assert lstm["Wx"].shape == (16, 5) and lstm["Wh"].shape == (16, 4)
    np.testing.assert_array_equal(lstm["b"], np.repeat([0.0, 1.0, 0.0, 0.0], 4))


def test_a_setting_without_default_is_required_at_construction() -> None:
    with pytest.raises(ValueError, match=r"^steps\[1\] \(max_pool2d\): config lacks \['kernel_size'\], a setting"):
        Sequential(["relu", "max_pool2d"])
    with pytest.raises(ValueError, match=r"^steps\[0\] \(conv2d\): config lacks \['in_channels', 'kernel_size'\]"):
        Sequential([("conv2d", {"out_channels": 2})])
