"""The one builder of layer inputs (``bp_autodiff.layer_builder``, re-exported by ``layer_strategies``): every fixed
geometry valid, kinks and ties where asked and nowhere else, settings fixed or drawn, bad arguments refused by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.auditor.adapters import LAYER_INPUTS
from bp_autodiff.layer_strategies import (
    BOUNDS,
    DEFAULTS,
    LAYERS,
    MENUS,
    NEAR,
    build_case,
    geometries,
    layer_cases,
    random_geometry,
    rng_choose,
)
from bp_manual import layers


def _run(layer: str, shapes: Any, config: Any, kinks: bool = False) -> None:
    case = build_case(layer, np.random.default_rng(0), shapes, config, kinks=kinks)
    out, cache = getattr(layers, f"{layer}_forward")(*case.inputs.values(), **case.config)
    assert len(getattr(layers, f"{layer}_backward")(np.ones_like(out), cache)) == len(case.inputs)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_menu_entry_and_default_is_a_valid_case_of_its_layer(layer: str) -> None:
    assert set(LAYERS) == set(LAYER_INPUTS) == set(MENUS) == set(DEFAULTS) == set(BOUNDS)
    for shapes, config in (*MENUS[layer], DEFAULTS[layer]):
        assert tuple(shapes) == LAYER_INPUTS[layer].inputs
        _run(layer, shapes, config)


@pytest.mark.parametrize("layer", LAYERS)
def test_random_geometries_from_a_generator_are_valid_and_reproducible(layer: str) -> None:
    for seed in range(20):
        shapes, config = random_geometry(layer, rng_choose(np.random.default_rng(seed)))
        assert (shapes, config) == random_geometry(layer, rng_choose(np.random.default_rng(seed)))
        _run(layer, shapes, config, kinks=seed % 2 == 1)


def _distance_to_kink(x: np.ndarray) -> float:
    return float(np.min(np.abs(x)))


def _closest_pair(x: np.ndarray) -> float:
    values = np.sort(x.reshape(-1))
    return float(np.min(np.diff(values))) if values.size > 1 else np.inf


@pytest.mark.parametrize("layer", ["relu", "leaky_relu", "max_pool2d"])
def test_kinks_are_put_in_only_when_asked(layer: str) -> None:
    """``kinks=True``: an entry within ``max(NEAR)`` of relu's kink, or two max-pool entries that close; without
    it, every entry at least 0.1 from the kink and any two pool entries at least ``2 / size`` apart."""
    shapes = {"x": (2, 3, 4, 4)} if layer == "max_pool2d" else {"x": (3, 4)}
    config = {"kernel_size": 2} if layer == "max_pool2d" else {}
    measure = _closest_pair if layer == "max_pool2d" else _distance_to_kink
    for seed in range(30):
        on = build_case(layer, np.random.default_rng(seed), shapes, config, kinks=True).inputs["x"]
        off = build_case(layer, np.random.default_rng(seed), shapes, config).inputs["x"]
        assert measure(on) <= max(NEAR) * (1 + 1e-9)
        assert measure(off) >= (2 / off.size if layer == "max_pool2d" else 0.1) * (1 - 1e-9)


def test_scale_and_loc_apply_per_input_and_integer_inputs_ignore_them() -> None:
    shapes = {"x": (200, 3), "gamma": (3,), "beta": (3,)}
    case = build_case("batch_norm", np.random.default_rng(1), shapes, {}, scale={"x": 1e-3}, loc={"x": 5.0})
    x, gamma = case.inputs["x"], case.inputs["gamma"]
    assert np.all(np.abs(x - 5.0) < 0.01) and np.all((np.abs(gamma) >= 0.5) & (np.abs(gamma) <= 2.0))
    emb = build_case("embedding", np.random.default_rng(1), {"indices": (5,), "E": (3, 2)}, {}, scale=100.0)
    assert emb.inputs["indices"].dtype.kind == "i" and emb.inputs["indices"][0] == emb.inputs["indices"][1] == 0
    assert np.max(np.abs(emb.inputs["E"])) > 10


def test_fixed_settings_are_kept_and_the_shapes_fit_them() -> None:
    for seed in range(30):
        choose = rng_choose(np.random.default_rng(seed))
        shapes, config = random_geometry("conv2d", choose, config={"padding": 0, "stride": 3}, K=(3, 5), HW=(1, 4))
        assert config == {"padding": 0, "stride": 3} and shapes["x"][2] >= shapes["w"][2]  # type: ignore[index]
        shapes, config = random_geometry("max_pool2d", choose, config={"kernel_size": 5, "stride": None})
        assert config == {"kernel_size": 5, "stride": None} and min(shapes["x"][2:]) >= 5  # type: ignore[index]


def test_a_pool_stride_bound_from_zero_draws_none() -> None:
    strides = {
        random_geometry("avg_pool2d", rng_choose(np.random.default_rng(s)), stride=(0, 1))[1]["stride"]
        for s in range(40)
    }
    assert strides == {None, 1}


@settings(max_examples=40, database=None, derandomize=True)
@given(data=st.data())
def test_menu_mode_draws_only_menu_entries(data: st.DataObject) -> None:
    layer = data.draw(st.sampled_from(["conv2d", "lstm", "embedding"]))
    case = data.draw(layer_cases(layer, menu=True, scales=(0.5, 2.0)))
    shapes = {name: None if v is None else tuple(np.shape(v)) for name, v in case.inputs.items()}
    assert (shapes, case.config) in [(dict(s), dict(c)) for s, c in MENUS[layer]]


BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("unknown layer", lambda: build_case("conv", np.random.default_rng(0), {}), ValueError, r"^unknown layer 'conv'"),
    (
        "inputs out of order",
        lambda: build_case("linear", np.random.default_rng(0), {"W": (2, 3), "x": (3,), "b": (2,)}),
        ValueError,
        r"^shapes must name the inputs of linear in order \['x', 'W', 'b'\], got \['W', 'x', 'b'\]$",
    ),
    (
        "dropout without p",
        lambda: build_case("dropout", np.random.default_rng(0), {"x": (2,), "mask": (2,)}),
        ValueError,
        r"^config: dropout needs p",
    ),
    (
        "a seed for rng",
        lambda: build_case("relu", 0, {"x": (2,)}),  # type: ignore[arg-type]
        TypeError,
        r"^rng must be a numpy.random.Generator",
    ),
    (
        "unknown bound",
        lambda: random_geometry("conv2d", rng_choose(np.random.default_rng(0)), kernel=(1, 2)),
        ValueError,
        r"^bounds: conv2d has no bound 'kernel'",
    ),
    ("menu with bounds", lambda: geometries("conv2d", menu=True, K=(1, 2)), ValueError, r"^bounds: a menu has fixed"),
]


@pytest.mark.parametrize(("what", "call", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_are_refused_by_name(what: str, call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()
