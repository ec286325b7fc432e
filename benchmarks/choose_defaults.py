"""How the estimators' defaults were chosen: candidates scored on validation splits only.

Each candidate trains on a random 75% of the *training* part of a data set and
is scored on the other 25% of it (8 seeds: the validation split, the init and
the shuffles all change with the seed). The test part of the split that
``bp train`` and ``benchmarks/vs_sklearn.py`` report on is never looked at.

Run: ``.venv/bin/python benchmarks/choose_defaults.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import time

import numpy as np

import bp_manual
from bp_manual import data, optim

#: name: (hidden sizes, activation, init, optimiser factory, batch size, epochs)
CANDIDATES = {
    "A relu-64 he adam 1e-3 b32 e50": ((64,), "relu", "he_normal", lambda: optim.adam(1e-3), 32, 50),
    "B relu-64 he adam 3e-3 b64 e30": ((64,), "relu", "he_normal", lambda: optim.adam(3e-3), 64, 30),
    "B' relu-64 xavier_u adam 3e-3 b64 e30": ((64,), "relu", "xavier_uniform", lambda: optim.adam(3e-3), 64, 30),
    "C sigmoid-64 xavier momentum 0.1 b32 e40": (
        (64,),
        "sigmoid",
        "xavier_normal",
        lambda: optim.momentum(0.1),
        32,
        40,
    ),
    "D tanh-64 xavier momentum 0.05 b64 e40": ((64,), "tanh", "xavier_normal", lambda: optim.momentum(0.05), 64, 40),
    "E relu-128 he adam 1e-3 b32 e50": ((128,), "relu", "he_normal", lambda: optim.adam(1e-3), 32, 50),
}
SEEDS = range(8)


def score(d: data.Dataset, hidden, act, init, make_opt, batch, epochs, seed: int) -> tuple[float, float]:
    order = np.random.default_rng(1000 + seed).permutation(len(d.y_train))
    n_val = len(order) // 4
    va, tr = order[:n_val], order[n_val:]
    classify = d.task == "classification"
    spec = bp_manual.NetworkSpec(
        (d.n_in, *hidden, d.n_out),
        hidden=act,
        output="softmax" if classify else "identity",
        loss="cross_entropy" if classify else "mse",
    )
    params = bp_manual.init_params(spec, init, seed=seed)
    t0 = time.perf_counter()
    params, _ = bp_manual.fit(
        spec, params, d.X_train[tr], d.y_train[tr], epochs=epochs, batch_size=batch, optimizer=make_opt(), seed=seed
    )
    wall = time.perf_counter() - t0
    out = bp_manual.predict(spec, params, d.X_train[va])
    if classify:
        return float(np.mean(out.argmax(axis=1) == d.y_train[va])), wall
    y = d.y_train[va]
    return float(1 - np.sum((out - y) ** 2) / np.sum((y - y.mean(axis=0)) ** 2)), wall


def main() -> None:
    for d in (data.load_digits(), data.load_diabetes()):
        metric = "accuracy" if d.task == "classification" else "R^2"
        print(f"\n{d.name}: validation {metric} over {len(SEEDS)} seeds (mean, min, median fit time)")
        for name, (hidden, act, init, make_opt, batch, epochs) in CANDIDATES.items():
            res = [score(d, hidden, act, init, make_opt, batch, epochs, s) for s in SEEDS]
            vals = [r[0] for r in res]
            print(
                f"  {name:<42} mean {np.mean(vals):.4f}  min {min(vals):.4f}  "
                f"fit {np.median([r[1] for r in res]):.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
