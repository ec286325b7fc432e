"""Benchmark the layer test files before and after a change: each file's wall time in a fresh pytest process.

Run from the repository root:

    .venv/bin/python benchmarks/bench_layer_tests.py [--base REV] [--repeat 3] [--threads 2] [--out FILE]

For each test file (``--files``; default :data:`FILES`, the tests whose layer inputs come from
``bp_autodiff.layer_strategies``) and each of two source trees, ``base`` (the commit ``--base``, extracted
with ``git archive`` into a temporary directory) and ``this`` (the working tree, uncommitted edits
included, copied into another one, so that neither carries a hypothesis database or a JAX cache), it
runs ``pytest FILE -n 0 -p no:randomly -p no:cacheprovider -q`` in a fresh process, with ``PYTHONPATH``
at that tree's ``src/``, pinned to ``--threads`` CPUs with as many BLAS threads and the allocator settings
of ``benchmarks/common.py``; twice per repeat: first with an empty JAX compilation cache
(``JAX_COMPILATION_CACHE_DIR`` a new temporary directory, so every witness shape compiles: what a fresh CI
machine pays), then with the cache that run left (a developer's rerun). The trees alternate file by file,
so a drift in the machine's load reaches both alike. The table (printed; with ``--out``, written into that
file between ``<!-- bench_layer_tests table: start -->`` and ``<!-- bench_layer_tests table: end -->``):

- ``file``: the test file.
- ``base cold``, ``this cold``: the median wall time in seconds of the pytest process, empty JAX cache.
- ``cold ratio``: ``this cold / base cold`` (below 1: faster).
- ``base warm``, ``this warm``, ``warm ratio``: the same with the cache filled.
- ``tests``: the tests that passed in ``base`` and in ``this`` (a run that fails stops the benchmark).

The load average is printed at the start and the end; on a shared machine, rerun on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pin_to_cpus, thread_env, write_table  # benchmarks/ is not a package

ROOT = Path(__file__).resolve().parent.parent
#: The files whose layer inputs come from ``bp_autodiff.layer_strategies`` (issue 15).
FILES = (
    "tests/test_layers_flatten.py",
    "tests/test_layers_conv.py",
    "tests/test_layers_norm.py",
    "tests/test_layers_dense.py",
    "tests/test_layers_dense_torch.py",
    "tests/test_layers_sequence.py",
    "tests/test_layers_sequence_torch.py",
    "tests/test_audit_vjp_catalog.py",
    "tests/test_cli_audit_vjp.py",
    "tests/test_layer_strategies.py",
)


def extract(rev: str, into: Path) -> Path:
    """The tree of commit ``rev`` under ``into`` (``git archive``)."""
    archive = into / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), rev], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "base", filter="data")
    return into / "base"


def copy_working_tree(into: Path) -> Path:
    """The working tree's files (tracked and untracked, not ignored) copied under ``into``: a fresh directory like
    ``base``'s, with none of the working tree's local state (its hypothesis database, its JAX cache)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, target = ROOT / name, into / "this" / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into / "this"


def run_file(tree: Path, test_file: str, cache: str, threads: int) -> tuple[float, int]:
    """``(seconds, tests passed)`` of one pytest process on ``test_file`` of ``tree`` with the JAX cache ``cache``."""
    env = thread_env(threads) | {"PYTHONPATH": str(tree / "src"), "JAX_COMPILATION_CACHE_DIR": cache}
    cmd = [sys.executable, "-m", "pytest", test_file, "-n", "0", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"]
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=tree, env=env, capture_output=True, text=True, check=False, preexec_fn=pin_to_cpus(threads)
    )
    seconds = time.perf_counter() - start
    passed = re.search(r"(\d+) passed", done.stdout)
    if done.returncode or passed is None:
        raise RuntimeError(f"{test_file} in {tree} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds, int(passed.group(1))


def measure(trees: dict[str, Path], files: list[str], repeat: int, threads: int) -> list[str]:
    """One Markdown row per file (module docstring)."""
    rows = []
    for test_file in files:
        times: dict[tuple[str, str], list[float]] = {}
        counts: dict[str, int] = {}
        for _ in range(repeat):
            for name, tree in trees.items():
                with tempfile.TemporaryDirectory() as cache:
                    for phase in ("cold", "warm"):
                        seconds, counts[name] = run_file(tree, test_file, cache, threads)
                        times.setdefault((name, phase), []).append(seconds)
        med = {key: statistics.median(values) for key, values in times.items()}
        cells = [Path(test_file).name]
        for phase in ("cold", "warm"):
            base, this = med[("base", phase)], med[("this", phase)]
            cells += [f"{base:.1f}", f"{this:.1f}", f"{this / base:.2f}"]
        cells.append(f"{counts['base']} / {counts['this']}")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="the commit to compare with (default main)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file, tree and cache state (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPUs (and BLAS threads) per pytest process")
    parser.add_argument("--files", help="comma-separated test files (default: the layer-input users)")
    parser.add_argument("--out", help="also write the Markdown table into this file, between its markers")
    args = parser.parse_args()
    files = args.files.split(",") if args.files else list(FILES)
    base_rev = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"base": extract(args.base, Path(tmp)), "this": copy_working_tree(Path(tmp))}
        load_start = os.getloadavg()
        rows = measure(trees, files, args.repeat, args.threads)
        load_end = os.getloadavg()
    text = "\n".join(
        [
            f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}. "
            f"`base` is {args.base} ({base_rev}), `this` the working tree. Each cell: the median of {args.repeat} "
            f"fresh `pytest FILE -n 0` processes pinned to {args.threads} CPUs, wall seconds; cold: an empty JAX "
            "compilation cache, warm: the cache the cold run left (see `benchmarks/bench_layer_tests.py`). "
            f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}, "
            f"at end {', '.join(f'{x:.2f}' for x in load_end)}.",
            "",
            "| file | base cold | this cold | cold ratio | base warm | this warm | warm ratio | tests |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(text)
    if args.out:
        write_table(Path(args.out), text, "bench_layer_tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
