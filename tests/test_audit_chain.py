"""audit_chain: each step's backward judged given the gradient the chain passed it; where errors start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bp_autodiff import audit_chain
from bp_autodiff.auditor.chain import ChainStep, chain_of_sequential
from bp_autodiff.catalog.activations import MISTAKES as ACTIVATION_MISTAKES
from bp_manual.layers.sequential import Sequential

#: |pre-activation| of every ReLU input, by construction. The finite-difference step
#: of vjp_witness is ~ u64**(1/3) * max(1, |v|) ~ 6e-6 per entry of x, W or b, which
#: moves a pre-activation by at most ~6e-6 * (1 + sum |x| + sum |W|) < 1e-3 here:
#: 0.5 keeps every stencil on one side of the kink by orders of magnitude.
MARGIN = 0.5


def _off_kink_input(rng: np.random.Generator, W: Any, b: Any, n: int) -> Any:
    """``x (n, D)`` with ``x @ W.T + b`` of modulus in [MARGIN, MARGIN + 1] and random sign.

    ``W`` is ``(H, D)`` with ``H <= D`` and full row rank (random normal), so
    ``W x_n = z_n - b`` has an exact (minimal-norm) solution for any target ``z_n``.
    """
    H = W.shape[0]
    z = rng.choice([-1.0, 1.0], size=(n, H)) * (MARGIN + rng.random((n, H)))
    x = np.linalg.lstsq(W, (z - b).T, rcond=None)[0].T
    assert np.min(np.abs(x @ W.T + b)) >= MARGIN - 1e-9
    return x


def linear_forward(x: Any, W: Any, b: Any) -> tuple[Any, Any]:
    return x @ W.T + b, (x, W)


def linear_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    x, W = cache
    return dout @ W, dout.T @ x, dout.sum(axis=0)


def relu_forward(x: Any) -> tuple[Any, Any]:
    return np.maximum(x, 0.0), x


def relu_backward(dout: Any, x: Any) -> tuple[Any]:
    return (dout * (x > 0),)


def relu_backward_wrong_sign(dout: Any, x: Any) -> tuple[Any]:
    return (dout * (x < 0),)  # the mask of the wrong sign


def tanh_half_forward(x: Any) -> tuple[Any, Any]:
    """A smooth last step: ``out = 0.5 * tanh(x) ** 2``, ``dout/dx = tanh(x) * (1 - tanh(x) ** 2)``."""
    t = np.tanh(x)
    return 0.5 * t**2, t


def tanh_half_backward(dout: Any, t: Any) -> tuple[Any]:
    return (dout * t * (1.0 - t**2),)


def _chain(relu_backward_fn: Any = relu_backward) -> tuple[list[tuple[Any, ...]], Any]:
    rng = np.random.default_rng(7)
    D, H, K, N = 6, 5, 3, 4
    W1, b1 = rng.standard_normal((H, D)), rng.standard_normal(H)
    W2, b2 = rng.standard_normal((K, H)), rng.standard_normal(K)
    x = _off_kink_input(rng, W1, b1, N)
    steps = [
        ("linear1", linear_forward, linear_backward, {"W": W1, "b": b1}),
        ("relu2", relu_forward, relu_backward_fn, ()),
        ("linear3", linear_forward, linear_backward, {"W": W2, "b": b2}),
        ("out4", tanh_half_forward, tanh_half_backward, ()),
    ]
    return steps, x


def _statuses(report: Any) -> dict[str, str]:
    return {e.where: e.status for e in report.localisation}


def test_a_correct_chain_is_ok_at_every_step() -> None:
    steps, x = _chain()
    report = audit_chain(steps, x)
    assert report.ok, report.render()
    assert report.mode == "chain"
    assert _statuses(report) == {"linear1": "ok", "relu2": "ok", "linear3": "ok", "out4": "ok"}
    assert not report.inconclusive
    # every step's gradients were compared, and passed
    assert {c.param for c in report.comparisons} >= {"linear1/x", "linear1/W", "linear1/b", "relu2/x", "out4/x"}
    assert all(c.verdict == "pass" for c in report.comparisons)


def test_each_step_is_audited_on_the_gradient_the_chain_passed_it() -> None:
    """The first step's gradients in the report are the chain's own dW1, db1 for the given dout (not a fresh dout)."""
    steps, x = _chain()
    dout = np.random.default_rng(11).standard_normal((4, 3))
    values, caches = [x], []
    for _, fwd, _, params in steps:
        out, cache = fwd(values[-1], *dict(params).values())
        values.append(out)
        caches.append(cache)
    grads: dict[str, Any] = {}
    g = dout
    for (name, _, bwd, params), cache in zip(reversed(steps), reversed(caches), strict=True):
        g, *dparams = bwd(g, cache)
        grads.update({f"{name}/{k}": v for k, v in zip(dict(params), dparams, strict=True)})
    report = audit_chain(steps, x, dout=dout)
    assert report.ok
    rows = [c for c in report.comparisons if c.param in ("linear1/W", "linear1/b", "linear3/W")]
    assert len(rows) == 3
    for c in rows:
        assert c.worst_index is not None
        assert c.manual == pytest.approx(grads[c.param][c.worst_index], rel=1e-12)


def test_a_wrong_second_step_is_introduced_there_and_inherited_below() -> None:
    steps, x = _chain(relu_backward_wrong_sign)
    report = audit_chain(steps, x)
    assert _statuses(report) == {"linear1": "inherited", "relu2": "introduced", "linear3": "ok", "out4": "ok"}
    assert report.introduced == ["relu2"]
    assert {f.param for f in report.findings} == {"relu2/x"}
    assert all(f.status == "introduced" and f.layer == 2 for f in report.findings)
    assert "relu2" in next(e.detail for e in report.localisation if e.where == "linear1")


def test_a_dropped_factor_in_the_last_step_is_inherited_by_all_below() -> None:
    steps, x = _chain()

    def dropped(dout: Any, t: Any) -> tuple[Any]:
        return (dout * t,)  # the factor (1 - t**2) dropped

    steps[3] = (*steps[3][:2], dropped, ())
    report = audit_chain(steps, x)
    assert _statuses(report) == {
        "linear1": "inherited",
        "relu2": "inherited",
        "linear3": "inherited",
        "out4": "introduced",
    }


def test_a_wrong_parameter_gradient_passes_nothing_down() -> None:
    steps, x = _chain()

    def db_unsummed_scaled(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
        dx, dW, db = linear_backward(dout, cache)
        return dx, dW, 2.0 * db  # only db wrong: dx, what goes down, is right

    steps[2] = (*steps[2][:2], db_unsummed_scaled, steps[2][3])
    report = audit_chain(steps, x)
    assert _statuses(report) == {"linear1": "ok", "relu2": "ok", "linear3": "introduced", "out4": "ok"}
    assert [(f.param, f.kind, f.factor) for f in report.findings] == [("linear3/b", "scale", pytest.approx(2.0))]


def test_a_raising_backward_leaves_the_steps_below_audited_on_their_own() -> None:
    steps, x = _chain()

    def broken(dout: Any, x: Any) -> tuple[Any]:
        raise RuntimeError("boom")

    steps[1] = (*steps[1][:2], broken, ())
    report = audit_chain(steps, x)
    assert _statuses(report) == {"linear1": "inherited", "relu2": "introduced", "linear3": "ok", "out4": "ok"}
    assert ("relu2/backward", "raises") in {(f.param, f.kind) for f in report.findings}


def test_a_sequential_model_with_a_catalog_mistake_names_that_layer() -> None:
    rng = np.random.default_rng(3)
    model = Sequential(
        [
            ("linear", {"in_features": 6, "out_features": 5}),
            "relu",
            ("linear", {"in_features": 5, "out_features": 3}),
        ]
    )
    params = model.init(rng)
    x = _off_kink_input(rng, params[0]["W"], params[0]["b"], 4)
    steps = chain_of_sequential(model, params)
    assert [s.name for s in steps] == ["linear1", "relu2", "linear3"]
    assert audit_chain(steps, x).ok

    mistake = ACTIVATION_MISTAKES["relu_mask_from_output"]
    steps[1] = steps[1]._replace(backward=mistake.backward)
    report = audit_chain(steps, x)
    assert _statuses(report) == {"linear1": "inherited", "relu2": "introduced", "linear3": "ok"}
    assert [(f.param, f.kind) for f in report.findings] == [("relu2/x", mistake.kind)]
    assert any(c.witness == "jax" for c in report.comparisons)  # the layer's twin was a witness


def test_bad_arguments_are_named() -> None:
    steps, x = _chain()
    with pytest.raises(TypeError, match="steps"):
        audit_chain([], x)
    with pytest.raises(ValueError, match="unique"):
        audit_chain([steps[1], steps[1]], x)
    with pytest.raises(ValueError, match="dout"):
        audit_chain(steps, x, dout=np.ones(3))
    with pytest.raises(TypeError, match="Sequential"):
        chain_of_sequential(steps, [])
    model = Sequential([("linear", {"in_features": 2, "out_features": 2}), "relu"])
    with pytest.raises(ValueError, match="params"):
        chain_of_sequential(model, [])
    with pytest.raises(ValueError, match="params"):
        chain_of_sequential(model, [{"W": np.eye(2)}])
    assert isinstance(ChainStep(*steps[0]), tuple)
