"""``bp train`` against scikit-learn's MLPClassifier / MLPRegressor, side by side in one run.

Both get the same split (``bp_manual.data``: seeded, standardised with the
training part's statistics; the regression targets standardised too, which
leaves R^2 unchanged), the same architecture and activation, the same
optimiser with the same hyper-parameters, batch size and number of epochs,
no L2 penalty, and no early stopping (sklearn's ``n_iter_no_change`` is set
to the epoch count, so both run every epoch). sklearn always uses its
Glorot-uniform init: for ReLU that is ``xavier_uniform``, ``bp train``'s
default; the He-normal rows show what the init alone changes.

Timed: ``bp train --quiet`` in this process (its reported wall time: the
training loop, no per-epoch evaluation) and ``MLPClassifier.fit`` /
``MLPRegressor.fit``; the median of REPEATS alternating runs. The test score
is deterministic for a seed; it is also averaged over SEEDS different splits
(and inits and shuffles) for each side.

BLAS runs single-threaded for both (threadpoolctl), and the script re-executes
itself with ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` raised
(shared/NOTES-performance.md: it steadies NumPy's step times). Run:
``.venv/bin/python benchmarks/vs_sklearn.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings

MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
if os.environ.get("MALLOC_MMAP_THRESHOLD_") != MALLOC["MALLOC_MMAP_THRESHOLD_"]:
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC})

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bp_autodiff.cli import main as bp_main  # noqa: E402
from bp_manual import data  # noqa: E402

REPEATS = 5
SEEDS = range(5)

#: (dataset, hidden, bp train's --init, optimizer, lr, batch, epochs)
CONFIGS = [
    ("digits", "relu", "xavier_uniform", "adam", 3e-3, 64, 30),  # bp train's defaults (sklearn's init scheme too)
    ("digits", "relu", "he_normal", "adam", 3e-3, 64, 30),
    ("digits", "sigmoid", "xavier_normal", "momentum", 0.1, 32, 40),
    ("diabetes", "relu", "xavier_uniform", "adam", 3e-3, 64, 30),  # bp train's defaults
    ("diabetes", "relu", "he_normal", "adam", 3e-3, 64, 30),
]


def run_bp(
    dataset: str, hidden: str, init: str, opt: str, lr: float, batch: int, epochs: int, seed: int
) -> tuple[float, float]:
    argv = ["train", "--dataset", dataset, "--hidden", hidden, "--init", init, "--optimizer", opt, "--lr", str(lr)]
    argv += ["--batch-size", str(batch), "--epochs", str(epochs), "--seed", str(seed), "--quiet"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = bp_main(argv)
    assert status == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    score = float(next(line for line in lines if line.startswith("test")).split()[-1])
    wall = float(next(line for line in lines if line.startswith("wall time")).split()[2])
    return score, wall


def run_sklearn(
    dataset: str, hidden: str, init: str, opt: str, lr: float, batch: int, epochs: int, seed: int
) -> tuple[float, float]:
    """sklearn with its own init always (``init`` names bp train's only)."""
    d = data.load_dataset(dataset, seed=seed)
    common = {
        "hidden_layer_sizes": (64,),
        "activation": {"sigmoid": "logistic"}.get(hidden, hidden),
        "learning_rate_init": lr,
        "batch_size": batch,
        "max_iter": epochs,
        "alpha": 0.0,
        "n_iter_no_change": epochs,
        "tol": 0.0,
        "random_state": seed,
    }
    if opt == "adam":
        common["solver"] = "adam"
    else:  # classical momentum: u <- beta u - lr g; p <- p + u (ours with v = -u / lr)
        common |= {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False, "learning_rate": "constant"}
    est = MLPClassifier(**common) if d.task == "classification" else MLPRegressor(**common)
    y_train = d.y_train if d.task == "classification" else d.y_train.ravel()
    y_test = d.y_test if d.task == "classification" else d.y_test.ravel()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(d.X_train, y_train)
    wall = time.perf_counter() - t0
    return float(est.score(d.X_test, y_test)), wall


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores); BLAS 1 thread; malloc thresholds raised: {MALLOC}")
    print(f"wall: median of {REPEATS} alternating runs at seed 0; test: accuracy or R^2 at seed 0;")
    print(f"mean: the test score averaged over seeds {list(SEEDS)} (split, init and shuffles)")
    header = f"{'config':<62} {'side':<14} {'wall s':>7} {'test':>7} {'mean':>7}"
    print(header)
    with threadpool_limits(limits=1):
        for dataset, hidden, init, opt, lr, batch, epochs in CONFIGS:
            args = (dataset, hidden, init, opt, lr, batch, epochs)
            walls: dict[str, list[float]] = {"bp train": [], "scikit-learn": []}
            scores: dict[str, float] = {}
            for _ in range(REPEATS):
                scores["bp train"], w = run_bp(*args, seed=0)
                walls["bp train"].append(w)
                scores["scikit-learn"], w = run_sklearn(*args, seed=0)
                walls["scikit-learn"].append(w)
            means = {
                "bp train": np.mean([run_bp(*args, seed=s)[0] for s in SEEDS]),
                "scikit-learn": np.mean([run_sklearn(*args, seed=s)[0] for s in SEEDS]),
            }
            name = f"{dataset} {hidden}-64 {opt} lr {lr:g} b{batch} e{epochs} init {init}"
            for side in walls:
                print(f"{name:<62} {side:<14} {np.median(walls[side]):>7.3f} {scores[side]:>7.4f} {means[side]:>7.4f}")
            ratio = np.median(walls["scikit-learn"]) / np.median(walls["bp train"])
            print(f"{'':<62} {'sklearn/bp':<14} {ratio:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
