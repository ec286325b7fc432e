"""``conv2d``, ``max_pool2d`` and ``avg_pool2d`` of ``bp_manual.layers``: hand gradients against ``jax.vjp`` of
their JAX twins (``bp_autodiff.witness.layers``), the forward against ``torch.nn.functional``, the pair under
``jax.jit``, argument errors, and every entry of the mistake catalogs caught.

Tolerance (derived; the error model of ``bp_autodiff.tolerance``). Every array compared here is, entry by entry, a
sum of ``n`` exactly rounded products (inputs times weights, ``dout`` times weights or inputs, ``dout`` times 1 or
``1/k**2``). A sum of ``n`` terms computed in any order has an error of at most ``n u sum|terms|`` (Higham,
*Accuracy and Stability of Numerical Algorithms*, 3.1; ``u = 2**-53`` or ``2**-24``). Both sides round, so two
results differ by at most ``2 n u T``, where ``T`` (the array's *term scale*) is the largest ``sum|terms|`` over its
entries. ``T`` is computed exactly that way: the same operation on absolute values (``conv2d(|x|, |w|) + |b|``,
and the VJP with ``|dout|`` at ``|x|, |w|``; the max pool's routing depends on ``x`` only through the argmax, so its
``T`` is the VJP of ``|dout|`` at ``x`` itself), evaluated by the JAX witness. The witness always runs in float64
(float32 inputs widen exactly): for float32 the comparison then measures the hand derivation's own rounding, with
the reference's far below it, and one compiled executable per shape serves both dtypes. The comparison is
``tolerance.close(manual, reference, rtol, scale=T)``, i.e. ``|manual - ref| <= rtol (max(max|ref|, T) + |ref|)``
elementwise with

    rtol = KAPPA * n * u,   KAPPA = 8   (u of the inputs' dtype; covers the factor 2 of two sides in float64,
                                         with room for the bound's higher-order terms; a wrong gradient is off
                                         by O(1) relative)

and ``n`` per array:

- conv ``out``: ``C*KH*KW + 1`` (one dot product per output, plus the bias);
- conv ``dx``: ``F*KH*KW`` (each input element receives from at most that many (filter, offset) pairs; the full
  correlation sums that many products, zeros of the dilation included);
- conv ``dw``, ``db``: ``N*OH*OW`` (a sum over the batch and the output positions);
- max pool ``out``: 1 (a max is exact; 1 keeps ``rtol`` positive); ``dx``: ``ceil(k/s)**2``, the most windows
  one element belongs to (each sends ``dout`` or 0, exactly);
- avg pool ``out``: ``k*k + 1`` (a window sum, then the division); ``dx``: ``ceil(k/s)**2 + k*k + 1`` (the
  manual side adds ``ceil(k/s)**2`` shares of ``dout / k**2``; XLA transposes the window sum into a ``k x k``
  sum over a dilated, mostly zero ``dout``).

In float64 the largest case here gives ``8 * 126 * 1.1e-16 = 1.1e-13``; in float32 ``8 * 126 * 6e-8 = 6e-5``.
A wrong gradient is off by O(1) relative; the catalog test below shows every classic mistake failing this
comparison. Ties: max-pool inputs are distinct by construction (a random permutation of ``size`` ranks, each moved
by less than half a rank, scaled to ``[-2, 2]``: any two values at least ``2 / size`` apart, far above rounding), so
the argmax is unique and both sides route to the same element.

Compilation: JAX compiles the witness's VJP once per (shape, config), 0.3 to 1 s each for a convolution here. The
property tests therefore draw their shapes and settings from a menu of geometries chosen to cover what breaks
backward passes (padding 0 and more, strides 1 to 3, rows no window reaches, non-square inputs and kernels, a 1x1
kernel, a kernel as large as the padded input, overlapping, exact and gapped pooling windows, batch 1), with random
values, dtypes and ``dout`` on every example; the persistent compilation cache (``conftest.py``) keeps those few
executables between runs. Fully random shapes and settings are drawn by the properties against PyTorch, which
compile nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.catalog.conv import MISTAKES as CONV_MISTAKES
from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_autodiff.catalog.pool import MISTAKES as POOL_MISTAKES
from bp_autodiff.layer_strategies import MENUS, Geometry, build_case, geometries
from bp_autodiff.witness.layers.conv import conv2d as conv2d_twin
from bp_autodiff.witness.layers.pool import avg_pool2d as avg_pool2d_twin
from bp_autodiff.witness.layers.pool import max_pool2d as max_pool2d_twin
from bp_manual import layers
from tolerances import KAPPA, close, record, unit_roundoff

DTYPES = (np.float64, np.float32)
SEEDS = st.integers(0, 2**32 - 1)
EXAMPLES = max(10, settings().max_examples // 4)
#: torch builds its oneDNN kernels once per new shape (0.05 to 0.1 s), and these draw a new shape every time.
TORCH_EXAMPLES = max(10, settings().max_examples // 8)

FORWARD: dict[str, Callable[..., Any]] = {
    "conv2d": layers.conv2d_forward,
    "max_pool2d": layers.max_pool2d_forward,
    "avg_pool2d": layers.avg_pool2d_forward,
}
BACKWARD: dict[str, Callable[..., Any]] = {
    "conv2d": layers.conv2d_backward,
    "max_pool2d": layers.max_pool2d_backward,
    "avg_pool2d": layers.avg_pool2d_backward,
}
NAMES = {"conv2d": ("x", "w", "b"), "max_pool2d": ("x",), "avg_pool2d": ("x",)}

#: ``(shapes, config)``: the menus of ``bp_autodiff.layer_strategies`` (what each entry is there for is in its
#: comment there): padding 0, 1, 2; strides 1, 2, 3; rows no window reaches; a 1x1 kernel and one as large as the
#: padded input; overlapping (by 1 and 2), exact (stride None) and gapped pooling windows; batch 1.
CONV_GEOMETRIES = list(MENUS["conv2d"])
POOL_GEOMETRIES = list(MENUS["max_pool2d"])
assert list(MENUS["avg_pool2d"]) == POOL_GEOMETRIES  # one menu for both pools

#: The JAX twin of each layer under test.
TWINS: dict[str, Callable[..., Any]] = {
    "conv2d": conv2d_twin,
    "max_pool2d": max_pool2d_twin,
    "avg_pool2d": avg_pool2d_twin,
}


# ---------------------------------------------------------------- references and the comparison


@functools.partial(jax.jit, static_argnames=("layer", "config"))
def _witness_vjp(
    layer: str, config: tuple[tuple[str, Any], ...], inputs: tuple[jax.Array, ...], dout: jax.Array
) -> list[jax.Array]:
    """``[out, *grads]``: the JAX twin's forward and ``jax.vjp`` pulled back from ``dout``, compiled per shape."""
    out, pullback = jax.vjp(functools.partial(TWINS[layer], **dict(config)), *inputs)
    return [out, *pullback(dout)]


def reference(
    layer: str, config: dict[str, Any], inputs: tuple[np.ndarray, ...], dout: np.ndarray
) -> tuple[list[np.ndarray], list[float]]:
    """The witness's ``[out, *grads]`` and the term scale ``T`` of each (module docstring), in float64.

    Float32 inputs are widened exactly, so the reference is the float64 result for the same numbers (and one
    executable per shape serves both dtypes). ``T`` comes from the same executable run on absolute values (the
    max pool keeps ``x``, whose argmax decides the routing; its ``out`` is exact, its own scale).
    """
    frozen = tuple(sorted(config.items()))
    wide = tuple(np.asarray(a, dtype=np.float64) for a in inputs)
    at = wide if layer == "max_pool2d" else tuple(np.abs(a) for a in wide)
    d = np.asarray(dout, dtype=np.float64)
    with jax.enable_x64(True):
        arrays = [np.asarray(a) for a in _witness_vjp(layer, frozen, tuple(map(jnp.asarray, wide)), jnp.asarray(d))]
        terms = [
            np.asarray(t) for t in _witness_vjp(layer, frozen, tuple(map(jnp.asarray, at)), jnp.asarray(np.abs(d)))
        ]
    if layer == "max_pool2d":
        terms[0] = np.abs(arrays[0])
    return arrays, [float(np.max(t, initial=0.0)) for t in terms]


def n_ops(layer: str, config: dict[str, Any], x_shape: tuple[int, ...], extra: tuple[int, ...] = ()) -> list[int]:
    """The sum length ``n`` of ``out`` and of each gradient (module docstring)."""
    if layer == "conv2d":
        N, C, H, W = x_shape
        F, _, KH, KW = extra
        s, p = config.get("stride", 1), config.get("padding", 0)
        OH, OW = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1
        return [C * KH * KW + 1, F * KH * KW, N * OH * OW, N * OH * OW]
    k = config["kernel_size"]
    s = config.get("stride") or k
    shared = math.ceil(k / s) ** 2
    if layer == "max_pool2d":
        return [1, shared]
    return [k * k + 1, shared + k * k + 1]


def compare(
    layer: str, config: dict[str, Any], inputs: tuple[np.ndarray, ...], dout: np.ndarray, manual: list[Any]
) -> dict[str, tuple[bool, float, float]]:
    """``close`` for ``out`` and each gradient against the witness, at the derived ``rtol`` and scale ``T``.

    ``manual`` is ``[out, *grads]``. Returns ``name -> (ok, rel, fraction)``; records each in the session summary.
    """
    ref, scales = reference(layer, config, inputs, dout)
    extra = tuple(inputs[1].shape) if layer == "conv2d" else ()
    counts = n_ops(layer, config, inputs[0].shape, extra)
    u = unit_roundoff(inputs[0].dtype)
    results = {}
    for name, a, r, T, n in zip(("out", *NAMES[layer]), manual, ref, scales, counts, strict=True):
        ok, rel, fraction = close(np.asarray(a), r, KAPPA * n * u, scale=T)
        results[name] = (ok, rel, fraction)
    return results


def assert_all_close(layer: str, results: dict[str, tuple[bool, float, float]], dtype: Any, what: str) -> None:
    for name, (ok, rel, fraction) in results.items():
        record(f"{layer} {name} vs JAX ({np.dtype(dtype).name})", rel, fraction, what)
        assert ok, f"{layer} {name}: rel {rel:.3e} is {fraction:.2f} x its tolerance at {what}"


def layer_case(layer: str, geometry: Geometry, dtype: Any, seed: int) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """The inputs and settings at ``geometry``, built by ``layer_strategies.build_case``: standard normal for
    the convolution; for the pools values in ``[-2, 2]`` any two at least ``2 / size`` apart (no tie in a window)."""
    case = build_case(layer, np.random.default_rng(seed), *geometry, dtype)
    return tuple(case.inputs.values()), case.config


def run_manual(
    layer: str,
    inputs: tuple[np.ndarray, ...],
    config: dict[str, Any],
    seed: int,
    backward: Callable[..., Any] | None = None,
) -> tuple[np.ndarray, list[Any]]:
    """``(dout, [out, *grads])`` of the hand pair; ``dout`` random normal (never uniform), in the inputs' dtype."""
    out, cache = FORWARD[layer](*inputs, **config)
    dout = np.random.default_rng(seed + 1).normal(0.0, 1.0, out.shape).astype(out.dtype)
    grads = (backward or BACKWARD[layer])(dout, cache)
    return dout, [out, *grads]


# ---------------------------------------------------------------- 1. hand gradients equal jax.vjp of the twin


@settings(max_examples=EXAMPLES)
@given(geometry=st.sampled_from(CONV_GEOMETRIES), dtype=st.sampled_from(DTYPES), seed=SEEDS)
def test_conv2d_gradients_equal_jax(geometry: Geometry, dtype: Any, seed: int) -> None:
    inputs, config = layer_case("conv2d", geometry, dtype, seed)
    before = [a.copy() for a in inputs]
    dout, manual = run_manual("conv2d", inputs, config, seed)
    for a, b in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs never modified
    assert all(m.dtype == dtype for m in manual), [m.dtype for m in manual]
    results = compare("conv2d", config, inputs, dout, manual)
    assert_all_close("conv2d", results, dtype, f"{geometry}")


@pytest.mark.parametrize("layer", ["max_pool2d", "avg_pool2d"])
@settings(max_examples=EXAMPLES)
@given(geometry=st.sampled_from(POOL_GEOMETRIES), dtype=st.sampled_from(DTYPES), seed=SEEDS)
def test_pool_gradients_equal_jax(layer: str, geometry: Geometry, dtype: Any, seed: int) -> None:
    inputs, config = layer_case(layer, geometry, dtype, seed)
    before = inputs[0].copy()
    dout, manual = run_manual(layer, inputs, config, seed)
    np.testing.assert_array_equal(inputs[0], before)
    assert all(m.dtype == dtype for m in manual), [m.dtype for m in manual]
    results = compare(layer, config, inputs, dout, manual)
    assert_all_close(layer, results, dtype, f"{geometry}")


# ---------------------------------------------------------------- 2. forward (and gradients) equal PyTorch's


#: Any small geometry (``layer_strategies.geometries``): N, C, F 1..3, KH, KW 1..5, stride 1..3, padding 0..2,
#: H, W up to 12, the kernel fitting.
RANDOM_CONV = geometries("conv2d", N=(1, 3), K=(1, 5), HW=(1, 12))
#: Any small pooling: k 1..4, stride None (0) or 1..4 (overlapping, exact or gapped), N, C 1..3, the window fitting.
RANDOM_POOL = {
    layer: geometries(layer, N=(1, 3), C=(1, 3), k=(1, 4), stride=(0, 4), HW=(1, 12))
    for layer in ("max_pool2d", "avg_pool2d")
}


def torch_reference(layer: str, inputs: tuple[np.ndarray, ...], config: dict[str, Any], dout: np.ndarray):
    """torch's ``(out, grads)`` and the term scales ``T``, computed like :func:`reference`."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    fn = {"conv2d": F.conv2d, "max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}[layer]

    def run(arrays: tuple[np.ndarray, ...], upstream: np.ndarray) -> list[np.ndarray]:
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*tensors, **config)
        grads = torch.autograd.grad(out, tensors, torch.tensor(upstream))
        return [out.detach().numpy(), *(g.numpy() for g in grads)]

    arrays = run(inputs, dout)
    at = inputs if layer == "max_pool2d" else tuple(np.abs(a) for a in inputs)
    terms = run(at, np.abs(dout))
    if layer == "max_pool2d":
        terms[0] = np.abs(arrays[0])
    return arrays, [float(np.max(t, initial=0.0)) for t in terms]


def assert_close_to_torch(layer: str, inputs: tuple[np.ndarray, ...], config: dict[str, Any], seed: int) -> None:
    dout, manual = run_manual(layer, inputs, config, seed)
    ref, scales = torch_reference(layer, inputs, config, dout)
    extra = tuple(inputs[1].shape) if layer == "conv2d" else ()
    counts = n_ops(layer, config, inputs[0].shape, extra)
    u = unit_roundoff(inputs[0].dtype)
    for name, a, r, T, n in zip(("out", *NAMES[layer]), manual, ref, scales, counts, strict=True):
        assert a.shape == r.shape and a.dtype == r.dtype, (name, a.shape, r.shape, a.dtype, r.dtype)
        ok, rel, fraction = close(a, r, KAPPA * n * u, scale=T)
        record(f"{layer} {name} vs torch ({a.dtype.name})", rel, fraction, f"{config} {inputs[0].shape}")
        assert ok, f"{layer} {name} vs torch: rel {rel:.3e} is {fraction:.2f} x its tolerance"


@settings(max_examples=TORCH_EXAMPLES)
@given(geometry=RANDOM_CONV, dtype=st.sampled_from(DTYPES), seed=SEEDS)
def test_conv2d_equals_torch_at_random_settings(geometry: Geometry, dtype: Any, seed: int) -> None:
    """Forward equals ``F.conv2d`` and the gradients equal torch.autograd's, at any shape, stride and padding."""
    inputs, config = layer_case("conv2d", geometry, dtype, seed)
    assert_close_to_torch("conv2d", inputs, config, seed)


@pytest.mark.parametrize("layer", ["max_pool2d", "avg_pool2d"])
@settings(max_examples=TORCH_EXAMPLES)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), seed=SEEDS)
def test_pool_equals_torch_at_random_settings(layer: str, data: st.DataObject, dtype: Any, seed: int) -> None:
    """Forward equals ``F.max_pool2d``/``F.avg_pool2d`` (floor mode) and the gradients equal torch.autograd's."""
    inputs, config = layer_case(layer, data.draw(RANDOM_POOL[layer], label="geometry"), dtype, seed)
    assert_close_to_torch(layer, inputs, config, seed)


# ---------------------------------------------------------------- 3. the hand pair under jax.jit


@pytest.mark.parametrize(
    ("layer", "case"),
    [
        ("conv2d", layer_case("conv2d", CONV_GEOMETRIES[1], np.float64, 0)),
        ("max_pool2d", layer_case("max_pool2d", POOL_GEOMETRIES[0], np.float64, 0)),
        ("avg_pool2d", layer_case("avg_pool2d", POOL_GEOMETRIES[0], np.float64, 0)),
    ],
    ids=["conv2d", "max_pool2d", "avg_pool2d"],
)
def test_manual_pair_runs_under_jit(layer: str, case: tuple[tuple[np.ndarray, ...], dict[str, Any]]) -> None:
    """The hand forward and backward, traced by ``jax.jit`` on JAX arrays, give the NumPy run's results
    (to the same derived tolerance: XLA may sum in another order) and JAX arrays."""
    inputs, config = case
    dout, manual = run_manual(layer, inputs, config, 0)

    def pair(arrays: tuple[jax.Array, ...], upstream: jax.Array) -> list[jax.Array]:
        out, cache = FORWARD[layer](*arrays, **config)
        return [out, *BACKWARD[layer](upstream, cache)]

    with jax.enable_x64(True):
        traced = jax.jit(pair)(tuple(jnp.asarray(a) for a in inputs), jnp.asarray(dout))
    assert all(isinstance(t, jax.Array) for t in traced)
    results = compare(layer, config, inputs, dout, [np.asarray(t) for t in traced])
    assert all(ok for ok, _, _ in results.values()), results
    for m, t in zip(manual, traced, strict=True):
        assert m.shape == t.shape and m.dtype == t.dtype


# ---------------------------------------------------------------- 4. bad input is refused, naming the argument


def _ones(*shape: int) -> np.ndarray:
    return np.ones(shape)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 6, 3), _ones(3)),
            {},
            ValueError,
            r"^w: the window \(6, 3\) is larger than the padded input",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 8, 3), _ones(3)),
            {"padding": 1},
            ValueError,
            r"^w: the window \(8, 3\) is larger than the padded input \(H \+ 2 padding, W \+ 2 padding\) \(7, 7\)$",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 4, 3, 3), _ones(3)),
            {},
            ValueError,
            r"^w must have shape \(3, 2, 3, 3\) \(axis 1 is the input channels, x has C = 2\)",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 3, 3), _ones(4)),
            {},
            ValueError,
            r"^b must have shape \(3,\) \(one bias per filter",
        ),
        (
            (_ones(2, 5, 5), _ones(3, 2, 3, 3), _ones(3)),
            {},
            ValueError,
            r"^x must have 4 dimensions, got shape \(2, 5, 5\)",
        ),
        ((_ones(1, 2, 5, 5), _ones(3, 2, 3), _ones(3)), {}, ValueError, r"^w must have 4 dimensions"),
        ((_ones(1, 2, 5, 5), _ones(3, 2, 3, 3), _ones(3)), {"stride": 0}, ValueError, r"^stride must be >= 1, got 0"),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 3, 3), _ones(3)),
            {"padding": -1},
            ValueError,
            r"^padding must be >= 0, got -1",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 3, 3), _ones(3)),
            {"stride": 1.5},
            TypeError,
            r"^stride must be an integer, got float",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 3, 3), _ones(3)),
            {"padding": True},
            TypeError,
            r"^padding must be an integer, got bool",
        ),
        (
            (_ones(1, 2, 5, 5), _ones(3, 2, 3, 3).astype(np.float32), _ones(3)),
            {},
            TypeError,
            r"^inputs must share one floating dtype, got x float64, w float32",
        ),
        ((np.full((1, 2, 5, 5), np.nan), _ones(3, 2, 3, 3), _ones(3)), {}, ValueError, r"^x must be finite"),
        ((np.full((1, 2, 5, 5), "a"), _ones(3, 2, 3, 3), _ones(3)), {}, TypeError, r"^x must be a real numeric array"),
    ],
)
def test_conv2d_refuses_bad_input(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        layers.conv2d_forward(*args, **kwargs)


@pytest.mark.parametrize("forward", [layers.max_pool2d_forward, layers.avg_pool2d_forward])
@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (
            _ones(1, 2, 5, 3),
            {"kernel_size": 4},
            ValueError,
            r"^kernel_size: the window \(4, 4\) is larger than the input \(H, W\) \(5, 3\)$",
        ),
        (_ones(1, 2, 5, 5), {"kernel_size": 0}, ValueError, r"^kernel_size must be >= 1, got 0"),
        (_ones(1, 2, 5, 5), {"kernel_size": 2, "stride": 0}, ValueError, r"^stride must be >= 1, got 0"),
        (_ones(1, 2, 5, 5), {"kernel_size": 2.0}, TypeError, r"^kernel_size must be an integer, got float"),
        (_ones(2, 5, 5), {"kernel_size": 2}, ValueError, r"^x must have 4 dimensions, got shape \(2, 5, 5\)"),
    ],
)
def test_pool_refuses_bad_input(
    forward: Callable[..., Any], x: np.ndarray, kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        forward(x, **kwargs)


# ---------------------------------------------------------------- 5. every classic mistake is caught

#: One geometry per layer for the catalog (the entry's config sets stride, padding, window); float64 only.
#: The shapes of the first conv geometry: x (2, 3, 7, 6), w (4, 3, 3, 2).
MISTAKE_SHAPES = CONV_GEOMETRIES[0][0]
MISTAKES = {**CONV_MISTAKES, **POOL_MISTAKES}


def mistake_case(mistake: LayerMistake, seed: int = 7) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """The entry's layer at its ``config`` (stride and padding 1 and 0 by default) on the first conv geometry."""
    c = mistake.config
    if mistake.layer == "conv2d":
        config = {"stride": c.get("stride", 1), "padding": c.get("padding", 0)}
        return layer_case("conv2d", (dict(MISTAKE_SHAPES), config), np.float64, seed)
    config = {"kernel_size": c["kernel_size"], "stride": c.get("stride")}
    return layer_case(mistake.layer, ({"x": MISTAKE_SHAPES["x"]}, config), np.float64, seed)


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_every_catalog_mistake_fails_the_property_comparison(name: str) -> None:
    """At the entry's ``config``, the comparison of the property test passes the correct backward and fails the
    mistaken one on exactly the inputs the entry names as ``wrong``."""
    mistake: LayerMistake = MISTAKES[name]
    layer = mistake.layer
    inputs, config = mistake_case(mistake)
    dout, right = run_manual(layer, inputs, config, 7)
    assert all(ok for ok, _, _ in compare(layer, config, inputs, dout, right).values())
    _, wrong = run_manual(layer, inputs, config, 7, backward=mistake.backward)
    results = compare(layer, config, inputs, dout, wrong)
    failed = {n for n, (ok, _, _) in results.items() if not ok}
    assert failed == set(mistake.wrong), f"{name}: failed {sorted(failed)}, expected {mistake.wrong}"


def test_overwriting_pool_passes_without_overlap() -> None:
    """Why the catalog configures ``=`` for ``+=`` with overlapping windows: at 2x2 stride 2 it is right."""
    mistake = POOL_MISTAKES["max_pool_overwrites"]
    inputs, config = layer_case("max_pool2d", POOL_GEOMETRIES[1], np.float64, 3)  # 2x2, stride None: no overlap
    dout, wrong = run_manual("max_pool2d", inputs, config, 3, backward=mistake.backward)
    assert all(ok for ok, _, _ in compare("max_pool2d", config, inputs, dout, wrong).values())


def test_negative_end_crop_passes_with_padding() -> None:
    """Why the catalog configures the ``p:-p`` crop at padding 0: at padding 1 it is right."""
    mistake = CONV_MISTAKES["dx_cropped_with_negative_end"]
    inputs, config = layer_case("conv2d", (dict(MISTAKE_SHAPES), {"stride": 1, "padding": 1}), np.float64, 3)
    dout, wrong = run_manual("conv2d", inputs, config, 3, backward=mistake.backward)
    assert all(ok for ok, _, _ in compare("conv2d", config, inputs, dout, wrong).values())
