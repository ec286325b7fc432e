"""For other test suites: the example in docs/testing-your-suite.md run as an outside project runs it.

The example file is read from the doc (so the doc cannot drift), written into
a temporary directory with nothing else in it, and run by ``pytest`` in a
subprocess against the installed package: the correct backward pass passes,
the broken one fails with the auditor's diagnosis in the failure message, and
``--bp-report`` writes one JSON document, also under pytest-xdist (``-n 2``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bp_autodiff
from bp_autodiff import testing

DOC = Path(__file__).resolve().parents[1] / "docs" / "testing-your-suite.md"


def _example(name: str = "test_my_backprop.py") -> str:
    blocks = re.findall(rf"```python\n(# file: {name}\n.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1
    return blocks[0]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_my_backprop.py").write_text(_example(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_backprop.py", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_outcome(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert re.search(r"W1\s+sign\s+equals minus the JAX gradient", out), out
    assert "introduced at delta2" in out, out
    # what docs/testing-your-suite.md quotes of the report: its count and its first finding, as printed
    quoted = re.findall(r"```\n(findings: \d+)\n(.*)\n```", DOC.read_text(encoding="utf-8"))
    (count, first), *_ = [(c, f) for c, f in quoted if f.lstrip().startswith("W1")]
    assert count in out and first in out, (count, first, out)


def _check_report(path: Path, xdist: bool) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert (document["schema"], document["version"]) == ("bp-report", 1)
    by_test: dict[str, list[dict]] = {}
    for record in document["audits"]:
        by_test.setdefault(record["test"].split("::")[-1], []).append(record)
    assert set(by_test) == {"test_my_backprop", "test_my_broken_backprop"}, xdist
    assert all(r["verdict"] == "pass" and not r["findings"] for r in by_test["test_my_backprop"])
    (broken,) = by_test["test_my_broken_backprop"]
    assert broken["verdict"] == "fail"
    assert {f["param"]: f["kind"] for f in broken["findings"]}["W1"] == "sign"
    assert broken["worst_fraction_of_tolerance"]["W1"]["jax"] > 1
    assert broken["report"]["subject"].endswith("my_broken_loss_and_grads")


def test_an_outside_suite_gets_the_diagnosis_and_the_report(tmp_path: Path) -> None:
    result = _run(tmp_path, "--bp-report", "audits.json")
    _check_outcome(result)
    _check_report(tmp_path / "audits.json", xdist=False)


def test_the_report_is_one_document_under_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    result = _run(tmp_path, "-n", "2", "--bp-report", "audits.json")
    _check_outcome(result)
    _check_report(tmp_path / "audits.json", xdist=True)


def test_an_outside_suite_audits_its_own_layer(tmp_path: Path) -> None:
    (tmp_path / "test_my_layer.py").write_text(_example("test_my_layer.py"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_layer.py", "--bp-report", "r.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed, 1 passed" in out, out
    assert re.search(r"x\s+ignores_upstream\s+the same gradient for two different random dout", out), out
    audits = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["audits"]
    assert {a["verdict"] for a in audits if a["test"].endswith("test_my_layer")} == {"pass"}
    (broken,) = [a for a in audits if a["test"].endswith("test_my_broken_layer")]
    assert {f["kind"] for f in broken["findings"]} == {"ignores_upstream"} and broken["mode"] == "vjp"


def test_a_report_into_a_missing_directory_is_refused_before_any_test(tmp_path: Path) -> None:
    result = _run(tmp_path, "--bp-report", str(tmp_path / "nope" / "a.json"))
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "--bp-report: the directory" in result.stderr
    assert "passed" not in result.stdout


def test_the_plugin_imports_nothing_heavy_until_used() -> None:
    code = (
        "import sys, bp_autodiff.pytest_plugin\n"
        "heavy = sorted(m for m in ('jax', 'numpy', 'bp_manual', 'bp_autodiff.auditor') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_assert_gradients_records_and_raises_with_the_report() -> None:
    from bp_autodiff.catalog import example_problem, sign_flipped

    spec, params, X, Y = example_problem("sign_flipped")
    seen: list[bp_autodiff.AuditReport] = []
    with testing.recording(seen.append), pytest.raises(AssertionError, match=r"W1\s+sign"):
        testing.assert_gradients(sign_flipped, spec, params, X, Y)
    assert len(seen) == 1 and not seen[0].ok
    import bp_manual

    with testing.recording(seen.append):
        report = testing.assert_gradients(bp_manual.loss_and_grads, spec, params, X, Y)
    assert report.ok and len(seen) == 2
