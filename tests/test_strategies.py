"""``bp_autodiff.strategies``: the networks of ``COVERING`` take every path of the network code, as its docstring says,
and ``problems(spec=..., batch=...)`` draws values only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

import bp_manual
from bp_autodiff.strategies import COVERING, LOSS_NAMES, Problem, problems


def test_covering_takes_every_path_of_the_network_code() -> None:
    deep = [spec for spec, _ in COVERING if spec.n_layers > 1]
    assert {spec.hidden for spec in deep} == set(bp_manual.HIDDEN)  # each hidden activation, where it is used
    losses = [spec.loss for spec, _ in COVERING]
    assert all(losses.count(loss) >= 2 for loss in LOSS_NAMES)
    assert {spec.bias for spec, _ in COVERING} == {True, False}
    assert {spec.n_layers for spec, _ in COVERING} == {1, 2, 3, 4}
    assert 1 in {spec.sizes[0] for spec, _ in COVERING}  # width 1: input,
    assert any(1 in spec.sizes[1:-1] for spec, _ in COVERING)  # hidden,
    assert 1 in {spec.sizes[-1] for spec, _ in COVERING}  # output
    assert 1 in {n for _, n in COVERING}  # one-sample gradients (outer products)
    for spec, _ in COVERING:
        assert spec.output == bp_manual.LOSSES[spec.loss].output


@settings(max_examples=20)
@given(problems(spec=COVERING[2][0], batch=COVERING[2][1]))
def test_a_fixed_spec_and_batch_draw_values_only(problem: Problem) -> None:
    assert problem.spec == COVERING[2][0] and problem.X.shape == (COVERING[2][1], COVERING[2][0].sizes[0])
    assert problem.dtype in (np.float64, np.float32)
