"""The engine of ``bp check``, the project's main job: is the hand derivation right, everywhere?

What this module is for: running the reference implementation
(``bp_manual.loss_grads_and_deltas``) through the auditor
(:func:`bp_autodiff.audit`) on many random networks: for every hidden
activation and every output/loss pair, ``--examples`` random architectures
(1-4 weight layers, widths 1-8, bias on or off, batches 1-8; default 3), each with every
named init scheme. Every gradient and delta is compared with JAX and every
gradient with float64 central finite differences, at the tolerances of
:mod:`bp_autodiff.auditor.tolerance`. :func:`check` returns the result;
the command (:mod:`bp_autodiff.cli.check`) prints it as a table (or JSON) and
exits 1 on any finding.

What it is not for: auditing someone else's backward pass (``bp audit``).

Cases whose ReLU pre-activations lie within rounding distance of the kink
(where ``relu'(0)`` is a convention, not a derivative) are redrawn with a new
batch up to five times, then skipped and counted as skipped. Without biases
this happens whenever a pre-activation is exactly 0 for every batch: the
``zeros`` init (every hidden pre-activation is 0), and narrow ReLU layers (a
layer of one or two units that is dead on a sample passes exact zeros to the
next layer, whose pre-activations are then 0 on the kink). A group in which
every case was skipped checked nothing: it does not pass (``Group.ok`` is
False, its result reads ``nothing checked``), and neither does the whole check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import bp_manual
from bp_autodiff.auditor.gradients import GradFn, audit
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.auditor.tolerance import kinks_are_clear
from bp_autodiff.witness import bucketed
from bp_manual import HIDDEN, INITIALIZERS, LOSSES
from bp_manual.problems import random_batch, random_params, random_spec

MAX_LAYERS = 4
MAX_WIDTH = 8
MAX_BATCH = 8
#: entries per array that get a finite difference (four loss evaluations each)
FD_ENTRIES = 32


@dataclass
class Group:
    """The cases of one hidden activation and output/loss pair."""

    hidden: str
    pair: str
    cases: int = 0
    skipped: int = 0
    failed: int = 0
    worst_jax_rel: float = 0.0
    worst_jax_tol: float = 0.0
    worst_fd_tol: float = 0.0
    vacuous: int = 0
    worst_case: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No case failed, and at least one was checked."""
        return self.failed == 0 and self.cases > 0

    @property
    def verdict(self) -> str:
        """``pass``, ``FAIL (k)`` or ``nothing checked`` (every case skipped)."""
        if self.failed:
            return f"FAIL ({self.failed})"
        return "pass" if self.cases else "nothing checked"


@dataclass
class CheckResult:
    """What :func:`check` found: one :class:`Group` per (hidden, output+loss), and totals.

    ``seconds`` is the checking itself; ``startup``, before it, the first compilation of the JAX
    witness's executable (the imports are before :func:`check` is called); ``cases_per_second`` is
    ``cases / seconds``.
    """

    groups: list[Group]
    seconds: float
    dtype: str
    examples: int
    seed: int
    startup: float = 0.0

    @property
    def cases_per_second(self) -> float:
        """Cases checked per second of checking (``seconds``, which leaves out the ``startup``)."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0

    @property
    def cases(self) -> int:
        return sum(g.cases for g in self.groups)

    @property
    def skipped(self) -> int:
        return sum(g.skipped for g in self.groups)

    @property
    def failed(self) -> int:
        return sum(g.failed for g in self.groups)

    @property
    def unchecked(self) -> list[Group]:
        """The groups in which every case was skipped."""
        return [g for g in self.groups if g.cases == 0]

    @property
    def ok(self) -> bool:
        """No case failed, and every group checked at least one case."""
        return all(g.ok for g in self.groups) and bool(self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cases": self.cases,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
            "cases_per_second": round(self.cases_per_second, 1),
            "startup_seconds": round(self.startup, 2),
            "dtype": self.dtype,
            "examples": self.examples,
            "seed": self.seed,
            "groups": [{**vars(g), "ok": g.ok, "verdict": g.verdict} for g in self.groups],
        }

    def render(self) -> str:
        head = (
            "hidden",
            "output + loss",
            "cases",
            "skipped",
            "worst rel vs JAX",
            "x tol JAX",
            "x tol FD",
            "vacuous",
            "result",
        )
        rows = [head]
        for g in self.groups:
            rows.append(
                (
                    g.hidden,
                    g.pair,
                    str(g.cases),
                    str(g.skipped),
                    f"{g.worst_jax_rel:.2e}",
                    f"{g.worst_jax_tol:.2g}",
                    f"{g.worst_fd_tol:.2g}",
                    str(g.vacuous),
                    g.verdict,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        worst = max(self.groups, key=lambda g: g.worst_jax_rel)
        lines += [
            "",
            f"{self.cases} cases checked, {self.skipped} skipped (ReLU pre-activations on the kink), {self.dtype}, "
            f"{self.seconds:.1f} s, {self.cases_per_second:.0f} cases/s (after {self.startup:.1f} s of start-up: "
            "the first compilation)",
            f"tolerance vs JAX rtol {'1e-9' if self.dtype == 'float64' else 'derived per case'}, "
            "vs finite differences as derived in bp_autodiff.auditor.tolerance",
            f"worst relative error vs JAX {worst.worst_jax_rel:.2e} at {worst.worst_case}",
            "'x tol' is the largest error as a fraction of its allowance (1 = at the tolerance); "
            "'vacuous' counts comparisons where both sides were (almost) zero",
        ]
        for g in self.groups:
            lines += [f"FAIL {f}" for f in g.failures[:5]]
        if self.failed:
            lines.append(f"bp check: FAIL in {self.failed} cases")
        elif self.unchecked:
            names = ", ".join(f"{g.hidden} {g.pair}" for g in self.unchecked)
            lines.append(
                f"bp check: NOT PASSED, nothing was checked for {names} (every case skipped); "
                "try another --seed or more --examples"
            )
        else:
            lines.append("bp check: PASS, every gradient agrees")
        return "\n".join(lines)


def _worst(report: AuditReport, witness: str, attr: str) -> float:
    values = [getattr(c, attr) for c in report.comparisons if c.witness == witness and np.isfinite(getattr(c, attr))]
    return max(values, default=0.0)


def check(
    examples: int = 3,
    seed: int = 0,
    dtype: type = np.float64,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    grad_fn: GradFn = bp_manual.loss_grads_and_deltas,
    hidden: Sequence[str] | None = None,
) -> CheckResult:
    """Audit ``bp_manual`` on ``examples`` random architectures x every init x every activation x every loss.

    Args:
        examples: random architectures per (hidden activation, output/loss) pair, >= 1.
        seed: seeds the one ``numpy.random.Generator`` everything is drawn from.
        dtype: ``np.float64`` or ``np.float32`` (finite differences are float64 either way).
        progress: called as ``progress(done, total, label)`` after each case.
        grad_fn: the gradient function under test (keyword only; default the
            reference implementation, with its deltas).
        hidden: the hidden activations to run (keyword only; default all).

    Returns:
        A :class:`CheckResult`; ``result.ok`` when no case has a finding and
        every group checked at least one case.

    Raises:
        ValueError: ``examples`` is not an integer >= 1, or an unknown hidden activation.
        TypeError: ``dtype`` is not float32 or float64.
    """
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be an integer >= 1, got {examples!r}")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    rng = np.random.default_rng(seed)
    inits = sorted(INITIALIZERS)
    pairs = [(name, loss.output) for name, loss in LOSSES.items()]
    hiddens = sorted(HIDDEN) if hidden is None else list(hidden)
    unknown = set(hiddens) - set(HIDDEN)
    if unknown:
        raise ValueError(f"unknown hidden activation {sorted(unknown)}; expected one of {sorted(HIDDEN)}")
    total = len(hiddens) * len(pairs) * examples * len(inits)
    done = 0
    start = time.perf_counter()
    bucketed.compile_smallest(dtype)  # the witness's one executable for every case (they all fit its bucket)
    startup, start = time.perf_counter() - start, time.perf_counter()
    groups: list[Group] = []
    for act in hiddens:
        for loss, output in pairs:
            group = Group(act, f"{output}+{loss}")
            groups.append(group)
            for _ in range(examples):
                spec = random_spec(rng, act, loss, max_layers=MAX_LAYERS, max_width=MAX_WIDTH)
                n = int(rng.integers(1, MAX_BATCH + 1))
                for init in inits:
                    done += 1
                    params = random_params(spec, rng, init, dtype)
                    for _attempt in range(5):
                        X, Y = random_batch(spec, rng, n, dtype)
                        if kinks_are_clear(spec, params, X):
                            break
                    else:
                        group.skipped += 1
                        if progress:
                            progress(done, total, f"{act} {group.pair}")
                        continue
                    where = f"sizes={spec.sizes} {act} {group.pair} bias={spec.bias} init={init} N={n}"
                    report = audit(spec, params, X, Y, grad_fn, fd_max_entries=FD_ENTRIES)
                    group.cases += 1
                    rel = _worst(report, "jax", "max_rel")
                    if rel >= group.worst_jax_rel:
                        group.worst_jax_rel, group.worst_case = rel, where
                    group.worst_jax_tol = max(group.worst_jax_tol, _worst(report, "jax", "fraction"))
                    group.worst_fd_tol = max(group.worst_fd_tol, _worst(report, "fd", "fraction"))
                    group.vacuous += sum(c.verdict == "vacuous" for c in report.comparisons)
                    if not report.ok:
                        group.failed += 1
                        group.failures.append(f"{where}: " + "; ".join(f"{f.param} {f.kind}" for f in report.findings))
                    if progress:
                        progress(done, total, f"{act} {group.pair}")
    return CheckResult(groups, time.perf_counter() - start, np.dtype(dtype).name, examples, seed, startup)
