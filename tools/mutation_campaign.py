"""The mutation campaign: every mutant of the hand derivation against the test suite, and its report.

What this is for: putting a number on "the tests catch a wrong gradient".
``mutmut`` (pinned in the ``mutation`` extra; configured under ``[tool.mutmut]``
in ``pyproject.toml``) mutates every function of ``bp_manual``'s activations,
losses, network (forward and backward), optimisers and initializers, and runs
each mutant against the tests that reach the mutated function (mutmut records
which tests call which function in a first full run). Hypothesis runs under the
``mutation`` profile of ``tests/conftest.py``. This script then writes
``docs/mutation-report.md``: mutants generated, killed, survived, timed out,
the ones recorded as equivalent (in ``tools/mutation_equivalent.toml``, each
with its one-line reason), the score overall and per file, and every
survivor's diff.

What it is not for: CI (too slow; ``tools/mutation_guard.py`` is the fast
fixed subset that CI runs).

Usage: ``python tools/mutation_campaign.py [--report-only] [--max-children N]``
(about 30 minutes on 2 cores; ``--report-only`` rewrites the report from the
results already in ``mutants/``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "mutation-report.md"
EQUIVALENT = ROOT / "tools" / "mutation_equivalent.toml"
MUTMUT = [str(Path(sys.executable).parent / "mutmut")]  # not `python -m mutmut`, which mutmut warns against
WALL = ROOT / "mutants" / "campaign-wall-seconds"
BACKWARD = "bp_manual.network."


def _mutmut(*args: str) -> str:
    proc = subprocess.run([*MUTMUT, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return proc.stdout


def results() -> dict[str, str]:
    """``{mutant name: status}`` for every mutant mutmut generated (``mutmut results --all true``)."""
    out: dict[str, str] = {}
    for line in _mutmut("results", "--all", "true").splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def diff(name: str) -> str:
    """The mutant's diff, as ``mutmut show NAME`` prints it (in-process: one subprocess per
    mutant would take minutes)."""
    from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(ROOT)  # mutmut reads mutants/ relative to the working directory
    try:
        return str(get_diff_for_mutant(name, path=find_mutant(name).path)).strip()
    finally:
        os.chdir(cwd)


def changed_lines(d: str) -> list[str]:
    return [line for line in d.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def equivalents() -> dict[str, dict[str, str]]:
    """``{mutant name: {"reason": ..., "line": the mutated line}}``; the line guards against renumbering."""
    if not EQUIVALENT.exists():
        return {}
    with EQUIVALENT.open("rb") as f:
        return tomllib.load(f).get("mutant", {})


def write_report(wall_s: float | None, note: str = "") -> int:
    status = results()
    eq = equivalents()
    counts = Counter(status.values())
    survived = sorted(n for n, s in status.items() if s == "survived")
    equivalent: list[str] = []
    unexplained: list[str] = []
    stale: list[str] = []
    diffs = {n: diff(n) for n in survived}
    for n in survived:
        entry = eq.get(n)
        if entry and any(
            entry["line"].strip() == line[1:].strip() for line in changed_lines(diffs[n]) if line[0] == "+"
        ):
            equivalent.append(n)
        else:
            if entry:
                stale.append(n)
            unexplained.append(n)
    bad = {"timeout", "segfault", "suspicious", "no tests", "not checked", "check was interrupted by user"}
    lines = [
        "# Mutation report",
        "",
        "Written by `.venv/bin/python tools/mutation_campaign.py` (see `docs/testing.md`); do not edit by hand.",
        "",
    ]
    if note:
        lines += [note, ""]
    if wall_s is not None:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        lines += [
            f"Campaign wall time: {wall_s / 60:.1f} min ({os.cpu_count()} cores; load average when the "
            f"report was written: {load}). Hypothesis profile: `mutation` (tests/conftest.py).",
            "",
        ]

    def score(names: list[str]) -> str:
        killed = sum(status[n] == "killed" for n in names)
        eqv = sum(n in equivalent for n in names)
        denom = len(names) - eqv
        return f"{killed}/{denom} = {100 * killed / denom:.1f}%" if denom else "n/a"

    everything = sorted(status)
    lines += [
        "| | count |",
        "|---|---|",
        f"| mutants generated | {len(status)} |",
        *(f"| {s} | {counts[s]} |" for s in sorted(counts)),
        f"| of the survivors, recorded equivalent | {len(equivalent)} |",
        f"| survivors not explained | {len(unexplained)} |",
        "",
        "Mutation score = killed / (generated - equivalent); a timeout or any other status counts as not killed.",
        "",
        "| file | mutants | score |",
        "|---|---|---|",
    ]
    for module in sorted({n.rsplit(".", 1)[0] for n in everything}):
        names = [n for n in everything if n.rsplit(".", 1)[0] == module]
        lines.append(f"| `{module}` | {len(names)} | {score(names)} |")
    lines.append(f"| **overall** | {len(everything)} | **{score(everything)}** |")
    lines += ["", "## Equivalent mutants", ""]
    for n in equivalent:
        lines += [f"- `{n}`: {eq[n]['reason']}", "", "```diff", *changed_lines(diffs[n]), "```", ""]
    if not equivalent:
        lines.append("None.")
    lines += ["", "## Surviving mutants (not killed, not shown equivalent)", ""]
    for n in unexplained:
        note = " (listed as equivalent, but its diff changed: re-check)" if n in stale else ""
        lines += [f"### `{n}`{note}", "", "```diff", diffs[n], "```", ""]
    if not unexplained:
        lines.append("None.")
    others = sorted(n for n, s in status.items() if s in bad)
    lines += ["", "## Not killed for another reason (timeout, no tests, ...)", ""]
    lines += [f"- `{n}`: {status[n]}" for n in others] or ["None."]
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {REPORT.relative_to(ROOT)}: {len(status)} mutants, {dict(counts)}, score {score(everything)}")
    backward = [n for n in everything if n.startswith(BACKWARD)]
    print(f"network.py: {score(backward)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report from mutants/")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--note", default="", help="a paragraph put at the top of the report (how it was run)")
    args = parser.parse_args(argv)
    wall_s = None
    if not args.report_only:
        env = {**os.environ, "HYPOTHESIS_PROFILE": "mutation"}
        start = time.perf_counter()
        subprocess.run([*MUTMUT, "run", "--max-children", str(args.max_children)], cwd=ROOT, env=env, check=True)
        wall_s = time.perf_counter() - start
        WALL.write_text(f"{wall_s:.0f}\n", encoding="utf-8")
    elif WALL.exists():
        wall_s = float(WALL.read_text(encoding="utf-8"))
    return write_report(wall_s, args.note)


if __name__ == "__main__":
    sys.exit(main())
