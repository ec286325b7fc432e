"""Hypothesis strategies for the inputs of every layer of :mod:`bp_manual.layers`, kept off kinks and ties.

What this module is for: drawing a case for a layer's forward/backward pair,
``LayerCase(layer, inputs, config)`` with ``bp_manual.layers.<layer>_forward(
*inputs.values(), **config)``, in the settings where backward passes go wrong
(padding 0 and more, strides 1 to 3, overlapping and non-overlapping windows,
non-square kernels and inputs, batch 1, sequence length 1, repeated indices,
causal or not), both dtypes. The strategies wrap the one builder of layer
inputs, :mod:`bp_autodiff.layer_geometries` and :mod:`bp_autodiff.layer_builder`
(re-exported here): hypothesis draws the geometry (shapes and settings, so it
can shrink them) and a seed, and :func:`build_case` makes the numbers from
``numpy.random.default_rng(seed)``.
By construction, every case is one where a correct backward and any witness
must agree:

- ``relu``/``leaky_relu`` (every element-wise layer): ``|x| >= 0.1``, away from the kink;
- ``max_pool2d``: the values are distinct by ``2 / size`` or more, so no window holds a tie;
- ``batch_norm``: at least two values per feature; ``gamma`` drawn away from 1
  (a backward that forgets ``gamma`` must fail);
- ``embedding``: the first two indices are equal, so indices repeat;
- ``dropout``: the mask is an input (drawn here), ``p`` in ``[0, 0.9]``.

``layer_cases(layer, menu=True)`` draws the geometry from :data:`MENUS` (a few
fixed geometries per layer: a jitted witness compiles one executable per
entry instead of one per random shape); ``kinks=True`` puts entries at and
next to relu's kink and max-pool ties on purpose (for testing an auditor).

What it is not for: the network's problems (:mod:`bp_autodiff.strategies`).
Needs ``hypothesis`` (the ``dev`` and ``testing`` extras); the builder itself does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from bp_autodiff.layer_builder import NEAR, LayerCase, build_case
from bp_autodiff.layer_geometries import BOUNDS, DEFAULTS, LAYERS, MENUS, Choose, Geometry, random_geometry, rng_choose

__all__ = [
    "BOUNDS",
    "DEFAULTS",
    "LAYERS",
    "MENUS",
    "NEAR",
    "Choose",
    "Geometry",
    "LayerCase",
    "build_case",
    "draw_choose",
    "geometries",
    "layer_cases",
    "random_geometry",
    "rng_choose",
]


def draw_choose(draw: st.DrawFn) -> Choose:
    """A :data:`Choose` for :func:`random_geometry` inside ``@st.composite``: ``draw(st.integers(lo, hi))``."""
    return lambda lo, hi: draw(st.integers(lo, hi))


def _check(layer: str) -> None:
    if layer not in BOUNDS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {list(LAYERS)}")


def geometries(
    layer: str, menu: bool = False, *, config: dict[str, Any] | None = None, **bounds: tuple[int, int]
) -> st.SearchStrategy[Geometry]:
    """A strategy of ``(shapes, config)`` for ``layer``: an entry of :data:`MENUS` (``menu=True``) or any
    geometry within :data:`BOUNDS` (overridden by ``bounds``; ``config`` fixes settings, as :func:`random_geometry`).

    Raises:
        ValueError: an unknown ``layer`` or bound name, or ``bounds`` with ``menu=True`` (at once, not when drawing).
    """
    _check(layer)
    if menu:
        if bounds or config:
            raise ValueError("bounds: a menu has fixed geometries; give bounds and config without menu=True")
        return st.sampled_from(MENUS[layer])
    random_geometry(layer, lambda lo, hi: lo, config=config, **bounds)  # an unknown bound raises now
    return st.composite(lambda draw: random_geometry(layer, draw_choose(draw), config=config, **bounds))()


def layer_cases(
    layer: str,
    dtypes: tuple[type, ...] = (np.float64, np.float32),
    *,
    menu: bool = False,
    scales: tuple[float, ...] = (1.0,),
    kinks: bool = False,
) -> st.SearchStrategy[LayerCase]:
    """A strategy of :class:`LayerCase` for ``layer`` (one of :data:`LAYERS`), off kinks and ties by construction.

    Args:
        layer: the layer.
        dtypes: the float dtypes drawn from.
        menu: draw the shapes and settings from :data:`MENUS` (few distinct shapes) instead of at random.
        scales: the ``scale`` of :func:`build_case` is drawn from these (every float input scaled alike).
        kinks: put entries at and next to kinks and ties on purpose (:func:`build_case`).

    Raises:
        ValueError: ``layer`` is not one of :data:`LAYERS` (at once, not when drawing).
    """
    _check(layer)
    return _layer_cases(geometries(layer, menu), layer, dtypes, scales, kinks)


@st.composite
def _layer_cases(
    draw: st.DrawFn,
    geometry: st.SearchStrategy[Geometry],
    layer: str,
    dtypes: tuple[type, ...],
    scales: tuple[float, ...],
    kinks: bool,
) -> LayerCase:
    shapes, config = draw(geometry)
    dtype: Any = draw(st.sampled_from(dtypes))
    scale = draw(st.sampled_from(scales))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return build_case(layer, rng, shapes, config, dtype, scale=scale, kinks=kinks)
