"""Fuzz: every bad input at every public entry point gets the documented error, and changes nothing.

Each example draws a small valid problem, spoils exactly one argument in one
of the ways below, and calls one entry point with it. The call must raise the
documented type (``ValueError`` or ``TypeError``, see ``docs/errors.md``) with
a message that names the spoiled argument, and afterwards the params (and the
``MLP`` holding them), ``X`` and ``Y`` must equal deep copies taken before the
call. The ``ci`` profile draws 300 examples, ``thorough`` 3000.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_autodiff
import bp_manual
from bp_manual import MLP, BPNetwork, NetworkSpec
from strategies import Problem, examples, problems

KINDS_X = ["features", "zero_samples", "3d", "ragged", "strings", "objects", "complex", "nan", "inf"]
KINDS_Y = ["columns", "samples", "nan", "strings", "label_range", "float_labels", "bce_range"]
KINDS_PARAMS = ["nan", "inf", "shape", "missing_layer", "keys", "dtype_mix", "int_dtype", "not_a_list"]
KINDS_LR: list[Any] = [0.0, -0.1, float("nan"), float("inf"), float("-inf"), "0.1", None, True]

#: entry points that take (spec, params, X, Y) directly
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "manual.loss_and_grads": bp_manual.loss_and_grads,
    "manual.loss_grads_and_deltas": bp_manual.loss_grads_and_deltas,
    "manual.loss": bp_manual.loss,
    "manual.train_step": lambda spec, params, X, Y: bp_manual.train_step(spec, params, X, Y, 0.1),
    "jax.loss_and_grads": bp_autodiff.loss_and_grads,
    "jax.loss_grads_and_deltas": bp_autodiff.loss_grads_and_deltas,
    "manual.fit": lambda spec, params, X, Y: bp_manual.fit(spec, params, X, Y, epochs=1, batch_size=2, seed=0),
    "jax.audit": lambda spec, params, X, Y: bp_autodiff.audit(spec, params, X, Y),
}
#: entry points of an MLP holding the params
METHODS: dict[str, Callable[..., Any]] = {
    "MLP.loss_and_grads": lambda mlp, X, Y: mlp.loss_and_grads(X, Y),
    "MLP.loss": lambda mlp, X, Y: mlp.loss(X, Y),
    "MLP.step": lambda mlp, X, Y: mlp.step(X, Y, 0.1),
    "MLP.fit": lambda mlp, X, Y: mlp.fit(X, Y, epochs=1, batch_size=2, seed=0),
}


@dataclass
class BadCall:
    what: str
    call: Callable[[], Any]
    error: type[Exception]
    names: str  # the argument the message must name
    guarded: list[Any]  # objects that must be unchanged after the call


def spoil_X(kind: str, X: np.ndarray, rng: np.random.Generator) -> tuple[Any, type[Exception]]:
    n, d = X.shape
    if kind == "features":
        return np.ones((n, d + int(rng.integers(1, 3)))), ValueError
    if kind == "zero_samples":
        return np.ones((0, d)), ValueError
    if kind == "3d":
        return X[:, :, None], ValueError
    if kind == "ragged":
        return [list(X[0]), [*X[0], 1.0]], ValueError
    if kind == "strings":
        return np.full((n, d), "1.0"), TypeError
    if kind == "objects":
        arr = np.empty((n, d), dtype=object)
        arr[...] = object()
        return arr, TypeError
    if kind == "complex":
        return X + 1j, TypeError
    bad = X.astype(np.float64, copy=True)
    bad[int(rng.integers(n)), int(rng.integers(d))] = np.nan if kind == "nan" else -np.inf
    return bad, ValueError


def spoil_Y(
    kind: str, spec: NetworkSpec, Y: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[Any, type[Exception]]:
    k = spec.n_out
    if kind == "columns":
        return np.zeros((n, k + 1)), ValueError
    if kind == "samples":
        return np.zeros((n + 1, k)), ValueError
    if kind == "nan":
        bad = np.zeros((n, k))
        bad[int(rng.integers(n)), int(rng.integers(k))] = np.nan
        return bad, ValueError
    if kind == "strings":
        return np.full((n, k), "a"), TypeError
    if kind == "label_range" and spec.loss == "cross_entropy":
        labels = rng.integers(0, k, n)
        labels[int(rng.integers(n))] = k + int(rng.integers(0, 3)) if rng.random() < 0.5 else -1
        return labels, ValueError
    if kind == "float_labels" and spec.loss == "cross_entropy":
        return rng.integers(0, k, n + 1)[:n].astype(np.float64) + 0.5, TypeError
    if kind == "bce_range" and spec.loss == "binary_cross_entropy":
        bad = rng.uniform(0, 1, (n, k))
        bad[int(rng.integers(n)), int(rng.integers(k))] = 1.5 if rng.random() < 0.5 else -0.5
        return bad, ValueError
    if spec.loss == "mse":  # the loss-specific kinds do not apply: a different bad width instead
        return np.zeros((n, k + 2)), ValueError
    return np.zeros((n, k + 1)), ValueError


def spoil_params(kind: str, params: list, rng: np.random.Generator) -> tuple[Any, type[Exception]]:
    bad = [dict(layer) for layer in params]  # new containers; the original arrays are never written
    l = int(rng.integers(len(bad)))
    if kind in ("nan", "inf"):
        W = bad[l]["W"].copy()
        W[tuple(int(rng.integers(s)) for s in W.shape)] = np.nan if kind == "nan" else np.inf
        bad[l]["W"] = W
        return bad, ValueError
    if kind == "shape":
        bad[l]["W"] = np.zeros((bad[l]["W"].shape[0] + 1, bad[l]["W"].shape[1]), bad[l]["W"].dtype)
        return bad, ValueError
    if kind == "missing_layer":
        return bad[:-1] if len(bad) > 1 else [*bad, dict(bad[0])], ValueError
    if kind == "keys":
        bad[l] = {**bad[l], "gamma": bad[l]["W"]}
        return bad, ValueError
    if kind == "dtype_mix" and (len(bad) > 1 or "b" in bad[l]):  # a mix needs at least two arrays
        other = np.float32 if bad[l]["W"].dtype == np.float64 else np.float64
        bad[l]["W"] = bad[l]["W"].astype(other)
        return bad, TypeError
    if kind in ("int_dtype", "dtype_mix"):
        bad[l]["W"] = bad[l]["W"].astype(np.int64)
        return bad, TypeError
    return {"W": params[0]["W"]}, TypeError


@st.composite
def bad_calls(draw: st.DrawFn) -> BadCall:
    problem: Problem = draw(problems(max_layers=3, max_width=6, max_batch=5))
    spec, params, X, Y = problem.spec, problem.params, problem.X, problem.Y
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    target = draw(st.sampled_from(["X", "Y", "params", "lr", "update", "bpnetwork"]))
    entry = draw(st.sampled_from(sorted(FUNCTIONS) + sorted(METHODS)))
    error: type[Exception]

    if target == "lr":
        lr = draw(st.sampled_from(KINDS_LR))
        error = TypeError if not isinstance(lr, float) else ValueError
        mlp = MLP.from_params(spec, params)
        _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
        calls = {
            "manual.sgd_step": lambda: bp_manual.sgd_step(params, grads, lr),
            "jax.sgd_step": lambda: bp_autodiff.sgd_step(params, grads, lr),
            "MLP.step": lambda: mlp.step(X, Y, lr),
            "MLP.fit": lambda: mlp.fit(X, Y, epochs=1, lr=lr),
            "manual.fit": lambda: bp_manual.fit(spec, params, X, Y, epochs=1, lr=lr),
        }
        name = draw(st.sampled_from(sorted(calls)))
        if lr is None and name.endswith("fit"):  # fit(lr=None) means the default optimiser's rate
            lr, error = "0.1", TypeError
        return BadCall(f"{name}(lr={lr!r})", calls[name], error, "lr", [params, grads, mlp, X, Y])

    if target == "update":
        _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
        kind = draw(
            st.sampled_from(["params_nan", "params_none", "params_str", "grads_dtype", "grads_str", "grads_nan"])
        )
        adam, heavy_ball = bp_manual.adam(0.01), bp_manual.momentum(0.1, 0.9)
        rules: dict[str, Callable[..., Any]] = {
            "bp_manual.sgd_step": bp_manual.sgd_step,
            "bp_autodiff.sgd_step": bp_autodiff.sgd_step,
            "adam().update": lambda p, g, lr: adam.update(p, g, adam.init(params)),
            "momentum().update": lambda p, g, lr: heavy_ball.update(p, g, heavy_ball.init(params)),
        }
        rule = draw(st.sampled_from(sorted(rules)))
        step = rules[rule]
        bad_p: Any = params
        bad_g: Any = grads
        if kind == "params_nan":
            bad_p, error = spoil_params("nan", params, rng)
        elif kind == "params_none":
            bad_p, error = None, TypeError
        elif kind == "params_str":
            bad_p, error = "abc", TypeError
        elif kind == "grads_dtype":
            other = np.float32 if params[0]["W"].dtype == np.float64 else np.float64
            bad_g, error = [{k: v.astype(other) for k, v in layer.items()} for layer in grads], TypeError
        elif kind == "grads_str":
            bad_g, error = [{k: np.full(v.shape, "x") for k, v in layer.items()} for layer in grads], TypeError
        else:
            bad_g, error = spoil_params("nan", grads, rng)
        names = "params" if kind.startswith("params") else "grads"
        what = f"{rule} with {kind}"
        return BadCall(what, lambda: step(bad_p, bad_g, 0.1), error, names, [params, grads])

    if target == "bpnetwork":
        net = BPNetwork(3, 4, 2, 0.1, seed=0)
        kind = draw(
            st.sampled_from(["inputs", "targets", "weights", "weights_nan", "weights_range", "lr", "sizes", "run"])
        )
        if kind == "run":
            bad_inputs: list[tuple[Any, type[Exception]]] = [
                ([1.0, 2.0], ValueError),
                ([[1.0, 2.0, 3.0], [1.0]], ValueError),
                (["a", "b", "c"], TypeError),
                ([1.0, np.nan, 2.0], ValueError),
            ]
            bad_x, error = draw(st.sampled_from(bad_inputs))
            return BadCall(f"BPNetwork.run({bad_x!r})", lambda: net.run(bad_x), error, "inputs_org", [net])
        if kind == "weights_range":
            net32 = BPNetwork(3, 4, 2, 0.1, seed=0, dtype=np.float32)

            def set_huge() -> None:
                net32.w_in2hid = np.full((4, 3), 1e300)

            return BadCall("BPNetwork(float32).w_in2hid = 1e300", set_huge, ValueError, "w_in2hid", [net32])
        if kind == "inputs":
            return BadCall(
                "BPNetwork.train(inputs)", lambda: net.train([1, 2], [0, 0]), ValueError, "inputs_org", [net]
            )
        if kind == "targets":
            call = lambda: net.train([1, 2, 3], [[0, 0], [0, 0]])  # noqa: E731
            return BadCall("BPNetwork.train(targets)", call, ValueError, "groundtruth_org", [net])
        if kind == "weights":

            def set_weights() -> None:
                net.w_hid2out = np.zeros((3, 3))

            return BadCall("BPNetwork.w_hid2out = wrong shape", set_weights, ValueError, "w_hid2out", [net])
        if kind == "weights_nan":

            def set_nan() -> None:
                net.w_in2hid = np.full((4, 3), np.nan)

            return BadCall("BPNetwork.w_in2hid = NaN", set_nan, ValueError, "w_in2hid", [net])
        if kind == "lr":
            return BadCall("BPNetwork(lr=-1)", lambda: BPNetwork(3, 4, 2, -1.0), ValueError, "learning_rate", [net])
        return BadCall("BPNetwork(sizes)", lambda: BPNetwork(3, 0, 2, 0.1), ValueError, "sizes", [net])

    kind = draw(st.sampled_from({"X": KINDS_X, "Y": KINDS_Y, "params": KINDS_PARAMS}[target]))
    args: dict[str, Any] = {"X": X, "Y": Y, "params": params}
    if target == "X":
        args["X"], error = spoil_X(kind, np.asarray(X), rng)
    elif target == "Y":
        args["Y"], error = spoil_Y(kind, spec, np.asarray(Y), X.shape[0], rng)
    else:
        args["params"], error = spoil_params(kind, params, rng)
        if entry in METHODS:
            entry = sorted(FUNCTIONS)[int(rng.integers(len(FUNCTIONS)))]  # an MLP cannot hold bad params
    what = f"{entry} with bad {target} ({kind}) for {problem.describe()}"
    if entry in METHODS:
        mlp = MLP.from_params(spec, params)
        return BadCall(what, lambda: METHODS[entry](mlp, args["X"], args["Y"]), error, target, [mlp, params, X, Y])
    call = lambda: FUNCTIONS[entry](spec, args["params"], args["X"], args["Y"])  # noqa: E731
    return BadCall(what, call, error, target, [params, X, Y])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, MLP | BPNetwork):
        return _same(vars(a), vars(b))
    return bool(a == b)


@settings(max_examples=examples(3.0))
@given(bad_calls())
def test_bad_input_is_refused_by_name_and_changes_nothing(bad: BadCall) -> None:
    before = copy.deepcopy(bad.guarded)
    with pytest.raises(bad.error) as info:
        bad.call()
    assert str(info.value).startswith(bad.names), (bad.what, str(info.value))
    assert type(info.value) is bad.error, (bad.what, type(info.value))
    assert _same(before, bad.guarded), f"{bad.what} changed its inputs"


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"sizes": (3, 0, 2)}, ValueError, "sizes"),
        ({"sizes": (3, -1)}, ValueError, "sizes"),
        ({"sizes": (3.0, 2)}, TypeError, "sizes"),
        ({"sizes": ("3", 2)}, TypeError, "sizes"),
        ({"sizes": (3, 2), "hidden": "swish"}, ValueError, "hidden activation 'swish'; expected one of ['identity'"),
        ({"sizes": (3, 2), "loss": "l1"}, ValueError, "loss 'l1'; expected one of ['binary_cross_entropy'"),
        ({"sizes": (3, 2), "init": "glorot"}, ValueError, "init 'glorot'; expected one of ['he_normal'"),
        ({"sizes": (3, 2), "dtype": np.int32}, ValueError, "dtype"),
        ({"sizes": (3, 2), "seed": -3}, ValueError, "seed"),
    ],
)
def test_bad_construction_arguments_are_refused_by_name(kwargs: dict, error: type, names: str) -> None:
    with pytest.raises(error) as info:
        MLP(**kwargs)
    assert names in str(info.value)
