"""``flatten`` of ``bp_manual.layers``: the hand pair against ``jax.vjp`` of its JAX twin
(``bp_autodiff.witness.layers.flatten``, through ``lax.collapse``) and against ``torch.flatten``, under
``jax.jit``, argument errors, and its catalog mistake caught.

Tolerance: none, derived. The forward only moves numbers (a reshape in row-major order), and so do the
backward (the inverse reshape) and JAX's transpose of ``lax.collapse``: no arithmetic, no rounding, so
the arrays must be equal bit for bit in both dtypes. A wrong backward (a gradient on the wrong entry)
differs by a whole entry of ``dout``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.catalog.flatten import MISTAKES
from bp_autodiff.layer_strategies import MENUS, build_case
from bp_autodiff.witness.layers.flatten import flatten as flatten_twin
from bp_manual import layers
from strategies import examples

#: Shapes from ``layer_strategies.MENUS`` (each new shape and pair of axes is a JAX compilation): 1 to 5 axes.
SHAPES = [shapes["x"] for shapes, _ in MENUS["flatten"]]


def x_of(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    """The input, built by ``layer_strategies.build_case`` (advancing ``rng``)."""
    x: np.ndarray = build_case("flatten", rng, {"x": shape}, {}, dtype).inputs["x"]
    return x


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[int, ...], int, int, Any, int]:
    """A shape of the menu, a valid ``(start_dim, end_dim)`` (each possibly negative), a dtype, a seed."""
    shape = draw(st.sampled_from(SHAPES))
    assert shape is not None
    start = draw(st.integers(0, len(shape) - 1))
    end = draw(st.integers(start, len(shape) - 1))
    if draw(st.booleans()):
        start -= len(shape)
    if draw(st.booleans()):
        end -= len(shape)
    return shape, start, end, draw(st.sampled_from([np.float64, np.float32])), draw(st.integers(0, 2**32 - 1))


def _expected_shape(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    s, e = start % len(shape), end % len(shape)
    return (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :])


@functools.partial(jax.jit, static_argnames=("start", "end"))
def twin_vjp(x: jax.Array, dout: jax.Array, start: int, end: int) -> tuple[jax.Array, jax.Array]:
    """The twin's output and ``jax.vjp`` pulled back from ``dout``, compiled once per shape and axes."""
    out, pullback = jax.vjp(lambda a: flatten_twin(a, start, end), x)
    return out, pullback(dout)[0]


@settings(max_examples=examples(0.1))
@given(case=cases())
def test_flatten_equals_jax_vjp_of_its_twin_bit_for_bit(case: tuple[Any, ...]) -> None:
    shape, start, end, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = x_of(shape, dtype, rng)
    out, cache = layers.flatten_forward(x, start, end)
    assert out.shape == _expected_shape(shape, start, end) and out.dtype == dtype
    dout = rng.normal(size=out.shape).astype(dtype)
    (dx,) = layers.flatten_backward(dout, cache)
    with jax.enable_x64(True):
        ref, ref_dx = twin_vjp(jnp.asarray(x), jnp.asarray(dout), start, end)
    np.testing.assert_array_equal(out, np.asarray(ref), strict=True)
    np.testing.assert_array_equal(dx, np.asarray(ref_dx), strict=True)


@settings(max_examples=examples(0.2))
@given(case=cases())
def test_flatten_equals_torch_flatten(case: tuple[Any, ...]) -> None:
    torch = pytest.importorskip("torch")
    shape, start, end, dtype, seed = case
    x = x_of(shape, dtype, np.random.default_rng(seed))
    out, _ = layers.flatten_forward(x, start, end)
    np.testing.assert_array_equal(out, torch.flatten(torch.from_numpy(x), start, end).numpy(), strict=True)


def test_the_pair_runs_under_jit() -> None:
    x = x_of((2, 3, 4, 5), np.float32, np.random.default_rng(0))

    def pair(a: jax.Array) -> tuple[jax.Array, jax.Array]:
        out, cache = layers.flatten_forward(a)
        return out, layers.flatten_backward(out * 2.0, cache)[0]

    out, dx = jax.jit(pair)(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), x.reshape(2, 60))
    np.testing.assert_array_equal(np.asarray(dx), 2.0 * x)


def test_the_catalog_mistake_fails_the_comparison_and_hides_with_one_channel() -> None:
    """Unflattening channels last puts the gradients on other pixels (``C = 3``); with ``C = 1`` the two
    orders agree, which is why the mistake survives a single-channel test."""
    (mistake,) = MISTAKES.values()
    assert mistake.layer == "flatten" and mistake.wrong == ("x",)
    rng = np.random.default_rng(1)
    for channels, hidden in ((3, False), (1, True)):
        x = x_of((2, channels, 4, 3), np.float64, rng)
        out, cache = layers.flatten_forward(x)
        dout = rng.normal(size=out.shape)
        (right,) = layers.flatten_backward(dout, cache)
        (wrong,) = mistake.backward(dout, cache)
        with jax.enable_x64(True):
            _, pullback = jax.vjp(flatten_twin, jnp.asarray(x))
            (ref,) = pullback(jnp.asarray(dout))
        np.testing.assert_array_equal(right, np.asarray(ref))
        assert np.array_equal(wrong, np.asarray(ref)) is hidden


BAD = [
    ("0-d x", lambda: layers.flatten_forward(np.float64(1.0)), ValueError, r"^x must have at least 1 dimension"),
    ("strings", lambda: layers.flatten_forward(np.array(["a"])), TypeError, r"^x must be a real numeric array"),
    ("NaN", lambda: layers.flatten_forward(np.array([np.nan])), ValueError, r"^x must be finite"),
    (
        "start after end",
        lambda: layers.flatten_forward(np.ones((2, 3, 4)), 2, 1),
        ValueError,
        r"^start_dim must not come after end_dim, got start_dim=2, end_dim=1 for x of shape \(2, 3, 4\)$",
    ),
    (
        "axis out of range",
        lambda: layers.flatten_forward(np.ones((2, 3)), 0, 2),
        ValueError,
        r"^end_dim must lie in \[-2, 2\) for an array with 2 dimensions, got 2$",
    ),
    (
        "float axis",
        lambda: layers.flatten_forward(np.ones((2, 3)), 1.0),  # type: ignore[arg-type]
        TypeError,
        r"^start_dim must be an int",
    ),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_by_name(what: str, call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()
