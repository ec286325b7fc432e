"""Benchmark one training step: hand-derived NumPy, hand-derived under jax.jit, jax.grad, torch.

Run from the repository root:

    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 \\
        .venv/bin/python benchmarks/bench_step.py [--quick] [--out docs/performance-table.md]

The malloc settings keep large temporaries mapped between steps, so runs agree
within a few percent instead of swinging 2-7x with page faults (see
``shared/NOTES-performance.md``); the script reports whether they were set.
Every figure is the median of many single-step timings taken in one process,
so ratios between columns are comparable; absolute times depend on the load,
which is printed.

Columns:
- ``manual``: ``bp_manual.train_step`` (validation, forward, backward, SGD update), NumPy.
- ``manual jit``: the same Python kernels traced by ``jax.jit`` (loss_grads + update).
- ``jax.grad jit``: ``jax.value_and_grad`` of ``bp_autodiff.network.loss`` + update, jitted.
- ``torch``: autograd + in-place SGD, when torch is installed.
- ``GEMM-bound``: the arithmetic of the two large products (forward ``X @ W1.T``
  and ``dW1 = delta1.T @ X``) at this machine's measured GEMM rate.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import bp_manual

SIZES = (784, 256, 10)


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

    import bp_autodiff.network as jnet

    def manual(params, X, Y):
        loss, grads, _ = bp_manual.loss_grads_and_deltas(spec, params, X, Y)
        return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    def autodiff(params, X, Y):
        loss, grads = jax.value_and_grad(jnet.loss, argnums=1)(spec, params, X, Y)
        return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)

    return jax.jit(manual), jax.jit(autodiff)


def torch_step(params: bp_manual.Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Callable[[], object] | None:
    try:
        import torch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
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
        f"| {np.dtype(dtype).name} | {batch} | {us(bound)} | {us(t_manual)} | {us(t_mjit)} | {us(t_ajit)} "
        f"| {us(t_torch)} | {ratio(t_ajit)} | {ratio(t_torch)} | {bound / t_manual:.0%} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and repeats")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args()

    import jax

    batches = (1, 128) if args.quick else (1, 16, 128, 512)
    repeat = 30 if args.quick else 100
    lr = 0.01
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"numpy {np.__version__}, jax {jax.__version__}; malloc thresholds "
        f"{'set' if os.environ.get('MALLOC_MMAP_THRESHOLD_') else 'NOT set'}.",
        "",
        "| dtype | batch | GEMM-bound | manual | manual jit | jax.grad jit | torch "
        "| jax.grad / manual | torch / manual | manual GEMM fraction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dtype in (np.float64, np.float32):
        rate = gemm_rate(dtype)
        lines.insert(1, f"GEMM rate ({np.dtype(dtype).name}, 1024^3 NumPy): {rate / 1e9:.0f} GFLOP/s.")
        for batch in batches:
            lines.append(measure_row(dtype, batch, rate, repeat, lr))
            print(lines[-1], file=sys.stderr, flush=True)

    # the seed's regime: 784-32-64, one sample per update
    net = bp_manual.BPNetwork(784, 32, 64, 0.01, seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, 784), rng.normal(0, 1, 64)
    t_seed = median_time(lambda: net.train(x, y), repeat)
    lines += ["", f"Seed regime (BPNetwork.train, 784-32-64, one sample per update): {t_seed * 1e6:.1f} us per sample."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
