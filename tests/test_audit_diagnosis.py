"""The auditor's diagnosis names only what the evidence supports (issue 14, mistakes 2 and 3).

- A one-entry array is not called ``scale``: any number is some multiple of
  another, so a factor fitted to one entry says nothing. Before the fix a wrong
  ``b2`` of shape ``(1,)`` was reported as ``scale`` with ``c = 0.3147``.
- A hint must fit the problem: a doubled gradient under cross-entropy is not
  "the 1/2 of the squared error forgotten" (there is no squared error).
"""

from __future__ import annotations

import numpy as np

import bp_autodiff
import bp_manual
from bp_manual.problems import random_problem


def _wrong_b2(spec, params, X, Y):
    loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    grads[-1]["b"] = grads[-1]["b"] + 0.3  # a wrong value, not a multiple of anything
    return loss, grads


def test_a_one_entry_array_is_never_called_scale() -> None:
    spec = bp_manual.NetworkSpec((3, 4, 1), hidden="tanh")
    p = random_problem(spec, np.random.default_rng(0), 5)
    report = bp_autodiff.audit(spec, p.params, p.X, p.Y, _wrong_b2)
    (finding,) = [f for f in report.findings if f.param == "b2"]
    assert finding.kind == "mismatch" and finding.factor is None, report.render()


def test_a_scaled_array_with_several_entries_is_still_scale() -> None:
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh")
    p = random_problem(spec, np.random.default_rng(0), 5)

    def tripled(spec, params, X, Y):
        loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
        grads[-1]["b"] = 3.0 * grads[-1]["b"]
        return loss, grads

    (finding,) = [f for f in bp_autodiff.audit(spec, p.params, p.X, p.Y, tripled).findings if f.param == "b2"]
    assert finding.kind == "scale" and finding.factor is not None and abs(finding.factor - 3.0) < 1e-9
    assert finding.layer == 2


def _doubled_dW2(spec, params, X, Y):
    loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    grads[-1]["W"] = 2.0 * grads[-1]["W"]
    return loss, grads


def test_the_squared_error_hint_only_under_mse() -> None:
    for loss, output, hinted in (("cross_entropy", "softmax", False), ("mse", "identity", True)):
        spec = bp_manual.NetworkSpec((3, 4, 3), hidden="tanh", output=output, loss=loss)
        p = random_problem(spec, np.random.default_rng(1), 5, form="one_hot")
        (finding,) = [f for f in bp_autodiff.audit(spec, p.params, p.X, p.Y, _doubled_dW2).findings if f.param == "W2"]
        assert finding.kind == "scale" and finding.factor is not None and abs(finding.factor - 2.0) < 1e-9
        assert ("squared error" in finding.detail) is hinted, finding.detail


def test_a_saturated_float32_softmax_is_judged_by_its_terms_against_finite_differences() -> None:
    """``Y_hat - Y`` of a nearly saturated softmax (loss about 5e-5) is computed from ``Y_hat`` near 1 in
    float32, off by about ``u |Y_hat|``: far more than ``u`` of its own size. The finite-difference witness
    (float64) sees the true value; the allowance for the float32 function's own rounding must follow the
    size of the terms (``T``), as the JAX comparison does. Found by hypothesis (W3 at 1.4 x an allowance
    sized by the array)."""
    spec = bp_manual.NetworkSpec((2, 5, 11, 2), hidden="identity", output="softmax", loss="cross_entropy", bias=False)
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        params = bp_manual.init_params(spec, "he_normal", rng, np.float32)
        X = rng.normal(0.0, 3.0, (1, 2)).astype(np.float32)
        Z = X.astype(np.float64)
        for layer in params:
            Z = Z @ layer["W"].T.astype(np.float64)
        Y = np.array([int(np.argmax(Z[0]))])  # the label the network already predicts: a saturated softmax
        report = bp_autodiff.audit(spec, params, X, Y, bp_manual.loss_grads_and_deltas, fd_max_entries=16)
        flagged += not report.ok
    assert flagged == 0
