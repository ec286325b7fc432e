"""``bp explain --layer NAME``: for every layer of ``bp_manual.layers``, every shape printed is the shape of the
array the layer computes.

As ``tests/test_explain.py`` does for the network, the check reads the *printed text*: every ``name (d1, d2)``
on an equation line is looked up among the arrays of one forward and backward pass of the layer, run here
with sizes chosen here (each dimension a different number, so a swapped dimension shows), by a resolver
written here for each layer: the inputs, the outputs and gradients the pair returns, and the intermediates
read off the cache or recomputed with NumPy (the recurrent layers' per-step arrays at step ``t = 1``).
Every printed name must resolve, and every resolved array of the layer must be printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bp_autodiff import cli
from bp_manual import activations, layers
from bp_manual.layers import conv, recurrent
from bp_manual.layers.explain import TABLE, layer_equations, render, sizes, to_dict

#: ``name (shape)`` with integer sizes; a name may end in ``.T`` or be ``f'(x)``.
TOKEN = re.compile(r"(?<![\w.'])(?P<name>[A-Za-z_][\w.]*(?:'\(\w+\))?) (?P<shape>\((?:\d+(?:, \d+)*,?)?\))")

RNG = np.random.default_rng(0)


def normal(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape)


def _elementwise(name: str) -> Callable[[dict[str, int]], dict[str, Any]]:
    def arrays(d: dict[str, int]) -> dict[str, Any]:
        x = normal(d["N"], d["D"])
        out, cache = getattr(layers, f"{name}_forward")(x)
        dout = normal(*out.shape)
        (dx,) = getattr(layers, f"{name}_backward")(dout, cache)
        extra = {"gelu'(x)": activations.gelu_derivative(x, out)} if name == "gelu" else {}
        return {"x": x, "out": out, "dout": dout, "dx": dx, **extra}

    return arrays


def _linear(d: dict[str, int]) -> dict[str, Any]:
    x, W, b = normal(d["N"], d["D_in"]), normal(d["D_out"], d["D_in"]), normal(d["D_out"])
    out, cache = layers.linear_forward(x, W, b)
    dout = normal(*out.shape)
    dx, dW, db = layers.linear_backward(dout, cache)
    return {"x": x, "W": W, "W.T": W.T, "b": b, "out": out, "dout": dout, "dout.T": dout.T, "dx": dx, "dW": dW} | {
        "db": db
    }


def _softmax(d: dict[str, int]) -> dict[str, Any]:
    x = normal(d["N"], d["K"])
    s, cache = layers.softmax_forward(x)
    dout = normal(*s.shape)
    return {"x": x, "s": s, "dout": dout, "dx": layers.softmax_backward(dout, cache)[0]}


def _log_softmax(d: dict[str, int]) -> dict[str, Any]:
    x = normal(d["N"], d["K"])
    y, cache = layers.log_softmax_forward(x)
    dout = normal(*y.shape)
    return {"x": x, "y": y, "dout": dout, "dx": layers.log_softmax_backward(dout, cache)[0]}


def _cross_entropy(d: dict[str, int]) -> dict[str, Any]:
    logits, labels = normal(d["N"], d["K"]), RNG.integers(0, d["K"], d["N"])
    L, cache = layers.cross_entropy_forward(logits, labels)
    dout = np.float64(1.0)
    dlogits, _ = layers.cross_entropy_backward(dout, cache)
    return {"logits": logits, "labels": labels, "Y": cache[1], "L": np.asarray(L), "dout": dout, "dlogits": dlogits}


def _conv2d(d: dict[str, int]) -> dict[str, Any]:
    s, p = d["stride"], d["padding"]
    x, w, b = normal(d["N"], d["C"], d["H"], d["W"]), normal(d["F"], d["C"], d["KH"], d["KW"]), normal(d["F"])
    out, cache = layers.conv2d_forward(x, w, b, s, p)
    dout = normal(*out.shape)
    dx, dw, db = layers.conv2d_backward(dout, cache)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dilated = conv.dilate(dout, s)
    flipped = np.flip(w.transpose(1, 0, 2, 3), axis=(2, 3))
    KH, KW = d["KH"], d["KW"]
    left = ((d["H"] + 2 * p - KH) % s, (d["W"] + 2 * p - KW) % s)  # as conv2d_backward pads the full correlation
    d_cols = conv.windows(dilated, KH, KW, 1, (KH - 1, KW - 1), (KH - 1 + left[0], KW - 1 + left[1]))
    dx_pad = conv.correlate(d_cols, flipped)
    np.testing.assert_allclose(dx_pad[:, :, p : p + d["H"], p : p + d["W"]], dx)  # the same dx_pad as the layer's
    return {"x": x, "w": w, "b": b, "x_pad": x_pad, "cols": cache.cols, "out": out, "dout": dout, "db": db} | {
        "dw": dw, "dout_dilated": dilated, "w_flipped": flipped, "dx_pad": dx_pad, "dx": dx
    }  # fmt: skip


def _pool(name: str) -> Callable[[dict[str, int]], dict[str, Any]]:
    def arrays(d: dict[str, int]) -> dict[str, Any]:
        k, s = d["k"], d["s"]
        x = normal(d["N"], d["C"], d["H"], d["W"])
        out, cache = getattr(layers, f"{name}_forward")(x, k, s)
        dout = normal(*out.shape)
        (dx,) = getattr(layers, f"{name}_backward")(dout, cache)
        cols = conv.windows(x, k, k, s)  # (C, k, k, N, OH, OW)
        C, _, _, N, OH, OW = cols.shape
        share = np.broadcast_to(dout.transpose(1, 0, 2, 3)[:, None, None] / k**2, cols.shape)
        if name == "avg_pool2d":
            return {"x": x, "cols": cols, "out": out, "dout": dout, "dcols": share, "dx": dx}
        flat = cols.reshape(C, k * k, N, OH, OW)
        per_window = np.broadcast_to(dout.transpose(1, 0, 2, 3)[:, None], flat.shape)  # each window's dout
        routed = np.where(np.arange(k * k)[None, :, None, None, None] == cache.argmax[:, None], per_window, 0)
        return {"x": x, "cols": flat, "out": out, "argmax": cache.argmax, "dout": dout, "dcols": routed, "dx": dx}

    return arrays


def _norm(name: str) -> Callable[[dict[str, int]], dict[str, Any]]:
    def arrays(d: dict[str, int]) -> dict[str, Any]:
        x, gamma, beta = normal(d["N"], d["D"]), normal(d["D"]), normal(d["D"])
        out, cache = getattr(layers, f"{name}_forward")(x, gamma, beta)
        dout = normal(*out.shape)
        dx, dgamma, dbeta = getattr(layers, f"{name}_backward")(dout, cache)
        axis = 0 if name == "batch_norm" else 1
        mu = x.mean(axis=axis, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
        return {"x": x, "gamma": gamma, "beta": beta, "mu": mu, "var": var, "inv_std": cache.inv_std} | {
            "xhat": cache.xhat, "out": out, "dout": dout, "dbeta": dbeta, "dgamma": dgamma, "dxhat": dout * gamma,
            "dx": dx,
        }  # fmt: skip

    return arrays


def _dropout(d: dict[str, int]) -> dict[str, Any]:
    x = normal(d["N"], d["D"])
    mask = layers.dropout_mask(x.shape, 0.3, RNG)
    out, cache = layers.dropout_forward(x, mask, 0.3)
    dout = normal(*out.shape)
    return {"x": x, "mask": mask, "out": out, "dout": dout, "dx": layers.dropout_backward(dout, cache)[0]}


def _embedding(d: dict[str, int]) -> dict[str, Any]:
    indices, E = RNG.integers(0, d["V"], (d["N"], d["T"])), normal(d["V"], d["D"])
    out, cache = layers.embedding_forward(indices, E)
    dout = normal(*out.shape)
    return {"indices": indices, "E": E, "out": out, "dout": dout, "dE": layers.embedding_backward(dout, cache)[1]}


def _rnn(d: dict[str, int]) -> dict[str, Any]:
    N, T, D, H = d["N"], d["T"], d["D"], d["H"]
    x, h0, Wx, Wh, b = normal(N, T, D), normal(N, H), normal(H, D), normal(H, H), normal(H)
    h, cache = layers.rnn_forward(x, h0, Wx, Wh, b)
    dout = normal(*h.shape)
    dx, dh0, dWx, dWh, db = layers.rnn_backward(dout, cache)
    da, dh_next = np.zeros((N, T, H)), np.zeros((N, H))  # BPTT again, here, for the intermediates
    for t in reversed(range(T)):
        da[:, t] = (dout[:, t] + dh_next) * (1 - h[:, t] ** 2)
        dh_next = da[:, t] @ Wh
    h_prev = recurrent.previous_states(h0, h)
    t = 1
    step = {"x_t": x[:, t], "h_prev": h_prev[:, t], "a_t": cache.a[:, t], "h_t": h[:, t], "dout_t": dout[:, t]}
    step |= {"dh_t": dout[:, t] + da[:, t + 1] @ Wh, "da_t": da[:, t], "dh_next": dh_next}
    return (
        step
        | {"Wx": Wx, "Wx.T": Wx.T, "Wh": Wh, "Wh.T": Wh.T, "b": b, "h": h, "da": da}
        | _sums(da, x, h_prev)
        | {"dx": dx, "dWx": dWx, "dWh": dWh, "db": db, "dh0": dh0}
    )


def _sums(da: np.ndarray, x: np.ndarray, h_prev: np.ndarray) -> dict[str, Any]:
    return {
        "da2": da.reshape(-1, da.shape[-1]),
        "da2.T": da.reshape(-1, da.shape[-1]).T,
        "x2": x.reshape(-1, x.shape[-1]),
        "h_prev2": h_prev.reshape(-1, h_prev.shape[-1]),
    }


def _lstm(d: dict[str, int]) -> dict[str, Any]:
    N, T, D, H = d["N"], d["T"], d["D"], d["H"]
    x, h0, c0 = normal(N, T, D), normal(N, H), normal(N, H)
    Wx, Wh, b = normal(4 * H, D), normal(4 * H, H), normal(4 * H)
    h, cache = layers.lstm_forward(x, h0, c0, Wx, Wh, b)
    dout = normal(*h.shape)
    dx, dh0, dc0, dWx, dWh, db = layers.lstm_backward(dout, cache)
    c_prev = recurrent.previous_states(c0, cache.c)
    da, dh_next, dc_next = np.zeros((N, T, 4 * H)), np.zeros((N, H)), np.zeros((N, H))
    dcs = {}
    for t in reversed(range(T)):
        dh = dout[:, t] + dh_next
        dcs[t] = dc_next + dh * cache.gates[:, t, 3 * H :] * (1 - cache.tanh_c[:, t] ** 2)
        da[:, t], dc_next = recurrent.lstm_step_backward(
            dh, dc_next, cache.a[:, t], cache.gates[:, t], c_prev[:, t], cache.c[:, t], cache.tanh_c[:, t]
        )
        dh_next = da[:, t] @ Wh
    h_prev = recurrent.previous_states(h0, h)
    t = 1
    i, f, g, o = (cache.gates[:, t, k * H : (k + 1) * H] for k in range(4))
    step = {"x_t": x[:, t], "h_prev": h_prev[:, t], "a_t": cache.a[:, t], "i": i, "f": f, "g": g, "o": o}
    step |= {"c_prev": c_prev[:, t], "c_t": cache.c[:, t], "h_t": h[:, t], "dout_t": dout[:, t]}
    step |= {"dh_t": dout[:, t] + da[:, t + 1] @ Wh, "dc": dcs[t], "da_t": da[:, t], "dc_next": dc_next}
    step |= {"dh_next": dh_next}
    return step | {"Wx": Wx, "Wx.T": Wx.T, "Wh": Wh, "Wh.T": Wh.T, "b": b, "da": da} | _sums(da, x, h_prev) | {
        "dx": dx, "dWx": dWx, "dWh": dWh, "db": db, "dh0": dh0, "dc0": dc0
    }  # fmt: skip


def _attention(d: dict[str, int]) -> dict[str, Any]:
    q, k, v = normal(d["N"], d["T"], d["d"]), normal(d["N"], d["S"], d["d"]), normal(d["N"], d["S"], d["d_v"])
    out, cache = layers.attention_forward(q, k, v)
    dout = normal(*out.shape)
    dq, dk, dv = layers.attention_backward(dout, cache)
    P = cache.P
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(d["d"])
    dP = dout @ v.transpose(0, 2, 1)
    dscores = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
    T = {name: a.transpose(0, 2, 1) for name, a in (("k.T", k), ("P.T", P), ("v.T", v), ("dscores.T", dscores))}
    return {"q": q, "k": k, "v": v, "scores": scores, "P": P, "out": out, "dout": dout, "dv": dv, "dP": dP} | {
        "dscores": dscores, "dq": dq, "dk": dk
    } | T  # fmt: skip


def _flatten(d: dict[str, int]) -> dict[str, Any]:
    x = normal(d["N"], d["C"], d["H"], d["W"])
    out, cache = layers.flatten_forward(x)
    dout = normal(*out.shape)
    return {"x": x, "out": out, "dout": dout, "dx": layers.flatten_backward(dout, cache)[0]}


#: layer -> (the sizes used here, the resolver)
CASES: dict[str, tuple[dict[str, int], Callable[[dict[str, int]], dict[str, Any]]]] = {
    "linear": ({"N": 5, "D_in": 3, "D_out": 2}, _linear),
    **{n: ({"N": 5, "D": 3}, _elementwise(n)) for n in ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")},
    "softmax": ({"N": 5, "K": 3}, _softmax),
    "log_softmax": ({"N": 5, "K": 3}, _log_softmax),
    "cross_entropy": ({"N": 5, "K": 3}, _cross_entropy),
    "conv2d": ({"N": 2, "C": 3, "H": 9, "W": 8, "F": 5, "KH": 3, "KW": 2, "stride": 2, "padding": 1}, _conv2d),
    "max_pool2d": ({"N": 2, "C": 3, "H": 9, "W": 8, "k": 3, "s": 2}, _pool("max_pool2d")),
    "avg_pool2d": ({"N": 2, "C": 3, "H": 9, "W": 8, "k": 3, "s": 2}, _pool("avg_pool2d")),
    "batch_norm": ({"N": 5, "D": 3}, _norm("batch_norm")),
    "layer_norm": ({"N": 5, "D": 3}, _norm("layer_norm")),
    "dropout": ({"N": 5, "D": 3}, _dropout),
    "embedding": ({"N": 2, "T": 5, "V": 7, "D": 3}, _embedding),
    "rnn": ({"N": 2, "T": 5, "D": 3, "H": 4}, _rnn),
    "lstm": ({"N": 2, "T": 5, "D": 3, "H": 4}, _lstm),
    "attention": ({"N": 2, "T": 4, "S": 5, "d": 3, "d_v": 6}, _attention),
    "flatten": ({"N": 2, "C": 3, "H": 4, "W": 5}, _flatten),
}


def test_every_layer_of_the_library_is_in_the_table() -> None:
    forwards = {name.removesuffix("_forward") for name in layers.__all__ if name.endswith("_forward")}
    assert set(TABLE) == forwards == set(CASES)


def _equation_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  ") and not line.startswith("  - ")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_printed_shape_is_the_computed_shape(name: str) -> None:
    dims, resolver = CASES[name]
    arrays = resolver(dims)
    text = render(name, dims)
    lines = _equation_lines(text)
    assert lines, text
    seen = set()
    for line in lines:
        tokens = list(TOKEN.finditer(line))
        assert tokens and line.lstrip().startswith(tokens[0].group(0)), f"the left-hand side has no shape: {line}"
        for m in tokens:
            inner = m["shape"][1:-1].strip().rstrip(",")
            shape = tuple(int(v) for v in inner.split(",")) if inner else ()
            assert m["name"] in arrays, f"{m['name']!r} printed but not resolved:\n{text}"
            assert np.shape(arrays[m["name"]]) == shape, (
                f"{m.group(0)} in {line!r}: computed {np.shape(arrays[m['name']])}"
            )
            seen.add(m["name"])
    assert seen == set(arrays), f"resolved but not printed: {set(arrays) - seen}; {text}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_and_json_are_one_structure_and_symbols_print_as_symbols(name: str) -> None:
    d = json.loads(json.dumps(to_dict(name, CASES[name][0])))
    assert [e["text"] for e in d["equations"]] == [
        line.strip() for line in _equation_lines(render(name, CASES[name][0]))
    ]
    symbols = set(sizes(name)) | {"1"}  # without sizes, every dimension is a symbol (or the 1 of keepdims)
    for e in to_dict(name)["equations"]:  # type: ignore[attr-defined]
        for t in [e["lhs"], *e["terms"]]:
            assert {str(v) for v in t["shape"]} <= symbols, (e["text"], t["shape"])
    assert len(layer_equations(name)) == len(d["equations"]) and set(d["sizes"]) >= set(TABLE[name].dims)


def test_cli_prints_the_layer_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "--layer", "conv2d"]) == 0
    out = capsys.readouterr().out
    assert "dx_pad (N, C, Hp, Wp) = full_correlation(dout_dilated (N, F, Hd, Wd), w_flipped (C, F, KH, KW))" in out
    assert cli.main(["explain", "--layer", "rnn", "--dims", "N=3,T=7", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layer"] == "rnn" and d["sizes"]["N"] == 3 and d["sizes"]["N*T"] == 21


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layer", "pool"], "bp explain: error: --layer: invalid choice: 'pool'"),
        (["--layer", "conv2d", "--dims", "KH=12"], "--dims: conv2d: OH = -1 with {"),
        (["--layer", "conv2d", "--dims", "Q=2"], "--dims: conv2d has no dimension ['Q']"),
        (["--layer", "linear", "--dims", "N=0"], "--dims: dimension N must be >= 1, got 0"),
        (["--layer", "linear", "--dims", "N"], "bp explain: error: --dims: must be NAME=INT pairs"),
        (["--layer", "linear", "--sizes", "3,2"], "--layer: explains one layer; --sizes is for networks"),
        (["--dims", "N=2", "--sizes", "3,2"], "--dims: needs --layer"),
        ([], "--sizes: required (or --layer NAME for one layer)"),
    ],
)
def test_cli_refuses_bad_layer_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["explain", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_sizes_refuses_non_integers_and_unknown_layers() -> None:
    with pytest.raises(TypeError, match=r"^dimension N must be an int, got float$"):
        sizes("linear", {"N": 2.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"^unknown layer 'conv'; expected one of"):
        sizes("conv")
