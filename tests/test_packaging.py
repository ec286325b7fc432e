"""Packaging promises: ``bp_manual`` is NumPy only, ``bp`` commands that audit nothing start without JAX, and
``bp demo`` runs."""

from __future__ import annotations

import subprocess
import sys


def test_importing_bp_manual_does_not_import_jax() -> None:
    code = (
        "import sys, bp_manual, bp_manual.seed_published\n"
        "heavy = sorted(m for m in ('jax', 'jaxlib', 'sklearn', 'torch', 'scipy') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bp_commands_that_audit_nothing_do_not_import_jax() -> None:
    """``bp`` registers every subcommand at start-up; JAX (0.6-0.9 s to import here) comes only with an audit, a
    check or a trace (``bp_autodiff.cli.audit``'s docstring), so ``bp --help``, ``bp explain`` and ``bp train``
    start without it. The lazy ``bp_autodiff.auditor`` package still gives its names on first use."""
    code = (
        "import contextlib, io, sys\n"
        "from bp_autodiff import cli\n"
        "import bp_autodiff.auditor.tolerance, bp_autodiff.auditor.report\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main(['explain', '--sizes', '3,4,2']) == 0\n"
        "    assert cli.main(['explain', '--layer', 'conv2d']) == 0\n"
        "heavy = sorted(m for m in ('jax', 'jaxlib', 'torch') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "import bp_autodiff.auditor as auditor\n"
        "assert auditor.KINDS[0] == 'sign' and callable(auditor.audit_vjp) and 'jax' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_explain_help_names_the_trace_batch() -> None:
    """The help text of ``bp explain --batch`` gives the trace's default batch as a number (the module that
    defines it imports JAX, so the text cannot read it at start-up): held to the constant here."""
    from bp_autodiff.auditor.trace import TRACE_BATCH
    from bp_autodiff.cli import build_parser

    explain = build_parser().parse_args(["explain", "--sizes", "3,4,2"]).command_parser
    assert f"{TRACE_BATCH} for --trace" in " ".join(explain.format_help().split())


def test_bp_demo_runs_and_succeeds() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", "demo", "--steps", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loss went down at every update: True" in result.stdout
    assert "gradients agree within 1e-09: True" in result.stdout
    assert "seed's run(): ValueError" in result.stdout


def test_bp_demo_reports_divergence_without_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", "demo", "--lr", "1e200"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert "training diverged" in result.stderr
