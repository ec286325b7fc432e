"""``batch_norm`` and ``layer_norm`` of ``bp_manual.layers``: hand gradients against ``jax.vjp`` of their JAX twins
(``bp_autodiff.witness.layers``), the forward and gradients against ``torch.nn.functional``, the pair under
``jax.jit``, argument errors, and every entry of the mistake catalog caught.

Inputs (built by ``bp_autodiff.layer_strategies.build_case``, shapes from its ``MENUS`` and ``geometries``):
``gamma`` of either sign with ``|gamma|`` in ``[0.5, 2]`` and ``beta`` random normal (``gamma = 1``, the usual
initial value, hides a ``dx`` without ``gamma``: :func:`test_gamma_one_hides_gamma_left_out`), ``dout`` random normal
(an all-ones ``dout`` makes the true ``dx`` exactly 0: :func:`test_all_ones_dout_makes_dx_zero`), ``x`` with a random
offset and spread.

Tolerance (derived; the error model of ``bp_autodiff.tolerance``). Each statistic is a mean over the ``M`` entries
of a group (a feature's batch for batch norm, a sample's ``D`` features for layer norm); the backward pass takes
two more means over the same ``M`` and sums ``dgamma``, ``dbeta`` over the other axes; around them about ten
element-wise operations. A sum of ``n`` terms has an error of at most ``n u sum|terms|`` (Higham, 3.1), so each
array carries at most ``(M + 10) u`` times its term scale ``T`` from its own arithmetic. One amplification is not
covered by that count: the mean ``mu`` is computed with an absolute error of about ``M u max|x|``, and centring
divides it by ``std = sqrt(var + eps)``: ``xhat`` inherits an absolute error of ``M u A``, with
``A = max(1, max|x| / std)`` over the groups (large when a group's spread is small against its values). Every
array downstream carries it. So, against the array's term scale ``T``::

    rtol = KAPPA * (M + 10) * A * u,   KAPPA = 8   (two sides; room for the bound's higher-order terms)

(``u`` of the inputs' dtype; the witness always runs in float64 on the same numbers, so for float32 the
comparison measures the hand derivation's own rounding, and one executable per shape serves both dtypes.)

with ``M`` the size of a statistics group (for ``dgamma``, ``dbeta`` the sums run over the other axes, whose size
is at most the batch's ``M`` in batch norm; in layer norm it is the number of samples, also counted). ``T`` is
the same computation on absolute values, entry by entry the sum of the absolute terms, evaluated in float64:
``|gamma| |xhat| + |beta|`` for ``out``; ``sum|dout|`` and ``sum|dout * xhat|`` for ``dbeta``, ``dgamma``;
``inv_std (|dxhat| + mean|dxhat| + |xhat| mean|dxhat * xhat|)`` for ``dx``. The largest float64 case here
(``M = 48``, ``A`` about 10) allows ``8 * 58 * 10 * 1.1e-16 = 5e-13``; a wrong path changes ``dx`` by O(1)
relative, and the catalog test shows every classic mistake failing this comparison.

Compilation: the JAX properties draw shapes from a short menu (the witness compiles once per shape, kept by
the persistent cache); the PyTorch property draws any shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_autodiff.catalog.norm import MISTAKES
from bp_autodiff.layer_strategies import MENUS, geometries
from bp_autodiff.layer_strategies import build_case as build
from bp_autodiff.witness.layers.norm import batch_norm as batch_norm_twin
from bp_autodiff.witness.layers.norm import layer_norm as layer_norm_twin
from bp_manual import layers
from tolerances import KAPPA, close, record, unit_roundoff

DTYPES = (np.float64, np.float32)
SEEDS = st.integers(0, 2**32 - 1)
EXAMPLES = max(10, settings().max_examples // 4)
EPS = 1e-5

FORWARD: dict[str, Callable[..., Any]] = {
    "batch_norm": layers.batch_norm_forward,
    "layer_norm": layers.layer_norm_forward,
}
BACKWARD: dict[str, Callable[..., Any]] = {
    "batch_norm": layers.batch_norm_backward,
    "layer_norm": layers.layer_norm_backward,
}
NAMES = ("out", "x", "gamma", "beta")

#: x shapes the JAX properties draw from: 2-D and 4-D batch norm, a batch of 2, a batch of 1 with 4 positions;
#: layer norm on 1-D, 2-D and 3-D inputs.
SHAPES: dict[str, list[Any]] = {n: [shapes["x"] for shapes, _ in MENUS[n]] for n in ("batch_norm", "layer_norm")}

#: The JAX twin of each layer under test.
TWINS = {"batch_norm": batch_norm_twin, "layer_norm": layer_norm_twin}


def axes_of(layer: str, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(statistics axes, parameter-sum axes)``: batch norm over all but axis 1; layer norm over the last axis."""
    if layer == "batch_norm":
        axes = (0,) if ndim == 2 else (0, 2, 3)
        return axes, axes
    return (ndim - 1,), tuple(range(ndim - 1))


# ---------------------------------------------------------------- references, scales and the comparison


@functools.partial(jax.jit, static_argnames=("layer",))
def _witness_vjp(layer: str, inputs: tuple[jax.Array, ...], dout: jax.Array) -> list[jax.Array]:
    """``[out, dx, dgamma, dbeta]``: the JAX twin's forward and ``jax.vjp`` pulled back from ``dout`` (eps = 1e-5)."""
    out, pullback = jax.vjp(TWINS[layer], *inputs)
    return [out, *pullback(dout)]


def reference(layer: str, inputs: tuple[np.ndarray, ...], dout: np.ndarray) -> list[np.ndarray]:
    """The witness's ``[out, dx, dgamma, dbeta]`` in float64 (float32 inputs widen exactly), as NumPy arrays."""
    wide = tuple(np.asarray(a, dtype=np.float64) for a in inputs)
    with jax.enable_x64(True):
        arrays = _witness_vjp(layer, tuple(map(jnp.asarray, wide)), jnp.asarray(np.asarray(dout, dtype=np.float64)))
    assert all(a.dtype == jnp.float64 for a in arrays)
    return [np.asarray(a) for a in arrays]


def scales_and_rtol(layer: str, inputs: tuple[np.ndarray, ...], dout: np.ndarray) -> tuple[list[float], float]:
    """The term scales ``T`` of ``[out, dx, dgamma, dbeta]`` and the derived ``rtol`` (module docstring)."""
    x, gamma, beta = (np.asarray(a, dtype=np.float64) for a in inputs)
    d = np.asarray(dout, dtype=np.float64)
    axes, param_axes = axes_of(layer, x.ndim)
    shape = [1] * x.ndim
    shape[1 if layer == "batch_norm" else -1] = -1
    g, b = np.abs(gamma).reshape(shape), np.abs(beta).reshape(shape)
    mu = x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + EPS)
    xhat = np.abs(x - mu) * inv_std
    dxhat = np.abs(d) * g
    terms = [
        g * xhat + b,
        inv_std * (dxhat + dxhat.mean(axis=axes, keepdims=True) + xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)),
        (np.abs(d) * xhat).sum(axis=param_axes),
        np.abs(d).sum(axis=param_axes),
    ]
    M = int(np.prod([x.shape[a] for a in axes]))
    summed = int(np.prod([x.shape[a] for a in param_axes]))
    A = max(1.0, float(np.max(np.max(np.abs(x), axis=axes, keepdims=True) * inv_std)))
    rtol = KAPPA * (max(M, summed) + 10) * A * unit_roundoff(inputs[0].dtype)
    return [float(np.max(t)) for t in terms], rtol


def compare(
    layer: str, inputs: tuple[np.ndarray, ...], dout: np.ndarray, arrays: list[Any], ref: list[np.ndarray] | None = None
) -> dict[str, tuple[bool, float, float]]:
    """``close`` for ``[out, dx, dgamma, dbeta]`` against the witness (or ``ref``), at the derived ``rtol``, ``T``."""
    ref = reference(layer, inputs, dout) if ref is None else ref
    scales, rtol = scales_and_rtol(layer, inputs, dout)
    return {
        name: close(np.asarray(a), r, rtol, scale=T) for name, a, r, T in zip(NAMES, arrays, ref, scales, strict=True)
    }


def norm_case(
    layer: str, shape: tuple[int, ...], dtype: Any, seed: int, loc: float = 0.0, spread: float = 1.0
) -> tuple[np.ndarray, ...]:
    """``(x, gamma, beta)`` built by ``layer_strategies.build_case``: ``x = loc + spread * z``."""
    features = (shape[1],) if layer == "batch_norm" else (shape[-1],)
    shapes = {"x": shape, "gamma": features, "beta": features}
    case = build(layer, np.random.default_rng(seed), shapes, {}, dtype, scale={"x": spread}, loc={"x": loc})
    return tuple(case.inputs.values())


def run_manual(
    layer: str, inputs: tuple[np.ndarray, ...], seed: int, backward: Callable[..., Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """``(dout, [out, dx, dgamma, dbeta])``; ``dout`` random normal (never uniform), in the inputs' dtype."""
    out, cache = FORWARD[layer](*inputs)
    dout = np.random.default_rng(seed + 1).normal(0.0, 1.0, out.shape).astype(out.dtype)
    return dout, [out, *(backward or BACKWARD[layer])(dout, cache)]


# ---------------------------------------------------------------- 1. hand gradients equal jax.vjp of the twin


@pytest.mark.parametrize("layer", ["batch_norm", "layer_norm"])
@settings(max_examples=EXAMPLES)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    seed=SEEDS,
    loc=st.floats(-3.0, 3.0),
    spread=st.sampled_from([0.3, 1.0, 3.0]),
)
def test_norm_gradients_equal_jax(
    layer: str, data: st.DataObject, dtype: Any, seed: int, loc: float, spread: float
) -> None:
    shape = data.draw(st.sampled_from(SHAPES[layer]), label="shape")
    inputs = norm_case(layer, shape, dtype, seed, loc, spread)
    before = [a.copy() for a in inputs]
    dout, manual = run_manual(layer, inputs, seed)
    for a, b in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs never modified
    assert all(m.dtype == dtype and m.shape == r.shape for m, r in zip(manual, (manual[0], *inputs), strict=True))
    for name, (ok, rel, fraction) in compare(layer, inputs, dout, manual).items():
        record(
            f"{layer} {name} vs JAX ({np.dtype(dtype).name})", rel, fraction, f"{shape} loc={loc:.2f} spread={spread}"
        )
        assert ok, f"{layer} {name}: rel {rel:.3e} is {fraction:.2f} x its tolerance at {shape}"


# ---------------------------------------------------------------- 2. forward and gradients equal PyTorch's


def torch_arrays(layer: str, inputs: tuple[np.ndarray, ...], dout: np.ndarray) -> list[np.ndarray]:
    """``[out, dx, dgamma, dbeta]`` from ``F.batch_norm(training=True)`` / ``F.layer_norm`` and torch.autograd."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, gamma, beta = (torch.tensor(a, requires_grad=True) for a in inputs)
    if layer == "batch_norm":
        out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=EPS)
    else:
        out = F.layer_norm(x, (x.shape[-1],), gamma, beta, eps=EPS)
    grads = torch.autograd.grad(out, (x, gamma, beta), torch.tensor(dout))
    return [out.detach().numpy(), *(g.numpy() for g in grads)]


#: Batch norm: ``(N, D)`` (N 2..16, D 1..6) or ``(N, C, H, W)`` (sizes 1..4), more than one value per feature;
#: layer norm: 1 to 4 axes, D 2..12 (``layer_strategies.geometries``).
RANDOM_SHAPES = {
    "batch_norm": geometries("batch_norm", N=(2, 16), C=(1, 6), N4=(1, 4), HW=(1, 4)),
    "layer_norm": geometries("layer_norm", lead=(0, 3), size=(1, 4), D=(2, 12)),
}


@pytest.mark.parametrize("layer", ["batch_norm", "layer_norm"])
@settings(max_examples=EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), seed=SEEDS, loc=st.floats(-3.0, 3.0))
def test_norm_equals_torch_at_random_shapes(layer: str, data: st.DataObject, dtype: Any, seed: int, loc: float) -> None:
    """Forward equals ``F.batch_norm(..., training=True)``/``F.layer_norm``; gradients equal torch.autograd's."""
    shape = data.draw(RANDOM_SHAPES[layer], label="geometry")[0]["x"]
    assert shape is not None
    inputs = norm_case(layer, shape, dtype, seed, loc)
    dout, manual = run_manual(layer, inputs, seed)
    ref = torch_arrays(layer, inputs, dout)
    for name, (ok, rel, fraction) in compare(layer, inputs, dout, manual, ref).items():
        record(f"{layer} {name} vs torch ({np.dtype(dtype).name})", rel, fraction, f"{shape} loc={loc:.2f}")
        assert ok, f"{layer} {name} vs torch: rel {rel:.3e} is {fraction:.2f} x its tolerance at {shape}"


# ---------------------------------------------------------------- 3. the hand pair under jax.jit


@pytest.mark.parametrize(
    ("layer", "shape"), [("batch_norm", (8, 5)), ("batch_norm", (3, 2, 4, 5)), ("layer_norm", (2, 3, 5))]
)
def test_manual_pair_runs_under_jit(layer: str, shape: tuple[int, ...]) -> None:
    """The hand forward and backward traced by ``jax.jit`` on JAX arrays give the NumPy run's results (to the
    derived tolerance: XLA may sum in another order), as JAX arrays."""
    inputs = norm_case(layer, shape, np.float64, 0, 1.5)
    dout, manual = run_manual(layer, inputs, 0)

    def pair(arrays: tuple[jax.Array, ...], upstream: jax.Array) -> list[jax.Array]:
        out, cache = FORWARD[layer](*arrays)
        return [out, *BACKWARD[layer](upstream, cache)]

    with jax.enable_x64(True):
        traced = jax.jit(pair)(tuple(jnp.asarray(a) for a in inputs), jnp.asarray(dout))
    assert all(isinstance(t, jax.Array) for t in traced)
    results = compare(layer, inputs, dout, [np.asarray(t) for t in traced], ref=manual)
    assert all(ok for ok, _, _ in results.values()), results


# ---------------------------------------------------------------- 4. bad input is refused, naming the argument


@pytest.mark.parametrize(
    ("forward", "args", "kwargs", "error", "match"),
    [
        (
            layers.batch_norm_forward,
            ((4, 3, 2), (3,), (3,)),
            {},
            ValueError,
            r"^x must have 2 or 4 dimensions, got shape \(4, 3, 2\)$",
        ),
        (
            layers.batch_norm_forward,
            ((4, 3), (4,), (3,)),
            {},
            ValueError,
            r"^gamma must have shape \(3,\) \(one per feature of x, whose axis 1 has 3\), got \(4,\)$",
        ),
        (
            layers.batch_norm_forward,
            ((4, 3, 2, 2), (3,), (2,)),
            {},
            ValueError,
            r"^beta must have shape \(3,\) \(one per channel of x",
        ),
        (
            layers.batch_norm_forward,
            ((1, 3), (3,), (3,)),
            {},
            ValueError,
            r"^x must have more than one value per feature to take batch statistics, got \(1, 3\)$",
        ),
        (
            layers.batch_norm_forward,
            ((1, 3, 1, 1), (3,), (3,)),
            {},
            ValueError,
            r"^x must have more than one value per feature",
        ),
        (
            layers.batch_norm_forward,
            ((4, 3), (3,), (3,)),
            {"eps": 0.0},
            ValueError,
            r"^eps must be finite and > 0, got 0.0$",
        ),
        (
            layers.batch_norm_forward,
            ((4, 3), (3,), (3,)),
            {"eps": "1e-5"},
            TypeError,
            r"^eps must be a real number, got str",
        ),
        (
            layers.layer_norm_forward,
            ((4, 3), (4,), (3,)),
            {},
            ValueError,
            r"^gamma must have shape \(3,\) \(x's last axis has D = 3\), got \(4,\)$",
        ),
        (
            layers.layer_norm_forward,
            ((4, 3), (3,), (3, 1)),
            {},
            ValueError,
            r"^beta must have 1 dimensions, got shape \(3, 1\)$",
        ),
        (
            layers.layer_norm_forward,
            ((), (1,), (1,)),
            {},
            ValueError,
            r"^x must have a last axis \(\.\.\., D\) with D >= 1, got shape \(\)$",
        ),
        (
            layers.layer_norm_forward,
            ((4, 0), (0,), (0,)),
            {},
            ValueError,
            r"^x must have a last axis \(\.\.\., D\) with D >= 1, got shape \(4, 0\)$",
        ),
    ],
)
def test_norm_refuses_bad_input(
    forward: Callable[..., Any], args: tuple[tuple[int, ...], ...], kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        forward(*(np.ones(shape) for shape in args), **kwargs)


def test_norm_refuses_mixed_dtypes() -> None:
    with pytest.raises(
        TypeError, match=r"^inputs must share one floating dtype, got x float32, gamma float64, beta float64$"
    ):
        layers.layer_norm_forward(np.ones((2, 3), np.float32), np.ones(3), np.ones(3))


# ---------------------------------------------------------------- 5. every classic mistake is caught

MISTAKE_SHAPES: dict[str, list[tuple[int, ...]]] = {"batch_norm": [(8, 5), (3, 2, 4, 5)], "layer_norm": [(2, 3, 5)]}


@pytest.mark.parametrize(
    ("name", "shape"), [(name, shape) for name in sorted(MISTAKES) for shape in MISTAKE_SHAPES[MISTAKES[name].layer]]
)
def test_every_catalog_mistake_fails_the_property_comparison(name: str, shape: tuple[int, ...]) -> None:
    """The comparison of the property test passes the correct backward and fails the mistaken one on exactly
    the inputs the entry names as ``wrong``."""
    mistake: LayerMistake = MISTAKES[name]
    inputs = norm_case(mistake.layer, shape, np.float64, 11, 0.7, 1.3)
    dout, right = run_manual(mistake.layer, inputs, 11)
    assert all(ok for ok, _, _ in compare(mistake.layer, inputs, dout, right).values())
    _, wrong = run_manual(mistake.layer, inputs, 11, backward=mistake.backward)
    failed = {n for n, (ok, _, _) in compare(mistake.layer, inputs, dout, wrong).items() if not ok}
    assert failed == set(mistake.wrong), f"{name}: failed {sorted(failed)}, expected {mistake.wrong}"


def test_gamma_one_hides_gamma_left_out() -> None:
    """Why ``gamma`` is random in every test: at ``gamma = 1`` the backward without ``gamma`` is right."""
    x, _, beta = norm_case("batch_norm", (8, 5), np.float64, 5)
    inputs = (x, np.ones(5), beta)
    dout, wrong = run_manual("batch_norm", inputs, 5, backward=MISTAKES["gamma_left_out"].backward)
    assert all(ok for ok, _, _ in compare("batch_norm", inputs, dout, wrong).values())


def test_all_ones_dout_makes_dx_zero() -> None:
    """Why ``dout`` is random: with ``dout = 1`` the true ``dx`` of batch norm is 0 (``dxhat`` constant per
    feature, removed by the mean path), so a check with it cannot see a dropped variance path."""
    x, gamma, beta = norm_case("batch_norm", (8, 5), np.float64, 6, 0.5, 2.0)
    out, cache = layers.batch_norm_forward(x, gamma, beta)
    ones = np.ones_like(out)
    dx = layers.batch_norm_backward(ones, cache)[0]
    dx_wrong = MISTAKES["variance_path_dropped"].backward(ones, cache)[0]
    scale = float(np.max(np.abs(cache.inv_std * cache.gamma)))  # the size of one term of dx
    assert np.max(np.abs(dx)) <= 1e-14 * scale
    assert np.max(np.abs(dx_wrong)) <= 1e-14 * scale
