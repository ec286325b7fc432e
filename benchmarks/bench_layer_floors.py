"""Where the time of two bench_layers rows goes: batch_norm (256, 1024) float64 in NumPy, conv2d under jax.jit.

Run from the repository root:

    .venv/bin/python benchmarks/bench_layer_floors.py [--quick] [--out docs/performance.md]

Every section runs in a fresh worker process pinned to one CPU with one BLAS,
OpenMP and torch thread and the ``MALLOC_`` settings (``benchmarks/common.py``,
as ``benchmarks/bench_layers.py``); each table's rows are timed in turn
(``interleaved_medians``), so the ratios within a table are fair, and the load
average is printed with each table. It writes Markdown (into ``--out``; in a
file holding ``<!-- bench_layer_floors table: start -->``/``end``, between them).

1. ``batch_norm`` x (256, 1024) float64, NumPy, one thread (issue 17's NumPy row
   that missed 2x torch). Columns: ``median`` of single calls, ``/ x - y`` the
   ratio to a same-shape subtraction. Rows: element-wise passes of that size
   against a same-shape operand, a scalar, a per-feature ``(1, D)`` row (the
   layer's broadcasts), the row under ``np.setbufsize(1024)`` (NumPy's buffered
   iterator tiles the row into an 8192-element buffer by default), the row tiled
   to 8 rows by hand against ``x`` seen as ``(32, 8, 1024)`` (inner loops of 8192
   elements with nothing to buffer), a sum of products as a product then a sum
   and as one ``einsum``; then the whole step:
   the library, the library's ``norm.py`` as it was at commit :data:`BEFORE`
   (read with ``git show``, :func:`module_at`), and the library with
   ``np.setbufsize(1024)`` around it, each called right after a torch eager
   step (as ``bench_layers.py``'s pairs run: a step that follows another
   library's finds less of its memory in cache), against that torch step.
2. ``conv2d`` x (32, 16, 28, 28), w (32, 16, 3, 3), padding 1, under ``jax.jit``,
   float64 and float32, one CPU: the hand derivation's whole compiled step, each
   of its parts compiled and timed apart (the windows' gather, the forward
   product with the bias, ``db`` and the ``dw`` product, the windows' gradient
   product, col2im) and their sum, ``jax.vjp`` of the twin, and the whole step
   with the windows gathered by one index-array gather instead of ``KH*KW``
   stacked slices (:func:`gather_windows`, an experiment, not the library's
   code). Run twice: with XLA's defaults, and with
   ``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false``.
   Column ``/ jax.vjp``: the ratio to ``jax.vjp``'s whole step in that table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import bp_manual.layers.conv as conv
from bp_manual.layers import batch_norm_backward, batch_norm_forward
from bp_manual.namespace import namespace

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py and bench_layers.py
from bench_layers import ROWS, inputs, manual_pair, torch_pair, vjp_pair
from common import ROOT, interleaved_medians, run_worker, write_table

NAME = "bench_layer_floors"
BEFORE = "2242121"  # main before issue 17's batch_norm rewrite
NO_CONCURRENT_SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def module_at(commit: str, path: str, name: str) -> types.ModuleType:
    """The module in ``path`` as it was at ``commit`` (``git show``), imported under ``name``: the code before a change,
    to time side by side with the working tree's."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True)
    module = types.ModuleType(name)
    exec(compile(source.stdout, f"{commit}:{path}", "exec"), module.__dict__)  # the repository's own history
    return module


def with_bufsize(size: int, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` called with NumPy's ufunc buffer size set to ``size`` elements (restored after)."""

    def call() -> object:
        old = np.setbufsize(size)
        try:
            return fn()
        finally:
            np.setbufsize(old)

    return call


def norm_section(repeat: int) -> list[str]:
    """Section 1: the passes of batch_norm (256, 1024) float64 and the whole step, as Markdown lines."""
    row = ROWS[4]
    x, gamma, beta = inputs(row, np.float64)
    rng = np.random.default_rng(1)
    y, dout = rng.normal(size=x.shape), rng.normal(size=x.shape)
    mu, buf = x[:1].copy(), np.empty_like(x)
    rows = 8192 // x.shape[1]  # NumPy's default buffer (8192 elements) holds this many rows of x
    x_blocks, mu_rows = x.reshape(-1, rows, x.shape[1]), np.tile(mu, (rows, 1))
    ops: dict[str, Callable[[], object]] = {
        "`x - y` (same shape)": lambda: x - y,
        "`x - 2.0` (a scalar)": lambda: x - 2.0,
        "`x - mu`, `mu` (1, D)": lambda: x - mu,
        "`x - mu`, `mu` (D,)": lambda: x - mu[0],
        "`mu - x`": lambda: mu - x,
        "`np.subtract(x, mu, out=buf)`": lambda: np.subtract(x, mu, out=buf),
        "`x - mu`, `np.setbufsize(1024)`": with_bufsize(1024, lambda: x - mu),
        "`x - mu`, as (32, 8, 1024) - `mu` tiled to (8, 1024)": lambda: x_blocks - mu_rows,
        "`np.sum(x * y, axis=0)`": lambda: np.sum(x * y, axis=0),
        '`np.einsum("ij,ij->j", x, y)`': lambda: np.einsum("ij,ij->j", x, y),
    }
    times = interleaved_medians(list(ops.values()), repeat)
    lines = [
        f"Passes at x (256, 1024) float64, load average {os.getloadavg()[0]:.2f}:",
        "",
        "| operation | median | / `x - y` |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {t * 1e6:.0f} us | {t / times[0]:.2f}x |" for name, t in zip(ops, times, strict=True)),
        "",
    ]
    tpair = torch_pair(row, (x, gamma, beta))

    def library() -> object:
        out, cache = batch_norm_forward(x, gamma, beta)
        return out, batch_norm_backward(dout, cache)

    before = module_at(BEFORE, "src/bp_manual/layers/norm.py", "norm_before")

    def before_step() -> object:
        out, cache = before.batch_norm_forward(x, gamma, beta)
        return out, before.batch_norm_backward(dout, cache)

    steps: dict[str, Callable[[], object]] = {
        "the library": library,
        f"the library before ({BEFORE})": before_step,
        "the library, `np.setbufsize(1024)` around it": with_bufsize(1024, library),
    }
    torch_step = lambda: tpair(dout)  # noqa: E731
    times = interleaved_medians([fn for step in steps.values() for fn in (torch_step, step)], repeat)
    return [
        *lines,
        f"The whole forward + backward, each timed right after a torch step (as in bench_layers), "
        f"load average {os.getloadavg()[0]:.2f}:",
        "",
        "| step | median | torch just before | / torch |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {times[2 * k + 1] * 1e3:.2f} ms | {times[2 * k] * 1e3:.2f} ms "
            f"| {times[2 * k + 1] / times[2 * k]:.2f}x |"
            for k, name in enumerate(steps)
        ),
        "",
    ]


def gather_windows(
    x: Any, KH: int, KW: int, stride: int, pad_before: tuple[int, int] = (0, 0), pad_after: tuple[int, int] = (0, 0)
) -> Any:
    """``conv.windows`` by one index-array gather (rows ``stride*oh + i``, columns ``stride*ow + j``): the same
    ``(C, KH, KW, N, OH, OW)`` copy, bit for bit, in one XLA gather instead of ``KH*KW`` slices and a concatenate."""
    xp = namespace(x)
    widths = ((0, 0), (0, 0), (pad_before[0], pad_after[0]), (pad_before[1], pad_after[1]))
    x_pad = xp.pad(xp.permute_dims(x, (1, 0, 2, 3)), widths)
    OH, OW = conv.output_size(x_pad.shape[2], KH, stride), conv.output_size(x_pad.shape[3], KW, stride)
    rows = xp.reshape(xp.arange(KH), (KH, 1, 1, 1)) + stride * xp.reshape(xp.arange(OH), (1, 1, OH, 1))
    columns = xp.reshape(xp.arange(KW), (1, KW, 1, 1)) + stride * xp.reshape(xp.arange(OW), (1, 1, 1, OW))
    return xp.permute_dims(x_pad[:, :, rows, columns], (0, 2, 3, 1, 4, 5))


def conv_section(dtype: type, repeat: int) -> list[str]:
    """Section 2 at one dtype: the compiled step, its parts apart, jax.vjp, the gather variant; Markdown lines."""
    import jax
    import jax.numpy as jnp

    row = ROWS[0]
    (N, C, H, W), (F, _, KH, KW), _ = row.shapes
    with jax.enable_x64(dtype == np.float64):
        arrays = tuple(jnp.asarray(a) for a in inputs(row, dtype))
        x, w, b = arrays
        dout = jnp.asarray(np.random.default_rng(1).normal(size=(N, F, H, W)).astype(dtype))
        whole, twin = jax.jit(manual_pair(row)), jax.jit(vjp_pair(row))
        original = conv.windows
        conv.windows = gather_windows  # traced once, below; the library's own windows restored right after
        try:
            gathered = jax.jit(manual_pair(row))
            jax.block_until_ready(gathered(arrays, dout))
        finally:
            conv.windows = original
        same = all(
            bool(jnp.array_equal(a, c)) for a, c in zip(gathered(arrays, dout), whole(arrays, dout), strict=True)
        )
        gather = jax.jit(lambda x: conv.windows(x, KH, KW, 1, (1, 1), (1, 1)))
        cols = gather(x)
        forward = jax.jit(lambda cols, w, b: conv.correlate(cols, w) + b[:, None, None])
        dw = jax.jit(lambda d, cols: (jnp.sum(d, axis=(0, 2, 3)), conv.window_products(d, cols)))
        dcols_product = jax.jit(conv.window_gradients)
        dcols = dcols_product(dout, w)
        col2im = jax.jit(lambda dc: conv.add_windows(dc, (N, C, H + 2, W + 2), 1)[:, :, 1 : 1 + H, 1 : 1 + W])
        calls: dict[str, Callable[[], object]] = {
            "manual, whole step": lambda: whole(arrays, dout),
            "`jax.vjp`, whole step": lambda: twin(arrays, dout),
            "part: the windows' gather": lambda: gather(x),
            "part: forward product + bias": lambda: forward(cols, w, b),
            "part: `db` and the `dw` product": lambda: dw(dout, cols),
            "part: the windows' gradient product": lambda: dcols_product(dout, w),
            "part: col2im": lambda: col2im(dcols),
            "manual, windows by one index gather": lambda: gathered(arrays, dout),
        }

        def blocking(f: Callable[[], object]) -> Callable[[], object]:
            return lambda: jax.block_until_ready(f())

        times = interleaved_medians([blocking(f) for f in calls.values()], repeat)
    t = dict(zip(calls, times, strict=True))
    parts = sum(v for k, v in t.items() if k.startswith("part:"))
    t = {**dict(list(t.items())[:7]), "the five parts, sum": parts, "manual, windows by one index gather": times[-1]}
    vjp = t["`jax.vjp`, whole step"]
    return [
        f"`conv2d` {np.dtype(dtype).name}, load average {os.getloadavg()[0]:.2f}"
        f" (the gather variant's results equal the library's bit for bit: {same}):",
        "",
        "| what | median | / jax.vjp |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {v * 1e3:.2f} ms | {v / vjp:.2f}x |" for name, v in t.items()),
        "",
    ]


def worker(quick: bool, flags: str) -> str:
    """The sections of one worker (pinned to one CPU by the caller), as Markdown."""
    repeat = 10 if quick else 25
    if flags:
        return "\n".join(
            [f"With `XLA_FLAGS={flags}`:", "", *conv_section(np.float64, repeat), *conv_section(np.float32, repeat)]
        )
    return "\n".join(
        [
            *norm_section(repeat),
            "XLA's defaults:",
            "",
            *conv_section(np.float64, repeat),
            *conv_section(np.float32, repeat),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", help="also write the Markdown to this file (between its markers)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(worker(args.quick, os.environ.get("XLA_FLAGS", "")))
        return 0
    quick = ["--quick"] if args.quick else []
    sections = []
    for flags in ("", NO_CONCURRENT_SCHEDULER):
        os.environ["XLA_FLAGS"] = flags  # the worker inherits it (common.thread_env copies os.environ)
        sections.append(run_worker(__file__, ["--worker", *quick], 1))
    text = "\n\n".join(["One CPU, one thread (see `benchmarks/bench_layer_floors.py`).", *sections])
    print(text)
    if args.out:
        write_table(Path(args.out), text, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
