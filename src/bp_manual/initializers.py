"""Weight initialisation: one general rule and the named schemes the seed discusses.

What this module is for: drawing the starting ``W_l`` of every layer, and
``init_params`` which builds a whole params list (biases start at zero).

What it is not for: layerwise pre-training, which starts from these and trains.

Every scheme is ``variance_scaling(scale, mode, distribution)``: draw ``W`` with
mean 0 and ``Var(W) = scale / n``, where ``n`` is ``fan_in`` (the layer's
inputs, ``W.shape[1]``), ``fan_out`` (its outputs, ``W.shape[0]``) or
``fan_avg = (fan_in + fan_out) / 2``: the seed's "three choices". A normal
distribution has standard deviation ``sqrt(scale / n)`` (not truncated, as in
Glorot & Bengio 2010, He et al. 2015 and PyTorch's ``*_normal_``); a uniform
one is ``U(-limit, limit)`` with ``limit = sqrt(3 * scale / n)``, whose
variance is ``limit**2 / 3 = scale / n``.

An initializer is any callable ``(rng, shape, dtype) -> W`` with
``rng: numpy.random.Generator``, ``shape = (fan_out, fan_in)`` and a floating
``dtype``. Samples are drawn in float64 and rounded to ``dtype``, so a float32
network is the float64 one rounded. Randomness only ever comes from an
explicit Generator; the global ``np.random`` state is never read or changed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]
Initializer = Callable[[np.random.Generator, tuple[int, int], DTypeLike], Array]
#: What the functions return: one ``{"W": ..., "b": ...}`` dict per layer.
Params = list[dict[str, Array]]
#: What they accept: any sequence of per-layer mappings of arrays (read only).
ParamsLike = Sequence[Mapping[str, NDArray[Any]]]

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "uniform")
#: The floating dtypes a network can be built in.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_positive_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _fans(shape: tuple[int, int]) -> tuple[int, int]:
    fan_out, fan_in = shape
    return fan_in, fan_out


def variance_scaling(scale: float, mode: str = "fan_in", distribution: str = "normal") -> Initializer:
    """The general rule: ``W`` with mean 0 and ``Var(W) = scale / n``.

    Args:
        scale: positive factor (1 for Xavier/LeCun, 2 for He).
        mode: ``"fan_in"`` (``n = W.shape[1]``), ``"fan_out"`` (``n = W.shape[0]``)
            or ``"fan_avg"`` (``n = (fan_in + fan_out) / 2``).
        distribution: ``"normal"``: ``N(0, scale / n)``; ``"uniform"``:
            ``U(-sqrt(3 scale / n), sqrt(3 scale / n))``.

    Returns:
        An initializer ``(rng, (fan_out, fan_in), dtype) -> W (fan_out, fan_in)``.

    Raises:
        TypeError / ValueError: a non-numeric or non-positive ``scale``, an
            unknown ``mode`` or ``distribution`` (the message lists the valid ones).
    """
    scale = _check_positive_real("scale", scale)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {list(MODES)}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; expected one of {list(DISTRIBUTIONS)}")

    def init(rng: np.random.Generator, shape: tuple[int, int], dtype: DTypeLike = np.float64) -> Array:
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / n
        if distribution == "normal":
            W = rng.normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            W = rng.uniform(-limit, limit, size=shape)
        return W.astype(dtype)

    init.__name__ = init.__qualname__ = f"variance_scaling({scale!r}, {mode!r}, {distribution!r})"
    init.__doc__ = f"Draw W (fan_out, fan_in) with mean 0 and Var(W) = {scale!r} / {mode} ({distribution})."
    return init


def _named(init: Initializer, name: str, doc: str) -> Initializer:
    init.__name__ = init.__qualname__ = name
    init.__doc__ = doc
    return init


seed = _named(
    variance_scaling(1.0, "fan_out", "normal"),
    "seed",
    """The seed blog's scheme, exactly: ``W ~ N(0, std = fan_out**-0.5)``, ``Var(W) = 1 / fan_out``.

    The post draws ``np.random.normal(0.0, hidden_nodes**-0.5, (hidden_nodes, input_nodes))``
    for ``w_in2hid`` and ``output_nodes**-0.5`` for ``w_hid2out``: in both the
    count is the layer's *outputs*. It calls this Xavier, but Glorot & Bengio
    use ``2 / (fan_in + fan_out)`` and LeCun ``1 / fan_in``; see ``xavier_normal``.
    Kept so the seed's ``BPNetwork`` starts as published.
    """,
)
lecun_normal = _named(
    variance_scaling(1.0, "fan_in", "normal"),
    "lecun_normal",
    "LeCun et al. (1998): ``W ~ N(0, 1 / fan_in)``, ``Var(W) = 1 / fan_in``.",
)
lecun_uniform = _named(
    variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_uniform",
    "LeCun: ``W ~ U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``, ``Var(W) = 1 / fan_in``.",
)
xavier_normal = _named(
    variance_scaling(1.0, "fan_avg", "normal"),
    "xavier_normal",
    """Glorot & Bengio (2010): ``W ~ N(0, 2 / (fan_in + fan_out))``.

    ``Var(W) = 2 / (fan_in + fan_out)``: the compromise between keeping the
    forward variance (``1 / fan_in``) and the backward variance
    (``1 / fan_out``) constant, derived for linear (and tanh near 0) units.
    """,
)
xavier_uniform = _named(
    variance_scaling(1.0, "fan_avg", "uniform"),
    "xavier_uniform",
    """Glorot & Bengio (2010), their eq. 16: ``W ~ U(-sqrt(6 / (fan_in + fan_out)), +sqrt(...))``.

    ``Var(W) = 2 / (fan_in + fan_out)``.
    """,
)
he_normal = _named(
    variance_scaling(2.0, "fan_in", "normal"),
    "he_normal",
    """He et al. (2015): ``W ~ N(0, 2 / fan_in)``, ``Var(W) = 2 / fan_in``.

    A ReLU zeroes about half its inputs, halving the second moment; the factor
    2 restores it so the forward variance stays constant with depth.
    """,
)
he_uniform = _named(
    variance_scaling(2.0, "fan_in", "uniform"),
    "he_uniform",
    "He et al. (2015), uniform: ``W ~ U(-sqrt(6 / fan_in), sqrt(6 / fan_in))``, ``Var(W) = 2 / fan_in``.",
)


def normal(std: float) -> Initializer:
    """A plain ``N(0, std**2)`` whatever the layer's size: ``Var(W) = std**2``.

    The classic fixed-scale init (e.g. ``std = 0.01``) that stalls deep
    sigmoid networks; kept for the initialisation lessons.

    Raises:
        TypeError / ValueError: ``std`` is not a finite number > 0.
    """
    std = _check_positive_real("std", std)

    def init(rng: np.random.Generator, shape: tuple[int, int], dtype: DTypeLike = np.float64) -> Array:
        return rng.normal(0.0, std, size=shape).astype(dtype)

    return _named(init, f"normal({std!r})", f"``W ~ N(0, {std!r}**2)``, ``Var(W) = {std!r}**2``.")


def _zeros(rng: np.random.Generator, shape: tuple[int, int], dtype: DTypeLike = np.float64) -> Array:
    return np.zeros(shape, dtype=dtype)


zeros = _named(
    _zeros,
    "zeros",
    """``W = 0``, ``Var(W) = 0``. Every unit of a layer then computes the same
    thing and receives the same gradient, so they never differ (symmetry is
    never broken): the counter-example in the initialisation lessons.""",
)

#: Initializers by name; ``normal(std)`` takes an argument and is used directly.
INITIALIZERS: dict[str, Initializer] = {
    init.__name__: init
    for init in (
        seed,
        lecun_normal,
        lecun_uniform,
        xavier_normal,
        xavier_uniform,
        he_normal,
        he_uniform,
        zeros,
    )
}


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """An explicit ``numpy.random.Generator`` from ``None`` (fresh OS entropy),
    a non-negative integer, or a Generator (returned as is, and advanced by use).

    Raises:
        TypeError: anything else (including ``bool`` and ``np.random.RandomState``).
        ValueError: a negative integer.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, a non-negative int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def as_dtype(dtype: DTypeLike) -> np.dtype[np.floating]:
    """``np.float32`` or ``np.float64`` (any spelling NumPy accepts), else ``ValueError``."""
    if dtype is None:
        raise TypeError("dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt  # type: ignore[return-value]


def resolve(init: object) -> Initializer:
    """The initializer ``init`` names (a key of :data:`INITIALIZERS`), or ``init`` itself when it is callable.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: ``init`` is neither a name nor a callable.
    """
    if isinstance(init, str):
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; expected one of {sorted(INITIALIZERS)}")
        return INITIALIZERS[init]
    if callable(init):
        return init
    raise TypeError(f"init must be a name or a callable, got {type(init).__name__}")


def init_params(
    spec: NetworkSpec,
    init: str | Initializer = "xavier_normal",
    seed: int | np.random.Generator | None = None,
    dtype: DTypeLike = np.float64,
) -> Params:
    """Fresh parameters for ``spec``: ``[{"W": (n_out, n_in), "b": (n_out,)}, ...]``.

    Args:
        spec: the architecture.
        init: a name in ``INITIALIZERS`` or an initializer callable
            ``(rng, (fan_out, fan_in), dtype) -> W``.
        seed: ``None``, an integer or a ``numpy.random.Generator``; layers are
            drawn in order ``W_1, W_2, ...`` from one Generator, so the same
            integer seed gives bit-identical params.
        dtype: ``np.float32`` or ``np.float64`` (default).

    Returns:
        One dict per layer with ``W`` of shape ``(sizes[l], sizes[l-1])`` and,
        if ``spec.bias``, ``b`` of shape ``(sizes[l],)`` filled with zeros; all
        of ``dtype``.

    Raises:
        TypeError / ValueError: a bad ``spec``, ``init``, ``seed`` or ``dtype``
            (an unknown init name lists the valid ones).
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    initializer = resolve(init)
    dt = as_dtype(dtype)
    rng = as_generator(seed)

    params: Params = []
    for shape in spec.weight_shapes:
        W = np.asarray(initializer(rng, shape, dt))
        if W.shape != shape or W.dtype != dt:
            raise ValueError(f"init {init!r} returned {W.dtype}{W.shape}, expected {dt}{shape}")
        layer = {"W": W}
        if spec.bias:
            layer["b"] = np.zeros(shape[0], dtype=dt)
        params.append(layer)
    return params
