"""CI guard: a fixed sample of wrong derivations, each of which the tests must catch.

What this is for: a fast check (under two minutes on 2 cores) that the test
suite still catches the classic mistakes in the hand derivation. Each mutant
below is one textual edit of one line of ``src/bp_manual`` (the sign of a
delta term, a transpose, a derivative, the ``1/N``, the update sign, ...).
For each, the guard copies ``src/`` to a temporary directory, applies the edit
there (never to the checkout), and runs the tests that must catch it with that
copy first on ``sys.path``; the guard fails if any mutant survives, if an edit
no longer applies (the line changed: update the guard), or if the unmutated
copy does not pass the same tests (so a failure is the mutant's doing).

What it is not for: the full mutation campaign (``tools/mutation_campaign.py``
with mutmut, see ``docs/testing.md``); this is its cheap, fixed subset.

Hypothesis runs under the ``mutation`` profile of ``tests/conftest.py``
(derandomized, a fifth of ``ci``'s examples, no shrinking): the same examples
on every run, so the guard is deterministic.

Usage: ``python tools/mutation_guard.py [-j JOBS] [--only NAME ...] [--list]``.
Exit status 0 when every mutant is caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GRADS = "tests/test_gradients_vs_jax.py::test_manual_gradients_equal_jax"
OPTAX = "tests/test_optim.py::test_update_rules_equal_optax_over_several_steps"
INITS = "tests/test_initializers.py::test_sample_variance_and_distribution_match_formula"
KERNELS = "tests/test_kernels_vs_jax.py"


@dataclass(frozen=True)
class Mutant:
    """One wrong line: in ``path``, the text ``old`` (which must occur exactly once) becomes ``new``.

    ``tests`` are the pytest node ids that must catch it (a subset of the default suite).
    """

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # the output delta (Y_hat - Y) / N
    Mutant("delta_L sign", "src/bp_manual/losses.py", "(Y_hat - Y) / Y_hat", "(Y - Y_hat) / Y_hat", (KERNELS,)),
    Mutant("delta_L without 1/N", "src/bp_manual/losses.py", "(Y_hat - Y) / Y_hat.shape[0]", "(Y_hat - Y)", (KERNELS,)),
    # the recursion delta_l = (delta_{l+1} @ W_{l+1}) * f'(Z_l)
    Mutant(
        "recursion: W transposed",
        "src/bp_manual/network.py",
        "(delta @ W) * f_prime",
        "(delta @ W.T) * f_prime",
        (GRADS,),
    ),
    Mutant("recursion: no f'", "src/bp_manual/network.py", "(delta @ W) * f_prime", "(delta @ W)", (GRADS,)),
    Mutant("recursion: sign", "src/bp_manual/network.py", "(delta @ W) * f_prime", "-(delta @ W) * f_prime", (GRADS,)),
    Mutant(
        "recursion: W of the layer below",
        "src/bp_manual/network.py",
        'params[l - 1]["W"], f_prime(',
        'params[l - 2]["W"], f_prime(',
        (GRADS,),
    ),
    Mutant(
        "recursion: f'(Z) of the wrong layer",
        "src/bp_manual/network.py",
        "below = cache[l - 2]",
        "below = cache[l - 1]",
        (GRADS,),
    ),
    # the gradients dW = delta.T @ A_prev, db = sum_rows delta
    Mutant("dW transposed", "src/bp_manual/network.py", "else delta.T @ A_prev", "else A_prev.T @ delta", (GRADS,)),
    Mutant(
        "one-sample dW transposed",
        "src/bp_manual/network.py",
        'einsum("i,j->ij", delta[0], A_prev[0])',
        'einsum("i,j->ji", delta[0], A_prev[0])',
        (GRADS,),
    ),
    Mutant(
        "dW from A, not A_prev",
        "src/bp_manual/network.py",
        "cache[l - 1].A_prev, spec.bias",
        "cache[l - 1].A, spec.bias",
        (GRADS,),
    ),
    Mutant("db as a mean", "src/bp_manual/network.py", '"b": delta.sum(axis=0)', '"b": delta.mean(axis=0)', (GRADS,)),
    # the forward pass
    Mutant("forward: W not transposed", "src/bp_manual/network.py", "Z = A_prev @ W.T\n", "Z = A_prev @ W\n", (GRADS,)),
    # each derivative
    Mutant("sigmoid'", "src/bp_manual/activations.py", "return A * (1.0 - A)", "return A * (1.0 + A)", (KERNELS,)),
    Mutant("tanh'", "src/bp_manual/activations.py", "return 1.0 - A * A", "return 1.0 - A", (KERNELS,)),
    Mutant("relu'", "src/bp_manual/activations.py", "return (Z > 0).astype", "return (Z >= -1).astype", (KERNELS,)),
    Mutant(
        "leaky_relu'",
        "src/bp_manual/activations.py",
        "where(Z > 0, 1.0, slope)",
        "where(Z > 0, 1.0, 0.0)",
        (KERNELS,),
    ),
    Mutant("softplus'", "src/bp_manual/activations.py", "return sigmoid(Z)\n", "return sigmoid(-Z)\n", (KERNELS,)),
    # the loss values
    Mutant("mse without 1/2", "src/bp_manual/losses.py", "return 0.5 * (E * E)", "return (E * E)", (KERNELS,)),
    Mutant(
        "cross-entropy without 1/N",
        "src/bp_manual/losses.py",
        "return -(Y * log_softmax(Z)).sum(axis=(-2, -1)) / Z.shape[-2]",
        "return -(Y * log_softmax(Z)).sum(axis=(-2, -1))",
        (KERNELS,),
    ),
    # the updates
    Mutant(
        "sgd update sign",
        "src/bp_manual/optim.py",
        "np.subtract(p[key], step, out=step)",
        "np.add(p[key], step, out=step)",
        (OPTAX,),
    ),
    Mutant("momentum sign", "src/bp_manual/optim.py", "g[key] + beta * v[key]", "g[key] - beta * v[key]", (OPTAX,)),
    Mutant("adam bias correction", "src/bp_manual/optim.py", "c1 = 1.0 - b1**t", "c1 = 1.0", (OPTAX,)),
    Mutant(
        "weight decay sign",
        "src/bp_manual/optim.py",
        "g[key] + weight_decay * p[key]",
        "g[key] - weight_decay * p[key]",
        (OPTAX,),
    ),
    # the initializers
    Mutant(
        "uniform limit",
        "src/bp_manual/initializers.py",
        "limit = math.sqrt(3.0 * variance)",
        "limit = math.sqrt(variance)",
        (INITS,),
    ),
)


def _apply(src_copy: Path, mutant: Mutant) -> None:
    """Edit the copy; refuse when ``old`` does not occur exactly once (the guard is stale)."""
    target = src_copy / Path(mutant.path).relative_to("src")
    text = target.read_text(encoding="utf-8")
    count = text.count(mutant.old)
    if count != 1:
        raise LookupError(f"{mutant.name}: {mutant.old!r} occurs {count} times in {mutant.path}, expected once")
    target.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def _pytest(src_copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """Run ``tests`` against the code in ``src_copy``; returns ``(exit status, output tail)``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src_copy), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HYPOTHESIS_PROFILE"] = "mutation"
    env["BP_EXPECT_SOURCE"] = str(src_copy)  # checked by tests/conftest.py: the copy is what is tested
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr)[-1500:]


def _check(mutant: Mutant | None, tests: tuple[str, ...]) -> tuple[str, int, str, float]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bp-guard-") as tmp:
        src_copy = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src_copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        if mutant is not None:
            _apply(src_copy, mutant)
        status, tail = _pytest(src_copy, tests)
    return ("(unmutated)" if mutant is None else mutant.name), status, tail, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutants checked at once (default 2)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="check only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<38} {m.path}: {m.old!r} -> {m.new!r}")
        return 0
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.only and len(mutants) != len(args.only):
        parser.error(f"unknown mutant among {args.only}; see --list")
    start = time.perf_counter()
    stale = []
    for m in mutants:  # before running anything: every edit must still apply to the checkout's source
        count = (ROOT / m.path).read_text(encoding="utf-8").count(m.old)
        if count != 1:
            stale.append(f"{m.name}: {m.old!r} occurs {count} times in {m.path}, expected once")
    if stale:
        print("FAIL: the guard is stale (update its mutants to the current code):\n" + "\n".join(stale))
        return 1
    all_tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        baseline = pool.submit(_check, None, all_tests)
        results = list(pool.map(lambda m: _check(m, m.tests), mutants))
        name, status, tail, seconds = baseline.result()
    if status != 0:
        print(f"FAIL: the unmutated source does not pass {all_tests} (exit {status}):\n{tail}")
        return 1
    print(f"ok    {name:<38} passes ({seconds:.1f} s)")
    for mutant, (name, status, tail, seconds) in zip(mutants, results, strict=True):
        if status == 1:  # pytest: some test failed, i.e. the mutant was caught
            print(f"ok    {name:<38} caught ({seconds:.1f} s)")
        else:
            failed.append(name)
            print(f"FAIL  {name:<38} NOT caught by {' '.join(mutant.tests)} (pytest exit {status}):\n{tail}")
    caught = len(mutants) - len(failed)
    print(f"mutation guard: {caught}/{len(mutants)} mutants caught in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
