"""docs/tutorial.md works as written: its commands run and say what it says,
and its broken ``my_backprop.py`` is the derivation with exactly one line broken.

The ``bp audit`` step needs the auditor (``bp_autodiff.audit``); that test is
skipped until the auditor is installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_autodiff import cli
from tolerances import FLOAT64_RTOL, close

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
BROKEN = 'delta = delta @ params[l - 1]["W"]  # BUG: should be (delta @ W) * f_prime(below.Z, below.A)'
FIXED = 'delta = (delta @ params[l - 1]["W"]) * f_prime(below.Z, below.A)'


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL, flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return block


def _write_module(tmp_path: Path, source: str) -> ModuleType:
    path = tmp_path / "my_backprop.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"my_backprop_{abs(hash(source))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _problem(bias: bool = True):
    spec = bp_manual.NetworkSpec((4, 8, 3), hidden="tanh", output="identity", loss="mse", bias=bias)
    params = bp_manual.init_params(spec, "xavier_normal", seed=0)
    rng = np.random.default_rng(1)
    return spec, params, rng.normal(size=(5, 4)), rng.normal(size=(5, 3))


def _agreement(grad_fn, bias: bool = True) -> dict[str, bool]:
    spec, params, X, Y = _problem(bias)
    _, mine = grad_fn(spec, params, X, Y)
    _, ref = bp_autodiff.loss_and_grads(spec, params, X, Y)
    return {
        f"{k}{l}": close(m[k], r[k], FLOAT64_RTOL)[0]
        for l, (m, r) in enumerate(zip(mine, ref, strict=True), 1)
        for k in r
    }


@pytest.mark.parametrize("bias", [True, False])
def test_the_broken_file_breaks_exactly_the_layers_the_tutorial_says(tmp_path: Path, bias: bool) -> None:
    source = _block("# file: my_backprop.py")
    assert source.count(BROKEN) == 1
    broken = _write_module(tmp_path, source)
    expected = {"W1": False, "b1": False, "W2": True, "b2": True}
    assert _agreement(broken.loss_and_grads, bias) == {k: v for k, v in expected.items() if bias or k[0] == "W"}
    fixed = _write_module(tmp_path, source.replace(BROKEN, FIXED))
    assert all(_agreement(fixed.loss_and_grads, bias).values())


def test_the_check_without_the_auditor_prints_what_the_tutorial_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_backprop.py").write_text(_block("# file: my_backprop.py"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_backprop", raising=False)
    exec(compile(_block("import my_backprop"), "tutorial", "exec"), {})
    errors = dict(re.findall(r"(\w\d): max relative error (\S+)", capsys.readouterr().out))
    assert set(errors) == {"W1", "b1", "W2", "b2"}
    assert float(errors["W2"]) < 1e-12 and float(errors["b2"]) < 1e-12
    assert float(errors["W1"]) > 0.1 and float(errors["b1"]) > 0.1


def test_the_explain_commands_run_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    commands = re.findall(r"^bp (explain .*)$", TUTORIAL, flags=re.MULTILINE)
    assert len(commands) == 2
    for command in commands:
        assert cli.main(command.split()) == 0
    out = capsys.readouterr().out
    for line in re.findall(r"^  (\S.* = .*)$", TUTORIAL.split("## 3.")[0], flags=re.MULTILINE):
        assert line in out, line
    assert "agree within 1e-09: True" in out


def test_bp_audit_reports_the_broken_line(tmp_path: Path) -> None:
    (tmp_path / "my_backprop.py").write_text(_block("# file: my_backprop.py"), encoding="utf-8")
    (command,) = re.findall(r"^bp (audit my_backprop.*)$", TUTORIAL, flags=re.MULTILINE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", *command.split()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "activation_derivative" in run.stdout, run.stdout


def test_the_readme_teaching_commands_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Teaching\n\n```bash\n(.*?)```", readme, flags=re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].split() for line in block.group(1).strip().splitlines()]
    assert [c[:2] for c in commands] == [["bp", "explain"], ["bp", "explain"], ["bp", "init-stats"]]
    for command in commands:
        argv = [str(tmp_path / a) if a.endswith(".png") else a for a in command[1:]]
        assert cli.main(argv) == 0, command
    assert (tmp_path / "init.png").stat().st_size > 0
    assert "agree within 1e-09: True" in capsys.readouterr().out
