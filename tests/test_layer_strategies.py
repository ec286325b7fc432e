"""The exported layer strategies draw valid cases, off kinks and ties, in every setting they promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_autodiff.layer_strategies import LAYERS, LayerCase, layer_cases
from bp_manual import layers
from strategies import examples


@pytest.mark.parametrize("layer", LAYERS)
@settings(max_examples=examples(0.1))
@given(data=st.data())
def test_every_case_runs_forward_and_backward_and_keeps_its_promises(layer: str, data: st.DataObject) -> None:
    case: LayerCase = data.draw(layer_cases(layer))
    out, cache = getattr(layers, f"{layer}_forward")(*case.inputs.values(), **case.config)
    grads = getattr(layers, f"{layer}_backward")(np.ones_like(out), cache)
    assert len(grads) == len(case.inputs)
    for value in case.inputs.values():
        if np.asarray(value).dtype.kind == "f":
            assert np.asarray(value).dtype == case.dtype
    if layer in ("relu", "leaky_relu"):
        assert np.min(np.abs(case.inputs["x"])) >= 0.1 * (1 - 1e-6)
    if layer == "max_pool2d":  # no ties anywhere in an image, so none in a window
        x = case.inputs["x"].reshape(-1, case.inputs["x"].shape[-2] * case.inputs["x"].shape[-1])
        assert all(len(np.unique(row)) == row.size for row in x)
    if layer == "embedding" and case.inputs["indices"].size >= 2:
        assert len(np.unique(case.inputs["indices"])) < case.inputs["indices"].size  # a repeat
    if layer in ("batch_norm", "layer_norm"):
        assert np.all(np.abs(np.abs(case.inputs["gamma"]) - 1) > 0) and np.min(np.abs(case.inputs["gamma"])) >= 0.5


def test_an_unknown_layer_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown layer 'convolution'; expected one of \['linear'"):
        layer_cases("convolution")


def test_the_settings_where_mistakes_hide_are_drawn() -> None:
    """Across draws: padding 0 and more, strides 1 to 3, overlapping and gapped pools, batch 1, T = 1."""
    seen: dict[str, set[object]] = {"padding": set(), "stride": set(), "overlap": set(), "batch1": set(), "T1": set()}

    @settings(max_examples=60, database=None, derandomize=True)
    @given(layer_cases("conv2d"), layer_cases("max_pool2d"), layer_cases("lstm"))
    def collect(conv: LayerCase, pool: LayerCase, lstm: LayerCase) -> None:
        seen["padding"].add(conv.config["padding"])
        seen["stride"].add(conv.config["stride"])
        seen["overlap"].add(pool.config["stride"] < pool.config["kernel_size"])
        seen["batch1"].add(conv.inputs["x"].shape[0] == 1)
        seen["T1"].add(lstm.inputs["x"].shape[1] == 1)

    collect()
    assert seen["padding"] == {0, 1, 2} and seen["stride"] == {1, 2, 3}
    assert seen["overlap"] == seen["batch1"] == seen["T1"] == {True, False}


def test_the_strategies_cover_every_library_layer() -> None:
    from bp_autodiff.auditor.adapters import LAYER_INPUTS

    assert set(LAYERS) == set(LAYER_INPUTS)
