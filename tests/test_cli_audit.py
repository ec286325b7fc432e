"""``bp check`` and ``bp audit`` from the command line, and ``check()`` catching a wrong gradient."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bp_manual
from bp_autodiff import catalog, cli
from bp_autodiff.auditor.check import check


def _bp(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_check_catches_a_wrong_gradient_and_passes_the_right_one() -> None:
    bad = check(1, seed=3, hidden=["tanh"], grad_fn=catalog.mse_without_half)
    assert not bad.ok and bad.failed == bad.cases > 0
    assert "FAIL" in bad.render()
    good = check(1, seed=3, hidden=["tanh"])
    assert good.ok and good.cases == bad.cases
    assert all(g.worst_jax_tol <= 1 and g.worst_fd_tol <= 1 for g in good.groups)


def test_bp_check_json() -> None:
    result = _bp("check", "--examples", "1", "--seed", "1", "--hidden", "relu", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and data["cases"] + data["skipped"] == 3 * 8  # 3 output/loss pairs x 8 init schemes
    assert "24/24" in result.stderr  # the progress bar


def _bp_here(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``bp ARGS`` in this process (``cli.main``): ``(exit status, stdout, stderr)``. A usage error's
    ``SystemExit(2)`` becomes status 2. For the commands' logic; what only a real process shows (the exit
    status a shell sees, imports from the current directory) is held by the subprocess tests (``_bp``).
    ``bp audit`` puts the current directory first on ``sys.path``, as an import from the command line would:
    the worker's ``sys.path`` is restored afterwards."""
    capsys.readouterr()
    saved = list(sys.path)
    try:
        status = cli.main(list(args))
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    finally:
        sys.path[:] = saved
    out, err = capsys.readouterr()
    return status, out, err


def test_bp_audit_flags_a_catalog_entry_and_passes_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _bp_here(
        capsys, "audit", "bp_autodiff.catalog:sum_instead_of_mean", "--sizes", "4,8,3", "--batch", "5"
    )
    assert status == 1, out + err
    assert "scale" in out and "c = 5 " in out
    status, out, err = _bp_here(
        capsys, "audit", "bp_manual:loss_and_grads", "--sizes", "3,4,2", "--hidden", "relu", "--no-bias"
    )
    assert status == 0, out + err
    assert "findings: none (ok)" in out
    # the step mode chosen for a catalog update rule
    status, out, err = _bp_here(
        capsys, "audit", "bp_autodiff.catalog:seed_published_train", "--hidden", "sigmoid", "--no-bias", "--batch", "1"
    )
    assert status == 1 and "ascent" in out, out + err


def test_bp_audit_imports_the_users_file_from_the_current_directory(tmp_path) -> None:
    (tmp_path / "mine.py").write_text(
        "import bp_manual\n"
        "def grads(spec, params, X, Y):\n"
        "    loss, g = bp_manual.loss_and_grads(spec, params, X, Y)\n"
        "    return loss, [{k: v.T if v.ndim == 2 else v for k, v in layer.items()} for layer in g]\n"
    )
    result = _bp("audit", "mine:grads", "--json", cwd=str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert {f["kind"] for f in json.loads(result.stdout)["findings"]} == {"transpose"}


def test_bp_audit_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["nocolon"], ["no_such_module_xyz:f"], ["bp_manual:nope"], ["bp_manual:loss", "--sizes", "4"]):
        status, out, err = _bp_here(capsys, "audit", *args)
        assert status == 2, (args, out, err)
        assert "error:" in err
    result = _bp("audit", "nocolon")  # and as a shell sees it
    assert result.returncode == 2 and "bp audit: error:" in result.stderr, result.stderr


def test_catalog_example_problems_fit_their_spec() -> None:
    for name in catalog.CATALOG:
        spec, params, X, Y = catalog.example_problem(name)
        assert X.dtype == np.float64 and X.shape == (catalog.EXAMPLES[name].batch, spec.n_in)
        assert np.isfinite(bp_manual.loss(spec, params, X, Y))
    with pytest.raises(ValueError, match="unknown catalog entry"):
        catalog.example_problem("no_such_mistake")
