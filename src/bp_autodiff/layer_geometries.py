"""Geometries of the layers of :mod:`bp_manual.layers`: the shape of every input and the settings, before numbers.

What this module is for: the first step of building a layer's inputs
(:mod:`bp_autodiff.layer_builder` makes the numbers): a geometry
``(shapes, config)`` names the shape of each input of ``<layer>_forward``, in
its order (``None`` for an absent optional input: ``linear``'s ``b``), and its
keyword settings. Three sources: :data:`MENUS` (a few fixed geometries per
layer, each there for a reason, so a JAX-jitted witness compiles a handful of
executables instead of one per random shape), :data:`DEFAULTS` (one per layer,
for ``bp audit --layer NAME``), and :func:`random_geometry` (every size and
setting drawn within :data:`BOUNDS` by a :data:`Choose`: hypothesis's draw or
a ``numpy.random.Generator``).

What it is not for: the numbers (:func:`bp_autodiff.layer_builder.build_case`),
hypothesis (:mod:`bp_autodiff.layer_strategies`). Needs nothing but Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Every layer of :mod:`bp_manual.layers` (the names of ``adapters.LAYER_INPUTS``), in the curriculum's order.
LAYERS: tuple[str, ...] = (
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "softmax", "log_softmax",
    "cross_entropy", "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "dropout", "embedding",
    "rnn", "lstm", "attention", "flatten",
)  # fmt: skip
ELEMENTWISE = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")

Shapes = Mapping[str, tuple[int, ...] | None]
Geometry = tuple[dict[str, tuple[int, ...] | None], dict[str, Any]]
#: ``choose(lo, hi)``: an integer in ``[lo, hi]`` (hypothesis: ``draw(st.integers(lo, hi))``; :func:`rng_choose`).
Choose = Callable[[int, int], int]


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
