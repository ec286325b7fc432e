"""Helpers shared by the benchmark scripts: pinning a worker to CPUs, the allocator settings, tables in docs.

What this module is for: what more than one script in ``benchmarks/`` needs, written once
(``bench_step.py``, ``bench_layer_tests.py``). Each script puts ``benchmarks/`` on ``sys.path``
to import it (they run as scripts, and ``tests/test_benchmarks.py`` loads ``bench_step.py`` by path).
What it is not for: anything the library needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

#: Keep large temporaries mapped between steps, so timings do not swing with page faults (a benchmark setting).
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a worker with ``threads`` BLAS/OpenMP threads and :data:`MALLOC`."""
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


def write_table(path: Path, text: str, name: str) -> None:
    """Write ``text`` to ``path``; in a file with the markers ``<!-- NAME table: start -->`` and
    ``<!-- NAME table: end -->``, replace only what lies between them (a file without them is overwritten)."""
    start, end = f"<!-- {name} table: start -->", f"<!-- {name} table: end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old:
        head, rest = old.split(start, 1)
        text = f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"
    path.write_text(text, encoding="utf-8")
