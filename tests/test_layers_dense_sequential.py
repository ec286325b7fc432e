"""The sequential container (:mod:`bp_manual.layers.sequential`): its hand gradients equal ``jax.grad``
of the composition of the layers' JAX twins (:mod:`bp_autodiff.witness.layers.sequential`), it trains
with :mod:`bp_manual.optim`, runs under ``jax.jit``, refuses bad input naming the step, and takes new
layers through its registry.

Tolerance (derived as in ``tests/test_layers_dense.py``, whose per-layer counts it adds up). The
error of a gradient of the chain is at most the sum of the roundings along its longest path, each
weighted by the terms it touches::

    rtol = KAPPA * n * u,   n = sum over steps of n_l  +  K + N + 4

with ``n_l = (D_in + 1) + max(D_out, N)`` for ``linear`` (its forward dot product and the longer
of its backward ones), ``2 * ELEMENTWISE_OPS[name]`` for an element-wise layer (the forward and the
derivative), ``N`` for ``embedding`` (a row of ``dE`` sums at most ``N`` repeats), and ``K + N + 4``
for the loss (the log-sum-exp over ``K`` classes, the softmax, the mean over ``N``). Each array is
compared at its term scale ``T`` (``close(actual, reference, rtol, T)``): the backward pass run on
absolute values in float64 (:func:`term_scales`), starting from ``(|softmax(z)| + onehot(y)) / N``,
through ``M @ |W|`` and ``M * F(x)`` (``F`` the absolute terms of ``f'``, ``TERMS``), so an entry
that cancels is judged by the size of its terms. With the sizes drawn here (``D = 4, 5, 3``,
``N = 6``, up to five steps) ``n <= 94``: ``rtol <= 8.3e-14`` in float64, ``4.5e-5`` in float32.

Kinks: the inputs of a relu or leaky relu are computed, not drawn, so they cannot be placed off
the kink directly; a case is used only when every such input is farther from 0 than the forward
rounding error could move it (``KAPPA * n_so_far * u`` times ``|x| @ |W|^T + |b|``, as
:func:`bp_autodiff.tolerance.kinks_are_clear` does for the dense network), else hypothesis
draws another (with these margins, about one case in 10^5 in float32).

Speed: JAX's reference runs eagerly (``jax.grad``, not jitted): a jitted gradient compiles per
architecture (about 0.8 s each here), eager primitives compile once per shape and the shapes
are few (the widths are fixed; the architecture, activations, values and dtype are drawn).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bp_autodiff.witness.layers.sequential import sequential_loss
from bp_manual import optim
from bp_manual.layers import LAYERS, Layer, Sequential, register
from bp_manual.losses import output_delta, softmax
from strategies import examples
from test_layers_dense import ELEMENTWISE, ELEMENTWISE_OPS, TERMS, _sigmoid64
from tolerances import KAPPA, close, record, unit_roundoff

N, D0, H, K, V = 6, 4, 4, 3, 7


def _f64(name: str, x: np.ndarray, slope: float) -> np.ndarray:
    """The element-wise functions in float64, written here from NumPy (not from bp_manual)."""
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x >= 0, x, slope * x)
    if name == "sigmoid":
        return _sigmoid64(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softplus":
        return np.logaddexp(0.0, x)
    assert name == "gelu"
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def op_count(steps: tuple[tuple[str, Any], ...], n: int, k: int) -> list[int]:
    """``n_l`` for each step (module docstring), in order."""
    counts = []
    for name, config in steps:
        if name == "linear":
            counts.append(config["in_features"] + 1 + max(config["out_features"], n))
        elif name == "embedding":
            counts.append(n)
        else:
            counts.append(2 * ELEMENTWISE_OPS[name])
    return counts


def forward64(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray) -> list[np.ndarray]:
    """Every step's input, in float64, by plain NumPy: ``[x_0, x_1, ..., x_L]`` (``x_L`` the logits)."""
    values = [x]
    it = iter(params)
    for name, config in model.steps:
        p = {k: v.astype(np.float64) for k, v in next(it).items()} if LAYERS[name].params else {}
        v = values[-1]
        if name == "linear":
            values.append(v @ p["W"].T + p["b"])
        elif name == "embedding":
            values.append(p["E"][v])
        else:
            values.append(_f64(name, v, config.get("slope", 0.01)))
    return values


def kinks_are_clear(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray, dtype: Any) -> bool:
    """Every input of a relu/leaky relu is farther from 0 than ``KAPPA * n_so_far * u * (|x| |W|^T + |b|)``."""
    values = forward64(model, params, x)
    counts = op_count(model.steps, x.shape[0], K)
    it = iter(params)
    last: dict[str, np.ndarray] = {}  # the params of the latest linear step
    for i, (name, _) in enumerate(model.steps):
        if LAYERS[name].params:
            last = next(it)
        if name in ("relu", "leaky_relu"):
            assert model.steps[i - 1][0] == "linear"  # how models() builds them
            W, b = last["W"].astype(np.float64), last["b"].astype(np.float64)
            magnitude = np.abs(values[i - 1]) @ np.abs(W).T + np.abs(b)
            margin = KAPPA * sum(counts[:i]) * unit_roundoff(dtype)
            if np.any(np.abs(values[i]) <= margin * magnitude):
                return False
    return True


def term_scales(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> dict:
    """``T`` of every gradient array (``(params index, key)``, and ``"x"``): the backward pass on
    absolute values, in float64 (module docstring)."""
    values = forward64(model, params, x)
    z = values[-1]
    s = np.exp(z - z.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    M = (s + (y[:, None] == np.arange(z.shape[1]))) / z.shape[0]
    scales: dict[Any, float] = {}
    k = len(params)
    for i in range(len(model.steps) - 1, -1, -1):
        name, config = model.steps[i]
        x_in = values[i]
        if name == "linear":
            k -= 1
            W = np.abs(params[k]["W"].astype(np.float64))
            scales[(k, "W")] = float(np.max(M.T @ np.abs(x_in)))
            scales[(k, "b")] = float(np.max(M.sum(axis=0)))
            M = M @ W
        elif name == "embedding":
            k -= 1
            onehot = (x_in[:, None] == np.arange(params[k]["E"].shape[0])).astype(np.float64)
            scales[(k, "E")] = float(np.max(onehot.T @ M))
        else:
            M = M * TERMS[name](x_in, config.get("slope", 0.01))
    scales["x"] = float(np.max(M))
    return scales


def jax_loss_and_grads(model: Sequential, params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> Any:
    """``jax.value_and_grad`` of the twins' composition (eager), w.r.t. the params and a float ``x``."""
    floating = np.issubdtype(x.dtype, np.floating)
    with jax.enable_x64(True):
        jp = [{k: jnp.asarray(v) for k, v in d.items()} for d in params]
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        if floating:
            loss, (gp, gx) = jax.value_and_grad(sequential_loss, argnums=(1, 2))(model.steps, jp, jx, jy)
        else:
            loss, gp = jax.value_and_grad(sequential_loss, argnums=1)(model.steps, jp, jx, jy)
            gx = None
        grads = [{k: np.asarray(v) for k, v in d.items()} for d in gp]
        return float(loss), grads, None if gx is None else np.asarray(gx)


@st.composite
def models(draw: st.DrawFn) -> tuple[Sequential, bool]:
    """A chain: an optional embedding, 0 to 2 hidden blocks (linear, activation), a linear to ``K`` logits."""
    embed = draw(st.booleans())
    steps: list[Any] = [("embedding", {"num_embeddings": V, "embedding_dim": D0})] if embed else []
    width = D0
    for _ in range(draw(st.integers(0, 2))):
        steps.append(("linear", {"in_features": width, "out_features": H}))
        act = draw(st.sampled_from(ELEMENTWISE))
        steps.append((act, {"slope": draw(st.floats(-1.0, 1.0))} if act == "leaky_relu" else {}))
        width = H
    steps.append(("linear", {"in_features": width, "out_features": K}))
    return Sequential(steps), embed


@settings(max_examples=examples(0.25))
@given(model_embed=models(), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_container_gradients_equal_jax_grad_of_the_twins(model_embed: tuple[Sequential, bool], dtype: Any, seed: int):
    model, embed = model_embed
    rng = np.random.default_rng(seed)
    params = model.init(rng, dtype)
    for p in params:  # random biases too, not init's zeros
        if "b" in p:
            p["b"] = rng.normal(0.0, 0.5, p["b"].shape).astype(dtype)
    x = rng.integers(0, V, N) if embed else rng.normal(0.0, 2.0, (N, D0)).astype(dtype)
    y = rng.integers(0, K, N)
    assume(kinks_are_clear(model, params, x, dtype))

    loss, grads = model.loss_and_grads(params, x, y)
    dx = dx_of_loss(model, params, x, y)
    ref_loss, ref_grads, ref_dx = jax_loss_and_grads(model, params, x, y)

    n = sum(op_count(model.steps, N, K)) + K + N + 4
    tol = KAPPA * n * unit_roundoff(dtype)
    T = term_scales(model, params, x, y)
    what = f"{[s[0] for s in model.steps]} {np.dtype(dtype).name}"
    dt = np.dtype(dtype).name

    def check(key: str, actual: Any, ref: Any, scale: float) -> None:
        ok, rel, frac = close(np.asarray(actual), np.asarray(ref), tol, scale)
        record(f"layers.sequential {key} {dt}", rel, frac, what)
        assert ok, f"{key} off by {rel:.3e} ({frac:.2f} x tolerance) at {what}"
        assert np.asarray(actual).dtype == dtype, f"{key} is {np.asarray(actual).dtype}"

    check(
        "loss",
        np.array(loss, dtype=dtype),
        np.array(ref_loss),
        float(np.max(np.abs(forward64(model, params, x)[-1]))) + np.log(K),
    )
    assert len(grads) == len(ref_grads)
    for k, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
        assert set(g) == set(r)
        for key in g:
            check(f"d{key}", g[key], r[key], T[(k, key)])
    if embed:
        assert dx is None and ref_dx is None  # integer indices have no gradient
    else:
        check("dx", dx, ref_dx, T["x"])


def dx_of_loss(model: Sequential, params: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """``dL/dx`` by the container: its backward from ``dL/dlogits = (softmax - onehot) / N``
    (:mod:`bp_manual.losses`), the ``dout`` ``loss_and_grads`` starts from."""
    out, caches = model.forward(params, x)
    onehot = (y[:, None] == np.arange(out.shape[1])).astype(out.dtype)
    dx, _ = model.backward(output_delta(softmax(out), onehot), caches)
    return dx


# --- it trains: a linear-relu-linear model with bp_manual.optim ---------------------------------------


def _xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points in ``[-1, 1]^2`` labelled by the sign of ``x0 * x1``: no linear model separates them."""
    X = rng.uniform(-1.0, 1.0, (n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def _train(model: Sequential, opt: optim.Optimizer, X: np.ndarray, y: np.ndarray, steps: int, dtype: Any) -> Any:
    params = model.init(np.random.default_rng(0), dtype)
    state = opt.init(params)
    losses = []
    for _ in range(steps):
        loss, grads = model.loss_and_grads(params, X.astype(dtype), y)
        params, state = opt.update(params, grads, state)
        losses.append(float(loss))
    return params, losses


@pytest.mark.parametrize(
    ("opt", "dtype"), [(optim.adam(0.05), np.float64), (optim.momentum(0.5, 0.9), np.float32)], ids=["adam", "momentum"]
)
def test_linear_relu_linear_learns_xor_with_bp_manual_optim(opt: optim.Optimizer, dtype: Any) -> None:
    """200 full-batch steps on 64 XOR points: the loss falls from about ``log 2`` (the trivial
    baseline, a uniform prediction) to below a tenth of it, every point is classified right, and the
    params stay in their dtype; a linear model alone stays near the baseline."""
    X, y = _xor(64, np.random.default_rng(1))
    mlp = Sequential(
        [
            ("linear", {"in_features": 2, "out_features": 16, "init": "he_normal"}),
            "relu",
            ("linear", {"in_features": 16, "out_features": 2}),
        ]
    )
    params, losses = _train(mlp, opt, X, y, 200, dtype)
    assert losses[0] > 0.5 * np.log(2)
    assert losses[-1] < 0.1 * np.log(2), losses[-1]
    out, _ = mlp.forward(params, X.astype(dtype))
    assert np.array_equal(out.argmax(axis=1), y)
    assert all(a.dtype == dtype for p in params for a in p.values())
    _, linear_losses = _train(Sequential([("linear", {"in_features": 2, "out_features": 2})]), opt, X, y, 200, dtype)
    assert linear_losses[-1] > 0.9 * np.log(2), linear_losses[-1]


# --- under jax.jit -----------------------------------------------------------------------------------


def test_loss_and_grads_runs_under_jit_on_jax_arrays() -> None:
    """``jax.jit(model.loss_and_grads)`` traces the hand derivation; on JAX arrays it gives NumPy's
    loss and gradients (XLA's roundings held to the property's tolerance), in the params' dtype.
    (float64 here; each layer's pair is jitted in float32 too in ``test_layers_dense.py``.)"""
    dtype = np.float64
    model = Sequential(
        [
            ("embedding", {"num_embeddings": V, "embedding_dim": D0}),
            ("linear", {"in_features": D0, "out_features": H}),
            ("leaky_relu", {"slope": 0.1}),
            ("linear", {"in_features": H, "out_features": K}),
        ]
    )
    rng = np.random.default_rng(3)
    params = model.init(rng, dtype)
    x, y = rng.integers(0, V, N), rng.integers(0, K, N)
    loss, grads = model.loss_and_grads(params, x, y)
    tol = KAPPA * (sum(op_count(model.steps, N, K)) + K + N + 4) * unit_roundoff(dtype)
    T = term_scales(model, params, x, y)
    with jax.enable_x64(True):
        jp = [{k: jnp.asarray(v) for k, v in d.items()} for d in params]
        jloss, jgrads = jax.jit(model.loss_and_grads)(jp, jnp.asarray(x), jnp.asarray(y))
        assert jloss.dtype == dtype
        assert close(np.array([jloss]), np.array([loss]), tol, 10.0)[0]
        for k, (g, jg) in enumerate(zip(grads, jgrads, strict=True)):
            for key in g:
                assert isinstance(jg[key], jax.Array) and jg[key].dtype == dtype
                assert close(np.asarray(jg[key]), g[key], tol, T[(k, key)])[0], (k, key)


# --- bad input, named by step ------------------------------------------------------------------------

_MLP: list[Any] = [
    ("linear", {"in_features": 4, "out_features": 5}),
    "relu",
    ("linear", {"in_features": 5, "out_features": 3}),
]


def _mlp_params() -> Any:
    return Sequential(_MLP).init(np.random.default_rng(0))


BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("steps a string", lambda: Sequential("relu"), TypeError, r"^steps must be a list of layer names"),
    ("no steps", lambda: Sequential([]), ValueError, r"^steps must name at least one layer$"),
    ("bad step", lambda: Sequential([("linear", 4)]), TypeError, r"^steps\[0\] must be a layer name or a \(name, "),
    (
        "unknown layer",
        lambda: Sequential(["relu", "relux"]),
        ValueError,
        r"^steps\[1\]: unknown layer 'relux'; registered: \[.*'gelu'.*\]$",
    ),
    (
        "unknown config",
        lambda: Sequential([("linear", {"in_features": 4, "out_features": 2, "slope": 1.0})]),
        ValueError,
        r"^steps\[0\] \(linear\): unknown config \['slope'\]; linear takes \['in_features', 'init', 'out_features'\]$",
    ),
    (
        "missing size",
        lambda: Sequential([("linear", {"in_features": 4})]),
        ValueError,
        r"^steps\[0\] \(linear\): config lacks \['out_features'\], needed to initialise its parameters$",
    ),
    (
        "init: a seed for rng",
        lambda: Sequential(_MLP).init(0),  # type: ignore[arg-type]
        TypeError,
        r"^rng must be a numpy.random.Generator \(np.random.default_rng\(seed\)\), got int$",
    ),
    (
        "init: size 0",
        lambda: Sequential([("linear", {"in_features": 0, "out_features": 2})]).init(np.random.default_rng(0)),
        ValueError,
        r"^steps\[0\] \(linear\): in_features must be >= 1, got 0$",
    ),
    (
        "init: unknown scheme",
        lambda: Sequential([("linear", {"in_features": 1, "out_features": 2, "init": "he"})]).init(
            np.random.default_rng(0)
        ),
        ValueError,
        r"^steps\[0\] \(linear\): unknown init 'he'; expected one of \[",
    ),
    ("init: dtype", lambda: Sequential(_MLP).init(np.random.default_rng(0), np.int32), ValueError, r"^dtype must be"),
    (
        "params: count",
        lambda: Sequential(_MLP).forward(_mlp_params()[:1], np.ones((2, 4))),
        ValueError,
        r"^params must be a list of 2 dicts \(one per layer with parameters\), got 1 dicts$",
    ),
    (
        "params: keys",
        lambda: Sequential(_MLP).forward([_mlp_params()[0], {"W": np.ones((3, 5))}], np.ones((2, 4))),
        ValueError,
        r"^params\[1\] \(steps\[2\], linear\) must have keys \['W', 'b'\], got \['W'\]$",
    ),
    (
        "a layer's own error, prefixed",
        lambda: Sequential(_MLP).forward(_mlp_params(), np.ones((2, 3))),
        ValueError,
        r"^steps\[0\] \(linear\): x must have shape \(2, 4\) \(its last axis is D_in = W.shape\[1\]\), got \(2, 3\)$",
    ),
    (
        "labels: floats",
        lambda: Sequential(_MLP).loss_and_grads(_mlp_params(), np.ones((2, 4)), np.array([0.0, 1.0])),
        TypeError,
        r"^y must be an integer array, got dtype float64$",
    ),
    (
        "labels: out of range",
        lambda: Sequential(_MLP).loss_and_grads(_mlp_params(), np.ones((2, 4)), np.array([0, 3])),
        ValueError,
        r"^y must lie in \[0, 3\) \(classes: the model's last axis\), got 3 at index \(1,\)$",
    ),
    (
        "labels: count",
        lambda: Sequential(_MLP).loss_and_grads(_mlp_params(), np.ones((2, 4)), np.array([0, 1, 2])),
        ValueError,
        r"^y must have shape \(2,\) \(one label per row of the model's output\), got \(3,\)$",
    ),
    (
        "output not (N, K)",
        lambda: Sequential(["relu"]).loss_and_grads([], np.ones((2, 3, 4)), np.array([0, 1])),
        ValueError,
        r"^the model's output must be \(N, K\) logits for cross_entropy, got \(2, 3, 4\)$",
    ),
    ("register: taken name", lambda: register("linear", LAYERS["linear"]), ValueError, r"already registered$"),
    (
        "register: not a Layer",
        lambda: register("mine", (print, print)),  # type: ignore[arg-type]
        TypeError,
        r"^layer must be a bp_manual.layers.sequential.Layer, got tuple$",
    ),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_the_step(what: str, call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


# --- the registry: a new layer joins without touching the container -----------------------------------


def test_a_registered_layer_is_chained_like_the_library_ones() -> None:
    """A layer registered from outside (here ``scale``: ``out = x * s``, with a parameter ``s (D,)``)
    is initialised, run forward and backward by the container, and its gradient is JAX's."""

    def scale_forward(x: Any, s: Any) -> Any:
        return x * s, (x, s)

    def scale_backward(dout: Any, cache: Any) -> Any:
        x, s = cache
        return dout * s, (dout * x).sum(axis=0)

    def init_scale(rng: np.random.Generator, dtype: Any, *, features: int) -> dict[str, Any]:
        return {"s": rng.normal(size=features).astype(dtype)}

    from bp_autodiff.witness.layers.sequential import TWINS, Twin

    register("scale", Layer(scale_forward, scale_backward, ("s",), init=init_scale))
    TWINS["scale"] = Twin(lambda x, s: x * s, ("s",))
    try:
        model = Sequential(
            [
                ("linear", {"in_features": D0, "out_features": H}),
                ("scale", {"features": H}),
                "tanh",
                ("linear", {"in_features": H, "out_features": K}),
            ]
        )
        rng = np.random.default_rng(0)
        params = model.init(rng)
        assert set(params[1]) == {"s"}
        x, y = rng.normal(size=(N, D0)), rng.integers(0, K, N)
        _, grads = model.loss_and_grads(params, x, y)
        _, ref, _ = jax_loss_and_grads(model, params, x, y)
        # the derived tolerance, with the new layer's two roundings (x * s forward, dout * s backward)
        n = sum(op_count((model.steps[0], model.steps[2], model.steps[3]), N, K)) + 2 + K + N + 4
        for g, r in zip(grads, ref, strict=True):
            for key in g:
                assert close(g[key], r[key], KAPPA * n * unit_roundoff(np.float64))[0], key
    finally:
        del LAYERS["scale"], TWINS["scale"]


def test_params_are_the_dense_networks_structure() -> None:
    """A linear-activation chain's params are ``[{"W", "b"}, ...]`` with PyTorch's ``W (D_out, D_in)``, one dict per
    linear layer and none for the activations, drawn reproducibly from the Generator (bit for bit)."""
    a = Sequential(_MLP).init(np.random.default_rng(5))
    b = Sequential(_MLP).init(np.random.default_rng(5))
    assert [sorted(p) for p in a] == [["W", "b"], ["W", "b"]]
    assert a[0]["W"].shape == (5, 4) and a[1]["b"].shape == (3,)
    for p, q in zip(a, b, strict=True):
        for key in p:
            np.testing.assert_array_equal(p[key], q[key])
