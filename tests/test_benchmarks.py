"""The benchmark's reference floors compute what the library computes.

``benchmarks/bench_step.py`` quotes ``bare_step`` and ``bare_seed_step`` as
floors: the library's equations with no checks and no structure. A floor that
computed something else (a dropped factor, a transposed product) would make the
comparison meaningless while looking like a speed-up, so it is held to the
library here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import bp_manual


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_step.py"
    spec = importlib.util.spec_from_file_location("bench_step", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [1, 5])
def test_bare_step_is_train_step_bit_for_bit(batch: int, dtype: type) -> None:
    """Same operations in the same order (the one-sample einsum included), so the same bits."""
    bench = _bench()
    spec, params, X, Y = bench.problem(batch, dtype)
    floor = [dict(layer) for layer in params]
    step = bench.bare_step(floor, X, Y, 0.1)
    expected = params
    for _ in range(3):
        got = step()
        _, expected = bp_manual.train_step(spec, expected, X, Y, 0.1)
    want = [expected[0]["W"], expected[0]["b"], expected[1]["W"], expected[1]["b"]]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w)


def test_bare_seed_step_is_bpnetwork_train() -> None:
    """The seed's floor against ``BPNetwork.train``: the losses of 5 successive steps.

    Tolerance: the floor writes sigmoid as ``1 / (1 + exp(-Z))`` and the library
    as the overflow-free two-branch form; both are within a few ulp
    (<= 4 * 2**-53 ~ 4.4e-16 relative) of the true sigmoid. Everything after it
    is the same operations, so the losses (sums of 64 squared errors of order 1)
    differ by a small multiple of that per step; 1e-12 leaves more than 100x
    margin and is still 10**11 times below the O(1) error of any wrong equation.
    """
    bench = _bench()
    net = bp_manual.BPNetwork(784, 32, 64, 0.01, seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, 784), rng.normal(0, 1, 64)
    step = bench.bare_seed_step(net.w_in2hid, net.w_hid2out, x, y, 0.01)
    for _ in range(5):
        assert step() == pytest.approx(net.train(x, y), rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layers", "nope"], "--layers: no row for nope"),
        (["--layers", "max_pool2d", "--out", "x.md"], "--out writes the tables of a whole run"),
    ],
)
def test_bench_layers_refuses_a_partial_table_and_an_unknown_layer(
    argv: list[str], message: str, tmp_path: Path
) -> None:
    """``--layers`` prints some rows again; it never writes docs/performance.md, whose tables are one whole run."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_layers.py"
    result = subprocess.run([sys.executable, str(script), *argv], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.md").exists()
