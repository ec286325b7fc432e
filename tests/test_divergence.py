"""Divergence is refused, not absorbed: a step that would make the params (or
the loss) NaN or inf raises ``DivergedError`` naming the step and the layer,
and leaves the params as they were; ``fit`` stops with the history so far."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_manual import MLP, DivergedError, NetworkSpec


def _same(a: list, b: list) -> bool:
    return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
def test_sgd_step_refuses_an_overflowing_update(module) -> None:
    params = [{"W": np.array([[1e308, 0.0]]), "b": np.zeros(1)}, {"W": np.ones((1, 1)), "b": np.zeros(1)}]
    grads = [{"W": np.array([[-1e308, 0.0]]), "b": np.zeros(1)}, {"W": np.ones((1, 1)), "b": np.zeros(1)}]
    saved = copy.deepcopy(params)
    with pytest.raises(DivergedError, match=r"W1 \(layer 1\) became non-finite .* lr=10.0"):
        module.sgd_step(params, grads, 10.0)
    assert _same(saved, params)


def test_mlp_step_names_the_step_and_leaves_params_alone() -> None:
    """Linear regression with a learning rate far past 2 / lambda_max grows the
    weights geometrically until they overflow; the step that would overflow is
    refused and the params stay those of the step before."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    mlp = MLP((3, 1), hidden="identity", seed=0)
    history = []
    with pytest.raises(DivergedError) as info:
        for _ in range(10_000):
            history.append(copy.deepcopy(mlp.params))
            mlp.step(X, Y, 1e3)
    err = info.value
    assert err.step == mlp.steps + 1 and err.step is not None and err.step > 1
    assert f"step {err.step}:" in str(err) and "lr=1000.0" in str(err)
    assert _same(history[-1], mlp.params)  # unchanged by the refused step
    assert all(np.all(np.isfinite(v)) for layer in mlp.params for v in layer.values())


def test_fit_stops_with_the_history_so_far_and_says_why() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    spec = NetworkSpec((3, 1), hidden="identity")
    params = bp_manual.init_params(spec, seed=0)
    new, history = bp_manual.fit(spec, params, X, Y, epochs=1000, batch_size=4, lr=1e3, seed=0)
    assert history.stopped_early and history.stop_reason is not None
    assert history.stop_reason.startswith(f"epoch {len(history.loss) + 1}, step ")
    assert "became non-finite" in history.stop_reason
    assert all(np.all(np.isfinite(v)) for layer in new for v in layer.values())
    # the params returned are those of the last completed step: replay it
    n_steps = int(history.stop_reason.split("step ")[1].split(":")[0]) - 1
    replay, order_rng = params, np.random.default_rng(0)
    done = 0
    while done < n_steps:
        order = order_rng.permutation(16)
        for start in range(0, 16, 4):
            if done == n_steps:
                break
            idx = order[start : start + 4]
            _, replay = bp_manual.train_step(spec, replay, X[idx], Y[idx], 1e3)
            done += 1
    assert _same(replay, new)


def test_a_sane_learning_rate_does_not_trip_the_guard() -> None:
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    _, history = bp_manual.fit(
        NetworkSpec((3, 4, 1)),
        bp_manual.init_params(NetworkSpec((3, 4, 1)), seed=0),
        X,
        Y,
        epochs=20,
        batch_size=4,
        lr=0.05,
        seed=0,
    )
    assert not history.stopped_early and history.stop_reason is None and len(history.loss) == 20
