"""The auditor's fast paths give what the plain ones give (issue 17: ``bp check`` at 200 cases per second).

- ``audit`` takes its JAX reference from the bucketed witness (one executable per dtype) when the
  problem fits the smallest bucket, and from the per-shape witness otherwise; that the two give the
  same numbers is ``tests/test_bucketed.py``'s job, which one is used is this file's;
- one float64 forward pass (``tolerance.float64_forward``) serves the tolerance, the term sizes and
  the finite differences: the same numbers, bit for bit, as each computing its own;
- ``bp check`` reports its start-up (the first compilation) apart from the checking, and the rate;
- ``bp_manual``'s losses on a stack of batches are the 2-D losses of each batch, bit for bit.

The batched finite differences have their own file, ``tests/test_finite_differences_batched.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_autodiff.auditor.check import check
from bp_autodiff.auditor.tolerance import float64_forward, ratios, saturation, term_scales
from bp_autodiff.witness import bucketed
from bp_autodiff.witness import grads as per_shape
from bp_manual.problems import random_problem
from bp_manual.validation import prepare_batch


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("this witness must not be used here")


def test_audit_takes_the_bucketed_witness_when_the_problem_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = bp_manual.NetworkSpec((8, 8, 8, 8, 8), hidden="tanh")  # bp check's largest: width 8, 4 layers
    p = random_problem(spec, np.random.default_rng(0), 8)
    monkeypatch.setattr(per_shape, "loss_grads_and_deltas", _refuse)
    report = bp_autodiff.audit(spec, p.params, p.X, p.Y, bp_manual.loss_grads_and_deltas)
    assert report.ok, report.render()
    assert any(c.witness == "jax" and c.verdict == "pass" for c in report.comparisons)


def test_audit_takes_the_per_shape_witness_when_the_batch_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh")
    p = random_problem(spec, np.random.default_rng(1), bucketed.BATCH_FLOOR + 1)
    assert not bucketed.fits(spec, bucketed.BATCH_FLOOR + 1) and bucketed.fits(spec, bucketed.BATCH_FLOOR)
    monkeypatch.setattr(bucketed, "loss_grads_and_deltas_prepared", _refuse)
    report = bp_autodiff.audit(spec, p.params, p.X, p.Y, bp_manual.loss_grads_and_deltas)
    assert report.ok, report.render()
    # and a wrong gradient is still found through that path
    wrong = bp_autodiff.audit(spec, p.params, p.X, p.Y, bp_autodiff.catalog.mse_without_half)
    assert not wrong.ok


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["tanh", "relu", "softplus"])
def test_one_float64_forward_gives_the_numbers_of_separate_ones(hidden: str, dtype: type) -> None:
    rng = np.random.default_rng(2)
    for sizes in [(3, 5, 2), (4, 6, 6, 3), (2, 1)]:
        spec = bp_manual.NetworkSpec(sizes, hidden=hidden)
        p = random_problem(spec, rng, 5, dtype=dtype)
        at = float64_forward(spec, p.params, p.X, p.Y)
        assert saturation(spec, p.params, p.X, p.Y, at=at) == saturation(spec, p.params, p.X, p.Y)
        assert term_scales(spec, p.params, p.X, p.Y, at=at) == term_scales(spec, p.params, p.X, p.Y)
        X_, Y_ = prepare_batch(spec, p.params, p.X, p.Y)  # the auditor's path: checked once, then converted
        again = float64_forward(spec, p.params, X_, Y_, checked=True)
        assert np.array_equal(again.X, at.X) and np.array_equal(again.Y, at.Y)
        for a, b in zip(again.cache, at.cache, strict=True):
            assert np.array_equal(a.Z, b.Z) and np.array_equal(a.A, b.A)
        assert at.X.dtype == at.Y.dtype == np.float64 and all(layer["W"].dtype == np.float64 for layer in at.params)


def test_ratios_reads_zero_over_zero_as_zero_and_x_over_zero_as_inf() -> None:
    err = np.array([0.0, 1.0, 2.0, 0.0])
    allowed = np.array([0.0, 0.0, 4.0, 3.0])
    assert ratios(err, allowed).tolist() == [0.0, np.inf, 0.5, 0.0]
    assert ratios(err[2:], allowed[2:]).tolist() == [0.5, 0.0]  # every allowance positive: the plain quotient


def test_check_reports_the_rate_and_the_start_up_apart() -> None:
    result = check(1, seed=3, hidden=["tanh"])
    assert result.ok and result.cases > 0 and result.seconds > 0 and result.startup >= 0
    assert result.cases_per_second == result.cases / result.seconds
    data = result.to_dict()
    assert data["cases_per_second"] == round(result.cases / result.seconds, 1)
    assert data["startup_seconds"] == round(result.startup, 2)
    summary = next(line for line in result.render().splitlines() if "cases checked" in line)
    assert f"{result.cases_per_second:.0f} cases/s" in summary and "start-up" in summary


@pytest.mark.parametrize("loss", sorted(bp_manual.LOSSES))
def test_losses_of_a_stack_of_batches_are_each_batch_s_loss(loss: str) -> None:
    rng = np.random.default_rng(4)
    value = bp_manual.LOSSES[loss].value
    Z = rng.normal(size=(3, 2, 5, 4))
    Y = rng.uniform(size=(5, 4))
    if loss == "cross_entropy":
        Y = Y / Y.sum(axis=1, keepdims=True)
    stacked = np.asarray(value(Z, Y))
    assert stacked.shape == (3, 2)
    for i, j in np.ndindex(3, 2):
        assert stacked[i, j] == value(Z[i, j], Y)  # bit for bit
    assert np.ndim(value(Z[0, 0], Y)) == 0
