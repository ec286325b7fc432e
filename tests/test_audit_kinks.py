"""The auditor at ReLU kinks: no false alarm on correct code, and still no blind spot for wrong code.

A finite-difference step ``h = 2**-17`` moves a pre-activation ``Z_l`` by about
``h * |A_{l-1}|``; when ``Z_l`` lies closer to 0 than that, the loss is not
smooth over the stencil ``p +- h, p +- 2h`` and the central difference is not
the derivative. The auditor records the signs of the kinked pre-activations at
every step, uses the clean side's one-sided estimate where only one side
crosses, and leaves an entry out of the verdict (``report.inconclusive``) only
when no side is clean or the point is exactly on the kink.

Regression for issue 14, mistake 1: a 3-4-2 ReLU network (identity + mse,
batch 5) with ``Z1[0, 0]`` placed between 0 and ``1e-6`` from the kink; before
the fix the correct hand derivation was reported ``mismatch`` on ``W1``, ``b1``
in 30 of 30 such networks.
"""

from __future__ import annotations

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_autodiff import catalog
from bp_manual.problems import random_problem

SPEC = bp_manual.NetworkSpec((3, 4, 2), hidden="relu", output="identity", loss="mse")


def _near_kink(seed: int, offset: float) -> tuple[bp_manual.Params, np.ndarray, np.ndarray]:
    """A random problem for ``SPEC`` whose ``Z1[0, 0]`` is moved to ``offset`` by its bias ``b1[0]``."""
    p = random_problem(SPEC, np.random.default_rng(seed), 5, init="he_normal")
    params = [dict(layer) for layer in p.params]
    Z = p.X @ params[0]["W"].T + params[0]["b"]
    b = params[0]["b"].copy()
    b[0] -= Z[0, 0] - offset
    params[0]["b"] = b
    assert abs((p.X @ params[0]["W"].T + b)[0, 0] - offset) <= 1e-15
    return params, p.X, p.Y


@pytest.mark.parametrize("seed", range(30))
def test_the_correct_derivation_next_to_a_kink_is_not_flagged(seed: int) -> None:
    offset = np.random.default_rng(1000 + seed).uniform(0.0, 1e-6)
    params, X, Y = _near_kink(seed, offset)
    report = bp_autodiff.audit(SPEC, params, X, Y, bp_manual.loss_grads_and_deltas)
    assert report.ok, report.render()
    fd_rows = [c for c in report.comparisons if c.witness == "fd" and c.param in ("W1", "b1")]
    assert all(c.checked > 0 and c.verdict == "pass" for c in fd_rows)  # judged, not skipped


def test_exactly_on_the_kink_the_entries_it_moves_are_inconclusive_not_wrong() -> None:
    params, X, Y = _near_kink(0, 0.0)
    report = bp_autodiff.audit(SPEC, params, X, Y, bp_manual.loss_grads_and_deltas)
    assert report.ok, report.render()
    fd = [e for e in report.inconclusive if e.witness == "fd"]
    assert fd
    assert {e.param for e in fd} <= {"W1", "b1"}  # only row 0 of layer 1 moves Z1[0, 0]
    assert all(e.index[0] == 0 for e in fd)
    # relu'(0) = 0 takes the side where Z1[0, 0] < 0: for b1[0] that is the left derivative in b1[0];
    # for W1[0, j] the side of the sign of -X[0, j]
    assert all(e.one_sided is not None for e in fd)
    by_index = {(e.param, e.index): e.one_sided for e in fd}
    assert by_index[("b1", (0,))] == "left"
    for j in range(3):
        assert by_index[("W1", (0, j))] == ("right" if X[0, j] < 0 else "left")
    assert any("inconclusive against finite differences" in w for w in report.warnings)
    # against JAX the same entries depend on the convention; the function takes JAX's branch
    assert all(e.one_sided == "jax" for e in report.inconclusive if e.witness == "jax")


def test_a_wrong_derivative_next_to_a_kink_is_still_caught() -> None:
    params, X, Y = _near_kink(3, 1e-7)
    report = bp_autodiff.audit(SPEC, params, X, Y, catalog.relu_derivative_one)
    assert not report.ok
    assert "activation_derivative" in report.kinds or "mismatch" in report.kinds


def test_a_mistake_in_the_kinked_layer_is_caught_by_finite_differences_too() -> None:
    """The one-sided estimates still judge: a gradient off by 1% in W1 fails against finite differences."""
    params, X, Y = _near_kink(5, 3e-7)

    def off_by_one_percent(spec, params, X, Y):
        loss, grads = bp_manual.loss_and_grads(spec, params, X, Y)
        grads[0]["W"] = grads[0]["W"] * 1.01
        return loss, grads

    report = bp_autodiff.audit(SPEC, params, X, Y, off_by_one_percent)
    fd = next(c for c in report.comparisons if c.param == "W1" and c.witness == "fd")
    assert fd.verdict == "FAIL" and fd.checked > 0


def _relu_prime_one_at_zero(spec, params, X, Y):
    """A correct backward pass that takes relu'(0) = 1 (the right derivative) instead of 0."""
    from bp_manual.network import backward, forward, loss_from_cache
    from bp_manual.validation import prepare_batch

    X_, Y_ = prepare_batch(spec, params, X, Y)
    _, cache = forward(spec, params, X_)
    grads, deltas = backward(spec, params, cache, Y_, f_prime=lambda Z, A: (Z >= 0).astype(Z.dtype))
    return loss_from_cache(spec, cache, Y_), grads, deltas


def test_the_other_convention_at_a_kink_is_inconclusive_against_jax_not_wrong() -> None:
    """JAX takes relu'(0) = 0; a function taking relu'(0) = 1 at a pre-activation that is exactly 0
    differs from JAX only in the entries that depend on that choice: inconclusive, with the branch named."""
    params, X, Y = _near_kink(0, 0.0)
    report = bp_autodiff.audit(SPEC, params, X, Y, _relu_prime_one_at_zero)
    assert report.ok, report.render()
    against_jax = [e for e in report.inconclusive if e.witness == "jax"]
    assert against_jax and all(e.one_sided == "other" for e in against_jax)
    assert {(e.param, e.index) for e in against_jax} >= {("W1", (0, 0)), ("b1", (0,)), ("delta1", (0, 0))}
    assert any("inconclusive against JAX" in w and "the other branch" in w for w in report.warnings)


def test_away_from_kinks_the_other_convention_is_a_mistake() -> None:
    """The same function on a problem with no pre-activation near 0 computes ordinary gradients: it passes
    (relu' is the same on both branches away from 0), while a wrong one there still fails."""
    params, X, Y = _near_kink(0, 0.5)
    assert bp_autodiff.audit(SPEC, params, X, Y, _relu_prime_one_at_zero).ok
    assert not bp_autodiff.audit(SPEC, params, X, Y, catalog.relu_derivative_one).ok
