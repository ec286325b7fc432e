"""The one builder of inputs for the layers of :mod:`bp_manual.layers`: the numbers, for a geometry.

What this module is for: every place that needs inputs for a library layer
(the hypothesis strategies of :mod:`bp_autodiff.layer_strategies`, which
re-export it; ``bp audit --layer NAME``'s defaults; this project's layer tests
and audit tests) builds them with :func:`build_case`, in two steps:

1. a *geometry* ``(shapes, config)`` (:mod:`bp_autodiff.layer_geometries`): the
   shape of each input of ``<layer>_forward`` and its keyword settings, from
   ``MENUS`` (a few fixed geometries per layer, so a JAX-jitted witness
   compiles a handful of executables), ``DEFAULTS`` (one per layer) or
   ``random_geometry`` (sizes drawn within ``BOUNDS``, by hypothesis or a
   Generator);
2. :func:`build_case`: the numbers, from a ``numpy.random.Generator``, for that
   geometry. By construction, a correct backward and any witness must agree
   on them: element-wise inputs keep ``|x| >= 0.1 * scale`` (relu's kink at 0);
   pooling inputs are distinct by at least ``2 / size`` before scaling (no
   window holds a tie); ``gamma`` of a norm is in ``+-[0.5, 2]`` (a backward that
   forgets ``gamma`` fails, which ``gamma = 1`` would hide); ``embedding``
   indices repeat (the first two are 0); ``dropout``'s mask comes from
   :func:`bp_manual.layers.dropout_mask`. With ``kinks=True`` the opposite, on
   purpose, for the auditor's kink tests: 1 to 3 entries of a relu input at
   ``+-d`` for ``d`` in :data:`NEAR` (0 is on the kink; the finite-difference
   step is about ``7.6e-6``), and a few max-pool entries copied onto others,
   some nudged by :data:`NEAR` (ties and near ties).

What it is not for: ``dout`` (each test draws its own upstream gradient), the
network's problems (:mod:`bp_manual.problems`), hypothesis (this module needs
only NumPy; the strategies are in :mod:`bp_autodiff.layer_strategies`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bp_autodiff.auditor.adapters import LAYER_INPUTS
from bp_autodiff.layer_geometries import ELEMENTWISE, LAYERS, Shapes
from bp_manual.layers import dropout_mask

#: Distances from a kink or a tie put in by ``kinks=True`` (0 is on it).
NEAR = (0.0, 1e-12, 1e-9, 1e-7, 3e-6, 7e-6, 2e-5)


@dataclass(frozen=True)
class LayerCase:
    """One case: ``bp_manual.layers.<layer>_forward(*inputs.values(), **config)``.

    Attributes:
        layer: the layer's name.
        inputs: name -> array, in the forward's order (integer indices and boolean masks included; ``None`` for an
            absent optional input).
        config: keyword settings (``stride``, ``padding``, ``kernel_size``, ``axis``, ``causal``, ``p``, ...).
        dtype: the floating dtype of the float inputs.
    """

    layer: str
    inputs: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    dtype: type = np.float64

    def describe(self) -> str:
        """One line: the layer, each input's shape, the settings and the dtype."""
        shapes = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in self.inputs.items() if v is not None)
        return f"{self.layer}({shapes}, {self.config}) {np.dtype(self.dtype).name}"


def _away_from_zero(z: np.ndarray) -> np.ndarray:
    """``sign(z) (0.1 + |z|)``: every entry at least 0.1 from 0."""
    return np.where(z < 0, -1.0, 1.0) * (0.1 + np.abs(z))


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in ``[-2, 2]``, any two at least ``2 / size`` apart: a permutation of ranks, each moved by < 1/2."""
    size = math.prod(shape)
    ranks = rng.permutation(size) + rng.uniform(0.0, 0.5, size)
    return np.reshape(ranks * (4.0 / max(size, 1)) - 2.0, shape)


def _kinked(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` with 1 to 3 entries moved to ``+-d`` for ``d`` in :data:`NEAR`."""
    flat = x.reshape(-1).copy()
    k = int(rng.integers(1, min(3, flat.size) + 1))
    where = rng.choice(flat.size, size=k, replace=False)
    flat[where] = rng.choice(NEAR, size=k) * rng.choice((-1.0, 1.0), size=k)
    return flat.reshape(x.shape)


def _tied(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` with 1 to 3 entries copied onto others, each nudged by one of :data:`NEAR` (ties, near ties)."""
    flat = x.reshape(-1).copy()
    k = int(rng.integers(1, min(3, flat.size // 2) + 1)) if flat.size >= 2 else 0
    src, dst = rng.choice(flat.size, size=k, replace=False), rng.choice(flat.size, size=k, replace=False)
    flat[dst] = flat[src] + rng.choice(NEAR, size=k)
    return flat.reshape(x.shape)


#: Standard deviations other than 1 (before ``scale``): recurrent weights by fan-in, small states and biases.
def _std(layer: str, name: str, shapes: Shapes) -> float:
    if layer in ("rnn", "lstm"):
        fan = {"Wx": "x", "Wh": "h0"}
        if name in fan:
            shape = shapes[fan[name]]
            assert shape is not None
            return float(shape[-1]) ** -0.5
        return {"h0": 0.5, "b": 0.5}.get(name, 1.0)
    return 1.0


def _per_input(value: float | Mapping[str, float], name: str, default: float) -> float:
    return float(value) if not isinstance(value, Mapping) else float(value.get(name, default))


def build_case(
    layer: str,
    rng: np.random.Generator,
    shapes: Shapes,
    config: Mapping[str, Any] | None = None,
    dtype: Any = np.float64,
    *,
    scale: float | Mapping[str, float] = 1.0,
    loc: float | Mapping[str, float] = 0.0,
    kinks: bool = False,
) -> LayerCase:
    """The inputs of ``layer`` at the geometry ``(shapes, config)``, numbers from ``rng`` (module docstring).

    Each float input is ``loc + scale * z`` with ``z`` standard normal (recurrent weights and states at their own
    standard deviations), off kinks and ties as the module docstring says; ``scale`` and ``loc`` are one number
    for every float input or a mapping ``name -> number`` (1 and 0 for a name it leaves out). Integer and boolean
    inputs (``labels``, ``indices``, ``mask``) ignore them. The arrays are drawn in the forward's order.

    Args:
        layer: a name of :data:`LAYERS`.
        rng: the Generator the numbers come from (advanced).
        shapes: the shape of every input of the layer (``None`` only for ``linear``'s ``b``, meaning no bias).
        config: the layer's keyword settings (``dropout`` needs ``p``).
        dtype: ``numpy.float64`` or ``numpy.float32``, the dtype of every float input.
        kinks: put entries at and next to kinks and ties instead (relu, leaky_relu, max_pool2d), before
            ``scale`` and ``loc`` apply (an entry at ``d`` from the kink ends at ``loc + scale * d``).

    Returns:
        a :class:`LayerCase` (its ``config`` a copy of ``config``).

    Raises:
        ValueError: an unknown ``layer``, ``shapes`` not naming exactly the layer's inputs, or ``dropout``
            without ``p``.
        TypeError: ``rng`` is not a ``numpy.random.Generator``.
    """
    if layer not in LAYER_INPUTS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {list(LAYERS)}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    names = LAYER_INPUTS[layer].inputs
    if tuple(shapes) != names:
        raise ValueError(f"shapes must name the inputs of {layer} in order {list(names)}, got {list(shapes)}")
    cfg = dict(config or {})
    if "mask" in names and "p" not in cfg:
        raise ValueError(f"config: {layer} needs p (the drop probability) to draw its mask")
    inputs: dict[str, Any] = {}
    for name, shape in shapes.items():
        if shape is None:
            inputs[name] = None
        elif name == "labels":
            logits = shapes["logits"]
            assert logits is not None
            inputs[name] = rng.integers(0, logits[-1], shape)
        elif name == "indices":
            rows = shapes["E"]
            assert rows is not None
            indices = rng.integers(0, rows[0], shape)
            indices.reshape(-1)[: min(2, indices.size)] = 0  # a repeated index whenever there are two
            inputs[name] = indices
        elif name == "mask":
            inputs[name] = dropout_mask(shape, cfg["p"], rng)
        else:
            inputs[name] = _floats(layer, name, rng, shapes, kinks) * _per_input(scale, name, 1.0)
            inputs[name] = (inputs[name] + _per_input(loc, name, 0.0)).astype(dtype)
    return LayerCase(layer, inputs, cfg, dtype)


def _floats(layer: str, name: str, rng: np.random.Generator, shapes: Shapes, kinks: bool) -> np.ndarray:
    shape = shapes[name]
    assert shape is not None
    if layer in ELEMENTWISE:
        x = _away_from_zero(rng.standard_normal(shape))
        return _kinked(x, rng) if kinks and layer in ("relu", "leaky_relu") else x
    if layer in ("max_pool2d", "avg_pool2d"):
        x = _distinct(rng, shape)
        return _tied(x, rng) if kinks and layer == "max_pool2d" else x
    if name == "gamma":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.normal(0.0, _std(layer, name, shapes), shape)
