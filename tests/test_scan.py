"""The jitted epoch (``bp_autodiff.jitted.scan.sgd_epoch``) is ``bp_manual.train_step`` sample by sample.

Both run the same hand-derived kernels; XLA may fuse and reorder the
arithmetic, so they agree to rounding, not bit for bit. Tolerance, float64:
each step's gradients agree within ``gradient_rtol`` (at most 3.3e-13 for the
networks drawn here, ``tolerances.py``), and a difference in the params carries
into the next step's gradient scaled by ``lr`` times the loss's curvature,
which is of order 1 for these small, well-scaled problems; over at most 12
steps that stays below ``12 * (1 + lr)**12 * 3.3e-13``, about 1.5e-11. We hold
the params and losses to the project's float64 bar, ``FLOAT64_RTOL = 1e-9``,
which that bound meets with a margin of 60.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_autodiff.jitted.scan import sgd_epoch
from bp_manual.optim import DivergedError
from strategies import COVERING, Problem, examples, problems
from tolerances import FLOAT64_RTOL, close


@pytest.mark.parametrize("case", range(len(COVERING)))
@settings(max_examples=examples(0.02))
@given(data=st.data())
def test_jitted_epoch_equals_train_step_sample_by_sample(case: int, data: st.DataObject) -> None:
    """Every network of ``COVERING`` (every path of the code), a new epoch of values each example: one compile
    per network, not one per random shape."""
    spec, n = COVERING[case]  # an epoch of n one-sample steps
    problem: Problem = data.draw(problems(dtypes=(np.float64,), spec=spec, batch=n))
    spec, params, X, Y = problem.spec, problem.params, problem.X, problem.Y
    lr = 0.1
    current = params
    expected = []
    try:
        for i in range(X.shape[0]):
            loss, current = bp_manual.train_step(spec, current, X[i : i + 1], Y[i : i + 1], lr)
            expected.append(loss)
    except DivergedError:  # then the jitted epoch must refuse too
        with pytest.raises(DivergedError):
            sgd_epoch(spec, params, X, Y, lr)
        return
    new, losses = sgd_epoch(spec, params, X, Y, lr)
    ok, rel, _ = close(losses, np.array(expected), FLOAT64_RTOL)
    assert ok, f"losses: rel error {rel:.2e} for {problem.describe()}"
    for l, (a, b) in enumerate(zip(new, current, strict=True), start=1):
        for key in b:
            assert a[key].dtype == b[key].dtype == np.float64
            ok, rel, _ = close(a[key], b[key], FLOAT64_RTOL)
            assert ok, f"{key}{l}: rel error {rel:.2e} for {problem.describe()}"


def test_jitted_epoch_keeps_float32_and_checks_inputs() -> None:
    spec = bp_manual.NetworkSpec((4, 3, 2), output="softmax", loss="cross_entropy")
    params = bp_manual.init_params(spec, seed=0, dtype=np.float32)
    X = np.ones((5, 4), np.float32)
    new, losses = sgd_epoch(spec, params, X, np.array([0, 1, 0, 1, 1]), 0.1)
    assert new[0]["W"].dtype == np.float32 and losses.dtype == np.float32 and losses.shape == (5,)
    with pytest.raises(ValueError, match=r"^X contains NaN"):
        sgd_epoch(spec, params, np.full((5, 4), np.nan), np.zeros(5, np.int64), 0.1)
    with pytest.raises(ValueError, match=r"^lr must be finite"):
        sgd_epoch(spec, params, X, np.zeros(5, np.int64), -1.0)


def test_jitted_epoch_reports_divergence() -> None:
    spec = bp_manual.NetworkSpec((2, 2), hidden="identity")
    params = bp_manual.init_params(spec, seed=0)
    X = np.full((30, 2), 1e3)
    with pytest.raises(DivergedError, match=r"the loss of sample \d+"):
        sgd_epoch(spec, params, X, np.zeros((30, 2)), 10.0)
