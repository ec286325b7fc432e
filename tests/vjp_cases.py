"""Inputs for every layer of ``bp_manual.layers``, for the tests of ``bp_autodiff.audit_vjp``.

:func:`layer_case` draws ``(inputs, config)`` for a library layer from a Generator: random shapes (small, so every
input is differenced entry by entry), values of a dtype, and optionally entries put *at or next to* the layer's
kinks and ties (ReLU and leaky ReLU at exactly 0 or within ``1e-12 .. 2e-5`` of it, the finite-difference step being
about ``7.6e-6``; max-pool windows holding exact ties and near ties). Away from kinks, element-wise inputs keep
``|x| >= 0.1`` and max-pool inputs are distinct by at least ``2 / size`` (a random permutation of ranks, moved by
less than a third of a rank), so a correct backward has nothing to be inconclusive about there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Every layer of the library, by name (``bp_autodiff.auditor.vjp_layers.layer_names()``).
LAYERS = (
    "attention", "avg_pool2d", "batch_norm", "conv2d", "cross_entropy", "dropout", "embedding", "gelu",
    "layer_norm", "leaky_relu", "linear", "log_softmax", "lstm", "max_pool2d", "relu", "rnn", "sigmoid",
    "softmax", "softplus", "tanh",
)  # fmt: skip
ELEMENTWISE = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu")
#: Distances from a kink tried by ``kinks=True`` (0 is on it).
NEAR = (0.0, 1e-12, 1e-9, 1e-7, 3e-6, 7e-6, 2e-5)


def _kinked(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` with 1 to 3 entries moved to ``+-d`` for ``d`` in :data:`NEAR`."""
    flat = x.reshape(-1).copy()
    k = int(rng.integers(1, min(3, flat.size) + 1))
    where = rng.choice(flat.size, size=k, replace=False)
    flat[where] = rng.choice(NEAR, size=k) * rng.choice((-1.0, 1.0), size=k)
    return flat.reshape(x.shape).astype(x.dtype)


def _pool_input(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any, kinks: bool) -> np.ndarray:
    """Distinct values in ``[-2, 2]`` (ties only with ``kinks``: a few entries copied onto others, some nudged)."""
    n = int(np.prod(shape))
    x = (rng.permutation(n) + rng.uniform(-0.3, 0.3, n)) / n * 4 - 2
    if kinks:
        k = int(rng.integers(1, 4))
        src, dst = rng.choice(n, size=k, replace=False), rng.choice(n, size=k, replace=False)
        x[dst] = x[src] + rng.choice(NEAR, size=k)
    return x.reshape(shape).astype(dtype)


def layer_case(
    layer: str, rng: np.random.Generator, dtype: Any = np.float64, kinks: bool = False, config: dict | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(inputs, config)`` for ``layer`` (module docstring); ``config`` overrides the drawn settings."""
    cfg: dict[str, Any] = {}

    def size(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    def normal(*shape: int) -> np.ndarray:
        return np.asarray(rng.standard_normal(shape), dtype=dtype)

    def away(*shape: int) -> np.ndarray:
        x = normal(*shape)
        return (np.sign(x) * (0.1 + np.abs(x))).astype(dtype)

    if layer in ELEMENTWISE:
        x = away(size(1, 3), size(1, 4))
        if layer == "leaky_relu":
            cfg["slope"] = float(rng.choice((0.01, 0.2)))
        inputs: dict[str, Any] = {"x": _kinked(x, rng) if kinks and layer in ("relu", "leaky_relu") else x}
    elif layer == "linear":
        d_in, d_out = size(1, 4), size(1, 4)
        inputs = {"x": normal(size(1, 4), d_in), "W": normal(d_out, d_in), "b": normal(d_out)}
    elif layer == "dropout":
        p = float(rng.choice((0.25, 0.5)))
        shape = (size(1, 4), size(1, 4))
        inputs = {"x": normal(*shape), "mask": rng.random(shape) >= p, "p": p}
    elif layer == "embedding":
        V, D = size(2, 5), size(1, 3)
        inputs = {"indices": rng.integers(0, V, size=(size(1, 3), size(1, 4))), "E": normal(V, D)}
    elif layer == "conv2d":
        C, F, KH, KW = size(1, 2), size(1, 3), size(1, 3), size(1, 3)
        cfg = {"stride": size(1, 2), "padding": size(0, 1), **(config or {})}
        H, W = size(max(1, KH - 2 * cfg["padding"]), 5), size(max(1, KW - 2 * cfg["padding"]), 5)
        inputs = {"x": normal(size(1, 2), C, H, W), "w": normal(F, C, KH, KW), "b": normal(F)}
    elif layer in ("max_pool2d", "avg_pool2d"):
        k = size(2, 3)
        cfg = {"kernel_size": k, "stride": size(1, k), **(config or {})}
        k = cfg["kernel_size"]
        pool_shape = (size(1, 2), size(1, 2), size(k, 6), size(k, 6))
        inputs = {"x": _pool_input(pool_shape, rng, dtype, kinks and layer == "max_pool2d")}
    elif layer in ("batch_norm", "layer_norm"):
        N, D = size(2, 5), size(1, 4)
        inputs = {"x": normal(N, D) * 2 + 1, "gamma": normal(D), "beta": normal(D)}
    elif layer in ("softmax", "log_softmax"):
        inputs = {"x": normal(size(1, 3), size(1, 5))}
    elif layer == "cross_entropy":
        N, K = size(1, 4), size(1, 4)
        inputs = {"logits": normal(N, K), "labels": rng.integers(0, K, size=N)}
    elif layer == "rnn":
        N, T, D, H = size(1, 2), size(1, 3), size(1, 3), size(1, 3)
        inputs = {
            "x": normal(N, T, D),
            "h0": normal(N, H),
            "Wx": normal(H, D) / 2,
            "Wh": normal(H, H) / 2,
            "b": normal(H),
        }
    elif layer == "lstm":
        N, T, D, H = size(1, 2), size(1, 3), size(1, 2), size(1, 2)
        inputs = {
            "x": normal(N, T, D), "h0": normal(N, H), "c0": normal(N, H),
            "Wx": normal(4 * H, D) / 2, "Wh": normal(4 * H, H) / 2, "b": normal(4 * H),
        }  # fmt: skip
    elif layer == "attention":
        N, T, S, d = size(1, 2), size(1, 3), size(1, 3), size(1, 3)
        cfg = {"causal": bool(rng.integers(0, 2))}
        inputs = {"q": normal(N, T, d), "k": normal(N, S, d), "v": normal(N, S, size(1, 3))}
    elif layer == "flatten":
        inputs = {"x": normal(size(1, 2), size(2, 3), size(1, 3), size(2, 3))}  # (N, C, H, W): C >= 2
    else:
        raise KeyError(layer)
    cfg.update(config or {})
    if layer == "dropout" and "p" in cfg:
        inputs["p"] = cfg.pop("p")
        inputs["mask"] = rng.random(inputs["x"].shape) >= inputs["p"]
    return inputs, cfg
