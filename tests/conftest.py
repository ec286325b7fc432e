"""Hypothesis profiles and the session summary of observed errors.

Profiles (choose with ``HYPOTHESIS_PROFILE=...``):

- ``ci`` (default): the everyday suite, sized to finish in well under three
  minutes on a 2-core machine.
- ``thorough``: ten times the examples of ``ci`` for every property.
- ``mutation``: a fifth of ``ci``'s examples, derandomized, for the mutation
  campaign (``docs/testing.md``).

Both set ``deadline=None``: the first call for each new shape compiles a JAX
function (about 0.15 s), which hypothesis's default 200 ms deadline would
report as a flaky timing failure.

JAX's persistent compilation cache is on for the tests and the processes they
start (``.jax_cache/`` in the repository root unless ``JAX_COMPILATION_CACHE_DIR``
says otherwise), so a fresh process (another pytest-xdist worker, a ``bp``
command run by a test, the next run) loads the bucketed
witness's few executables (``bp_autodiff.witness.bucketed``) from disk instead
of compiling them again. Two settings keep it cheap:

- only compilations of 0.5 s or more are written: the bucketed executables
  (seconds each). The hundreds of small programs a run compiles once each (a
  random shape drawn by hypothesis, an eager ``jnp`` operation) would not be
  met again, and each write costs a serialisation and a file;
- no size limit, so no eviction. With a limit JAX takes a file lock and scans
  the whole directory (a ``stat`` and a read per entry) on every write: measured
  here, 0.71 s per write with 5,353 entries, 23 of the 41 s of one test; the
  cost of a run grows with the square of its writes. Without a limit the
  directory only grows by the few large executables a code change adds;
  delete ``.jax_cache/`` to reclaim it.

XLA compiles the test process's programs with most optimizations off
(``jax_disable_most_optimizations``: LLVM at level 0, no expensive passes), JAX's
own setting for "the cost of optimization is greater than that of running a
less-optimized program", which is the suite's case: hundreds of small programs,
each compiled for a few calls. It changes no mathematics: the same HLO, the same
IEEE operations, at most another rounding order, which every tolerance's error
model already allows for. Measured on a quiet machine, the whole suite from an
empty cache: 2:42 with the optimizations, 2:28 without. The ``bp`` commands the
tests start keep XLA's defaults (what a user runs; the setting is not exported).

Python's bytecode cache is on for the tests, even where ``PYTHONDONTWRITEBYTECODE``
is set (as on this project's machines): a run starts about a hundred Python
processes that import the project (``bp`` commands, the docs' commands, the
plugin run as an outside project, the xdist workers), and without ``.pyc`` files
each compiles the project's ~200 modules again, and each worker has pytest
rewrite the assertions of every one of them (the ``pytest11`` entry point marks
the whole distribution for rewriting). Measured: collecting the suite 12.5 s
without the cache, 8.3 s with it; ``bp --version`` 1.5 s and 1.2 s (before the
``bp`` command stopped importing JAX at start-up). The files go into
``__pycache__/`` beside the sources (git ignores them), as Python's default does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import jax
import pytest
from hypothesis import HealthCheck, Phase, settings

from tolerances import COUNTS, WORST

sys.dont_write_bytecode = False  # for this process's imports from here on (the module docstring says why)
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # and for the processes the tests start

#: JAX's persistent cache settings (the module docstring says why), as the environment variables JAX reads when it is
#: imported: set for this process below and inherited by the processes the tests start (``bp check``, ``bp audit``
#: and the plugin's outside suites load the bucketed witness from the cache instead of compiling it: ``bp check
#: --examples 1`` 2.7 s cold, 1.7 s from the cache). A value already in the environment wins.
JAX_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": str(Path(__file__).resolve().parent.parent / ".jax_cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5",
    "JAX_COMPILATION_CACHE_MAX_SIZE": "-1",
}
for _name, _default in JAX_CACHE.items():
    os.environ.setdefault(_name, _default)
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"])
)
jax.config.update("jax_compilation_cache_max_size", int(os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"]))
jax.config.update("jax_disable_most_optimizations", True)  # this process only (the module docstring says why)

CI_EXAMPLES = 100
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=10 * CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
#: For mutation testing (docs/testing.md): every mutant reruns the tests that
#: reach it in a fresh process, so JAX recompiles for every new shape; a fifth of
#: ``ci``'s examples, derandomized (the same examples for every mutant, so the
#: score is reproducible), without the example database (a mutant is judged
#: by this run's examples only, not by failures another mutant left behind) and
#: without shrinking (a mutant needs one failing example, not the smallest).
settings.register_profile(
    "mutation",
    max_examples=CI_EXAMPLES // 5,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its record of worst errors to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        # plain Python values only: execnet cannot send NumPy scalars
        workeroutput["bp_worst"] = {k: (float(r), float(f), str(w)) for k, (r, f, w) in WORST.items()}
        workeroutput["bp_counts"] = {k: int(n) for k, n in COUNTS.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Under pytest-xdist, the controller merges each worker's record (the worst of each key, counts added)."""
    out = getattr(node, "workeroutput", {})
    for key, value in out.get("bp_worst", {}).items():
        if key not in WORST or value[0] > WORST[key][0]:
            WORST[key] = tuple(value)
    for key, n in out.get("bp_counts", {}).items():
        COUNTS[key] += n


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the worst error observed for each comparison, and as a fraction of its tolerance."""
    if not WORST:
        return
    tr = terminalreporter
    tr.section("worst observed errors (max|a - b| / max(max|b|, T) per array; fraction of tolerance)")
    for key in sorted(WORST):
        rel, fraction, what = WORST[key]
        tr.write_line(f"{key:<34} {rel:.2e}  ({fraction:.3f} of tol)  over {COUNTS[key]} arrays; at {what}")


def pytest_configure(config: pytest.Config) -> None:
    """Under ``tools/mutation_guard.py``, make sure the mutated copy is the code under test."""
    expected = os.environ.get("BP_EXPECT_SOURCE")
    if expected:
        import bp_manual

        if not os.path.realpath(bp_manual.__file__).startswith(os.path.realpath(expected)):
            raise pytest.UsageError(f"bp_manual imported from {bp_manual.__file__}, not from {expected}")
