"""Benchmark ``bp check`` (the project's main job): start-up apart from the checking, and cases per second.

Run from the repository root:

    .venv/bin/python benchmarks/bench_check.py [--threads 1,2] [--repeat 3] [--out docs/performance.md]

What it measures, with default settings (``--examples 3``, seed 0: 423 cases checked, 9 skipped), for
float64 and float32, once per thread count (each worker a fresh process pinned to that many CPUs, BLAS
limited to as many threads, the malloc setting of ``benchmarks/common.py``):

- ``function``: ``bp_autodiff.auditor.check.check`` in one worker process. ``imports`` is the time to
  import it (JAX included); ``first compilation`` the JAX witness's one executable for the dtype
  (``bucketed.compile_smallest``, what ``check`` does before its clock starts); then ``--repeat`` runs of
  ``check()``, each timed by ``check`` itself (``CheckResult.seconds``, the checking alone).
- ``command``: ``python -m bp_autodiff.cli check --json [--dtype float32]`` in a fresh process, as a user
  runs it (progress bar to a pipe): ``imports`` is the process's wall time less what the command reports
  for its start-up and its checking (so it holds the interpreter's start too); one run per ``--repeat``.

Columns:
- ``threads``, ``dtype``, ``how``: as above.
- ``cases``: checked / skipped (must read 423 / 9 at the defaults).
- ``imports s``, ``first compilation s``: the start-up, reported apart (medians over the runs).
- ``checking s``: the checking itself, median and best of the runs.
- ``cases/s``: cases checked per second of checking, median and best (the target is >= 200).
- ``cases/CPU-s``: cases per second of CPU time of the process during the checking (all its threads):
  on a shared machine, where other work takes the cores, this is what the rate would be on a quiet one.
- ``load``: the 1-minute load average when the row started (the machine's cores are shared).

Rerun after any change to the auditor (``bp_autodiff/auditor``) or the witness, on a quiet machine; the
table goes between ``<!-- bench_check table: start -->`` and ``<!-- bench_check table: end -->`` in
``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/common.py, also when loaded by path
from common import MALLOC, run_pinned, run_worker, write_table

DTYPES = ("float64", "float32")


@dataclass
class Figures:
    """What one worker or one command run measured (seconds; ``cases`` is checked, skipped)."""

    load: float
    imports: float
    compile: float
    runs: list[float]
    cpu: list[float]
    cases: tuple[int, int]


def worker(dtype: str, repeat: int) -> Figures:
    """In this (pinned) process: import, compile, then ``repeat`` runs of ``check()``; the figures as a dict."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    import numpy as np

    from bp_autodiff.auditor.check import check
    from bp_autodiff.witness import bucketed

    imports = time.perf_counter() - t0
    kind = np.dtype(dtype).type
    t0 = time.perf_counter()
    bucketed.compile_smallest(kind)
    compile_s = time.perf_counter() - t0
    runs: list[float] = []
    cpu: list[float] = []
    cases = (0, 0)
    for _ in range(repeat):
        c0 = time.process_time()
        result = check(dtype=kind)
        cpu.append(time.process_time() - c0)
        runs.append(result.seconds)
        cases = (result.cases, result.skipped)
        if not result.ok:
            raise RuntimeError(f"bp check did not pass:\n{result.render()}")
    return Figures(load, imports, compile_s, runs, cpu, cases)


def command(dtype: str, threads: int) -> Figures:
    """One run of the command in a fresh pinned process: its figures from ``--json`` and the wall clock."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = run_pinned(["-m", "bp_autodiff.cli", "check", "--json", "--dtype", dtype], threads)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(out)
    process_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    imports = wall - data["startup_seconds"] - data["seconds"]
    # the CPU time is the whole process's: imports and compilation included
    return Figures(
        load, imports, data["startup_seconds"], [data["seconds"]], [process_cpu], (data["cases"], data["skipped"])
    )


def row(threads: int, dtype: str, how: str, figures: list[Figures], whole_process_cpu: bool) -> str:
    """One Markdown row from the figures of one or more runs."""
    checked, skipped = figures[0].cases
    if any(f.cases != (checked, skipped) for f in figures):
        raise RuntimeError(f"the runs checked different cases: {[f.cases for f in figures]}")
    seconds = [s for f in figures for s in f.runs]
    rates = [checked / s for s in seconds]
    if whole_process_cpu:  # the command's CPU time covers its start-up too: not a rate of the checking
        per_cpu = "n/a (whole process)"
    else:
        per_cpu = f"{statistics.median(checked / c for f in figures for c in f.cpu):.0f}"
    imports = statistics.median(f.imports for f in figures)
    compile_s = statistics.median(f.compile for f in figures)
    return (
        f"| {threads} | {dtype} | {how} | {checked} / {skipped} | {imports:.2f} | {compile_s:.2f} "
        f"| {statistics.median(seconds):.2f} ({min(seconds):.2f}) "
        f"| {statistics.median(rates):.0f} ({max(rates):.0f}) | {per_cpu} | {figures[0].load:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    parser.add_argument("--worker", nargs=2, metavar=("DTYPE", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asdict(worker(args.worker[0], int(args.worker[1])))))
        return 0
    if args.repeat < 1:
        parser.error("--repeat: must be >= 1")

    import jax
    import numpy as np

    load_start = os.getloadavg()
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}, jax {jax.__version__}; load average at start {load_start[0]:.2f} / "
        f"{load_start[1]:.2f} / {load_start[2]:.2f} (1 / 5 / 15 min). `bp check` at its defaults (3 examples, "
        f"seed 0); {args.repeat} runs per row, median (best in brackets). Workers pinned to the thread count, "
        f"with `{' '.join(f'{k}={v}' for k, v in MALLOC.items())}` (a benchmark setting; see "
        "`benchmarks/bench_check.py`).",
        "",
        "| threads | dtype | how | cases (checked / skipped) | imports s | first compilation s | checking s "
        "| cases/s | cases/CPU-s | load |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads in (int(t) for t in args.threads.split(",")):
        for dtype in DTYPES:
            data = json.loads(run_worker(__file__, ["--worker", dtype, str(args.repeat)], threads))
            data["cases"] = tuple(data["cases"])
            lines.append(row(threads, dtype, "function", [Figures(**data)], False))
            lines.append(row(threads, dtype, "command", [command(dtype, threads) for _ in range(args.repeat)], True))
            print(lines[-2], lines[-1], sep="\n", flush=True)
    load_end = os.getloadavg()
    lines += ["", f"Load average at end: {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f}."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_table(Path(args.out), text, "bench_check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
