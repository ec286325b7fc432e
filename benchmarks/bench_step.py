"""Benchmark one training step: hand-derived NumPy, hand-derived under jax.jit, jax.grad, torch.

Run from the repository root:

    .venv/bin/python benchmarks/bench_step.py [--quick] [--threads 1,2] [--out docs/performance.md]

One run measures every row once per thread count (each in a fresh worker
process whose BLAS, XLA and torch are limited to that many threads), then the
property suite's throughput (two fresh pytest processes, the first with an
empty JAX compilation cache, the second with the cache the first left), and
writes one Markdown table (into ``--out``; in a file holding the markers
``<!-- bench_step table: start -->``/``end -->``, such as ``docs/performance.md``, between them). The workers run with
``MALLOC_MMAP_THRESHOLD_=MALLOC_TRIM_THRESHOLD_=1073741824``, which keep large
temporaries mapped between steps, so runs agree within a few percent instead
of swinging 2-7x with page faults (see ``shared/NOTES-performance.md``); this
is a benchmark setting, not something the library needs, and the table says so.
Every figure is the median of many single-step timings taken in one process,
so ratios between columns are comparable; absolute times depend on the load,
which is printed at the start and end of each section.

Columns:
- ``manual``: ``bp_manual.train_step`` (validation, forward, backward, SGD update), NumPy.
- ``MLP.step``: the same step through the object, whose params were checked when set.
- ``bare NumPy``: a floor, not the library: the same equations inline with no
  checks (``bare_step``); ``jax.grad / bare`` below 1 marks a row that no
  unfused NumPy of these equations wins.
- ``manual jit``: the same Python kernels traced by ``jax.jit`` (loss_grads + update).
- ``jax.grad jit``: ``jax.value_and_grad`` of ``bp_autodiff.witness.network.loss`` + update, jitted.
- ``torch``: autograd + in-place SGD, when torch is installed.
- ``GEMM-bound``: the arithmetic of the two large products (forward ``X @ W1.T``
  and ``dW1 = delta1.T @ X``) at this machine's measured GEMM rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import bp_manual

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MALLOC, pin_to_cpus, thread_env, write_table  # benchmarks/ is not a package

SIZES = (784, 256, 10)
ROOT = Path(__file__).resolve().parent.parent


def median_time(fn: Callable[[], object], repeat: int, min_time: float = 0.2) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls (after a warm-up)."""
    for _ in range(3):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 20 * repeat:
            break
    return statistics.median(times)


def gemm_rate(dtype: type) -> float:
    """FLOP/s of a 1024x1024 matrix product in NumPy (the machine's practical GEMM peak)."""
    a: np.ndarray = np.ones((1024, 1024), dtype)
    t = median_time(lambda: a @ a, repeat=20)
    return 2 * 1024**3 / t


def problem(batch: int, dtype: type) -> tuple[bp_manual.NetworkSpec, bp_manual.Params, np.ndarray, np.ndarray]:
    spec = bp_manual.NetworkSpec(SIZES, hidden="relu", output="softmax", loss="cross_entropy")
    params = bp_manual.init_params(spec, "he_normal", seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X: np.ndarray = rng.normal(size=(batch, SIZES[0])).astype(dtype)
    Y: np.ndarray = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], batch)]
    return spec, params, X, Y


def jax_steps(spec: bp_manual.NetworkSpec, lr: float) -> tuple[Callable, Callable]:
    import jax

    import bp_autodiff.witness.network as jnet

    def manual(params, X, Y):
        loss, grads, _ = bp_manual.loss_grads_and_deltas(spec, params, X, Y)
        return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    def autodiff(params, X, Y):
        loss, grads = jax.value_and_grad(jnet.loss, argnums=1)(spec, params, X, Y)
        return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    return jax.jit(manual), jax.jit(autodiff)


def bare_step(params: bp_manual.Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Callable[[], list[np.ndarray]]:
    """The 784-256-10 step as a floor: the equations inline, no checks, no structure (not the library).

    What NumPy itself costs for one relu/softmax/cross-entropy SGD step with
    unfused operations (the same products, the one-sample ``einsum``); the
    distance from here to ``manual`` is the price of the library's checks and
    structure, and a row where ``jax.grad jit`` beats even this is one where
    XLA's fused kernels win over any NumPy of these equations.
    """
    P = [params[0]["W"], params[0]["b"], params[1]["W"], params[1]["b"]]
    N = X.shape[0]

    def step() -> list[np.ndarray]:
        Z1 = X @ P[0].T + P[1]
        A1 = np.maximum(Z1, 0.0)
        Z2 = A1 @ P[2].T + P[3]
        E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
        delta2 = (E / E.sum(axis=1, keepdims=True) - Y) / N
        delta1 = (delta2 @ P[2]) * (Z1 > 0)
        dW1 = np.einsum("i,j->ij", delta1[0], X[0]) if N == 1 else delta1.T @ X
        P[2], P[3] = P[2] - lr * (delta2.T @ A1), P[3] - lr * delta2.sum(axis=0)
        P[0], P[1] = P[0] - lr * dW1, P[1] - lr * delta1.sum(axis=0)
        return P  # [W1, b1, W2, b2] after the step

    return step


def torch_step(params: bp_manual.Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Callable[[], object] | None:
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    ts = [{k: torch.tensor(v, requires_grad=True) for k, v in layer.items()} for layer in params]
    tX, labels = torch.tensor(X), torch.tensor(Y.argmax(axis=1))

    def step() -> object:
        h = torch.relu(tX @ ts[0]["W"].T + ts[0]["b"])
        z = h @ ts[1]["W"].T + ts[1]["b"]
        loss = torch.nn.functional.cross_entropy(z, labels)
        grads = torch.autograd.grad(loss, [t for layer in ts for t in layer.values()])
        with torch.no_grad():
            for t, g in zip([t for layer in ts for t in layer.values()], grads, strict=True):
                t.sub_(lr * g)
        return loss

    return step


def measure_row(dtype: type, batch: int, rate: float, repeat: int, lr: float) -> str:
    """One Markdown table row: every implementation's median step time at this batch and dtype."""
    import jax

    spec, params, X, Y = problem(batch, dtype)
    bound = 2 * 2 * batch * SIZES[0] * SIZES[1] / rate
    t_manual = median_time(lambda: bp_manual.train_step(spec, params, X, Y, lr), repeat)
    t_bare = median_time(bare_step(params, X, Y, lr), repeat)
    mlp = bp_manual.MLP.from_params(spec, params)
    t_mlp = median_time(lambda: mlp.step(X, Y, lr), repeat)
    with jax.enable_x64(dtype == np.float64):
        manual_jit, autodiff_jit = jax_steps(spec, lr)
        jp = jax.tree.map(jax.numpy.asarray, params)
        jX, jY = jax.numpy.asarray(X), jax.numpy.asarray(Y)
        t_mjit = median_time(lambda: jax.block_until_ready(manual_jit(jp, jX, jY)), repeat)
        t_ajit = median_time(lambda: jax.block_until_ready(autodiff_jit(jp, jX, jY)), repeat)
    tstep = torch_step(params, X, Y, lr)
    t_torch = median_time(tstep, repeat) if tstep else float("nan")

    def us(t: float) -> str:
        return f"{t * 1e6:.0f} us" if t == t else "-"

    def ratio(t: float) -> str:
        return f"{t / t_manual:.2f}x" if t == t else "-"

    return (
        f"| {np.dtype(dtype).name} | {batch} | {us(bound)} | {us(t_manual)} | {us(t_mlp)} | {us(t_bare)} "
        f"| {us(t_mjit)} | {us(t_ajit)} | {us(t_torch)} | {ratio(t_ajit)} | {ratio(t_torch)} "
        f"| {t_ajit / t_bare:.2f}x | {bound / t_manual:.0%} |"
    )


def bare_seed_step(W1: np.ndarray, W2: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float) -> Callable[[], float]:
    """The seed's step as a floor: ``BPNetwork.train``'s equations inline, with no checks and no structure.

    Not the library (it validates nothing and would return NaN weights): it
    measures what NumPy itself costs for these equations on this machine, so
    the distance between it and ``BPNetwork.train`` is the price of the
    library's checks and its readable structure.
    """
    W = [W1.copy(), W2.copy()]

    def step() -> float:
        Z1 = x @ W[0].T
        A1 = 1.0 / (1.0 + np.exp(-Z1))
        E = A1 @ W[1].T - y
        delta1 = (E @ W[1]) * (A1 * (1.0 - A1))
        W[1] = W[1] - lr * np.einsum("i,j->ij", E, A1)
        W[0] = W[0] - lr * np.einsum("i,j->ij", delta1, x)
        return float(0.5 * (E @ E))

    return step


def torch_seed_step(
    W1: np.ndarray, W2: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float
) -> Callable[[], object] | None:
    """The seed's step in torch (autograd, in-place SGD), when torch is installed."""
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    ws = [torch.tensor(W, requires_grad=True) for W in (W1, W2)]
    tx, ty = torch.tensor(x), torch.tensor(y)

    def step() -> object:
        out = torch.sigmoid(tx @ ws[0].T) @ ws[1].T
        loss = 0.5 * ((out - ty) ** 2).sum()
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, g in zip(ws, grads, strict=True):
                w.sub_(lr * g)
        return loss

    return step


def seed_regime(repeat: int) -> list[str]:
    """The seed's 784-32-64, one sample per update: ``BPNetwork.train``, a bare-NumPy floor, torch, the jitted epoch."""
    import jax

    from bp_autodiff.jitted import scan

    net = bp_manual.BPNetwork(784, 32, 64, 0.01, seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, 784), rng.normal(0, 1, 64)
    W1, W2 = net.w_in2hid.copy(), net.w_hid2out.copy()
    t_seed = median_time(lambda: net.train(x, y), repeat)
    t_bare = median_time(bare_seed_step(W1, W2, x, y, 0.01), repeat)
    tstep = torch_seed_step(W1, W2, x, y, 0.01)
    torch_text = f"torch {median_time(tstep, repeat) * 1e6:.1f} us" if tstep else "torch not installed"
    n = 2000
    X, Y = rng.uniform(0, 1, (n, 784)), rng.normal(0, 1, (n, 64))
    spec, params = net.mlp.spec, net.mlp.params
    with jax.enable_x64(True):
        jp = jax.tree.map(jax.numpy.asarray, params)
        jX, jY, lr = jax.numpy.asarray(X), jax.numpy.asarray(Y), jax.numpy.asarray(0.01)
        t_scan = median_time(lambda: jax.block_until_ready(scan.epoch(spec, jp, jX, jY, lr)), 10) / n
    return [
        f"Seed regime (784-32-64, float64, one sample per update): `BPNetwork.train` {t_seed * 1e6:.1f} us per "
        f"sample (target <= 40 us); the same equations as bare NumPy with no checks (a floor, not the library) "
        f"{t_bare * 1e6:.1f} us; {torch_text}; jitted epoch (`bp_autodiff.jitted.scan`, lax.scan of the manual kernels "
        f"over {n} samples already on the device) {t_scan * 1e6:.1f} us per sample (target about 8 us)."
    ]


def worker(quick: bool, threads: int) -> str:
    """Every row at one thread count (the caller set the environment): a Markdown section."""
    import jax

    batches = (1, 16, 128) if quick else (1, 4, 16, 64, 128, 512)
    repeat = 30 if quick else 100
    lr = 0.01
    lines = [
        f"### {threads} thread{'s' if threads > 1 else ''} (BLAS, XLA and torch)",
        "",
        f"Load average at start: {os.getloadavg()[0]:.2f}.",
    ]
    table = [
        "| dtype | batch | GEMM-bound | manual | MLP.step | bare NumPy | manual jit | jax.grad jit | torch "
        "| jax.grad / manual | torch / manual | jax.grad / bare | manual GEMM fraction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rates = []
    for dtype in (np.float64, np.float32):
        rate = gemm_rate(dtype)
        rates.append(f"{np.dtype(dtype).name} {rate / 1e9:.0f} GFLOP/s")
        for batch in batches:
            table.append(measure_row(dtype, batch, rate, repeat, lr))
            print(table[-1], file=sys.stderr, flush=True)
    lines += [f"GEMM rate (1024^3 NumPy matmul): {', '.join(rates)}.", "", *table, ""]
    lines += seed_regime(repeat)
    lines += ["", f"Load average at end: {os.getloadavg()[0]:.2f}.", ""]
    del jax
    return "\n".join(lines)


def suite_rate(cache: str) -> tuple[float, int, float]:
    """``(examples/s, examples, load)`` of ``test_manual_gradients_equal_jax`` in a fresh process."""
    load = os.getloadavg()[0]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache)
    cmd = [sys.executable, "-m", "pytest", "tests/test_gradients_vs_jax.py", "-q", "-p", "no:cacheprovider"]
    cmd += ["-k", "test_manual_gradients_equal_jax", "--durations=0", "--hypothesis-show-statistics"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False).stdout
    seconds = sum(float(t) for t in re.findall(r"([0-9.]+)s call .*test_manual_gradients_equal_jax", out))
    n = sum(int(k) for k in re.findall(r"(\d+) passing, ", out))
    if " passed" not in out or seconds == 0 or n == 0:
        raise RuntimeError(f"the property test did not pass:\n{out[-2000:]}")
    return n / seconds, n, load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and repeats")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-suite", action="store_true", help="skip the property-suite throughput")
    args = parser.parse_args()

    if args.worker:
        print(worker(args.quick, args.worker))
        return 0

    import jax

    head = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}, jax {jax.__version__}. Medians of single-step timings; ratios within one "
        f"section come from one process. Workers ran with `{' '.join(f'{k}={v}' for k, v in MALLOC.items())}` "
        "(a benchmark setting; see `benchmarks/bench_step.py`).",
        "",
    ]
    quick = ["--quick"] if args.quick else []
    sections = [
        run_worker(["--worker", str(threads), *quick], threads) + "\n"
        for threads in (int(t) for t in args.threads.split(","))
    ]
    if not args.no_suite:
        with tempfile.TemporaryDirectory() as cache:
            cold, n, load_cold = suite_rate(cache)
            warm, _, load_warm = suite_rate(cache)
        sections.append(
            "### Property suite\n\n"
            f"`test_manual_gradients_equal_jax` ({n} examples, float64 and float32, random shapes up to 5 layers "
            f"of width 32 and batch 16), each in a fresh pytest process: {cold:.0f} examples/s with an empty JAX "
            f"compilation cache (load {load_cold:.2f}), {warm:.0f} examples/s with the cache the first run left "
            f"(load {load_warm:.2f}).\n"
        )
    text = "\n".join(head + sections)
    print(text)
    if args.out:
        write_table(Path(args.out), text, "bench_step")
    return 0


def run_worker(args: list[str], threads: int) -> str:
    """Run this script with ``args`` in a fresh process pinned to ``threads`` CPUs; its standard output."""
    done = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        env=thread_env(threads),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=pin_to_cpus(threads),
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
