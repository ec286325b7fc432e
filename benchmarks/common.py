"""Helpers shared by the benchmark scripts: timing, one worker process per thread count, the tables' markers.

What this module is for: what ``benchmarks/bench_step.py`` and
``benchmarks/bench_layers.py`` both need to give comparable numbers: the
median of many single calls (:func:`median_time`, or taking turns for a fair
ratio: :func:`interleaved_medians`), a fresh worker process
confined to ``N`` CPUs with its BLAS, OpenMP and torch limited to ``N`` threads
and glibc's allocator kept from returning large temporaries to the system
(:func:`run_worker`, :func:`run_pinned`, :func:`thread_env`, :func:`pin_to_cpus`, :data:`MALLOC`),
and writing a Markdown table between a script's own markers in
``docs/performance.md`` (:func:`write_table`).

What it is not for: anything the library imports; measuring anything itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# glibc keeps blocks up to 1 GiB in its heap instead of mapping and unmapping them on every call:
# runs then agree within a few percent instead of swinging 2-7x with page faults
# (shared/NOTES-performance.md). A benchmark setting, not something the library needs.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


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


def interleaved_medians(fns: list[Callable[[], object]], repeat: int, min_time: float = 0.2) -> list[float]:
    """Median wall time in seconds of each of ``fns``, called in turn (``f0, f1, ..., f0, f1, ...``).

    For ratios between implementations on a shared machine: taking turns, every
    function sees the same load over the same stretch of time, where timing one
    after the other lets a burst of other work land on one of them only. Each
    function is warmed up first; at least ``repeat`` rounds and ``min_time`` seconds.
    """
    for fn in fns:
        for _ in range(3):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < repeat or time.perf_counter() - start < min_time:
        for fn, record in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            record.append(time.perf_counter() - t0)
        if len(times[0]) > 20 * repeat:
            break
    return [statistics.median(t) for t in times]


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a worker limited to ``threads`` BLAS/OpenMP/torch threads, with :data:`MALLOC`."""
    env = dict(os.environ, **MALLOC)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env  # XLA takes its thread count from the CPUs it is pinned to: see pin_to_cpus


def pin_to_cpus(threads: int) -> Callable[[], None]:
    """A ``preexec_fn`` confining the worker to its first ``threads`` CPUs.

    The thread-count variables bind OpenBLAS and torch, but XLA's CPU runtime
    sizes its thread pool from the CPUs it may run on and ignores them: without
    this, "1 thread" timed NumPy on one core against XLA on two (measured:
    ``jax.jit`` of a 512x784 @ 784x256 product reached 106 GFLOP/s with the
    variables set, above one core's 76 GFLOP/s peak, and 63 pinned).
    """
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cpus)


def run_pinned(args: list[str], threads: int) -> str:
    """Run ``python ARGS`` from the repository root in a fresh process pinned to ``threads`` CPUs, with
    :func:`thread_env`; its standard output.

    Raises ``RuntimeError`` with the end of the process's output when it fails.
    """
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=thread_env(threads),
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=pin_to_cpus(threads),
    )
    if done.returncode:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-3000:])
    return done.stdout


def run_worker(script: str, args: list[str], threads: int) -> str:
    """Run ``script`` with ``args`` as :func:`run_pinned` does; its standard output, stripped."""
    return run_pinned([script, *args], threads).strip()


def markers(name: str) -> tuple[str, str]:
    """The lines ``<!-- NAME table: start -->`` and ``<!-- NAME table: end -->`` that hold a script's table."""
    return f"<!-- {name} table: start -->", f"<!-- {name} table: end -->"


def write_table(path: Path, text: str, name: str) -> None:
    """Replace what lies between ``name``'s :func:`markers` in ``path`` with ``text``; a new file holds ``text`` alone.

    Raises:
        ValueError: ``path`` exists but lacks the two markers (writing the table would replace the whole file,
            e.g. docs/performance.md, with one table); nothing is written.
    """
    start, end = markers(name)
    if not path.exists():
        path.write_text(text, encoding="utf-8")
        return
    old = path.read_text(encoding="utf-8")
    if start not in old or end not in old:
        raise ValueError(f"--out {path}: no {start} ... {end} markers in it; add them where the table goes")
    head, rest = old.split(start, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
