"""The dense layers (linear, the element-wise activations, dropout, embedding) against their JAX twins.

For every layer, the hand backward pass equals ``jax.vjp`` of the layer's JAX twin
(:mod:`bp_autodiff.witness.layers`, written with ``jax.numpy``/``jax.nn``, never
calling :mod:`bp_manual`) across random shapes, settings, values and a random
non-uniform ``dout``, in float64 and float32; the pair runs under ``jax.jit``; bad
input is refused naming the argument; and every entry of the mistake catalogs
(:mod:`bp_autodiff.catalog.linear`, ``.activations``, ``.dropout``, ``.embedding``)
fails the very comparison the properties use.

Tolerance (derived; the style of :mod:`bp_autodiff.tolerance`). Each array (an
output or a gradient) is compared with ``close(actual, reference, rtol, T)``::

    |actual_i - reference_i| <= rtol * (max(max|reference|, T) + |reference_i|)
    rtol = KAPPA * n * u

``u`` is the unit roundoff of the case's dtype (2**-53, 2**-24) and ``KAPPA = 8``
(:data:`bp_autodiff.tolerance.KAPPA`: the two sides' errors added, and the
amplification by cancellation and by the condition of ``exp``/``tanh`` at
moderate arguments). ``n`` counts the roundings along the longest chain into one
entry, and ``T`` is the array's *term scale*: the same quantity computed on the
absolute values of its terms (Higham, *Accuracy and Stability of Numerical
Algorithms*, 3.1: a sum of ``k`` products has a forward error of at most
``k u`` times the sum of their absolute values), evaluated here in float64 with
plain NumPy, independently of the layer code. Per layer:

- ``linear`` (``x`` seen as ``(M, D_in)``): ``out = x W^T + b``, ``n = D_in + 1``,
  ``T = max(|x| |W|^T + |b|)``; ``dx = dout W``, ``n = D_out``, ``T = max(|dout| |W|)``;
  ``dW = dout^T x``, ``n = M``, ``T = max(|dout|^T |x|)``; ``db``, ``n = M``,
  ``T = max(sum |dout|)``.
- element-wise ``dx = dout * f'(x)``: ``n`` is the number of roundings of the
  formula for ``f'`` plus one for the product (:data:`ELEMENTWISE_OPS`; ``exp``,
  ``tanh``, ``log1p`` counted as 2, faithful to within an ulp or so on either side)
  and ``T = max(|dout| F(x))``, ``F`` the sum of the absolute values of the terms
  of ``f'`` (:data:`TERMS`): ``A + A**2`` for ``sigmoid' = A - A**2``, ``1 + A**2``
  for ``tanh' = 1 - A**2``, ``|f'|`` for the piecewise-linear ones,
  ``sigmoid(x) (1 + |x|)`` for softplus (JAX differentiates its ``logaddexp`` as
  ``exp(x - softplus(x))``, whose argument carries the rounding of ``softplus(x)``,
  ``u |x|`` absolute, so its result is off by ``|x| u`` relative: 11 u at
  ``x = 30``, measured; the thorough profile found it at 0.27 of a tolerance that
  left it out), and for gelu
  ``0.5 (1 + |t|) + 0.5 |x| c (1 + 3 a x**2) (1 + t**2)``: its ``1 - t**2``
  cancels where ``tanh`` saturates, and the rounding of ``t**2`` is then
  multiplied by the cubic's derivative. JAX's derivatives have the same terms
  (``jax.vjp`` of ``tanh`` is ``g (1 - ans**2)``, of the logistic ``g ans (1 - ans)``),
  so ``F`` bounds both sides. The outputs: ``n`` as the derivative's,
  ``T = max|x|`` (every ``f`` here has terms no larger than ``|x|`` and 1).
- ``dropout``: ``dx = dout * mask / (1 - p)``: ``1 - p`` rounded to the dtype,
  one division, ``n = 3``, ``T = max|dout| / (1 - p)``; the output likewise with ``x``.
- ``embedding``: the forward is a gather, exact (compared with ``n = 1``); ``dE``
  sums the ``dout`` rows of each repeated index: ``n = `` the largest repeat
  count, ``T = max(onehot^T |dout|)``.

For float64 the largest ``n`` drawn here (``gelu``, 20) gives
``rtol = 8 * 20 * 1.1e-16 = 1.8e-14``; for float32 ``9.5e-6``; a wrong backward
is off by order 1. Kinks: relu and leaky relu inputs are built with
``|x| >= 0.1 * scale`` by construction (every element-wise input, in fact:
``bp_autodiff.layer_strategies.build_case``, which builds every input here), so
both sides differentiate the same branch; the layers' inputs are exact on both
sides, so any nonzero margin would do.

JAX compiles the jitted ``vjp`` once per layer, shape and dtype: shapes come from
the few entries per layer of ``bp_autodiff.layer_strategies.MENUS``, so the
compilations stay few (and JAX's persistent cache, ``tests/conftest.py``, keeps
them between runs); settings (``slope``, ``p``) are traced arguments, not constants.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.catalog import activations as activations_catalog
from bp_autodiff.catalog import dropout as dropout_catalog
from bp_autodiff.catalog import embedding as embedding_catalog
from bp_autodiff.catalog import linear as linear_catalog
from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_autodiff.layer_strategies import MENUS, build_case
from bp_autodiff.witness.layers import activations as activation_twins
from bp_autodiff.witness.layers.dropout import dropout as dropout_twin
from bp_autodiff.witness.layers.embedding import embedding as embedding_twin
from bp_autodiff.witness.layers.linear import linear as linear_twin
from bp_manual import layers
from bp_manual.activations import GELU_A, GELU_C
from strategies import examples
from tolerances import KAPPA, close, record, unit_roundoff

DTYPES = (np.float64, np.float32)


# --- the layers under test: the pair, the twin, the inputs' names, which get gradients -------------


class LayerUnderTest(NamedTuple):
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    twin: Callable[..., Any]
    inputs: tuple[str, ...]
    differentiable: tuple[str, ...]


ELEMENTWISE = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")

LAYERS: dict[str, LayerUnderTest] = {
    "linear": LayerUnderTest(
        layers.linear_forward, layers.linear_backward, linear_twin, ("x", "W", "b"), ("x", "W", "b")
    ),
    "dropout": LayerUnderTest(layers.dropout_forward, layers.dropout_backward, dropout_twin, ("x", "mask"), ("x",)),
    "embedding": LayerUnderTest(
        layers.embedding_forward, layers.embedding_backward, embedding_twin, ("indices", "E"), ("E",)
    ),
    **{
        name: LayerUnderTest(
            getattr(layers, f"{name}_forward"),
            getattr(layers, f"{name}_backward"),
            getattr(activation_twins, name),
            ("x",),
            ("x",),
        )
        for name in ELEMENTWISE
    },
}


# --- the tolerance model (module docstring) ----------------------------------------------------------


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    """``sigmoid(x) = (1 + tanh(x / 2)) / 2``: float64, no overflow, independent of the layer code."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _gelu_terms(x: np.ndarray, slope: float) -> np.ndarray:
    t = np.tanh(GELU_C * (x + GELU_A * x**3))
    return 0.5 * (1.0 + np.abs(t)) + 0.5 * np.abs(x) * GELU_C * (1.0 + 3.0 * GELU_A * x**2) * (1.0 + t**2)


#: ``F(x, slope)``: the sum of the absolute values of the terms of ``f'(x)`` (float64).
TERMS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "relu": lambda x, slope: (x > 0).astype(np.float64),
    "leaky_relu": lambda x, slope: np.where(x > 0, 1.0, abs(slope)),
    "sigmoid": lambda x, slope: _sigmoid64(x) + _sigmoid64(x) ** 2,
    "tanh": lambda x, slope: 1.0 + np.tanh(x) ** 2,
    "softplus": lambda x, slope: _sigmoid64(x) * (1.0 + np.abs(x)),
    "gelu": _gelu_terms,
}

#: Roundings into one entry of ``dx = dout * f'(x)``: the formula of ``f'`` (with ``f`` where it
#: is computed from the output) plus the product; exp/tanh/log1p count 2.
ELEMENTWISE_OPS = {"relu": 1, "leaky_relu": 2, "sigmoid": 7, "tanh": 5, "softplus": 6, "gelu": 20}


def rtol(n: int, dtype: Any) -> float:
    """``KAPPA * n * u``, the relative tolerance of an entry with ``n`` roundings."""
    return KAPPA * n * unit_roundoff(dtype)


class Budget(NamedTuple):
    """The error model of one array: ``n`` roundings per entry, term scale ``T``."""

    n: int
    T: float


class Case(NamedTuple):
    """One layer call: its inputs (NumPy, ``None`` for an absent bias), config, ``dout``, and budgets."""

    layer: str
    inputs: tuple[Any, ...]
    config: dict[str, Any]
    dout: np.ndarray
    dtype: Any
    budgets: dict[str, Budget]  # "out" and each differentiable input's name

    def describe(self) -> str:
        shapes = ", ".join(
            f"{n}{tuple(a.shape)}" for n, a in zip(LAYERS[self.layer].inputs, self.inputs, strict=True) if a is not None
        )
        return f"{self.layer}({shapes}, {self.config}) {np.dtype(self.dtype).name}"


def linear_case(rng: np.random.Generator, shapes: dict[str, Any], dtype: Any, scale: float) -> Case:
    """``x = scale * z``, ``W`` and ``b`` standard normal (``b`` absent where its shape is None), built by
    ``layer_strategies.build_case`` from ``rng``; ``dout`` from ``rng`` after them."""
    x, W, b = build_case("linear", rng, shapes, {}, dtype, scale={"x": scale}).inputs.values()
    lead, (D_out, D_in), bias = x.shape[:-1], W.shape, b is not None
    dout = rng.normal(size=(*lead, D_out)).astype(dtype)
    M = math.prod(lead)
    x2, d2 = np.abs(x.astype(np.float64)).reshape(M, D_in), np.abs(dout.astype(np.float64)).reshape(M, D_out)
    aW = np.abs(W.astype(np.float64))
    b_abs = np.abs(b.astype(np.float64)) if b is not None else 0.0
    budgets = {
        "out": Budget(D_in + 1, float(np.max(x2 @ aW.T + b_abs, initial=0.0))),
        "x": Budget(D_out, float(np.max(d2 @ aW, initial=0.0))),
        "W": Budget(max(M, 1), float(np.max(d2.T @ x2, initial=0.0))),
    }
    if bias:
        budgets["b"] = Budget(max(M, 1), float(np.max(d2.sum(axis=0), initial=0.0)))
    return Case("linear", (x, W, b), {}, dout, dtype, budgets)


def elementwise_case(
    name: str, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, scale: float, slope: float = 0.01
) -> Case:
    """``x`` of either sign with ``|x| >= 0.1 scale`` (``layer_strategies.build_case``), then ``dout``."""
    config = {"slope": slope} if name == "leaky_relu" else {}
    x = build_case(name, rng, {"x": shape}, config, dtype, scale=scale).inputs["x"]
    dout = rng.normal(size=shape).astype(dtype)
    x64 = x.astype(np.float64)
    n = ELEMENTWISE_OPS[name]
    budgets = {
        "out": Budget(n, float(np.max(np.abs(x64)))),
        "x": Budget(n, float(np.max(np.abs(dout.astype(np.float64)) * TERMS[name](x64, slope)))),
    }
    return Case(name, (x,), config, dout, dtype, budgets)


def dropout_case(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: Any, scale: float) -> Case:
    """``x = scale * z`` and the mask of ``layers.dropout_mask`` (``layer_strategies.build_case``), then ``dout``."""
    shapes = {"x": shape, "mask": shape}
    x, mask = build_case("dropout", rng, shapes, {"p": p}, dtype, scale={"x": scale}).inputs.values()
    dout = rng.normal(size=shape).astype(dtype)
    budgets = {
        "out": Budget(3, float(np.max(np.abs(x.astype(np.float64)))) / (1.0 - p)),
        "x": Budget(3, float(np.max(np.abs(dout.astype(np.float64)))) / (1.0 - p)),
    }
    return Case("dropout", (x, mask), {"p": p}, dout, dtype, budgets)


def embedding_case(rng: np.random.Generator, shape: tuple[int, ...], V: int, D: int, dtype: Any, scale: float) -> Case:
    """Indices in ``[0, V)`` (the first two equal) and ``E = scale * z`` (``layer_strategies.build_case``)."""
    shapes = {"indices": shape, "E": (V, D)}
    indices, E = build_case("embedding", rng, shapes, {}, dtype, scale={"E": scale}).inputs.values()
    dout = rng.normal(size=(*shape, D)).astype(dtype)
    onehot = (indices.reshape(-1)[:, None] == np.arange(V)).astype(np.float64)  # (M, V)
    repeats = int(onehot.sum(axis=0).max(initial=1.0))
    budgets = {
        "out": Budget(1, 0.0),
        "E": Budget(repeats, float(np.max(onehot.T @ np.abs(dout.astype(np.float64)).reshape(-1, D), initial=0.0))),
    }
    return Case("embedding", (indices, E), {}, dout, dtype, budgets)


# --- the reference: jax.vjp of the twin, jitted per (twin, which inputs are differentiated) ----------


@functools.cache
def _jitted_vjp(twin: Callable[..., Any], diff: tuple[int, ...]) -> Callable[..., Any]:
    def run(args: tuple[Any, ...], config: dict[str, Any], dout: Any) -> Any:
        def f(*d: Any) -> Any:
            full = list(args)
            for i, a in zip(diff, d, strict=True):
                full[i] = a
            return twin(*full, **config)

        out, pullback = jax.vjp(f, *(args[i] for i in diff))
        return out, pullback(dout)

    return jax.jit(run)


def reference(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The twin's output and ``jax.vjp`` gradients for the case's differentiable inputs, as NumPy arrays."""
    spec = LAYERS[case.layer]
    diff = tuple(i for i, n in enumerate(spec.inputs) if n in spec.differentiable and case.inputs[i] is not None)
    with jax.enable_x64(True):
        args = tuple(None if a is None else jnp.asarray(a) for a in case.inputs)
        out, grads = _jitted_vjp(spec.twin, diff)(args, case.config, jnp.asarray(case.dout))
        return np.asarray(out), {spec.inputs[i]: np.asarray(g) for i, g in zip(diff, grads, strict=True)}


class Verdict(NamedTuple):
    ok: bool
    rel: float
    fraction: float


def compare(case: Case, name: str, actual: Any, ref: np.ndarray) -> Verdict:
    """The one comparison of this module: ``close`` at the case's budget for array ``name``."""
    n, T = case.budgets[name]
    return Verdict(*close(np.asarray(actual), ref, rtol(n, case.dtype), T))


def check(case: Case, backward: Callable[..., Any] | None = None) -> dict[str, Verdict]:
    """Run the layer's forward and ``backward`` (default: the layer's own) and compare with the twin.

    Returns a verdict per array: ``"out"`` and each differentiable input's name.
    Inputs without a gradient must get ``None``.
    """
    spec = LAYERS[case.layer]
    out, cache = spec.forward(*case.inputs, **case.config)
    grads = (backward or spec.backward)(case.dout, cache)
    assert len(grads) == len(spec.inputs), f"{case.layer}: {len(grads)} gradients for {len(spec.inputs)} inputs"
    ref_out, ref_grads = reference(case)
    verdicts = {"out": compare(case, "out", out, ref_out)}
    for name, g, x in zip(spec.inputs, grads, case.inputs, strict=True):
        if name in ref_grads:
            verdicts[name] = compare(case, name, g, ref_grads[name])
        elif name not in spec.differentiable or x is None:
            assert g is None, f"{case.layer}: {name} has no gradient, got {type(g).__name__}"
    return verdicts


def assert_matches(case: Case) -> None:
    """:func:`check` passes for every array, in the case's dtype; the errors are recorded for the summary."""
    spec = LAYERS[case.layer]
    out, cache = spec.forward(*case.inputs, **case.config)
    grads = spec.backward(case.dout, cache)
    assert out.dtype == case.dtype, f"{case.describe()}: out is {out.dtype}"
    for name, g in zip(spec.inputs, grads, strict=True):
        assert g is None or g.dtype == case.dtype, f"{case.describe()}: d{name} is {g.dtype}"
    for name, v in check(case).items():
        key = f"layers.{case.layer} {'out' if name == 'out' else 'd' + name} {np.dtype(case.dtype).name}"
        record(key, v.rel, v.fraction, case.describe())
        assert v.ok, f"{case.describe()}: {name} off by {v.rel:.3e} relative ({v.fraction:.2f} x tolerance)"


# --- 1. properties: hand gradients equal jax.vjp of the twin ----------------------------------------

SEEDS = st.integers(0, 2**32 - 1)


#: The shapes of each layer's menu (``layer_strategies.MENUS``): one, a batch, two leading axes; D_in > D_out and
#: D_in = 1; with and without a bias; 1-D and 3-D element-wise inputs; more indices than rows (repeats).
MENU: dict[str, list[dict[str, Any]]] = {layer: [shapes for shapes, _ in MENUS[layer]] for layer in LAYERS}


@settings(max_examples=examples(0.25))
@given(
    shapes=st.sampled_from(MENU["linear"]),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=SEEDS,
)
def test_linear_gradients_equal_jax(shapes: dict[str, Any], dtype: Any, scale: float, seed: int) -> None:
    assert_matches(linear_case(np.random.default_rng(seed), shapes, dtype, scale))


#: Input scales per activation: into saturation for the bounded ones; gelu up to where its
#: curve has become relu's (|x| ~ 4), since beyond that the term scale of its 1 - t**2 grows as |x|**3.
SCALES = {"gelu": [0.1, 1.0, 2.0], "relu": [0.1, 1.0, 30.0], "leaky_relu": [0.1, 1.0, 30.0]}


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=examples(0.15))
@given(
    shape=st.sampled_from([shapes["x"] for shapes in MENU["relu"]]),
    dtype=st.sampled_from(DTYPES),
    scale_index=st.integers(0, 3),
    slope=st.one_of(st.just(0.01), st.floats(-2.0, 2.0)),
    seed=SEEDS,
)
def test_elementwise_gradients_equal_jax(
    name: str, shape: tuple[int, ...], dtype: Any, scale_index: int, slope: float, seed: int
) -> None:
    scales = SCALES.get(name, [0.1, 1.0, 4.0, 30.0])
    scale = scales[min(scale_index, len(scales) - 1)]
    assert_matches(elementwise_case(name, np.random.default_rng(seed), shape, dtype, scale, slope))


@settings(max_examples=examples(0.2))
@given(
    shape=st.sampled_from([shapes["x"] for shapes in MENU["dropout"]]),
    p=st.one_of(st.just(0.0), st.floats(0.0, 0.95)),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=SEEDS,
)
def test_dropout_gradients_equal_jax(shape: tuple[int, ...], p: float, dtype: Any, scale: float, seed: int) -> None:
    assert_matches(dropout_case(np.random.default_rng(seed), shape, p, dtype, scale))


@settings(max_examples=examples(0.2))
@given(
    shapes=st.sampled_from(MENU["embedding"]),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=SEEDS,
)
def test_embedding_gradients_equal_jax(shapes: dict[str, Any], dtype: Any, scale: float, seed: int) -> None:
    V, D = shapes["E"]
    assert_matches(embedding_case(np.random.default_rng(seed), shapes["indices"], V, D, dtype, scale))


# --- fixed cases: one per layer, for the jit, purity and catalog tests ---------------------------------


def fixed_case(layer: str, dtype: Any = np.float64, config: dict[str, Any] | None = None, seed: int = 0) -> Case:
    """A case of ``layer`` where every classic mistake shows: a square ``W`` (a transposed gradient keeps
    its shape), inputs of both signs, a mask with dropped and kept units, repeated indices."""
    rng = np.random.default_rng(seed)
    config = config or {}
    if layer == "linear":
        return linear_case(rng, {"x": (2, 3, 4), "W": (4, 4), "b": (4,)}, dtype, 1.0)
    if layer == "dropout":
        return dropout_case(rng, (4, 6), config.get("p", 0.5), dtype, 1.0)
    if layer == "embedding":
        case = embedding_case(rng, (2, 5), 3, 4, dtype, 1.0)  # 10 indices into 3 rows: repeats, surely
        assert len(np.unique(case.inputs[0])) < case.inputs[0].size
        return case
    return elementwise_case(layer, rng, (4, 5), dtype, 1.0, config.get("slope", 0.01))


# --- 3. the pair under jax.jit on JAX arrays gives the same result -----------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_pair_runs_under_jit_on_jax_arrays(layer: str, dtype: Any) -> None:
    """``jax.jit`` of forward-then-backward on JAX arrays: same arrays as on NumPy (XLA's roundings
    held to the case's budgets), same dtype, ``None`` where NumPy gives ``None``."""
    case = fixed_case(layer, dtype, {"slope": 0.2} if layer == "leaky_relu" else None)
    spec = LAYERS[layer]

    def pair(inputs: tuple[Any, ...], dout: Any) -> tuple[Any, tuple[Any, ...]]:
        out, cache = spec.forward(*inputs, **case.config)
        return out, spec.backward(dout, cache)

    out, grads = pair(case.inputs, case.dout)
    with jax.enable_x64(True):
        args = tuple(None if a is None else jnp.asarray(a) for a in case.inputs)
        jout, jgrads = jax.jit(pair)(args, jnp.asarray(case.dout))
        assert isinstance(jout, jax.Array) and jout.dtype == case.dtype
        assert compare(case, "out", np.asarray(jout), out).ok
        for name, g, jg in zip(spec.inputs, grads, jgrads, strict=True):
            if g is None:
                assert jg is None, name
                continue
            assert isinstance(jg, jax.Array) and jg.dtype == case.dtype, name
            v = compare(case, name, np.asarray(jg), g)
            assert v.ok, f"{layer} d{name} under jit: {v.rel:.3e} ({v.fraction:.2f} x tolerance)"


# --- purity: no input is modified ------------------------------------------------------------------


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_forward_and_backward_modify_nothing(layer: str) -> None:
    case = fixed_case(layer)
    spec = LAYERS[layer]
    before = [None if a is None else a.copy() for a in case.inputs]
    dout = case.dout.copy()
    out, cache = spec.forward(*case.inputs, **case.config)
    out_before = out.copy()
    spec.backward(case.dout, cache)
    spec.backward(case.dout, cache)  # twice: the cache is not consumed either
    for a, b in zip(case.inputs, before, strict=True):
        assert (a is None and b is None) or (b is not None and np.array_equal(a, b))
    np.testing.assert_array_equal(case.dout, dout)
    np.testing.assert_array_equal(out, out_before)


# --- 5. every catalogued mistake fails the comparison the properties use ------------------------------

MISTAKES: dict[str, LayerMistake] = {
    **linear_catalog.MISTAKES,
    **activations_catalog.MISTAKES,
    **dropout_catalog.MISTAKES,
    **embedding_catalog.MISTAKES,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_every_catalogued_mistake_fails_the_property(name: str, dtype: Any) -> None:
    """At the entry's ``config``, on a case where the correct backward passes, the mistake's backward
    fails :func:`check` on an input it names, and on no input it does not name."""
    mistake = MISTAKES[name]
    assert mistake.layer in LAYERS and mistake.kind in {
        "lost_accumulation",
        "layer_mistake",
        "scale",
        "sign",
        "transpose",
        "zero",
        "ignores_upstream",
        "unreduced",
    }
    case = fixed_case(mistake.layer, dtype, mistake.config)
    assert all(v.ok for v in check(case).values()), "the correct backward must pass on this case"
    verdicts = check(case, mistake.backward)
    failed = {n for n, v in verdicts.items() if not v.ok}
    assert failed, f"{name}: the property does not catch it"
    assert failed <= set(mistake.wrong), f"{name}: fails on {sorted(failed)}, the entry names {mistake.wrong}"


def test_catalog_names_and_docstrings() -> None:
    """Every mistake is named after its layer, its docstring states the kind its entry records, and its
    source marks the mistake with ``# MISTAKE``."""
    import inspect

    for name, m in MISTAKES.items():
        assert name.startswith(m.layer), name
        doc = " ".join((m.backward.__doc__ or "").split())
        assert f"Expected finding: ``{m.kind}``" in doc, name
        assert "# MISTAKE" in inspect.getsource(m.backward), name


# --- 4. bad input is refused, naming the argument ---------------------------------------------------

_x = np.ones((2, 3))
_W = np.ones((4, 3))
_b = np.ones(4)
_E = np.ones((5, 2))

BAD_INPUTS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("linear: 0-d x", lambda: layers.linear_forward(np.float64(1.0), _W, _b), ValueError, r"^x must have at least 1"),
    ("linear: 1-d W", lambda: layers.linear_forward(_x, np.ones(3), _b), ValueError, r"^W must have 2 dimensions"),
    (
        "linear: D_in mismatch",
        lambda: layers.linear_forward(np.ones((2, 5)), _W, _b),
        ValueError,
        r"^x must have shape \(2, 3\) \(its last axis is D_in = W.shape\[1\]\), got \(2, 5\)$",
    ),
    ("linear: b shape", lambda: layers.linear_forward(_x, _W, np.ones(3)), ValueError, r"^b must have shape \(4,\)"),
    (
        "linear: mixed dtypes",
        lambda: layers.linear_forward(_x.astype(np.float32), _W, _b),
        TypeError,
        r"^inputs must share one floating dtype, got x float32, W float64, b float64$",
    ),
    ("linear: strings", lambda: layers.linear_forward([["a"]], _W, _b), TypeError, r"^x must be a real numeric"),
    ("linear: NaN in W", lambda: layers.linear_forward(_x, _W * np.nan, _b), ValueError, r"^W must be finite"),
    ("relu: strings", lambda: layers.relu_forward(np.array(["a"])), TypeError, r"^x must be a real numeric array"),
    ("tanh: inf", lambda: layers.tanh_forward(np.array([np.inf])), ValueError, r"^x must be finite"),
    (
        "leaky_relu: slope str",
        lambda: layers.leaky_relu_forward(_x, slope="0.1"),  # type: ignore[arg-type]
        TypeError,
        r"^slope must be a real number, got str$",
    ),
    ("leaky_relu: slope nan", lambda: layers.leaky_relu_forward(_x, slope=np.nan), ValueError, r"^slope must be a fin"),
    (
        "dropout: float mask",
        lambda: layers.dropout_forward(_x, np.ones((2, 3)), 0.5),
        TypeError,
        r"^mask must be a boolean array, got dtype float64$",
    ),
    (
        "dropout: mask shape",
        lambda: layers.dropout_forward(_x, np.ones((3, 2), bool), 0.5),
        ValueError,
        r"^mask must have shape \(2, 3\) \(the shape of x\), got \(3, 2\)$",
    ),
    ("dropout: p = 1", lambda: layers.dropout_forward(_x, _x > 0, 1.0), ValueError, r"^p must lie in \[0, 1\), got 1"),
    ("dropout: p < 0", lambda: layers.dropout_forward(_x, _x > 0, -0.1), ValueError, r"^p must lie in \[0, 1\)"),
    (
        "dropout: p str",
        lambda: layers.dropout_forward(_x, _x > 0, "0.5"),  # type: ignore[arg-type]
        TypeError,
        r"^p must be a real number",
    ),
    (
        "dropout_mask: seed for rng",
        lambda: layers.dropout_mask((2, 3), 0.5, 0),  # type: ignore[arg-type]
        TypeError,
        r"^rng must be a numpy.random.Generator \(np.random.default_rng\(seed\)\), got int$",
    ),
    (
        "dropout_mask: legacy RandomState",
        lambda: layers.dropout_mask((2, 3), 0.5, np.random.RandomState(0)),  # type: ignore[arg-type]
        TypeError,
        r"^rng must be a numpy.random.Generator .*got RandomState$",
    ),
    (
        "dropout_mask: p = 1",
        lambda: layers.dropout_mask((2, 3), 1.0, np.random.default_rng(0)),
        ValueError,
        r"^p must lie in \[0, 1\)",
    ),
    (
        "dropout_mask: negative size",
        lambda: layers.dropout_mask((2, -3), 0.5, np.random.default_rng(0)),
        ValueError,
        r"^shape\[1\] must be >= 0, got -3$",
    ),
    (
        "embedding: float indices",
        lambda: layers.embedding_forward(np.array([0.0, 1.0]), _E),
        TypeError,
        r"^indices must be an integer array, got dtype float64$",
    ),
    (
        "embedding: bool indices",
        lambda: layers.embedding_forward(np.array([True, False]), _E),
        TypeError,
        r"^indices must be an integer array, got dtype bool$",
    ),
    (
        "embedding: index = V",
        lambda: layers.embedding_forward(np.array([[0, 1], [5, 2]]), _E),
        ValueError,
        r"^indices must lie in \[0, 5\) \(rows of E\), got 5 at index \(1, 0\)$",
    ),
    (
        "embedding: negative index",
        lambda: layers.embedding_forward([3, -1], _E),
        ValueError,
        r"^indices must lie in \[0, 5\) \(rows of E\), got -1 at index \(1,\)$",
    ),
    ("embedding: 1-d E", lambda: layers.embedding_forward([0], np.ones(5)), ValueError, r"^E must have 2 dimensions"),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_argument(
    what: str, call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


# --- 6. specific: repeated indices, the mask, the kinks, gelu's far tails -----------------------------


def test_embedding_gradient_adds_every_repeat() -> None:
    """``dE[v]`` is the sum of ``dout`` over every position holding ``v`` (written out with a loop here);
    a row named by no index gets 0. Index 1 appears four times."""
    indices = np.array([[1, 1, 4], [0, 1, 1]])
    E = np.random.default_rng(1).normal(size=(6, 3))
    dout = np.random.default_rng(2).normal(size=(2, 3, 3))
    _, cache = layers.embedding_forward(indices, E)
    none, dE = layers.embedding_backward(dout, cache)
    expected = np.zeros_like(E)
    for pos in np.ndindex(indices.shape):
        expected[indices[pos]] += dout[pos]
    assert none is None
    np.testing.assert_allclose(dE, expected, rtol=4 * 2**-52, atol=0)  # 4 terms per row at most: exact to 4u
    assert np.all(dE[[2, 3, 5]] == 0)
    with pytest.raises(AssertionError):  # the classic write instead of add keeps one of the four
        np.testing.assert_allclose(embedding_catalog.assign_instead_of_add(dout, cache)[1], expected)


def test_dropout_mask_is_reproducible_and_leaves_numpy_global_state_alone() -> None:
    state = np.random.get_state()[1].copy()  # type: ignore[index]  # noqa: NPY002 (the legacy global state is the point)
    a = layers.dropout_mask((3, 4), 0.5, np.random.default_rng(7))
    b = layers.dropout_mask((3, 4), 0.5, np.random.default_rng(7))
    assert a.dtype == np.bool_ and a.shape == (3, 4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # type: ignore[index]  # noqa: NPY002
    assert layers.dropout_mask(5, 0.0, np.random.default_rng(0)).all()  # p = 0 keeps every unit
    assert layers.dropout_mask((0, 3), 0.9, np.random.default_rng(0)).shape == (0, 3)


def test_dropout_mask_keeps_a_fraction_one_minus_p() -> None:
    """Over 200 000 draws the kept fraction is within 5 standard deviations of ``1 - p``
    (``sqrt(p (1 - p) / n) <= 0.0011``): a mask drawn as ``< p`` (keeping ``p``) fails at once."""
    n = 200_000
    for p in (0.1, 0.5, 0.8):
        kept = layers.dropout_mask(n, p, np.random.default_rng(3)).mean()
        assert abs(kept - (1 - p)) <= 5 * np.sqrt(p * (1 - p) / n), (p, kept)


def test_dropout_with_p_zero_is_the_identity() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    out, cache = layers.dropout_forward(x, np.ones_like(x, dtype=bool), 0.0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(layers.dropout_backward(x, cache)[0], x)


def test_kinks_follow_pytorchs_convention() -> None:
    """At ``x = 0`` (either sign of zero), ``relu'(0) = 0`` and ``leaky_relu'(0) = slope``, as PyTorch."""
    x = np.array([0.0, -0.0, 2.0, -2.0])
    dout = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(layers.relu_backward(dout, layers.relu_forward(x)[1])[0], [0.0, 0.0, 3.0, 0.0])
    dx = layers.leaky_relu_backward(dout, layers.leaky_relu_forward(x, slope=0.5)[1])[0]
    np.testing.assert_array_equal(dx, [0.5, 1.0, 3.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gelu_is_finite_far_out(dtype: Any) -> None:
    """Where ``x**3`` would overflow, gelu and its derivative take their exact limits (``x`` and 1,
    0 and 0), with no warning (warnings are errors in this suite)."""
    big = np.finfo(dtype).max / 4
    x = np.array([-big, -1e30, 1e30, big], dtype=dtype)
    out, cache = layers.gelu_forward(x)
    (dx,) = layers.gelu_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(out, [0.0, 0.0, x[2], x[3]])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0, 1.0])
    assert out.dtype == dx.dtype == dtype


def test_linear_accepts_no_bias_and_one_sample() -> None:
    """``b = None`` gives ``db = None``; a 1-D ``x`` is one sample with ``dW`` its outer product with ``dout``."""
    x, W = np.array([1.0, 2.0, 3.0]), np.arange(6.0).reshape(2, 3)
    out, cache = layers.linear_forward(x, W, None)
    dx, dW, db = layers.linear_backward(np.array([1.0, -1.0]), cache)
    np.testing.assert_array_equal(out, [8.0, 26.0])
    np.testing.assert_array_equal(dx, [-3.0, -3.0, -3.0])
    np.testing.assert_array_equal(dW, [[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]])
    assert db is None


def test_the_twins_never_import_the_hand_derivation() -> None:
    """The witness modules of this family import JAX and each other, never ``bp_manual`` (which would
    let a mistake be shared by both sides of every comparison)."""
    import ast
    from pathlib import Path

    import bp_autodiff.witness.layers as package

    root = Path(package.__file__).parent
    for module in ("linear", "activations", "dropout", "embedding", "sequential"):
        tree = ast.parse((root / f"{module}.py").read_text(encoding="utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in imported if m.split(".")[0] == "bp_manual"], (module, imported)
