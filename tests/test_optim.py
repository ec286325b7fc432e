"""The update rules of ``bp_manual.optim`` against optax, step by step.

Each property draws a params structure, ``K`` steps of random gradients and
the rule's hyper-parameters, runs ``bp_manual.optim`` and the optax chain
that the rule claims to equal, both in float64, and compares the params after
every step.

Tolerance, derived. Per element, both sides evaluate the same expression in
float64 (unit roundoff ``u = 2**-53``), possibly in a different order. At step
``k`` (from 1) the increment is ``p_k = p_{k-1} - lr * U_k``:

- the moments are recursions ``m_k = (1 - b) g_k + b m_{k-1}`` of 3 roundings
  per step whose errors decay by ``b < 1``, so after ``k`` steps their absolute
  error is at most ``3 k u`` times the same recursion run on ``|g|`` (which we
  call ``M_k``; it bounds ``|m_k|`` and the terms that may cancel in it);
- the rest of the update (two bias-correction divisions, a square root, the
  ``+ eps``, a division, the multiplication by ``lr``) adds at most 15 roundings,
  ``sqrt`` halving the relative error of ``s_k``, so ``|error(U_k)| <= (5 k + 15)
  u * Ubar_k`` where ``Ubar_k`` is ``U_k`` computed from ``M_k`` (momentum and
  SGD have fewer operations, so the same bound holds);
- the bias correction ``c = 1 - b**k`` cancels: ``b**k`` is rounded once
  (relative ``u``), so ``c`` carries a relative error ``u * b**k / (1 - b**k)``,
  the factor ``kappa_k`` below (it is 0 for SGD and momentum);
- the subtraction ``p_{k-1} - lr U_k`` rounds once, relative to ``|p_k|``, and an
  error already in ``p_{k-1}`` is carried forward unchanged (weight decay
  multiplies it by ``1 - lr * wd``, at most 1 for the ranges drawn).

Summed over the steps and doubled (both sides err, independently)::

    |p_bp - p_optax| <= 2 u * sum_k [ (5 k + 15 + kappa1_k + kappa2_k) * lr * Ubar_k + |p_k| ]

elementwise. A wrong rule (classical for Nesterov, a missing bias correction)
is off by a fraction of ``lr * |g|``, about 1e13 times this bound; a test
below checks that the comparison does fail then.
"""

from __future__ import annotations

import copy
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_manual import optim
from strategies import examples
from tolerances import record

U64 = 2.0**-53


#: The params of a ``bp_manual.layers.Sequential`` (conv2d, relu, batch_norm, embedding, rnn, linear): any
#: keys, and an empty dict for the parameter-free relu.
LAYER_PARAMS: list[dict[str, tuple[int, ...]]] = [
    {"w": (2, 1, 3, 3), "b": (2,)},
    {},
    {"gamma": (2,), "beta": (2,)},
    {"E": (5, 3)},
    {"Wx": (4, 3), "Wh": (4, 4), "b": (4,)},
    {"W": (3, 4), "b": (3,)},
]
#: The documented rule (``bp_manual.optim``'s module docstring): L2 weight decay acts on these keys only.
DECAYED_KEYS = {"W", "w", "E", "Wx", "Wh"}


def _params(rng: np.random.Generator, sizes: list[int] | str, bias: bool, scale: float) -> list[dict[str, np.ndarray]]:
    if isinstance(sizes, str):  # "layers"
        return [{key: scale * rng.normal(size=shape) for key, shape in layer.items()} for layer in LAYER_PARAMS]
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        layer = {"W": scale * rng.normal(size=(n_out, n_in))}
        if bias:
            layer["b"] = scale * rng.normal(size=(n_out,))
        layers.append(layer)
    return layers


#: The rules act elementwise, so a few structures cover them; a fixed set lets JAX reuse
#: the compiled helpers of optax (a new shape costs a compile, about 0.1 s).
STRUCTURES: list[list[int] | str] = [[3, 4, 2], [5, 1], [2, 3, 3, 1], [1, 6, 6], "layers"]


@st.composite
def cases(draw: st.DrawFn) -> dict:
    """Sizes, bias, number of steps, the seed of the numbers, and their scales."""
    return {
        "sizes": draw(st.sampled_from(STRUCTURES)),
        "bias": draw(st.booleans()),
        "steps": draw(st.integers(1, 6)),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "p_scale": draw(st.sampled_from([1e-3, 1.0, 10.0])),
        "g_scale": draw(st.sampled_from([1e-6, 1e-2, 1.0, 100.0])),
        "lr": draw(st.sampled_from([1e-4, 1e-3, 0.05, 0.5])),
        "wd": draw(st.sampled_from([0.0, 0.0, 1e-4, 0.1])),
    }


def _draw_problem(case: dict):
    rng = np.random.default_rng(case["seed"])
    params = _params(rng, case["sizes"], case["bias"], case["p_scale"])
    grads = [
        _params(rng, case["sizes"], case["bias"], case["g_scale"]) for _ in range(case["steps"])
    ]  # gradients of every step, shaped like params
    return params, grads


def _optax_chain(rule: str, lr: float, wd: float, hyper: dict) -> optax.GradientTransformation:
    """The optax transformation each ``bp_manual`` rule claims to equal."""
    if rule == "sgd":
        core = optax.sgd(lr)
    elif rule in ("momentum", "nesterov"):
        core = optax.sgd(lr, momentum=hyper["beta"], nesterov=rule == "nesterov")
    else:
        core = optax.adam(lr, b1=hyper["b1"], b2=hyper["b2"], eps=hyper["eps"])
    if wd == 0.0:
        return core
    # L2 on the weights only: the mask is True for "W" (and the layers' weights), False for "b", "gamma", "beta"
    mask = lambda params: [{key: key in DECAYED_KEYS for key in layer} for layer in params]  # noqa: E731
    return optax.chain(optax.add_decayed_weights(wd, mask=mask), core)


def _run_optax(chain: optax.GradientTransformation, params, grads_seq):
    with jax.enable_x64(True):
        p = jax.tree.map(jnp.asarray, params)
        state = chain.init(p)
        out = []
        for g in grads_seq:
            updates, state = chain.update(jax.tree.map(jnp.asarray, g), state, p)
            p = optax.apply_updates(p, updates)
            out.append(jax.tree.map(np.asarray, p))
    return out


def _run_bp(opt: optim.Optimizer, params, grads_seq):
    state = opt.init(params)
    p, out = params, []
    for g in grads_seq:
        p, state = opt.update(p, g, state)
        out.append(p)
    return out


def _bounds(rule: str, lr: float, wd: float, hyper: dict, trajectory, grads_seq):
    """The elementwise bound of the module docstring, one params-shaped list per step."""
    beta = hyper.get("beta", 0.0)
    b1, b2, eps = hyper.get("b1", 0.0), hyper.get("b2", 0.0), hyper.get("eps", 0.0)
    M = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in trajectory[0]]
    S = copy.deepcopy(M)
    acc = copy.deepcopy(M)
    bounds = []
    prev = trajectory[0]
    for k, g in enumerate(grads_seq, start=1):
        kappa = 0.0
        if rule == "adam":
            kappa = b1**k / (1 - b1**k) + b2**k / (1 - b2**k)
        step_bounds = []
        for i, layer in enumerate(g):
            out = {}
            for key, gk in layer.items():
                a = np.abs(gk) + (wd * np.abs(prev[i][key]) if key in DECAYED_KEYS else 0.0)
                if rule == "sgd":
                    ubar = a
                elif rule in ("momentum", "nesterov"):
                    M[i][key] = a + beta * M[i][key]
                    ubar = a + beta * M[i][key] if rule == "nesterov" else M[i][key]
                else:
                    M[i][key] = (1 - b1) * a + b1 * M[i][key]
                    S[i][key] = (1 - b2) * a * a + b2 * S[i][key]
                    ubar = (M[i][key] / (1 - b1**k)) / (np.sqrt(S[i][key] / (1 - b2**k)) + eps)
                acc[i][key] = acc[i][key] + (5 * k + 15 + kappa) * lr * ubar + np.abs(trajectory[k][i][key])
                out[key] = 2 * U64 * acc[i][key]
            step_bounds.append(out)
        bounds.append(step_bounds)
        prev = trajectory[k]
    return bounds


def _make(rule: str, lr: float, wd: float, hyper: dict) -> optim.Optimizer:
    return optim.make_optimizer(rule, lr, weight_decay=wd, **hyper)


def _hyper(rule: str, data: st.DataObject) -> dict:
    if rule in ("momentum", "nesterov"):
        return {"beta": data.draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]), label="beta")}
    if rule == "adam":
        return {
            "b1": data.draw(st.sampled_from([0.0, 0.9, 0.95]), label="b1"),
            "b2": data.draw(st.sampled_from([0.9, 0.999, 0.9999]), label="b2"),
            "eps": data.draw(st.sampled_from([1e-8, 1e-3]), label="eps"),
        }
    return {}


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "adam"])
@settings(max_examples=examples(0.3))
@given(case=cases(), data=st.data())
def test_update_rules_equal_optax_over_several_steps(rule: str, case: dict, data: st.DataObject) -> None:
    params, grads_seq = _draw_problem(case)
    hyper = _hyper(rule, data)
    lr, wd = case["lr"], case["wd"]
    saved = copy.deepcopy((params, grads_seq))
    ours = _run_bp(_make(rule, lr, wd, hyper), params, grads_seq)
    ref = _run_optax(_optax_chain(rule, lr, wd, hyper), params, grads_seq)
    bounds = _bounds(rule, lr, wd, hyper, [params, *ref], grads_seq)
    for k, (p_ours, p_ref, bound) in enumerate(zip(ours, ref, bounds, strict=True), start=1):
        for i, (lo, ref_l, b) in enumerate(zip(p_ours, p_ref, bound, strict=True)):
            for key in ref_l:
                assert lo[key].dtype == np.float64
                err = np.abs(lo[key] - ref_l[key])
                fraction = float(np.max(err / b[key]))
                scale = float(np.max(np.abs(ref_l[key])))
                record(f"optim {rule} vs optax", float(np.max(err)) / scale if scale else 0.0, fraction, f"step {k}")
                assert fraction <= 1.0, f"step {k}, layer {i}, {key}: error {np.max(err):.3g} over bound"
    # pure: inputs untouched
    for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves((params, grads_seq)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("momentum", "nesterov"),
        ("nesterov", "momentum"),
        ("sgd", "momentum"),
        ("adam_no_bias_correction", "adam"),
    ],
)
def test_the_comparison_fails_for_a_different_rule(ours: str, theirs: str) -> None:
    """The bound above is tight enough to tell each rule from its neighbour."""
    case = {"sizes": [3, 4, 2], "bias": True, "steps": 3, "seed": 1, "p_scale": 1.0, "g_scale": 1.0, "lr": 0.05}
    params, grads_seq = _draw_problem(case)
    hyper = {"beta": 0.9} if theirs != "adam" else {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
    if ours == "adam_no_bias_correction":
        p, m, s, mine = params, optim.zeros_like(params), optim.zeros_like(params), []
        for g in grads_seq:
            m = [{k: 0.1 * gl[k] + 0.9 * ml[k] for k in gl} for gl, ml in zip(g, m, strict=True)]
            s = [{k: 0.001 * gl[k] ** 2 + 0.999 * sl[k] for k in gl} for gl, sl in zip(g, s, strict=True)]
            p = [
                {k: pl[k] - 0.05 * ml[k] / (np.sqrt(sl[k]) + 1e-8) for k in pl}
                for pl, ml, sl in zip(p, m, s, strict=True)
            ]
            mine.append(p)
    else:
        mine = _run_bp(_make(ours, 0.05, 0.0, hyper if ours != "sgd" else {}), params, grads_seq)
    ref = _run_optax(_optax_chain(theirs, 0.05, 0.0, hyper), params, grads_seq)
    bounds = _bounds(theirs, 0.05, 0.0, hyper, [params, *ref], grads_seq)
    worst = max(
        float(np.max(np.abs(a[key] - r[key]) / b[key]))
        for pa, pr, pb in zip(mine, ref, bounds, strict=True)
        for a, r, b in zip(pa, pr, pb, strict=True)
        for key in r
    )
    assert worst > 1e6


def test_sgd_optimizer_is_sgd_step_bit_for_bit_and_fit_defaults_to_it() -> None:
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh")
    params = bp_manual.init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    new, state = optim.sgd(0.3).update(params, grads, optim.sgd(0.3).init(params))
    for a, b in zip(new, bp_manual.sgd_step(params, grads, 0.3), strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()
    assert state == optim.SGDState(1)
    p1, h1 = bp_manual.fit(spec, params, X, Y, epochs=3, batch_size=4, lr=0.3, seed=1)
    p2, h2 = bp_manual.fit(spec, params, X, Y, epochs=3, batch_size=4, optimizer=optim.sgd(0.3), seed=1)
    assert h1.loss == h2.loss
    for a, b in zip(p1, p2, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()


def test_fit_resumes_from_opt_state() -> None:
    """Two calls of 2 epochs with the state passed on equal one call of 4, for Adam."""
    spec = bp_manual.NetworkSpec((3, 5, 1), hidden="tanh")
    params = bp_manual.init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    opt = optim.adam(0.01)
    gen_a, gen_b = np.random.default_rng(3), np.random.default_rng(3)
    once, _ = bp_manual.fit(spec, params, X, Y, epochs=4, batch_size=5, optimizer=opt, seed=gen_a)
    half, h = bp_manual.fit(spec, params, X, Y, epochs=2, batch_size=5, optimizer=opt, seed=gen_b)
    assert isinstance(h.opt_state, optim.AdamState) and h.opt_state.step == 6
    twice, _ = bp_manual.fit(spec, half, X, Y, epochs=2, batch_size=5, optimizer=opt, seed=gen_b, opt_state=h.opt_state)
    for a, b in zip(once, twice, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()


def test_adam_trains_and_keeps_float32() -> None:
    mlp = bp_manual.MLP((2, 8, 1), hidden="tanh", seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    Y = np.sin(X[:, :1]) * X[:, 1:]
    history = mlp.fit(X, Y, epochs=40, batch_size=16, optimizer=optim.adam(0.01), seed=0)
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert all(layer[key].dtype == np.float32 for layer in mlp.params for key in layer)


@pytest.mark.parametrize(
    ("factory", "kwargs", "error", "match"),
    [
        (optim.sgd, {"lr": 0.0}, ValueError, "lr must be finite and > 0"),
        (optim.momentum, {"beta": 1.0}, ValueError, r"beta must lie in \[0, 1\)"),
        (optim.momentum, {"nesterov": 1}, TypeError, "^nesterov must be a bool, got int$"),
        (optim.adam, {"b2": -0.1}, ValueError, "b2 must lie in"),
        (optim.adam, {"eps": 0.0}, ValueError, "eps must lie in"),
        (optim.adam, {"weight_decay": -1.0}, ValueError, "weight_decay must lie in"),
        (optim.sgd, {"weight_decay": "x"}, TypeError, "weight_decay must be a real number"),
        (optim.adam, {"b1": 1.0}, ValueError, r"^b1 must lie in \[0, 1\), got 1.0$"),
        (optim.adam, {"eps": 0.0}, ValueError, r"^eps must lie in \(0, inf\), got 0.0$"),
        (optim.nesterov, {"beta": -0.5}, ValueError, r"^beta must lie in \[0, 1\), got -0.5$"),
        (
            optim.nesterov,
            {"weight_decay": float("nan")},
            ValueError,
            r"^weight_decay must lie in \[0, inf\), got nan",
        ),
        (optim.adam, {"b2": True}, TypeError, "^b2 must be a real number, got bool$"),
        (optim.adam, {"b2": 1.0}, ValueError, r"^b2 must lie in \[0, 1\), got 1.0$"),
        (optim.adam, {"b1": -0.1}, ValueError, r"^b1 must lie in \[0, 1\), got -0.1$"),
    ],
)
def test_optimizers_refuse_bad_hyper_parameters(factory, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        factory(**kwargs)


def test_bad_optimizer_use_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        optim.make_optimizer("rmsprop", 0.1)
    spec = bp_manual.NetworkSpec((2, 1))
    params = bp_manual.init_params(spec, seed=0)
    with pytest.raises(TypeError, match="give lr either to fit or to the optimizer"):
        bp_manual.fit(spec, params, np.ones((2, 2)), np.ones((2, 1)), lr=0.1, optimizer=optim.sgd(0.1))
    with pytest.raises(TypeError, match="state must be an AdamState"):
        optim.adam().update(params, params, optim.SGDState())


def test_factory_defaults_are_optaxs_and_the_documented_ones() -> None:
    """``sgd()``, ``momentum()``, ``nesterov()``, ``adam()`` with no arguments: the defaults of their docstrings."""
    assert optim.sgd() == optim.Optimizer("sgd", 0.1, 0.0, ())
    assert optim.momentum() == optim.Optimizer("momentum", 0.1, 0.0, (("beta", 0.9),))
    assert optim.momentum(nesterov=True) == optim.nesterov() == optim.Optimizer("nesterov", 0.1, 0.0, (("beta", 0.9),))
    adam = optim.Optimizer("adam", 1e-3, 0.0, (("b1", 0.9), ("b2", 0.999), ("eps", 1e-8)))
    assert optim.adam() == adam
    assert optim.make_optimizer("adam", 1e-3) == adam
    assert optim.nesterov(0.2, 0.5, weight_decay=0.01) == optim.Optimizer("nesterov", 0.2, 0.01, (("beta", 0.5),))


def test_diverged_error_message() -> None:
    """The message names what diverged, the lr and (when known) the step; ``at_step`` keeps the rest."""
    tail = (
        "became non-finite (NaN or inf) with lr=0.5; training diverged, most likely because the learning "
        "rate is too large. The params were left as they were."
    )
    e = optim.DivergedError("W2 (layer 2)", 0.5)
    assert str(e) == f"W2 (layer 2) {tail}" and (e.where, e.lr, e.step) == ("W2 (layer 2)", 0.5, None)
    s = e.at_step(7)
    assert str(s) == f"step 7: W2 (layer 2) {tail}" and (s.where, s.lr, s.step) == ("W2 (layer 2)", 0.5, 7)


def test_kernels_refuse_lists_of_different_lengths() -> None:
    """The update kernels never silently drop a layer when their params-shaped lists differ in length."""
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0)
    short = params[:1]
    zeros = optim.zeros_like(params)
    with pytest.raises(ValueError, match="zip"):
        optim.momentum_step(params, params, short, 0.1, 0.9, False)
    with pytest.raises(ValueError, match="zip"):
        optim.adam_step(params, params, zeros, zeros[:1], 1, 0.1, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="zip"):
        optim.decayed_grads(params, short, 0.1)
    with pytest.raises(ValueError, match="zip"):
        optim.sgd_update_prepared(params, short, 0.1)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_update_checks_the_state_against_the_params(name: str, dtype: type) -> None:
    """``Optimizer.update`` takes its own state in the params' dtype and refuses a state of the other dtype."""
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0, dtype=dtype)
    opt = optim.make_optimizer(name, 0.1)
    new, state = opt.update(params, params, opt.init(params))
    assert all(layer[key].dtype == np.dtype(dtype) for layer in new for key in layer)
    assert state.step == 1
    if name == "sgd":
        return
    other = np.float64 if dtype == np.float32 else np.float32
    wrong = opt.init(bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0, dtype=other))
    where = "state.velocity" if name in ("momentum", "nesterov") else "state.m"
    with pytest.raises(TypeError, match=rf"^{where}\[0\]\['W'\] has dtype {np.dtype(other)}, params have"):
        opt.update(params, params, wrong)
    if name == "adam":  # the second moment is checked too, by its own name
        assert isinstance(state, optim.AdamState) and isinstance(wrong, optim.AdamState)
        with pytest.raises(TypeError, match=rf"^state.s\[0\]\['W'\] has dtype {np.dtype(other)}, params have"):
            opt.update(params, params, optim.AdamState(state.m, wrong.s, 1))


def test_decayed_grads_adds_weight_decay_times_w_to_dw_only() -> None:
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0)
    grads = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=1)
    grads = [{"W": g["W"], "b": g["W"][:, 0].copy()} for g in grads]
    for wd in (0.0, 0.5, 1.0, 2.0):
        out = optim.decayed_grads(params, grads, wd)
        for o, p, g in zip(out, params, grads, strict=True):
            np.testing.assert_array_equal(o["W"], g["W"] + wd * p["W"])
            np.testing.assert_array_equal(o["b"], g["b"])


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_an_overflowing_step_is_reported_without_a_numpy_warning(name: str) -> None:
    """Gradients at the largest float64 overflow the step of SGD and momentum; the rule reports it
    as ``DivergedError`` (pytest turns any numpy RuntimeWarning into an error here, so a step
    that let numpy warn about the overflow would fail this test instead)."""
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0)
    big = float(np.finfo(np.float64).max)
    grads = [{key: np.full_like(arr, big) for key, arr in layer.items()} for layer in params]
    opt = optim.make_optimizer(name, 10.0)
    if name == "adam":  # g**2 overflows to inf, so m_hat / sqrt(s_hat) is 0: a finite (null) step
        new, _ = opt.update(params, grads, opt.init(params))
        assert all(np.all(np.isfinite(layer[key])) for layer in new for key in layer)
        return
    with pytest.raises(optim.DivergedError, match=r"^W1 \(layer 1\) became non-finite \(NaN or inf\) with lr=10.0;"):
        opt.update(params, grads, opt.init(params))


def test_a_state_of_another_optimizer_is_refused_by_name() -> None:
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 1)), seed=0)
    with pytest.raises(TypeError, match=r"^state must be an SGDState for sgd, got AdamState$"):
        optim.sgd().update(params, params, optim.adam().init(params))
    with pytest.raises(TypeError, match=r"^state must be a MomentumState for nesterov, got SGDState$"):
        optim.nesterov().update(params, params, optim.SGDState())
    with pytest.raises(TypeError, match=r"^state must be an AdamState for adam, got MomentumState$"):
        optim.adam().update(params, params, optim.momentum().init(params))
    with pytest.raises(TypeError, match=r"^optimizer must be a name, got int$"):
        optim.make_optimizer(3, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^unknown optimizer 'rms'; expected one of \['adam', 'momentum', "):
        optim.make_optimizer("rms", 0.1)


def test_adam_reports_an_infinite_decayed_gradient_without_a_numpy_warning() -> None:
    """``dW + weight_decay * W`` overflows to inf, so Adam's ``m_hat / sqrt(s_hat)`` is inf / inf = NaN:
    reported as ``DivergedError``, with no numpy "invalid value" warning (an error under pytest here)."""
    params = bp_manual.init_params(bp_manual.NetworkSpec((2, 3, 1)), seed=0)
    big = float(np.finfo(np.float64).max)
    grads = [{key: big * np.sign(arr) for key, arr in layer.items()} for layer in params]
    opt = optim.adam(0.1, weight_decay=1e308)
    with pytest.raises(optim.DivergedError, match=r"^W1 \(layer 1\) became non-finite \(NaN or inf\) with lr=0.1;"):
        opt.update(params, grads, opt.init(params))


def test_check_update_reports_exactly_the_non_finite_params_without_a_numpy_warning() -> None:
    """New params holding +inf and -inf (whose sum would be NaN) or NaN are divergence, reported as
    ``DivergedError``; params that are finite, however large (their sum would overflow), are not;
    numpy's overflow/invalid warnings (errors here) stay quiet."""
    mixed = [{"W": np.array([[np.inf, -np.inf]])}]
    with pytest.raises(optim.DivergedError, match=r"^W1 \(layer 1\) became non-finite"):
        optim.check_update(mixed, 0.1)
    with pytest.raises(optim.DivergedError, match=r"^b2 \(layer 2\) became non-finite"):
        optim.check_update([{"W": np.ones((2, 2))}, {"W": np.ones((1, 2)), "b": np.array([np.nan])}], 0.1)
    big = float(np.finfo(np.float64).max)
    optim.check_update([{"W": np.full((2, 3), big / 2)}], 0.1)  # finite: no error, though its sum overflows
    optim.check_update([{"W": np.full((2, 3), 1e300)}], 0.1)


def test_the_decayed_keys_are_the_documented_ones_and_layer_params_update_with_any_keys() -> None:
    """``DECAYED`` is the documented rule; every optimiser steps a Sequential's params (any keys, an empty
    dict for a parameter-free layer) and decays exactly those keys: with zero gradients, one SGD step
    with weight decay ``wd`` multiplies each decayed array by ``1 - lr * wd`` and leaves the rest."""
    assert optim.DECAYED == DECAYED_KEYS
    params = _params(np.random.default_rng(0), "layers", True, 1.0)
    zeros = optim.zeros_like(params)
    new, _ = optim.sgd(0.5, weight_decay=0.1).update(params, zeros, optim.SGDState())
    for p, q in zip(params, new, strict=True):
        assert set(p) == set(q)
        for key in p:
            np.testing.assert_array_equal(q[key], p[key] - 0.5 * (0.1 * p[key]) if key in DECAYED_KEYS else p[key])
    for name in sorted(optim.OPTIMIZERS):
        opt = optim.make_optimizer(name, 0.1, weight_decay=0.01)
        stepped, state = opt.update(params, params, opt.init(params))
        assert [sorted(q) for q in stepped] == [sorted(p) for p in params] and state.step == 1


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ([{}, {}], ValueError, r"^params holds no array \(2 empty layers\): there is nothing to update$"),
        ([{0: np.ones(2)}], TypeError, r"^params\[0\] has the key 0; keys must be strings such as 'W' or 'b'$"),
        ([{"w": [1.0, 2.0]}], TypeError, r"^params\[0\]\['w'\] must be an array, got list$"),
        ([{"gamma": np.ones(2)}, {"E": np.ones((2, 2), np.float32)}], TypeError, r"^params mix dtypes"),
    ],
)
def test_update_rules_refuse_params_they_cannot_step(params: list, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        optim.adam().update(params, params, optim.adam().init(params))
    with pytest.raises(error, match=match):
        optim.sgd_step(params, params, 0.1)


def test_grads_must_have_the_params_keys() -> None:
    params = [{"gamma": np.ones(2), "beta": np.zeros(2)}, {}]
    message = r"^grads\[0\] has keys \['gamma'\], expected \['beta', 'gamma'\] like params$"
    with pytest.raises(ValueError, match=message):
        optim.momentum().update(params, [{"gamma": np.ones(2)}, {}], optim.momentum().init(params))
