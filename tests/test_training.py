"""The update, its ordering, the training loop and ``MLP``."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_manual import MLP, NetworkSpec


def _problem(seed: int = 0):
    spec = NetworkSpec((4, 5, 3), hidden="tanh")
    params = bp_manual.init_params(spec, "xavier_normal", seed=seed)
    rng = np.random.default_rng(seed)
    return spec, params, rng.normal(size=(8, 4)), rng.normal(size=(8, 3))


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
def test_sgd_step_is_pure_and_exact(module) -> None:
    spec, params, X, Y = _problem()
    _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    saved_p, saved_g = copy.deepcopy(params), copy.deepcopy(grads)
    new = module.sgd_step(params, grads, 0.25)
    for p, g, n, sp, sg in zip(params, grads, new, saved_p, saved_g, strict=True):
        for key in p:
            np.testing.assert_array_equal(p[key], sp[key])  # inputs untouched
            np.testing.assert_array_equal(g[key], sg[key])
            np.testing.assert_array_equal(n[key], p[key] - 0.25 * g[key])


def test_all_gradients_are_computed_before_any_weight_changes() -> None:
    """``MLP.step`` equals ``params - lr * grads(params)``, bit for bit; the
    "update as you go" ordering (layer 1's delta computed through the already
    updated ``W_2``) gives different weights, so the test can tell them apart."""
    spec, params, X, Y = _problem()
    lr = 0.5
    mlp = MLP.from_params(spec, params)
    mlp.step(X, Y, lr)
    _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    for new, p, g in zip(mlp.params, params, grads, strict=True):
        for key in p:
            np.testing.assert_array_equal(new[key], p[key] - lr * g[key])

    # the wrong ordering, written out: update W2, then backpropagate through the new W2
    Y_hat, cache = bp_manual.forward(spec, params, X)
    delta2 = (Y_hat - Y) / X.shape[0]
    W2_new = params[1]["W"] - lr * (delta2.T @ cache[1].A_prev)
    delta1_wrong = (delta2 @ W2_new) * (1 - cache[0].A ** 2)
    W1_wrong = params[0]["W"] - lr * (delta1_wrong.T @ X)
    assert np.max(np.abs(W1_wrong - mlp.params[0]["W"])) > 1e-6


def test_step_leaves_params_alone_on_bad_input() -> None:
    mlp = MLP((3, 2), seed=0)
    before = copy.deepcopy(mlp.params)
    for lr in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be finite and > 0"):
            mlp.step(np.ones((1, 3)), np.ones((1, 2)), lr)
    with pytest.raises(ValueError, match="X has 2 features"):
        mlp.step(np.ones((1, 2)), np.ones((1, 2)), 0.1)
    for a, b in zip(before, mlp.params, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_fit_lowers_the_loss_reproducibly_and_reports_through_the_callback() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    Y = np.sin(X @ np.array([[1.0], [-0.5], [0.25]]))
    seen: list[tuple[int, float]] = []

    def callback(epoch: int, loss: float, params) -> None:
        seen.append((epoch, loss))

    a = MLP((3, 8, 1), hidden="tanh", seed=1)
    history = a.fit(X, Y, epochs=30, batch_size=16, lr=0.1, seed=2, callback=callback)
    assert len(history.loss) == 30 and not history.stopped_early
    assert [e for e, _ in seen] == list(range(1, 31)) and [v for _, v in seen] == history.loss
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert float(a.loss(X, Y)) < history.loss[0]

    b = MLP((3, 8, 1), hidden="tanh", seed=1)
    again = b.fit(X, Y, epochs=30, batch_size=16, lr=0.1, seed=2)
    assert again.loss == history.loss
    for pa, pb in zip(a.params, b.params, strict=True):
        for key in pa:
            assert pa[key].tobytes() == pb[key].tobytes()


def test_fit_history_is_the_mean_of_the_minibatch_losses() -> None:
    spec, params, X, Y = _problem()
    new, history = bp_manual.fit(spec, params, X, Y, epochs=1, batch_size=3, lr=0.1, seed=5)
    order = np.random.default_rng(5).permutation(8)
    p, total = params, 0.0
    for start in range(0, 8, 3):
        idx = order[start : start + 3]
        loss, grads = bp_manual.loss_and_grads(spec, p, X[idx], Y[idx])
        total += float(loss) * len(idx)
        p = bp_manual.sgd_step(p, grads, 0.1)
    assert history.loss == [total / 8]
    for a, b in zip(new, p, strict=True):
        np.testing.assert_array_equal(a["W"], b["W"])


def test_fit_stops_when_the_callback_says_so() -> None:
    mlp = MLP((2, 3, 1), seed=0)
    history = mlp.fit(
        np.ones((4, 2)), np.ones((4, 1)), epochs=10, batch_size=2, seed=0, callback=lambda e, l, p: e == 3
    )
    assert history.stopped_early and len(history.loss) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
        ({"lr": -0.1}, ValueError, "lr must be finite and > 0"),
        ({"seed": "x"}, TypeError, "seed must be None"),
    ],
)
def test_fit_refuses_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    mlp = MLP((2, 1), seed=0)
    before = copy.deepcopy(mlp.params)
    with pytest.raises(error, match=match):
        mlp.fit(np.ones((4, 2)), np.ones((4, 1)), **kwargs)
    np.testing.assert_array_equal(before[0]["W"], mlp.params[0]["W"])


def test_mlp_predict_loss_and_float32() -> None:
    mlp = MLP(
        (3, 4, 2), hidden="relu", output="softmax", loss="cross_entropy", init="he_normal", seed=0, dtype=np.float32
    )
    X = np.ones((5, 3))
    P = mlp.predict(X)
    assert P.shape == (5, 2) and P.dtype == np.float32
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    loss = mlp.loss(X, np.zeros(5, dtype=int))
    assert type(loss) is np.float32
    assert mlp.predict(np.ones(3)).shape == (1, 2)
    assert "float32" in repr(mlp)
