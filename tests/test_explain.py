"""``bp explain``: every printed shape is the shape of the array actually computed,
and the trace shows the hand derivation equal to JAX to rounding error.

The shape check reads the *printed text* (not the data structure it came
from), finds every ``name (d1, d2)`` in it, and looks the name up among the
arrays ``bp_manual.forward`` and ``bp_manual.loss_grads_and_deltas`` return for
a batch of that size, with a resolver written here independently of
``bp_manual.explain``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_autodiff import cli
from bp_autodiff.auditor.trace import TRACE_RTOL, trace
from bp_manual.activations import HIDDEN, Activation, tanh
from bp_manual.explain import equations, render, to_dict
from bp_manual.problems import random_targets
from strategies import COVERING, examples, specs
from tolerances import FLOAT64_RTOL, close, record

#: ``name (shape)``: a name such as X, A0, W2.T, delta1.T, dW1, b2, Y, L or
#: sigmoid'(Z1), a space, then a tuple of integers and N.
TOKEN = re.compile(
    r"(?<![\w.'])(?P<name>[A-Za-z_]+\d*(?:\.T)?(?:'\(Z\d+\))?) (?P<shape>\((?:[N\d]+(?:, [N\d]+)*,?)?\))"
)


def computed_arrays(spec: bp_manual.NetworkSpec, n: int, seed: int) -> dict[str, np.ndarray]:
    """Every array of one step, by the name ``bp explain`` prints for it."""
    rng = np.random.default_rng(seed)
    params = bp_manual.init_params(spec, "xavier_normal", rng)
    X = rng.normal(size=(n, spec.n_in))
    Y = random_targets(spec, rng, n, "one_hot")
    _, cache = bp_manual.forward(spec, params, X)
    loss, grads, deltas = bp_manual.loss_grads_and_deltas(spec, params, X, Y)
    arrays: dict[str, np.ndarray] = {"X": X, "A0": X, "Y": Y, "L": np.asarray(loss)}
    act = HIDDEN[spec.hidden]
    for l in range(1, spec.n_layers + 1):
        c, p, g = cache[l - 1], params[l - 1], grads[l - 1]
        arrays |= {f"Z{l}": c.Z, f"A{l}": c.A, f"W{l}": p["W"], f"W{l}.T": p["W"].T, f"dW{l}": g["W"]}
        arrays |= {f"delta{l}": deltas[l - 1], f"delta{l}.T": deltas[l - 1].T}
        if l < spec.n_layers:
            arrays[f"{act.name}'(Z{l})"] = act.derivative(c.Z, c.A)
        if spec.bias:
            arrays |= {f"b{l}": p["b"], f"db{l}": g["b"]}
    return arrays


def parse_shape(text: str, n: int) -> tuple[int, ...]:
    inner = text[1:-1].strip().rstrip(",")
    return tuple(n if d.strip() == "N" else int(d) for d in inner.split(",")) if inner else ()


@settings(max_examples=examples(0.4))
@given(
    spec=specs(max_layers=5, max_width=12), n=st.integers(1, 9), symbolic=st.booleans(), seed=st.integers(0, 2**32 - 1)
)
def test_every_printed_shape_is_the_computed_shape(
    spec: bp_manual.NetworkSpec, n: int, symbolic: bool, seed: int
) -> None:
    """With a symbolic batch the arrays are computed with N = 13, a size no layer
    has (widths <= 12), so shapes match only if N is printed exactly where the
    batch dimension is."""
    eqs = equations(spec, None if symbolic else n)
    text = render(spec, eqs)
    if symbolic:
        n = 13
    arrays = computed_arrays(spec, n, seed)
    body = "\n".join(line for line in text.splitlines() if line.startswith("  "))
    tokens = list(TOKEN.finditer(body))
    # every array named in an equation is followed by its shape: none is left once they are removed
    bare = re.findall(r"(?<![\w.'])(?:[AZWb]|delta|dW|db)\d+|\b[XYL]\b", TOKEN.sub("", body))
    assert not bare, f"names printed without a shape: {bare}\n{text}"
    seen = set()
    for m in tokens:
        name, shape = m["name"], parse_shape(m["shape"], n)
        assert symbolic or "N" not in m["shape"], m.group(0)
        assert name in arrays, f"{name!r} printed but not an array of the step:\n{text}"
        assert np.shape(arrays[name]) == shape, f"{m.group(0)}: computed {np.shape(arrays[name])}"
        seen.add(name)
    # every array of the step appears
    assert seen == set(arrays), set(arrays) ^ seen


def test_the_issue_example_line_and_the_seed_shapes() -> None:
    spec = bp_manual.NetworkSpec((784, 32, 64), hidden="sigmoid", output="identity", loss="mse")
    text = render(spec, equations(spec))
    assert "delta1 (N, 32) = (delta2 (N, 64) @ W2 (64, 32)) * sigmoid'(Z1) (N, 32)" in text
    # the seed's comments at N = 1 (its vectors are columns, ours rows): hid_error.shape=(1,32)
    text1 = render(spec, equations(spec, 1))
    assert "delta1 (1, 32) =" in text1
    assert "dW1 (32, 784) = delta1.T (32, 1) @ A0 (1, 784)" in text1  # w_in2hid.shape=(32,784)
    assert "dW2 (64, 32) = delta2.T (64, 1) @ A1 (1, 32)" in text1  # w_hid2out.shape=(64,32)


def test_without_a_bias_no_b_is_printed() -> None:
    """``--no-bias``: no ``b`` in any equation, the forward heading included (``Z = A_prev @ W.T``)."""
    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh", output="identity", loss="mse", bias=False)
    text = render(spec, equations(spec))
    assert "forward pass (Z = A_prev @ W.T, A = f(Z)):" in text
    assert not re.search(r"\bd?b\d*\b", text.split("\n", 2)[2]), text  # past the header lines
    with_bias = bp_manual.NetworkSpec((3, 4, 2), hidden="tanh", output="identity", loss="mse")
    biased = render(with_bias, equations(with_bias))
    assert "forward pass (Z = A_prev @ W.T + b, A = f(Z)):" in biased


@settings(max_examples=examples(0.2))
@given(spec=specs(max_layers=4, max_width=10), n=st.integers(1, 6))
def test_text_and_json_are_one_structure(spec: bp_manual.NetworkSpec, n: int) -> None:
    eqs = equations(spec, n)
    d = json.loads(json.dumps(to_dict(spec, eqs)))
    lines = [line.strip() for line in render(spec, eqs).splitlines() if line.startswith("  ")]
    assert [e["text"] for e in d["equations"]] == lines
    for e in d["equations"]:
        rebuilt = e["text"]
        for t in [e["lhs"], *e["terms"]]:
            assert t["text"] in rebuilt
            assert t["text"] == f"{t['name']} " + (
                f"({t['shape'][0]},)" if len(t["shape"]) == 1 else "(" + ", ".join(map(str, t["shape"])) + ")"
            )


@pytest.mark.parametrize("batch, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_equations_refuse_a_bad_batch(batch: object, error: type) -> None:
    with pytest.raises(error, match="batch"):
        equations(bp_manual.NetworkSpec((3, 2)), batch)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", range(len(COVERING)))
@settings(max_examples=examples(0.02))
@given(seed=st.integers(0, 2**16))
def test_trace_agrees_with_jax_to_rounding_error(case: int, seed: int) -> None:
    """float64: the bar is ``tolerances.FLOAT64_RTOL = 1e-9``, 3000 x the rounding-error
    bound derived in ``tolerances.py`` for these sizes; ``trace`` uses the same bar. Every network of
    ``COVERING`` (every path of the code): the trace's JAX side compiles once per network, not per random shape."""
    spec, n = COVERING[case]
    assert TRACE_RTOL == FLOAT64_RTOL
    result = trace(spec, n, "xavier_normal", seed)
    L = spec.n_layers
    expected = [f"{k}{l}" for l in range(1, L + 1) for k in ("Z", "A")] + ["loss"]
    expected += [f"delta{l}" for l in range(L, 0, -1)]
    expected += [f"{k}{l}" for l in range(1, L + 1) for k in (("dW", "db") if spec.bias else ("dW",))]
    assert [r.name for r in result.rows] == expected
    for r in result.rows:
        assert r.manual.dtype == r.jax.dtype == np.float64
        ok, rel, fraction = close(r.manual, r.jax, FLOAT64_RTOL)
        record("explain trace float64", rel, fraction, f"{r.name}: {spec}")
        assert ok and r.ok, f"{r.name}: rel {rel:.2e}"
    assert result.ok


def test_trace_shows_a_broken_derivative() -> None:
    """The trace can fail: with tanh' replaced by ``1 - A`` (a plausible slip for
    ``1 - A**2``) the forward rows still agree and the deltas below the output do not."""
    spec = bp_manual.NetworkSpec((3, 5, 4, 2), hidden="tanh")
    assert trace(spec).ok
    broken = Activation("tanh", tanh, lambda Z, A: 1.0 - A)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(HIDDEN, "tanh", broken)
        result = trace(spec)
    rows = {r.name: r for r in result.rows}
    assert not result.ok
    assert all(rows[k].ok for k in ("Z1", "A1", "Z2", "A2", "Z3", "A3", "loss", "delta3", "dW3", "db3"))
    assert not rows["delta2"].ok and not rows["dW1"].ok
    assert rows["delta2"].rel_diff > 1e-3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch": 0}, ValueError, "batch"),
        ({"batch": 2.5}, TypeError, "batch"),
        ({"init": "xavier"}, ValueError, "unknown init"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_trace_refuses_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        trace(bp_manual.NetworkSpec((3, 2)), **kwargs)


def test_cli_text_json_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", "--sizes", "784,32,64", "--hidden", "sigmoid", "--output", "identity", "--loss", "mse"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "delta1 (N, 32) = (delta2 (N, 64) @ W2 (64, 32)) * sigmoid'(Z1) (N, 32)" in out

    assert cli.main([*argv, "--batch", "5", "--no-bias", "--trace", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["batch"] == 5 and d["trace"]["ok"] is True and d["spec"]["bias"] is False
    assert {r["name"] for r in d["trace"]["rows"]} >= {"Z1", "A2", "loss", "delta1", "dW2"}
    assert all(r["rel_diff"] <= 1e-9 for r in d["trace"]["rows"])

    assert cli.main(["explain", "--sizes", "4,3", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "agree within 1e-09: True" in out and "delta2" not in out.split("trace:")[1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sizes", "4,x"], "--sizes"),
        (["--sizes", "4"], "bp explain: error: --sizes: needs at least 2 positive integers"),
        (
            ["--sizes", "4,3", "--output", "softmax"],
            "bp explain: error: --output: 'softmax' does not go with --loss mse",
        ),
        (["--sizes", "4,3", "--batch", "0"], "bp explain: error: --batch: must be an integer >= 1, got '0'"),
        (["--sizes", "4,3", "--trace", "--init", "xavier"], "bp explain: error: --init: invalid choice: 'xavier'"),
    ],
)
def test_cli_refuses_bad_arguments(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["explain", *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ("4,x", "error: --sizes: must be comma-separated integers like 784,32,64, got '4,x'"),
        ("4", "error: --sizes: needs at least 2 positive integers, got '4'"),
        ("4,0,3", "error: --sizes: needs at least 2 positive integers, got '4,0,3'"),
    ],
)
@pytest.mark.parametrize(
    "command", [["explain"], ["audit", "bp_manual:loss_and_grads"], ["train"]], ids=["explain", "audit", "train"]
)
def test_every_command_parses_sizes_the_same_way(
    command: list[str], sizes: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One parser (``bp_autodiff.cli.args.layer_sizes``) for ``--sizes`` in every ``bp`` command."""
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--sizes", sizes])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
