"""Digits, with and without layerwise auto-encoder pre-training: same seeds, same budget.

The network is the kind the seed's pre-training section is about: deep and
sigmoid, 64-64-64-64-10, trained by plain SGD (lr 0.1, batches of 32) from
Xavier-normal weights. Three arms per seed (the init, the decoders and the
shuffles all come from the seed):

- ``none``: fine-tune only, ``F`` epochs;
- ``pretrain``: ``P`` epochs per hidden layer (3 auto-encoders), then ``F`` epochs;
- ``none, same total``: no pre-training, ``F + 3P`` epochs (the same number of
  passes over the data as the pretrain arm).

Printed: test accuracy and final training loss (mean and range over seeds)
and wall time. Run: ``.venv/bin/python benchmarks/pretraining.py``.
"""

from __future__ import annotations

import time

import numpy as np

import bp_manual
from bp_manual import data, optim
from bp_manual.pretrain import pretrain_layerwise

SIZES = (64, 64, 64, 64, 10)
F, P = 20, 5
SEEDS = range(5)


def arm(d: data.Dataset, seed: int, pre_epochs: int, fine_epochs: int) -> tuple[float, float, float]:
    spec = bp_manual.NetworkSpec(SIZES, hidden="sigmoid", output="softmax", loss="cross_entropy")
    rng = np.random.default_rng(seed)
    params = bp_manual.init_params(spec, "xavier_normal", seed=rng)
    opt = optim.sgd(0.1)
    t0 = time.perf_counter()
    if pre_epochs:
        params, _ = pretrain_layerwise(
            spec, params, d.X_train, epochs=pre_epochs, batch_size=32, optimizer=opt, seed=rng
        )
    params, history = bp_manual.fit(
        spec, params, d.X_train, d.y_train, epochs=fine_epochs, batch_size=32, optimizer=opt, seed=rng
    )
    wall = time.perf_counter() - t0
    acc = float(np.mean(bp_manual.predict(spec, params, d.X_test).argmax(axis=1) == d.y_test))
    return acc, history.loss[-1], wall


def main() -> None:
    d = data.load_digits()
    n_hidden = len(SIZES) - 2
    arms = {
        f"none ({F} epochs)": (0, F),
        f"pretrain ({P}/layer x {n_hidden}, then {F})": (P, F),
        f"none, same total ({F + n_hidden * P} epochs)": (0, F + n_hidden * P),
    }
    print(f"digits {d.X_train.shape[0]}/{d.X_test.shape[0]}, {'-'.join(map(str, SIZES))} sigmoid, SGD lr 0.1, batch 32")
    print(f"{'arm':<44} {'test acc mean [min, max]':>28} {'train loss mean':>16} {'wall s':>7}")
    for name, (pre, fine) in arms.items():
        res = [arm(d, s, pre, fine) for s in SEEDS]
        accs = [r[0] for r in res]
        print(
            f"{name:<44} {np.mean(accs):>10.4f} [{min(accs):.4f}, {max(accs):.4f}] "
            f"{np.mean([r[1] for r in res]):>16.4f} {np.median([r[2] for r in res]):>7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
