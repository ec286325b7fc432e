"""The one builder of inputs for the layers of :mod:`bp_manual.layers`: shapes and settings, then the numbers.

What this module is for: every place that needs inputs for a library layer
(the hypothesis strategies of :mod:`bp_autodiff.layer_strategies`, which
re-exports all of this; ``bp audit --layer NAME``'s defaults; this project's
layer tests and audit tests) builds them here, in two steps:

1. a *geometry* ``(shapes, config)``: the shape of each input of
   ``<layer>_forward`` (``None`` for an absent optional input: ``linear``'s
   ``b``) and its keyword settings. It comes from :data:`MENUS` (a few fixed
   geometries per layer, chosen to cover where backward passes go wrong, so a
   JAX-jitted witness compiles a handful of executables), from
   :data:`DEFAULTS` (one per layer), or from :func:`random_geometry` (sizes
   drawn within :data:`BOUNDS` by a :data:`Choose`: hypothesis or a Generator);
2. :func:`build_case`: the numbers, from a ``numpy.random.Generator``, for that
   geometry. By construction, a correct backward and any witness must agree
   on them: element-wise inputs keep ``|x| >= 0.1 * scale`` (relu's kink at 0);
   pooling inputs are distinct by at least ``2 * 2 / size`` before scaling (no
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bp_autodiff.auditor.adapters import LAYER_INPUTS
from bp_manual.layers import dropout_mask

#: Every layer of :mod:`bp_manual.layers` (the names of ``adapters.LAYER_INPUTS``), in the curriculum's order.
LAYERS: tuple[str, ...] = (
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "softmax", "log_softmax",
    "cross_entropy", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "dropout", "embedding",
    "rnn", "lstm", "attention", "flatten",
)  # fmt: skip
ELEMENTWISE = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")
#: Distances from a kink or a tie put in by ``kinks=True`` (0 is on it).
NEAR = (0.0, 1e-12, 1e-9, 1e-7, 3e-6, 7e-6, 2e-5)

Shapes = Mapping[str, tuple[int, ...] | None]
Geometry = tuple[dict[str, tuple[int, ...] | None], dict[str, Any]]
#: ``choose(lo, hi)``: an integer in ``[lo, hi]`` (hypothesis: ``draw(st.integers(lo, hi))``; :func:`rng_choose`).
Choose = Callable[[int, int], int]


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


# ------------------------------------------------------------------ 2. the numbers


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
        kinks: put entries at and next to kinks and ties instead (relu, leaky_relu, max_pool2d).

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


# ------------------------------------------------------------------ 1. geometries

#: The ranges (inclusive) :func:`random_geometry` draws sizes and settings from, per layer; override any.
BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    **{n: {"rank": (1, 3), "size": (1, 4)} for n in (*ELEMENTWISE, "dropout")},
    "softmax": {"rank": (1, 3), "size": (1, 3), "K": (1, 5)},
    "log_softmax": {"rank": (1, 3), "size": (1, 3), "K": (1, 5)},
    "linear": {"lead": (0, 2), "size": (1, 3), "D": (1, 5), "bias": (1, 1)},  # bias=(0, 1): b None too
    "cross_entropy": {"N": (1, 5), "K": (2, 5)},
    "embedding": {"V": (1, 4), "D": (1, 4), "rank": (1, 2), "size": (1, 4)},
    "conv2d": {"N": (1, 2), "C": (1, 3), "F": (1, 3), "K": (1, 3), "stride": (1, 3), "padding": (0, 2), "HW": (1, 7)},
    "max_pool2d": {"N": (1, 2), "C": (1, 2), "k": (1, 3), "stride": (1, 3), "HW": (1, 7)},
    "avg_pool2d": {"N": (1, 2), "C": (1, 2), "k": (1, 3), "stride": (1, 3), "HW": (1, 7)},
    "batch_norm": {"N": (2, 6), "C": (1, 4), "N4": (1, 2), "HW": (1, 3)},
    "layer_norm": {"lead": (0, 2), "size": (1, 3), "D": (2, 6)},
    "rnn": {"N": (1, 3), "T": (1, 4), "D": (1, 3), "H": (1, 3)},
    "lstm": {"N": (1, 3), "T": (1, 4), "D": (1, 3), "H": (1, 3)},
    "attention": {"N": (1, 2), "T": (1, 4), "S": (1, 4), "d": (1, 4), "dv": (1, 4)},
    "flatten": {"rank": (2, 4), "size": (1, 3)},
}
#: The drop probabilities and leaky slopes :func:`random_geometry` picks from.
DROP_P = (0.0, 0.25, 0.5, 0.9)
SLOPES = (0.01, 0.2)


def rng_choose(rng: np.random.Generator) -> Choose:
    """A :data:`Choose` drawing from ``rng``: ``choose(lo, hi)`` uniform in ``[lo, hi]``."""
    return lambda lo, hi: int(rng.integers(lo, hi + 1))


def random_geometry(
    layer: str, choose: Choose, *, config: Mapping[str, Any] | None = None, **bounds: tuple[int, int]
) -> Geometry:
    """``(shapes, config)`` for ``layer`` with every size and setting drawn by ``choose`` within :data:`BOUNDS`.

    ``config`` fixes settings instead of drawing them (shapes then fit them: ``{"padding": 0}``); ``bounds``
    overrides ranges by name (``random_geometry("conv2d", c, K=(1, 5))``). What is drawn: padding 0 to 2
    and strides 1 to 3 (pools: a ``stride`` bound from 0 draws 0 as ``None``, the window), kernels up to the
    padded input, overlapping and gapped windows, batch 1, ``T = 1``, as many, fewer or more keys than queries,
    ``causal`` or not, ``axis`` and ``start_dim``/``end_dim`` anywhere (``linear``: a bias, or none with
    ``bias=(0, 1)``).

    Raises:
        ValueError: an unknown ``layer`` or bound name.
    """
    if layer not in BOUNDS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {list(LAYERS)}")
    unknown = sorted(set(bounds) - set(BOUNDS[layer]))
    if unknown:
        raise ValueError(f"bounds: {layer} has no bound {unknown[0]!r}; it has {sorted(BOUNDS[layer])}")
    b = BOUNDS[layer] | bounds
    fixed = dict(config or {})
    shapes, drawn = _geometry(layer, choose, b, fixed)
    return shapes, drawn | fixed


def _geometry(layer: str, choose: Choose, b: dict[str, tuple[int, int]], fixed: dict[str, Any]) -> Geometry:
    def setting(key: str, draw: Callable[[], Any]) -> Any:
        return fixed[key] if key in fixed else draw()

    def n(key: str, low: int | None = None) -> int:
        lo, hi = b[key]
        return choose(max(lo, low or lo), max(hi, low or lo))

    def dims(count: int) -> tuple[int, ...]:
        return tuple(n("size") for _ in range(count))

    if layer in (*ELEMENTWISE, "dropout", "softmax", "log_softmax", "flatten"):
        shape = dims(n("rank"))
        config: dict[str, Any] = {}
        if layer in ("softmax", "log_softmax"):
            config["axis"] = setting("axis", lambda: choose(-len(shape), len(shape) - 1))
            shape = tuple(n("K") if i == config["axis"] % len(shape) else s for i, s in enumerate(shape))
        elif layer == "flatten":
            start = setting("start_dim", lambda: choose(0, len(shape) - 1))
            config = {
                "start_dim": start,
                "end_dim": setting("end_dim", lambda: choose(start % len(shape), len(shape) - 1)),
            }
        elif layer == "leaky_relu":
            config["slope"] = setting("slope", lambda: SLOPES[choose(0, len(SLOPES) - 1)])
        elif layer == "dropout":
            config["p"] = setting("p", lambda: DROP_P[choose(0, len(DROP_P) - 1)])
        return ({"x": shape, "mask": shape} if layer == "dropout" else {"x": shape}), config
    if layer == "linear":
        lead, d_in, d_out = dims(n("lead")), n("D"), n("D")
        return {"x": (*lead, d_in), "W": (d_out, d_in), "b": (d_out,) if n("bias") else None}, {}
    if layer == "cross_entropy":
        N, K = n("N"), n("K")
        return {"logits": (N, K), "labels": (N,)}, {}
    if layer == "embedding":
        V, D = n("V"), n("D")
        return {"indices": dims(n("rank")), "E": (V, D)}, {}
    if layer == "conv2d":
        N, C, F, KH, KW = n("N"), n("C"), n("F"), n("K"), n("K")
        stride, padding = setting("stride", lambda: n("stride")), setting("padding", lambda: n("padding"))
        H, W = n("HW", KH - 2 * padding), n("HW", KW - 2 * padding)
        return {"x": (N, C, H, W), "w": (F, C, KH, KW), "b": (F,)}, {"stride": stride, "padding": padding}
    if layer in ("max_pool2d", "avg_pool2d"):
        N, C, k = n("N"), n("C"), setting("kernel_size", lambda: n("k"))
        stride = setting("stride", lambda: n("stride") or None)
        return {"x": (N, C, n("HW", k), n("HW", k))}, {"kernel_size": k, "stride": stride}
    if layer == "batch_norm":
        C = n("C")
        if choose(0, 1):
            return {"x": (n("N"), C), "gamma": (C,), "beta": (C,)}, {}
        N, H, W = n("N4"), n("HW"), n("HW")
        N = N if N * H * W > 1 else 2  # at least two values per feature
        return {"x": (N, C, H, W), "gamma": (C,), "beta": (C,)}, {}
    if layer == "layer_norm":
        D = n("D")
        return {"x": (*dims(n("lead")), D), "gamma": (D,), "beta": (D,)}, {}
    if layer in ("rnn", "lstm"):
        N, T, D, H = n("N"), n("T"), n("D"), n("H")
        G = 4 * H if layer == "lstm" else H
        states = {"h0": (N, H), "c0": (N, H)} if layer == "lstm" else {"h0": (N, H)}
        return {"x": (N, T, D), **states, "Wx": (G, D), "Wh": (G, H), "b": (G,)}, {}
    N, T, d, dv = n("N"), n("T"), n("d"), n("dv")  # attention
    causal = setting("causal", lambda: bool(choose(0, 1)))
    S = n("S")  # causal with S != T too: the mask is aligned at the top left, as PyTorch's
    return {"q": (N, T, d), "k": (N, S, d), "v": (N, S, dv)}, {"causal": causal}


# ------------------------------------------------------------------ fixed geometries: menus and defaults


def _conv(x: tuple[int, ...], w: tuple[int, ...], stride: int, padding: int) -> Geometry:
    return {"x": x, "w": w, "b": (w[0],)}, {"stride": stride, "padding": padding}


def _pool(x: tuple[int, ...], k: int, stride: int | None) -> Geometry:
    return {"x": x}, {"kernel_size": k, "stride": stride}


def _norm(x: tuple[int, ...], layer: str) -> Geometry:
    features = (x[1],) if layer == "batch_norm" else (x[-1],)
    return {"x": x, "gamma": features, "beta": features}, {}


def _recurrent(layer: str, N: int, T: int, D: int, H: int) -> Geometry:
    G = 4 * H if layer == "lstm" else H
    states = {"h0": (N, H), "c0": (N, H)} if layer == "lstm" else {"h0": (N, H)}
    return {"x": (N, T, D), **states, "Wx": (G, D), "Wh": (G, H), "b": (G,)}, {}


def _attention(N: int, T: int, S: int, d: int, dv: int, causal: bool) -> Geometry:
    return {"q": (N, T, d), "k": (N, S, d), "v": (N, S, dv)}, {"causal": causal}


_NORM_SHAPES = {
    "batch_norm": [(8, 5), (2, 3), (3, 2, 4, 5), (1, 3, 2, 2)],  # 2-D, 4-D, a batch of 2, a batch of 1 with 4 positions
    "layer_norm": [(4, 6), (2, 3, 5), (7,), (5, 2)],  # 1-D, 2-D, 3-D inputs
}

#: A few fixed geometries per layer, each there for a reason (the comment): what the menu mode of
#: :func:`bp_autodiff.layer_strategies.layer_cases` samples, so a jitted witness compiles one executable per entry.
#: Settings that are traced rather than compiled (``slope``, ``p``, ``axis``, ``start_dim``) are set to one value
#: here; a test may draw its own and pass them to :func:`build_case`.
MENUS: dict[str, tuple[Geometry, ...]] = {
    "linear": tuple(
        ({"x": (*lead, d_in), "W": (d_out, d_in), "b": (d_out,) if bias else None}, {})
        for lead in ((), (6,), (2, 3))  # one sample, a batch, two leading axes
        for d_in, d_out in ((4, 3), (1, 5))  # D_in > D_out and a single input feature
        for bias in (True, False)
    ),
    **{n: (({"x": (11,)}, {}), ({"x": (3, 2, 4)}, {})) for n in ("relu", "sigmoid", "tanh", "softplus", "gelu")},
    "leaky_relu": (({"x": (11,)}, {"slope": 0.01}), ({"x": (3, 2, 4)}, {"slope": 0.2})),
    "dropout": (({"x": (7,), "mask": (7,)}, {"p": 0.5}), ({"x": (3, 4), "mask": (3, 4)}, {"p": 0.25})),
    "embedding": tuple(
        ({"indices": shape, "E": (V, 4)}, {}) for shape in ((6,), (2, 5)) for V in (3, 7)
    ),  # always more indices than rows of one of the two sizes: repeats
    "softmax": (({"x": (3, 5)}, {"axis": -1}), ({"x": (2, 3, 4)}, {"axis": 1}), ({"x": (4,)}, {"axis": 0})),
    "log_softmax": (({"x": (3, 5)}, {"axis": -1}), ({"x": (2, 3, 4)}, {"axis": 1}), ({"x": (4,)}, {"axis": 0})),
    "cross_entropy": (({"logits": (4, 5), "labels": (4,)}, {}), ({"logits": (1, 2), "labels": (1,)}, {})),
    "conv2d": (
        _conv((2, 3, 7, 6), (4, 3, 3, 2), 1, 0),  # padding 0, non-square kernel and input, C != F
        _conv((1, 2, 8, 9), (3, 2, 3, 3), 2, 1),  # stride 2, batch 1, one padded row no window reaches ((10 - 3) % 2)
        _conv((2, 1, 10, 7), (2, 1, 2, 4), 3, 2),  # stride 3, padding 2, one padded column left over ((11 - 4) % 3)
        _conv((3, 2, 5, 5), (1, 2, 1, 1), 2, 0),  # 1x1 kernel, F = 1
        _conv((2, 2, 3, 3), (2, 2, 5, 5), 1, 1),  # the kernel exactly as large as the padded input: one output
    ),
    **{
        n: (
            _pool((2, 3, 7, 6), 3, 2),  # overlapping (AlexNet's 3/2), non-square input, a row and column left over
            _pool((1, 2, 8, 8), 2, None),  # the usual 2x2 stride 2 (stride None), batch 1
            _pool((2, 2, 6, 7), 3, 1),  # overlapping by 2: an element in up to 9 windows
            _pool((2, 1, 9, 6), 4, 3),  # overlapping by 1, 4x4
            _pool((1, 3, 5, 7), 2, 3),  # gaps: stride larger than the window, some elements in no window
        )
        for n in ("max_pool2d", "avg_pool2d")
    },
    **{n: tuple(_norm(x, n) for x in shapes) for n, shapes in _NORM_SHAPES.items()},
    **{n: (_recurrent(n, 2, 4, 3, 3), _recurrent(n, 1, 1, 2, 2), _recurrent(n, 3, 6, 1, 3)) for n in ("rnn", "lstm")},
    "attention": (_attention(2, 4, 4, 3, 2, False), _attention(2, 4, 4, 3, 2, True), _attention(1, 3, 5, 4, 3, True)),
    "flatten": tuple(
        ({"x": x}, {"start_dim": min(1, len(x) - 1), "end_dim": -1})  # 1 to 5 axes, an axis of 1
        for x in ((3,), (2, 3), (2, 1, 4), (2, 3, 4, 3), (1, 2, 3, 2, 2))
    ),
}

#: One geometry per layer, for ``bp audit --layer NAME`` without ``--input``: small, a batch and a channel or
#: feature axis of more than one, windows that do not overlap.
DEFAULTS: dict[str, Geometry] = {
    **{n: ({"x": (3, 4)}, {}) for n in ("relu", "sigmoid", "tanh", "softplus", "gelu", "softmax", "log_softmax")},
    "leaky_relu": ({"x": (3, 4)}, {}),
    "linear": ({"x": (3, 4), "W": (5, 4), "b": (5,)}, {}),
    "dropout": ({"x": (3, 4), "mask": (3, 4)}, {"p": 0.5}),
    "embedding": ({"indices": (6,), "E": (4, 3)}, {}),
    "cross_entropy": ({"logits": (3, 4), "labels": (3,)}, {}),
    "conv2d": _conv((2, 3, 5, 5), (4, 3, 3, 3), 2, 1),
    "max_pool2d": ({"x": (2, 3, 4, 4)}, {"kernel_size": 2}),
    "avg_pool2d": ({"x": (2, 3, 4, 4)}, {"kernel_size": 2}),
    "batch_norm": _norm((4, 3), "batch_norm"),
    "layer_norm": _norm((4, 3), "layer_norm"),
    "rnn": _recurrent("rnn", 2, 3, 4, 5),
    "lstm": _recurrent("lstm", 2, 3, 4, 5),
    "attention": _attention(2, 3, 3, 4, 4, True),
    "flatten": ({"x": (2, 3, 4)}, {}),
}
