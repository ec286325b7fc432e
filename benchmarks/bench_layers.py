"""Benchmark the hand-derived layers: NumPy against PyTorch eager, and the hand derivation under jax.jit.

Run from the repository root:

    .venv/bin/python benchmarks/bench_layers.py [--quick] [--threads 1,2] [--out docs/performance.md]
    .venv/bin/python benchmarks/bench_layers.py --layers max_pool2d --threads 2   # some rows again, printed

What it measures: forward plus backward of four layers of :mod:`bp_manual.layers`
at the sizes of issue 17, float32 and float64 (the rows are :data:`ROWS`):

- ``conv2d``: ``x (32, 16, 28, 28)``, ``w (32, 16, 3, 3)``, ``b (32,)``, padding 1, stride 1;
- ``max_pool2d``: ``x (32, 16, 28, 28)``, kernel 2 stride 2 (the usual, windows
  apart) and kernel 3 stride 2 (overlapping windows, as in AlexNet/ResNet stems);
- ``batch_norm``: ``x (32, 16, 28, 28)`` (per channel) and ``x (256, 1024)`` (per feature);
- ``lstm``: ``N = 32`` sequences of ``T = 32`` steps, ``D = H = 128``, from given ``h0, c0``.

One run measures every row once per thread count, each thread count in a fresh
worker process confined to that many CPUs with BLAS, OpenMP and torch limited
to that many threads and the ``MALLOC_`` settings of ``benchmarks/common.py``
(the same pinning as ``benchmarks/bench_step.py``), and writes the Markdown
tables (into ``--out``; in a file holding the markers
``<!-- bench_layers table: start -->``/``end``, such as ``docs/performance.md``,
between them). Every figure is the median of many single forward+backward
timings in one process, the two implementations of a ratio called in turn
(``interleaved_medians``) so that both see the same load; the load average is
printed at the start and end of each section, and ratios are only meaningful
within one section.

Columns of the first table (target: ``NumPy / torch <= 2``, NumPy at least half torch's speed):

- ``NumPy``: ``<layer>_forward`` then ``<layer>_backward`` of ``bp_manual.layers``
  on NumPy arrays, argument checks included (what a user calls).
- ``torch``: ``torch.nn.functional`` (``torch.nn.LSTM`` for the LSTM) in eager
  mode, forward plus ``torch.autograd.grad`` of every input with ``dout``.
- ``NumPy / torch``: the ratio of the two medians.

Columns of the second table (target: ``manual / jax.vjp <= 1.2``):

- ``manual jit``: the same ``bp_manual.layers`` forward and backward traced on
  JAX arrays and compiled by ``jax.jit`` (one executable: out and every gradient).
- ``jax.vjp jit``: ``jax.vjp`` of the JAX twin in ``bp_autodiff.witness.layers``,
  the output and the pullback of ``dout``, jitted the same way.
- ``manual / jax.vjp``: the ratio.

Before timing, each row checks that the three implementations compute the same
function (largest difference over the largest magnitude below ``1e-3`` in
float32, ``1e-8`` in float64: a sanity check that the same thing is timed, far
above rounding and far below any wrong configuration; the layers' own tests hold
them to torch and JAX at derived tolerances).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bp_manual import layers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py, also when a test loads this file
from common import MALLOC, interleaved_medians, run_worker, write_table

NAME = "bench_layers"


@dataclass(frozen=True)
class Row:
    """One benchmark row: a layer of :mod:`bp_manual.layers`, its inputs' shapes and its configuration."""

    layer: str
    shapes: tuple[tuple[int, ...], ...]
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""


ROWS = (
    Row("conv2d", ((32, 16, 28, 28), (32, 16, 3, 3), (32,)), {"padding": 1}, "x (32,16,28,28), w (32,16,3,3), pad 1"),
    Row("max_pool2d", ((32, 16, 28, 28),), {"kernel_size": 2, "stride": 2}, "x (32,16,28,28), k 2, s 2"),
    Row("max_pool2d", ((32, 16, 28, 28),), {"kernel_size": 3, "stride": 2}, "x (32,16,28,28), k 3, s 2 (overlap)"),
    Row("batch_norm", ((32, 16, 28, 28), (16,), (16,)), {}, "x (32,16,28,28)"),
    Row("batch_norm", ((256, 1024), (1024,), (1024,)), {}, "x (256,1024)"),
    Row("lstm", ((32, 32, 128), (32, 128), (32, 128), (512, 128), (512, 128), (512,)), {}, "N 32, T 32, D = H = 128"),
)


def inputs(row: Row, dtype: type, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random inputs of ``row`` in ``dtype`` (weights scaled by ``1/sqrt(fan-in)``, ``gamma`` near 1)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in row.shapes]
    if row.layer == "conv2d":
        arrays[1] /= np.sqrt(np.prod(row.shapes[1][1:]))
    elif row.layer == "batch_norm":
        arrays[1] = 1.0 + 0.1 * arrays[1]
    elif row.layer == "lstm":
        arrays[3] /= np.sqrt(row.shapes[3][1])
        arrays[4] /= np.sqrt(row.shapes[4][1])
    return tuple(a.astype(dtype) for a in arrays)


def manual_pair(row: Row) -> Callable[..., list[Any]]:
    """``(arrays, dout) -> [out, *grads]`` through ``bp_manual.layers`` (NumPy or JAX arrays alike)."""
    forward, backward = getattr(layers, f"{row.layer}_forward"), getattr(layers, f"{row.layer}_backward")

    def pair(arrays: tuple[Any, ...], dout: Any) -> list[Any]:
        out, cache = forward(*arrays, **row.config)
        return [out, *backward(dout, cache)]

    return pair


def vjp_pair(row: Row) -> Callable[..., list[Any]]:
    """``(arrays, dout) -> [out, *grads]`` by ``jax.vjp`` of the JAX twin in ``bp_autodiff.witness.layers``."""
    import importlib

    import jax

    module = {"conv2d": "conv", "max_pool2d": "pool", "batch_norm": "norm", "lstm": "recurrent"}[row.layer]
    twin = getattr(importlib.import_module(f"bp_autodiff.witness.layers.{module}"), row.layer)

    def pair(arrays: tuple[Any, ...], dout: Any) -> list[Any]:
        out, pullback = jax.vjp(lambda *a: twin(*a, **row.config), *arrays)
        return [out, *pullback(dout)]

    return pair


def torch_pair(row: Row, arrays: tuple[np.ndarray, ...]) -> Callable[[np.ndarray], list[Any]]:
    """``dout -> [out, *grads]`` in torch eager: the functional layer, then ``torch.autograd.grad``."""
    import torch  # type: ignore[import-not-found, unused-ignore]

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    if row.layer == "conv2d":
        fn: Callable[[], Any] = lambda: torch.nn.functional.conv2d(ts[0], ts[1], ts[2], padding=row.config["padding"])  # noqa: E731
    elif row.layer == "max_pool2d":
        fn = lambda: torch.nn.functional.max_pool2d(ts[0], **row.config)  # noqa: E731
    elif row.layer == "batch_norm":
        fn = lambda: torch.nn.functional.batch_norm(ts[0], None, None, ts[1], ts[2], training=True, eps=1e-5)  # noqa: E731
    else:  # lstm: torch.nn.LSTM with weight_ih = Wx, weight_hh = Wh, bias_ih = b, bias_hh = 0 (not a leaf we ask for)
        x, h0, c0, Wx, Wh, b = ts
        D, H = arrays[0].shape[2], arrays[1].shape[1]
        module = torch.nn.LSTM(D, H, batch_first=True, dtype=ts[0].dtype)
        with torch.no_grad():
            dict(module.named_parameters())["bias_hh_l0"].zero_()
        for name, t in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"), (Wx, Wh, b), strict=True):
            setattr(module, name, torch.nn.Parameter(t))
        ts = [x, h0, c0, *(getattr(module, name) for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"))]
        fn = lambda: module(x, (h0[None], c0[None]))[0]  # noqa: E731

    def pair(dout: np.ndarray) -> list[Any]:
        out = fn()
        return [out, *torch.autograd.grad(out, ts, torch.from_numpy(dout))]

    return pair


def same_function(label: str, want: list[Any], got: list[Any], dtype: type) -> None:
    """Raise ``RuntimeError`` unless ``got`` matches ``want`` term by term (see the module docstring's bound)."""
    bound = 1e-3 if dtype == np.float32 else 1e-8
    for k, (w, g) in enumerate(zip(want, got, strict=True)):
        w, g = np.asarray(w, np.float64), np.asarray(g.detach() if hasattr(g, "detach") else g, np.float64)
        err = np.max(np.abs(w - g)) / max(np.max(np.abs(w)), 1e-30)
        if w.shape != g.shape or not err < bound:
            raise RuntimeError(f"{label}: term {k} differs from the NumPy run ({w.shape}, {g.shape}, {err:.2e})")


def measure(row: Row, dtype: type, repeat: int) -> tuple[str, str]:
    """The row's line in each table: ``(NumPy vs torch, manual jit vs jax.vjp jit)``."""
    import jax
    import jax.numpy as jnp

    arrays = inputs(row, dtype)
    manual = manual_pair(row)
    out = manual_pair_forward(row, arrays)
    dout: np.ndarray = np.random.default_rng(1).normal(size=out.shape).astype(dtype)
    reference = manual(arrays, dout)
    tpair = torch_pair(row, arrays)
    same_function(f"{row.layer} torch", reference, tpair(dout), dtype)
    t_numpy, t_torch = interleaved_medians([lambda: manual(arrays, dout), lambda: tpair(dout)], repeat)
    with jax.enable_x64(dtype == np.float64):
        jarrays, jdout = tuple(jnp.asarray(a) for a in arrays), jnp.asarray(dout)
        mjit, vjit = jax.jit(manual), jax.jit(vjp_pair(row))
        same_function(f"{row.layer} manual jit", reference, mjit(jarrays, jdout), dtype)
        same_function(f"{row.layer} jax.vjp jit", reference, vjit(jarrays, jdout), dtype)
        t_mjit, t_vjit = interleaved_medians(
            [lambda: jax.block_until_ready(mjit(jarrays, jdout)), lambda: jax.block_until_ready(vjit(jarrays, jdout))],
            repeat,
        )
    name, dt = f"`{row.layer}` {row.label}", np.dtype(dtype).name
    return (
        f"| {name} | {dt} | {ms(t_numpy)} | {ms(t_torch)} | {t_numpy / t_torch:.2f}x |",
        f"| {name} | {dt} | {ms(t_mjit)} | {ms(t_vjit)} | {t_mjit / t_vjit:.2f}x |",
    )


def gemm_floor(row: Row, dtype: type, repeat: int) -> str:
    """For ``conv2d``: its three matrix products alone (NumPy, and jitted), against torch's and ``jax.vjp``'s steps.

    The products of the forward (``(F, C*KH*KW) @ (C*KH*KW, N*OH*OW)``), ``dw`` and the
    windows' gradient ``dcols``, at the row's shapes, on arrays made beforehand: what no
    implementation through matrix products goes below. A line of Markdown.
    """
    import jax
    import jax.numpy as jnp

    (N, C, H, W), (F, _, KH, KW), _ = row.shapes
    K, P = C * KH * KW, N * H * W  # stride 1 and "same" padding: OH, OW = H, W
    rng = np.random.default_rng(2)
    w2: np.ndarray = rng.normal(size=(F, K)).astype(dtype)
    cols: np.ndarray = rng.normal(size=(K, P)).astype(dtype)
    d2: np.ndarray = rng.normal(size=(F, P)).astype(dtype)

    def products(w2: Any, cols: Any, d2: Any) -> tuple[Any, Any, Any]:
        return w2 @ cols, d2 @ cols.T, w2.T @ d2

    arrays = inputs(row, dtype)
    dout: np.ndarray = np.random.default_rng(1).normal(size=(N, F, H, W)).astype(dtype)
    tpair = torch_pair(row, arrays)
    with jax.enable_x64(dtype == np.float64):
        jitted, vjit = jax.jit(products), jax.jit(vjp_pair(row))
        J, jarrays, jdout = (
            [jnp.asarray(a) for a in (w2, cols, d2)],
            tuple(jnp.asarray(a) for a in arrays),
            jnp.asarray(dout),
        )
        t_np, t_torch, t_jit, t_vjp = interleaved_medians(
            [
                lambda: products(w2, cols, d2),
                lambda: tpair(dout),
                lambda: jax.block_until_ready(jitted(*J)),
                lambda: jax.block_until_ready(vjit(jarrays, jdout)),
            ],
            repeat,
        )
    return (
        f"- {np.dtype(dtype).name}: the three products alone {ms(t_np)} in NumPy ({t_np / t_torch:.2f}x torch's whole "
        f"step, {ms(t_torch)}), {ms(t_jit)} jitted ({t_jit / t_vjp:.2f}x `jax.vjp`'s whole step, {ms(t_vjp)})."
    )


def manual_pair_forward(row: Row, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    """The row's forward output alone (to shape ``dout``)."""
    out: np.ndarray = getattr(layers, f"{row.layer}_forward")(*arrays, **row.config)[0]
    return out


def ms(t: float) -> str:
    return f"{t * 1e3:.2f} ms"


def worker(quick: bool, threads: int, only: tuple[str, ...] = ()) -> str:
    """Every row (of the layers ``only``, if given) at one thread count (the caller set the environment and the
    CPUs): a Markdown section."""
    repeat = 10 if quick else 30
    load_start = os.getloadavg()[0]
    numpy_table = [
        "| layer | dtype | NumPy | torch | NumPy / torch |",
        "| --- | --- | --- | --- | --- |",
    ]
    jit_table = [
        "| layer | dtype | manual jit | jax.vjp jit | manual / jax.vjp |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in ROWS:
        if only and row.layer not in only:
            continue
        for dtype in (np.float32, np.float64):
            numpy_line, jit_line = measure(row, dtype, repeat)
            numpy_table.append(numpy_line)
            jit_table.append(jit_line)
            print(numpy_line, jit_line, sep="\n", file=sys.stderr, flush=True)
    floors = [] if only else [gemm_floor(ROWS[0], dtype, repeat) for dtype in (np.float32, np.float64)]
    return "\n".join(
        [
            f"### {threads} thread{'s' if threads > 1 else ''} (BLAS, XLA and torch)",
            "",
            f"Load average at start: {load_start:.2f}.",
            "",
            "NumPy against PyTorch eager (forward + backward; target NumPy / torch <= 2):",
            "",
            *numpy_table,
            "",
            "The hand derivation under `jax.jit` against `jax.vjp` of the JAX twin (target <= 1.2):",
            "",
            *jit_table,
            "",
            *(
                [
                    "Floor of `conv2d`: its three matrix products (forward, `dw`, the windows' gradient) alone, "
                    "at its shapes:",
                    "",
                    *floors,
                    "",
                ]
                if floors
                else []
            ),
            f"Load average at end: {os.getloadavg()[0]:.2f}.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--out", help="also write the Markdown tables to this file (between its markers)")
    parser.add_argument(
        "--layers",
        default="",
        help="comma-separated layers to measure again (e.g. max_pool2d), printed only: not with --out, whose "
        "tables hold every row of one run",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = tuple(name for name in args.layers.split(",") if name)
    unknown = sorted(set(only) - {row.layer for row in ROWS})
    if unknown:
        parser.error(f"--layers: no row for {', '.join(unknown)}; the layers are {sorted({r.layer for r in ROWS})}")
    if only and args.out:
        parser.error("--layers: prints some rows again; --out writes the tables of a whole run")

    if args.worker:
        print(worker(args.quick, args.worker, only))
        return 0

    import jax
    import torch  # type: ignore[import-not-found, unused-ignore]

    head = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}, jax {jax.__version__}, torch {torch.__version__}. Medians of single "
        "forward+backward timings; ratios within one section come from one process. Workers ran with "
        f"`{' '.join(f'{k}={v}' for k, v in MALLOC.items())}` (a benchmark setting; see `benchmarks/common.py`).",
        "",
    ]
    extra = (["--quick"] if args.quick else []) + (["--layers", args.layers] if only else [])
    sections = [
        run_worker(__file__, ["--worker", str(threads), *extra], threads) + "\n"
        for threads in (int(t) for t in args.threads.split(","))
    ]
    text = "\n".join(head + sections)
    print(text)
    if args.out:
        write_table(Path(args.out), text, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
