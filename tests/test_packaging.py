"""Packaging promises: ``bp_manual`` is NumPy only, and ``bp demo`` runs."""

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
