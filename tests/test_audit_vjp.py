"""``bp_autodiff.audit_vjp``: any backward pass in the layer contract, judged and diagnosed.

The contracts (what a pair that raises, draws a mask, modifies its inputs or returns the wrong structure gets),
the kinds of issue 14's mistake 4, the witnesses on a large input (one wrong entry among 4000 found, and named),
kinks and ties for both witnesses, vacuity, the report's forms and bad arguments. The sweep over settings, with
course-style pairs: ``tests/test_audit_vjp_sweep.py``; every catalog entry and the property:
``tests/test_audit_vjp_catalog.py``.
"""

from __future__ import annotations

import json
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import bp_autodiff
from bp_autodiff.auditor.report import VJP_KINDS
from bp_autodiff.witness.layers.activations import relu as relu_twin
from bp_autodiff.witness.layers.linear import linear as linear_twin
from bp_manual import layers

RNG = np.random.default_rng(20261130)


# ---------------------------------------------------------------- issue 14, mistake 4


def sigmoid_forward(x: np.ndarray) -> tuple[Any, Any]:
    s = 1 / (1 + np.exp(-x))
    return s, s


def sigmoid_local_derivative_only(dout: np.ndarray, s: np.ndarray) -> tuple[Any]:
    """A torch-style backward that returns the local derivative without multiplying by grad_output."""
    return (s * (1 - s),)


def test_a_backward_that_ignores_its_upstream_gradient_is_named() -> None:
    report = bp_autodiff.audit_vjp(sigmoid_forward, sigmoid_local_derivative_only, {"x": RNG.standard_normal((3, 4))})
    (finding,) = report.findings
    assert finding.kind == "ignores_upstream" and finding.param == "x", str(report)
    assert "all-ones dout" in finding.detail


def softmax_diagonal_backward(dout: np.ndarray, cache: Any) -> tuple[Any]:
    """Only the diagonal of softmax's Jacobian, written from the library's cache ``(s, axis)``."""
    s, _ = cache
    return (dout * s * (1 - s),)


def test_a_softmax_backward_keeping_the_diagonal_only() -> None:
    x = {"x": RNG.standard_normal((3, 5))}
    (generic,) = bp_autodiff.audit_vjp(layers.softmax_forward, softmax_diagonal_backward, x).findings
    assert generic.kind == "diagonal_only", generic
    report = bp_autodiff.audit_vjp(layers.softmax_forward, softmax_diagonal_backward, x, layer="softmax", sweep=False)
    (named,) = report.findings
    assert named.kind == "layer_mistake" and "softmax_diagonal_only" in named.detail, str(report)


# ---------------------------------------------------------------- contracts


def test_a_forward_drawing_its_own_mask_is_nondeterministic_not_wrong() -> None:
    rng = np.random.default_rng(0)

    def dropout_forward(x: np.ndarray, p: float) -> tuple[Any, Any]:
        mask = rng.random(x.shape) >= p
        return x * mask / (1 - p), (mask, p)

    def dropout_backward(dout: np.ndarray, cache: Any) -> tuple[Any]:
        mask, p = cache
        return (dout * mask / (1 - p),)

    report = bp_autodiff.audit_vjp(dropout_forward, dropout_backward, {"x": RNG.standard_normal((4, 6)), "p": 0.5})
    assert [(f.param, f.kind) for f in report.findings] == [("forward", "nondeterministic")], str(report)
    assert "pass the mask" in report.findings[0].detail


def test_what_a_pair_does_wrong_becomes_a_finding() -> None:
    x = {"x": RNG.standard_normal((3, 4)), "W": RNG.standard_normal((2, 4)), "b": RNG.standard_normal(2)}

    def in_place(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[Any, Any]:
        out, cache = layers.linear_forward(x.copy(), W, b)
        x *= 2.0  # changes the caller's array (after the cache was made from a copy)
        return out, cache

    def raises(dout: np.ndarray, cache: Any) -> Any:
        raise RuntimeError("not implemented")

    def too_few(dout: np.ndarray, cache: Any) -> Any:
        return layers.linear_backward(dout, cache)[:2]

    def float32_db(dout: np.ndarray, cache: Any) -> Any:
        dx, dW, db = layers.linear_backward(dout, cache)
        return dx, dW, np.asarray(db, dtype=np.float32)

    def no_dW(dout: np.ndarray, cache: Any) -> Any:
        dx, _, db = layers.linear_backward(dout, cache)
        return dx, None, db

    def forward_raises(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> Any:
        return x @ W + b  # W is (D_out, D_in): a shape error

    cases = [
        (in_place, layers.linear_backward, {("x", "modifies_inputs")}),
        (layers.linear_forward, raises, {("backward", "raises")}),
        (layers.linear_forward, too_few, {("backward", "shape")}),
        (layers.linear_forward, float32_db, {("b", "dtype")}),
        (layers.linear_forward, no_dW, {("W", "missing")}),
        (forward_raises, layers.linear_backward, {("forward", "shape")}),
    ]
    for forward, backward, expected in cases:
        report = bp_autodiff.audit_vjp(forward, backward, x)
        assert {(f.param, f.kind) for f in report.findings} == expected, str(report)
        assert all(f.kind in VJP_KINDS for f in report.findings)


def test_a_backward_that_modifies_dout_and_one_with_an_unreduced_bias() -> None:
    x = {"x": RNG.standard_normal((3, 4)), "W": RNG.standard_normal((2, 4)), "b": RNG.standard_normal(2)}

    def scales_dout(dout: np.ndarray, cache: Any) -> Any:
        grads = layers.linear_backward(dout.copy(), cache)
        dout *= 0.0
        return grads

    def db_per_sample(dout: np.ndarray, cache: Any) -> Any:
        dx, dW, _ = layers.linear_backward(dout, cache)
        return dx, dW, dout

    assert {(f.param, f.kind) for f in bp_autodiff.audit_vjp(layers.linear_forward, scales_dout, x).findings} == {
        ("dout", "modifies_inputs")
    }
    (finding,) = bp_autodiff.audit_vjp(layers.linear_forward, db_per_sample, x).findings
    assert (finding.param, finding.kind) == ("b", "unreduced") and "axes [0]" in finding.detail


def test_inputs_as_a_sequence_and_integer_inputs_passed_through() -> None:
    indices = np.array([[0, 2, 2], [1, 2, 0]])
    report = bp_autodiff.audit_vjp(layers.embedding_forward, layers.embedding_backward, [indices, RNG.random((3, 2))])
    assert report.ok, str(report)
    assert [c.param for c in report.comparisons] == ["x1"] and "passed through" in report.inputs["x0"]


# ---------------------------------------------------------------- large inputs, kinks, vacuity


def test_one_wrong_entry_among_four_thousand_is_found_and_named() -> None:
    """The directions' allowance sums the absolute terms: it does not grow with the Jacobian's size."""
    x = {"x": RNG.standard_normal((400, 10)), "W": RNG.standard_normal((3, 10)), "b": RNG.standard_normal(3)}

    def one_entry_off(dout: np.ndarray, cache: Any) -> Any:
        dx, dW, db = layers.linear_backward(dout, cache)
        dx = dx.copy()
        dx[123, 4] += 1e-3 * float(np.max(np.abs(dx)))
        return dx, dW, db

    assert bp_autodiff.audit_vjp(layers.linear_forward, layers.linear_backward, x).ok
    report = bp_autodiff.audit_vjp(layers.linear_forward, one_entry_off, x)
    (finding,) = report.findings
    assert finding.param == "x", str(report)
    rows = [c for c in report.comparisons if c.param == "x" and c.verdict == "FAIL"]
    assert rows and rows[-1].worst_index == (123, 4), str(report)
    assert report.extra["forward_calls"] < 600  # narrowed down by halving, not by differencing 4000 entries


def test_relu_on_its_kink_is_inconclusive_for_both_witnesses_never_a_finding() -> None:
    x = np.random.default_rng(3).standard_normal((3, 4))
    x[0, 0], x[1, 2], x[2, 3] = 0.0, 1e-12, -1e-7  # on the kink, and 1e-12 and 1e-7 from it (the step is ~7.6e-6)

    def relu_backward_ge(dout: np.ndarray, cache: Any) -> tuple[Any]:
        (x_,) = cache
        return (dout * (x_ >= 0),)  # relu'(0) = 1, where JAX takes 0

    report = bp_autodiff.audit_vjp(
        lambda x_: (np.maximum(x_, 0), (x_,)), relu_backward_ge, {"x": x}, reference=relu_twin
    )
    assert report.ok, str(report)
    fd = {e.index: e.one_sided for e in report.inconclusive if e.witness == "fd"}
    assert fd == {(0, 0): "right", (1, 2): "right", (2, 3): "left"}, str(report)
    jax = [e for e in report.inconclusive if e.witness == "jax"]
    assert [(e.index, e.one_sided) for e in jax] == [((0, 0), "other")], str(report)


def test_a_wrong_relu_backward_is_still_caught_next_to_its_kink() -> None:
    x = RNG.standard_normal((3, 4))
    x[0, 0] = 1e-9

    def relu_backward_flipped(dout: np.ndarray, cache: Any) -> tuple[Any]:
        (x_,) = cache
        return (dout * (x_ < 0),)

    report = bp_autodiff.audit_vjp(lambda x_: (np.maximum(x_, 0), (x_,)), relu_backward_flipped, {"x": x})
    assert [f.param for f in report.findings] == ["x"], str(report)
    assert [e.index for e in report.inconclusive] == [(0, 0)]  # only the entry on the kink is left out


def test_a_gradient_that_is_zero_whatever_the_backward_is_vacuous() -> None:
    def summed_softmax(x: np.ndarray) -> tuple[Any, Any]:
        out, cache = layers.softmax_forward(x)
        return out.sum(axis=-1), cache

    def anything_small(dout: np.ndarray, cache: Any) -> tuple[Any]:
        s, _ = cache
        return (np.zeros_like(s),)

    report = bp_autodiff.audit_vjp(summed_softmax, anything_small, {"x": RNG.standard_normal((2, 3))})
    assert report.ok and any("could not fail" in w for w in report.warnings), str(report)
    assert {c.verdict for c in report.comparisons} == {"vacuous"}


def test_batch_norm_under_an_all_ones_dout_is_warned_twice() -> None:
    from bp_autodiff.catalog.norm import gamma_left_out

    x = {"x": RNG.standard_normal((6, 3)), "gamma": RNG.standard_normal(3), "beta": RNG.standard_normal(3)}
    ones = np.ones((6, 3))
    report = bp_autodiff.audit_vjp(layers.batch_norm_forward, gamma_left_out, x, dout=ones)
    assert report.ok and any("uniform" in w for w in report.warnings), str(report)
    assert any(w.startswith("x: passed only because") for w in report.warnings)
    assert not bp_autodiff.audit_vjp(layers.batch_norm_forward, gamma_left_out, x).ok  # the random dout: caught


def test_a_reference_computing_another_function_is_a_forward_finding() -> None:
    x = {"x": RNG.standard_normal((3, 4)), "W": RNG.standard_normal((2, 4)), "b": RNG.standard_normal(2)}
    report = bp_autodiff.audit_vjp(
        layers.linear_forward, layers.linear_backward, x, reference=lambda x_, W, b: linear_twin(x_, W, 2 * b)
    )
    assert [(f.param, f.kind) for f in report.findings] == [("out", "forward")], str(report)
    ok = bp_autodiff.audit_vjp(layers.linear_forward, layers.linear_backward, x, reference=linear_twin)
    assert ok.ok and {c.witness for c in ok.comparisons} == {"fd", "jax"}


# ---------------------------------------------------------------- the report, bad arguments


def test_the_report_reads_as_text_dict_and_json() -> None:
    report = bp_autodiff.audit_vjp(sigmoid_forward, sigmoid_local_derivative_only, {"x": RNG.standard_normal(4)})
    text = str(report)
    assert "inputs: x float64 (4,)" in text and "ignores_upstream" in text
    data = json.loads(report.to_json())
    assert data["mode"] == "vjp" and data["spec"] is None and data["findings"][0]["param"] == "x"
    assert report.to_dict()["inputs"] == {"x": "float64 (4,)"}


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"inputs": 3}, TypeError, "inputs"),
        ({"inputs": {"i": np.arange(3)}}, ValueError, "inputs"),
        ({"inputs": {"x": np.array([1.0, np.nan])}}, ValueError, "inputs"),
        ({"forward": None}, TypeError, "forward"),
        ({"config": [1]}, TypeError, "config"),
        ({"layer": "conv3d"}, ValueError, "layer"),
        ({"fd_max_entries": 0}, ValueError, "fd_max_entries"),
        ({"seed": -1}, ValueError, "seed"),
        ({"reference": 3}, TypeError, "reference"),
        ({"dout": np.ones(5)}, ValueError, "dout"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, Any], error: type, named: str) -> None:
    args: dict[str, Any] = {"forward": sigmoid_forward, "backward": sigmoid_local_derivative_only}
    args["inputs"] = {"x": np.ones(3)}
    args.update(kwargs)
    with pytest.raises(error, match=named):
        bp_autodiff.audit_vjp(args.pop("forward"), args.pop("backward"), args.pop("inputs"), **args)


def test_jax_arrays_as_inputs() -> None:
    report = bp_autodiff.audit_vjp(layers.tanh_forward, layers.tanh_backward, {"x": jnp.linspace(-1.0, 1.0, 5)})
    assert report.ok, str(report)


@pytest.mark.parametrize(("seed", "dtype"), [(17, np.float64), (17, np.float32), (57, np.float64), (57, np.float32)])
def test_max_pool_with_ties_and_near_ties_in_overlapping_windows_raises_no_finding(seed: int, dtype: Any) -> None:
    """Integer values nudged by 0, 1e-9 or 1e-6: an element tied in one window and a hair below the maximum of
    another has a narrow interval around it whose slope differs from both sides' (which agree): the
    one-sided estimates agree, the central difference measures the wrong slope. These four inputs (of 160 drawn
    this way) were reported ``mismatch`` before stencils with unequal truncation on their two sides were
    differenced again at smaller steps."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 4, size=(1, 2, 5, 5)) + rng.choice([0, 1e-9, 1e-6], size=(1, 2, 5, 5))).astype(dtype)
    config = {"kernel_size": 3, "stride": 1}
    report = bp_autodiff.audit_vjp(
        None, None, {"x": x}, config=config, layer="max_pool2d", sweep=False, reference=False
    )
    assert report.ok and report.inconclusive, str(report)


def test_an_input_at_the_edge_of_the_domain_is_inconclusive_not_a_crash() -> None:
    """``sqrt`` at 0: the step to the left gives NaN, so that entry cannot be differenced; the others are judged."""

    def sqrt_forward(x: np.ndarray) -> tuple[Any, Any]:
        out = np.sqrt(x)
        return out, out

    def sqrt_backward(dout: np.ndarray, out: np.ndarray) -> tuple[Any]:
        return (dout / (2 * np.where(out > 0, out, 1.0)),)

    x = np.array([0.0, 0.5, 1.0, 2.0])
    report = bp_autodiff.audit_vjp(sqrt_forward, sqrt_backward, {"x": x})
    assert report.ok and [e.index for e in report.inconclusive] == [(0,)], str(report)
    assert "NaN" in report.inconclusive[0].reason


def test_a_forward_with_two_outputs() -> None:
    """``out`` a tuple: ``dout`` is a tuple of the same shapes, and ``L`` sums over both."""

    def two_forward(x: np.ndarray) -> tuple[Any, Any]:
        return (2 * x, np.sin(x).sum(axis=0)), x

    def two_backward(dout: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> tuple[Any]:
        d_double, d_sum = dout
        return (2 * d_double + np.cos(x) * d_sum,)

    def forgets_the_second(dout: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> tuple[Any]:
        return (2 * dout[0],)

    x = {"x": RNG.standard_normal((3, 2))}
    assert bp_autodiff.audit_vjp(two_forward, two_backward, x).ok
    assert [f.param for f in bp_autodiff.audit_vjp(two_forward, forgets_the_second, x).findings] == ["x"]
