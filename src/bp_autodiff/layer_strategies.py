"""Hypothesis strategies for the inputs of every layer of :mod:`bp_manual.layers`, kept off kinks and ties.

What this module is for: drawing a case for a layer's forward/backward pair,
``LayerCase(layer, inputs, config)`` with ``bp_manual.layers.<layer>_forward(
*inputs.values(), **config)``, in the settings where backward passes go wrong
(padding 0 and more, strides 1 to 3, overlapping and non-overlapping windows,
non-square kernels and inputs, batch 1, sequence length 1, repeated indices,
causal or not), both dtypes. By construction, every case is one where a
correct backward and any witness must agree:

- ``relu``/``leaky_relu``: ``|x| >= 0.1``, away from the kink;
- ``max_pool2d``: the values of every image are a permutation of a grid with
  spacing 1 (scaled), so no window holds a tie;
- ``batch_norm``: at least two values per feature; ``gamma`` drawn away from 1
  (a backward that forgets ``gamma`` must fail);
- ``embedding``: more indices than rows, so indices repeat;
- ``dropout``: the mask is an input (drawn here), ``p`` in ``[0, 0.9]``.

Shapes and settings are drawn by hypothesis (it shrinks them); the numbers come
from a ``numpy.random.Generator`` seeded by a drawn integer.

What it is not for: the network's problems (:mod:`bp_autodiff.strategies`).
Needs ``hypothesis`` (the ``dev`` and ``testing`` extras).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

#: Every layer these strategies draw for (the names of ``bp_manual.layers``).
LAYERS = (
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softplus",
    "gelu",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "batch_norm",
    "layer_norm",
    "dropout",
    "embedding",
    "rnn",
    "lstm",
    "attention",
    "flatten",
)


@dataclass(frozen=True)
class LayerCase:
    """One drawn case: ``bp_manual.layers.<layer>_forward(*inputs.values(), **config)``.

    Attributes:
        layer: the layer's name.
        inputs: name -> array, in the forward's order (integer indices and boolean masks included).
        config: keyword settings (``stride``, ``padding``, ``kernel_size``, ``axis``, ``causal``, ``eps``, ``p``).
        dtype: the floating dtype of the float inputs.
    """

    layer: str
    inputs: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    dtype: type = np.float64

    def describe(self) -> str:
        """One line: the layer, each input's shape, the settings and the dtype."""
        shapes = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in self.inputs.items())
        return f"{self.layer}({shapes}, {self.config}) {np.dtype(self.dtype).name}"


Draw = Callable[..., Any]
Maker = Callable[[Draw, np.random.Generator, type], tuple[dict[str, Any], dict[str, Any]]]


def _floats(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, scale: float = 1.0) -> Any:
    return (rng.normal(0.0, scale, shape)).astype(dtype)


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> Any:
    magnitude = rng.uniform(0.1, 2.0, shape)
    return (magnitude * rng.choice([-1.0, 1.0], shape)).astype(dtype)


def _elementwise(away: bool) -> Maker:
    def make(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        x = _away_from_zero(rng, shape, dtype) if away else _floats(rng, shape, dtype, 2.0)
        return {"x": x}, {}

    return make


def _leaky(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    inputs, _ = _elementwise(True)(draw, rng, dtype)
    return inputs, {"slope": draw(st.sampled_from([0.01, 0.2]))}


def _linear(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    d_in, d_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return {
        "x": _floats(rng, (*lead, d_in), dtype),
        "W": _floats(rng, (d_out, d_in), dtype),
        "b": _floats(rng, (d_out,), dtype),
    }, {}


def _along_axis(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return {"x": _floats(rng, shape, dtype, 2.0)}, {"axis": axis}


def _cross_entropy(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    n, k = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    return {"logits": _floats(rng, (n, k), dtype, 2.0), "labels": rng.integers(0, k, n)}, {}


def _conv2d(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * padding), 7))
    w = draw(st.integers(max(1, kw - 2 * padding), 7))
    inputs = {
        "x": _floats(rng, (n, c, h, w), dtype),
        "w": _floats(rng, (f, c, kh, kw), dtype),
        "b": _floats(rng, (f,), dtype),
    }
    return inputs, {"stride": stride, "padding": padding}


def _pool(ties_free: bool) -> Maker:
    def make(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        k = draw(st.integers(1, 3))
        stride = draw(st.integers(1, 3))
        h, w = draw(st.integers(k, 7)), draw(st.integers(k, 7))
        if ties_free:  # each image a permutation of a grid with spacing 1: no window holds a tie
            values = np.stack([rng.permutation(h * w) for _ in range(n * c)]).reshape(n, c, h, w)
            x = ((values - h * w / 2) / (h * w)).astype(dtype)
        else:
            x = _floats(rng, (n, c, h, w), dtype)
        return {"x": x}, {"kernel_size": k, "stride": stride}

    return make


def _batch_norm(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    c = draw(st.integers(1, 4))
    if draw(st.booleans()):
        shape: tuple[int, ...] = (draw(st.integers(2, 6)), c)
    else:
        shape = (draw(st.integers(1, 2)), c, draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)
    return {"x": _floats(rng, shape, dtype, 2.0), "gamma": gamma.astype(dtype), "beta": _floats(rng, (c,), dtype)}, {}


def _layer_norm(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    d = draw(st.integers(2, 6))
    gamma = (rng.uniform(0.5, 2.0, d) * rng.choice([-1.0, 1.0], d)).astype(dtype)
    return {"x": _floats(rng, (*lead, d), dtype, 2.0), "gamma": gamma, "beta": _floats(rng, (d,), dtype)}, {}


def _dropout(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    p = draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]))
    return {"x": _floats(rng, shape, dtype), "mask": rng.uniform(size=shape) >= p}, {"p": p}


def _embedding(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    v, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    indices = rng.integers(0, v, shape)
    indices.reshape(-1)[: min(2, indices.size)] = 0  # at least one repeated index when there are two or more
    return {"indices": indices, "E": _floats(rng, (v, d), dtype)}, {}


def _recurrent(lstm: bool) -> Maker:
    def make(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
        n, t, d, h = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        g = 4 * h if lstm else h
        inputs = {"x": _floats(rng, (n, t, d), dtype), "h0": _floats(rng, (n, h), dtype, 0.5)}
        if lstm:
            inputs["c0"] = _floats(rng, (n, h), dtype, 0.5)
        inputs |= {
            "Wx": _floats(rng, (g, d), dtype, d**-0.5),
            "Wh": _floats(rng, (g, h), dtype, h**-0.5),
            "b": _floats(rng, (g,), dtype, 0.5),
        }
        return inputs, {}

    return make


def _attention(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    n, t, d, dv = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    causal = draw(st.booleans())
    s = t if causal else draw(st.integers(1, 4))
    inputs = {
        "q": _floats(rng, (n, t, d), dtype),
        "k": _floats(rng, (n, s, d), dtype),
        "v": _floats(rng, (n, s, dv), dtype),
    }
    return inputs, {"causal": causal}


def _flatten(draw: Draw, rng: np.random.Generator, dtype: type) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=4)))
    start = draw(st.integers(0, len(shape) - 1))
    end = draw(st.integers(start, len(shape) - 1))
    return {"x": _floats(rng, shape, dtype)}, {"start_dim": start, "end_dim": end}


MAKERS: dict[str, Maker] = {
    "linear": _linear,
    "relu": _elementwise(True),
    "leaky_relu": _leaky,
    "sigmoid": _elementwise(False),
    "tanh": _elementwise(False),
    "softplus": _elementwise(False),
    "gelu": _elementwise(False),
    "softmax": _along_axis,
    "log_softmax": _along_axis,
    "cross_entropy": _cross_entropy,
    "conv2d": _conv2d,
    "max_pool2d": _pool(True),
    "avg_pool2d": _pool(False),
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "dropout": _dropout,
    "embedding": _embedding,
    "rnn": _recurrent(False),
    "lstm": _recurrent(True),
    "attention": _attention,
    "flatten": _flatten,
}


def layer_cases(layer: str, dtypes: tuple[type, ...] = (np.float64, np.float32)) -> st.SearchStrategy[LayerCase]:
    """A strategy of :class:`LayerCase` for ``layer`` (one of :data:`LAYERS`), off kinks and ties by construction.

    Raises:
        ValueError: ``layer`` is not one of :data:`LAYERS` (at once, not when drawing).
    """
    if layer not in MAKERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {list(LAYERS)}")
    return _layer_cases(layer, dtypes)


@st.composite
def _layer_cases(draw: Draw, layer: str, dtypes: tuple[type, ...]) -> LayerCase:
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs, config = MAKERS[layer](draw, rng, dtype)
    return LayerCase(layer, inputs, config, dtype)
