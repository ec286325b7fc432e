"""Helpers shared by the benchmark scripts: pinned worker processes, allocator settings, the Markdown table's markers.

What this module is for: what every script in ``benchmarks/`` needs to time
something fairly on a shared machine and write its table into
``docs/performance.md``: the environment of a worker confined to ``N`` CPUs
(:func:`thread_env`, :func:`pin_to_cpus`, :data:`MALLOC`) and the writing of
one script's table between its own markers (:func:`write_table`).

What it is not for: the measurements themselves (each script times its own
rows) or anything the library imports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

#: Keep large temporaries mapped between calls, so runs agree within a few percent instead of swinging 2-7x with
#: page faults (``shared/NOTES-performance.md``): a benchmark setting, not something the library needs.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with :data:`MALLOC` and the BLAS/OpenMP thread counts set to ``threads``."""
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


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of benchmark ``name``'s table: ``<!-- NAME table: start -->`` and ``... end -->``."""
    return f"<!-- {name} table: start -->", f"<!-- {name} table: end -->"


def write_table(path: Path, text: str, name: str) -> None:
    """Write ``text`` to ``path``; in a file holding benchmark ``name``'s markers, replace only what lies between."""
    start, end = markers(name)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old:
        head, rest = old.split(start, 1)
        text = f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"
    path.write_text(text, encoding="utf-8")
