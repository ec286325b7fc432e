"""The auditor: every catalog mistake is named, the correct implementation never is.

Two properties carry the weight:

- every entry of ``bp_autodiff.catalog`` gets exactly its expected finding
  kind (and the localisation names the layer where the mistake is made);
- the correct implementation (``bp_manual``'s ``loss_grads_and_deltas``,
  ``sgd_step`` and ``predict``) gets no finding across hypothesis-drawn
  problems (``tests/strategies.py``: 1-5 layers, widths 1-32, every
  activation, loss, init scheme and bias setting), in float64 and float32.
  The tolerances are the project's (``bp_autodiff.auditor.tolerance``), not loosened
  for the auditor. The number of cases tried is recorded and printed at the
  end of the session (``tolerances.record``).

The rest checks that a broken ``grad_fn`` becomes a finding, never a
traceback, that vacuous passes are reported as such, and the rendering.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_autodiff import FORWARD_KINDS, STEP_KINDS, audit, audit_forward, audit_step, catalog
from strategies import Problem, examples, problems
from tolerances import record

# ---------------------------------------------------------------- the catalog


@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_every_catalog_entry_gets_exactly_its_expected_kind(name: str) -> None:
    entry = catalog.CATALOG[name]
    assert entry.kind in (FORWARD_KINDS if entry.mode == "forward" else STEP_KINDS)
    assert entry.function.__doc__ and entry.kind in entry.function.__doc__
    report = catalog.audit_entry(name)
    assert not report.ok
    assert report.kinds == {entry.kind}, report.render()


def test_catalog_covers_the_issue_list() -> None:
    assert len(catalog.CATALOG) >= 12
    kinds = {e.kind for e in catalog.CATALOG.values()}
    assert {"sign", "scale", "transpose", "zero", "swapped", "activation_derivative", "shape", "mismatch"} <= kinds
    assert {"ascent", "stale_weights"} <= kinds


@pytest.mark.parametrize(
    ("name", "introduced"),
    [
        ("sign_flipped", ["delta2"]),
        ("missing_activation_derivative", ["delta1"]),
        ("W_instead_of_W_T", ["delta1"]),
        ("softmax_ce_without_softmax", ["delta2"]),
        ("dW_transposed", ["W2", "W1"]),
        ("bias_not_summed", ["b2", "b1"]),
    ],
)
def test_localisation_names_where_the_error_is_introduced(name: str, introduced: list[str]) -> None:
    report = catalog.audit_entry(name)
    assert report.introduced == introduced, report.render()
    statuses = {e.where: e.status for e in report.localisation}
    if introduced == ["delta2"]:  # everything below the output delta only inherits it
        assert statuses["delta1"] == statuses["W1"] == "inherited"


def test_scale_reports_c() -> None:
    report = catalog.audit_entry("sum_instead_of_mean")
    assert all("c = 5 " in f.detail and "batch size" in f.detail for f in report.findings)
    report = catalog.audit_entry("mse_without_half")
    assert all("c = 2 " in f.detail for f in report.findings)


def test_seed_published_train_climbs_and_run_fails() -> None:
    report = catalog.audit_entry("seed_published_train")
    assert report.kinds == {"ascent"}
    assert report.extra["loss after"] > report.extra["loss before"]
    spec, params, X, _ = catalog.example_problem("seed_published_run")
    report = audit_forward(spec, params, X, catalog.seed_published_run)
    assert report.kinds == {"shape"} and "not aligned" in report.findings[0].detail
    # on a square network it runs, and gives the wrong numbers
    spec = bp_manual.NetworkSpec((5, 5, 5), hidden="sigmoid", bias=False)
    params = bp_manual.init_params(spec, "seed", seed=1)
    report = audit_forward(spec, params, np.ones((2, 5)), catalog.seed_published_run)
    assert report.kinds == {"forward"}


def test_wrong_gradients_fail_the_finite_difference_witness_too() -> None:
    report = catalog.audit_entry("sign_flipped")
    fd = [c for c in report.comparisons if c.witness == "fd"]
    assert fd and all(c.verdict == "FAIL" for c in fd)


# ---------------------------------------------------------------- no false alarms


def _grads_and_deltas(spec, params, X, Y):  # the correct implementation, with the deltas protocol
    return bp_manual.loss_grads_and_deltas(spec, params, X, Y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=examples(0.3))
@given(data=st.data())
def test_no_false_alarm_on_the_correct_gradients(dtype: type, data: st.DataObject) -> None:
    problem = data.draw(problems(dtypes=(dtype,)))
    report = audit(problem.spec, problem.params, problem.X, problem.Y, _grads_and_deltas, fd_max_entries=16)
    worst = max((c.fraction for c in report.comparisons if c.verdict in ("pass", "vacuous")), default=0.0)
    record(f"audit, correct grads {np.dtype(dtype).name}", worst, worst, problem.describe())
    assert report.ok, report.render()
    assert all(c.verdict in ("pass", "vacuous") for c in report.comparisons), report.render()
    assert all(e.status == "ok" for e in report.localisation)


@settings(max_examples=examples(0.2))
@given(problems(max_layers=3, max_width=16, max_batch=8))
def test_no_false_alarm_on_sgd_step_and_predict(problem: Problem) -> None:
    def step(spec, params, X, Y, lr):
        return bp_manual.sgd_step(params, bp_manual.loss_and_grads(spec, params, X, Y)[1], lr)

    args = (problem.spec, problem.params, problem.X, problem.Y)
    report = audit_step(*args, 0.1, step)
    record(f"audit_step, sgd_step {np.dtype(problem.dtype).name}", 0.0, 0.0, problem.describe())
    assert report.ok, report.render()
    report = audit_forward(problem.spec, problem.params, problem.X, bp_manual.predict)
    assert report.ok, report.render()


# ---------------------------------------------------------------- robustness


@pytest.fixture
def small() -> tuple[bp_manual.NetworkSpec, bp_manual.Params, np.ndarray, np.ndarray]:
    spec, params, X, Y = catalog.example_problem("sign_flipped")
    return spec, params, X, Y


def _raises(spec, params, X, Y):
    raise ValueError("shapes (3,8) and (5,4) not aligned")


def _raises_other(spec, params, X, Y):
    raise RuntimeError("boom")


def _nan(spec, params, X, Y):
    loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    grads[0]["W"][0, 0] = np.nan
    return loss, grads


def _missing_key(spec, params, X, Y):
    loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    del grads[1]["b"]
    return loss, grads


def _mutates(spec, params, X, Y):
    out = bp_manual.loss_and_grads(spec, params, X, Y)
    params[0]["W"] += 1.0
    return out


@pytest.mark.parametrize(
    ("fn", "param", "kind"),
    [
        (_raises, "grad_fn", "shape"),
        (_raises_other, "grad_fn", "mismatch"),
        (_nan, "W1", "nonfinite"),
        (_missing_key, "b2", "shape"),
        (lambda *a: None, "grad_fn", "shape"),
        (lambda *a: (1.0, "grads"), "grads", "shape"),
        (lambda *a: (1.0, [{"W": "x"}, {"W": 1, "b": 2}]), "W1", "shape"),
    ],
)
def test_a_broken_grad_fn_is_a_finding_not_a_traceback(small, fn, param: str, kind: str) -> None:
    spec, params, X, Y = small
    report = audit(spec, params, X, Y, fn)
    assert not report.ok
    assert (param, kind) in {(f.param, f.kind) for f in report.findings}, report.render()
    json.loads(report.to_json())  # renders, and serialises despite inf/nan
    assert report.render()


def test_an_exception_is_placed_in_the_users_own_code(small) -> None:
    """The finding names the user's file and line, not NumPy's or the auditor's: ``_raises`` raises on the line
    after its ``def``; ``_numpy_raises`` gets NumPy's error from its own ``@`` line."""
    spec, params, X, Y = small
    for fn, line in (
        (_raises, _raises.__code__.co_firstlineno + 1),
        (_numpy_raises, _numpy_raises.__code__.co_firstlineno + 1),
    ):
        (finding,) = [f for f in audit(spec, params, X, Y, fn).findings if f.param == "grad_fn"]
        assert finding.detail.endswith(f"(test_audit.py, line {line})"), finding.detail


def _numpy_raises(spec, params, X, Y):
    return 0.0, params[0]["W"] @ params[0]["W"]


def test_inputs_modified_in_place_are_noticed_and_do_not_leak(small) -> None:
    spec, params, X, Y = small
    before = [{k: v.copy() for k, v in layer.items()} for layer in params]
    report = audit(spec, params, X, Y, _mutates)
    assert report.ok and any("modified its inputs" in w for w in report.warnings)
    for a, b in zip(params, before, strict=True):
        np.testing.assert_array_equal(a["W"], b["W"])


def test_bad_input_to_the_auditor_raises_naming_the_argument(small) -> None:
    spec, params, X, Y = small
    with pytest.raises(ValueError, match="X has 3 features"):
        audit(spec, params, X[:, :3], Y)
    with pytest.raises(TypeError, match="spec"):
        audit("4-8-3", params, X, Y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr"):
        audit_step(spec, params, X, Y, -1.0, catalog.update_before_propagating)
    with pytest.raises(ValueError, match="fd_max_entries"):
        audit(spec, params, X, Y, fd_max_entries=0)


def test_vacuous_passes_are_reported_as_such() -> None:
    """All hidden ReLUs dead (``b1 = -100``, ``W1 = 0``): dW1, db1 and dW2 are zero on both sides."""
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="relu")
    params = bp_manual.init_params(spec, "zeros")
    params[0]["b"] = np.full(4, -100.0)
    params[1]["b"] = np.array([0.5, -0.5])
    X = np.random.default_rng(0).normal(size=(6, 3))
    Y = np.random.default_rng(1).normal(size=(6, 2))
    report = audit(spec, params, X, Y, bp_manual.loss_grads_and_deltas)
    assert report.ok
    verdicts = {(c.param, c.witness): c.verdict for c in report.comparisons}
    assert verdicts[("W1", "jax")] == verdicts[("b1", "jax")] == verdicts[("W2", "jax")] == "vacuous"
    assert verdicts[("b2", "jax")] == "pass"
    assert any("4 of 4 hidden units are dead" in w for w in report.warnings)
    assert any(w.startswith("W1: passed only because both sides are (almost) zero") for w in report.warnings)
    # a grad_fn that returns zeros there is not caught (nothing is tested), but it is not called a pass
    assert "vacuous" in report.render()


def test_report_renders_and_serialises() -> None:
    report = catalog.audit_entry("dW_transposed")
    text = report.render()
    assert "transpose" in text and "introduced" in text and "max rel" in text
    data = json.loads(report.to_json())
    assert data["ok"] is False
    assert {f["kind"] for f in data["findings"]} == {"transpose"}
    assert {c["witness"] for c in data["comparisons"]} == {"jax", "fd"}


def test_a_gradient_that_cancels_to_zero_is_no_finding() -> None:
    """Zero weights and five samples of each class: ``dW_2 = 0`` exactly by the hand derivation,
    6.9e-18 by JAX (rounding alone). Judged by the size of its terms (``term_scales``), the
    correct backward pass passes; judged by the array's own norm it was a ``mismatch``."""
    spec = bp_manual.NetworkSpec((1, 1, 2), hidden="sigmoid", output="softmax", loss="cross_entropy", bias=False)
    params = [{"W": np.zeros((1, 1))}, {"W": np.zeros((2, 1))}]
    X = np.array(
        [[-0.0157], [0.0404], [-0.0346], [0.0471], [-0.0521], [0.1401], [-0.0239], [-0.1175], [-0.0567], [0.1559]]
    )
    Y = np.array([1, 0, 0, 0, 0, 1, 1, 1, 1, 0])
    report = audit(spec, params, X, Y, bp_manual.loss_grads_and_deltas)
    assert report.ok, report.findings
    assert {e.where: e.status for e in report.localisation} == dict.fromkeys(("delta2", "W2", "delta1", "W1"), "ok")

    def doubled_output_delta(spec: bp_manual.NetworkSpec, params: list, X: np.ndarray, Y: np.ndarray) -> tuple:
        loss, grads, deltas = bp_manual.loss_grads_and_deltas(spec, params, X, Y)
        return loss, grads, [deltas[0], 2 * deltas[1]]

    wrong = audit(spec, params, X, Y, doubled_output_delta)
    assert [f.param for f in wrong.findings] == ["delta2"], wrong.findings  # the scale hides no real error
