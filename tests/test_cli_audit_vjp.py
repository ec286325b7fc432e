"""``bp audit`` on a forward/backward pair (issue 14 items 7 and 8): the pair mode, ``--layer``, ``--plot``.

The pairs are two course-style max pools, one right and one that writes
instead of adding: with 2x2 windows at stride 1 the windows overlap, so the
wrong one loses contributions (``lost_accumulation``); at stride 2 they do
not, so both are right there. Each test runs the command in-process
(``bp_autodiff.cli.main``), but the doc's example, which runs as a user would,
in a subprocess.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bp_autodiff.cli import main
from bp_autodiff.layer_builder import build_case
from bp_manual import layers

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "auditing.md"
SECTION = DOC.read_text(encoding="utf-8").split("## Any backward pass: audit_vjp", 1)[1]
POOL = re.search(r"```python\n(# file: my_pool\.py\n.*?)```", SECTION, flags=re.DOTALL)
assert POOL is not None, "docs/auditing.md lost its my_pool.py"
WRONG = POOL.group(1)
RIGHT = WRONG.replace("dx[:, :, rows, cols] = is_max", "dx[:, :, rows, cols] += is_max")
assert RIGHT != WRONG
TARGET = "pool_forward,pool_backward"
OVERLAP = ["--input", "x=1,2,4,4", "--config", "kernel_size=2", "--config", "stride=1"]


def _write(tmp_path: Path, name: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, Path(name).stem, raising=False)


def _bp(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(["audit", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_docs_example_prints_what_the_doc_quotes(tmp_path: Path) -> None:
    """The doc's file and command, run as a user would, print the doc's block exactly (and exit 1)."""
    command = re.search(r"```bash\n(\.venv/bin/bp audit my_pool\.py:[^\n]+)\n```", SECTION)
    block = re.search(r"<!-- report: my-pool -->\n```text\n(.*?)```", SECTION, flags=re.DOTALL)
    assert command is not None and block is not None
    (tmp_path / "my_pool.py").write_text(WRONG, encoding="utf-8")
    argv = shlex.split(command.group(1))[1:]
    run = subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", *argv], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout == block.group(1), "docs/auditing.md's audit_vjp example is stale: run tools/docs_examples.py"
    # what the prose says of it: the given setting passes, every overlapping one fails with lost_accumulation
    table = run.stdout.split("\n\n")[1].splitlines()
    assert len(table) == 2 and table[1].split()[:3] == ["x", "2x3x5x5", "fd"] and table[1].endswith(" pass")
    failing = re.findall(r"  FAIL     (kernel_size=\d, stride=\d): x: (\w+)", run.stdout)
    assert failing == [
        (s, "lost_accumulation")
        for s in ("kernel_size=2, stride=1", "kernel_size=3, stride=1", "kernel_size=3, stride=2")
    ]


@pytest.mark.parametrize("form", ["file", "module"])
def test_a_right_and_a_wrong_pair(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The right pool passes (0), the wrong one is found (1) with lost_accumulation, from a file or a module."""
    results = {}
    for which, text in (("right", RIGHT), ("wrong", WRONG)):
        name = f"pool_{which}_{form}"
        _write(tmp_path, f"{name}.py", text, monkeypatch)
        target = f"{name}.py:{TARGET}" if form == "file" else f"{name}:{TARGET}"
        results[which] = _bp([target, *OVERLAP], capsys)
    assert results["right"][0] == 0, results["right"][1]
    assert "findings: none (ok)" in results["right"][1]
    code, out, _ = results["wrong"]
    assert code == 1
    assert re.search(r"^  x +lost_accumulation ", out, flags=re.MULTILINE), out


def test_at_non_overlapping_windows_the_wrong_pair_passes_unless_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stride 2: the mistake hides (0); ``--sweep`` finds it at the overlapping settings (1)."""
    _write(tmp_path, "pool_hidden.py", WRONG, monkeypatch)
    argv = ["pool_hidden.py:" + TARGET, "--input", "x=1,2,4,4", "--config", "kernel_size=2", "--config", "stride=2"]
    assert _bp(argv, capsys)[0] == 0
    code, out, _ = _bp([*argv, "--sweep"], capsys)
    assert code == 1 and "at kernel_size=2, stride=1: right except" in out


def test_layer_names_the_catalog_and_json_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--layer max_pool2d``: the JAX twin is a witness; ``--json`` is one JSON document with the findings."""
    _write(tmp_path, "pool_layer.py", WRONG, monkeypatch)
    code, out, _ = _bp(["pool_layer.py:" + TARGET, *OVERLAP, "--layer", "max_pool2d", "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["mode"] == "vjp" and report["ok"] is False
    assert {c["witness"] for c in report["comparisons"] if c["param"] == "x"} == {"fd", "jax"}
    given = [f for f in report["findings"] if f["setting"] is None]
    assert [(f["param"], f["kind"]) for f in given] in ([("x", "lost_accumulation")], [("x", "layer_mistake")])
    assert report["extra"]["seconds"] > 0


def test_layer_alone_audits_the_library_layer(capsys: pytest.CaptureFixture[str]) -> None:
    """``bp audit --layer max_pool2d``: the library's own pair on its default shapes, swept; it is right."""
    code, out, _ = _bp(["--layer", "max_pool2d"], capsys)
    assert code == 0, out
    assert out.startswith("audit of bp_manual.layers:max_pool2d (vjp)\ninputs: x float64 (2, 3, 4, 4)")
    assert "settings swept:" in out and "findings: none (ok)" in out


def test_integer_and_boolean_inputs_are_drawn_as_documented(capsys: pytest.CaptureFixture[str]) -> None:
    """``int:HIGH:SHAPE`` and ``bool:SHAPE`` reach the layer as integer and boolean arrays of those shapes."""
    code, out, _ = _bp(["--layer", "embedding", "--input", "indices=int:4:6", "--input", "E=4,3", "--json"], capsys)
    assert code == 0
    inputs = json.loads(out)["inputs"]
    assert inputs["indices"].startswith("int64 (6,)") and inputs["E"].startswith("float64 (4, 3)")
    code, out, _ = _bp(
        ["--layer", "dropout", "--input", "x=3,4", "--input", "mask=bool:3,4", "--config", "p=0.5", "--json"], capsys
    )
    assert code == 0
    assert json.loads(out)["inputs"]["mask"].startswith("bool (3, 4)")


@pytest.mark.parametrize("mode", ["pair", "network"])
def test_plot_writes_the_failing_arrays(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--plot`` writes a PNG of the failing arrays' heatmaps, in both modes; the report keeps those arrays."""
    _write(tmp_path, "pool_plot.py", WRONG, monkeypatch)
    argv = ["pool_plot.py:" + TARGET, *OVERLAP] if mode == "pair" else ["bp_autodiff.catalog:sign_flipped"]
    code, _, err = _bp([*argv, "--plot", "report.png"], capsys)
    assert code == 1
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = "x" if mode == "pair" else "W1, b1, W2, b2, delta1, delta2"
    assert f"heatmaps of {drawn} written to report.png" in err


def test_plot_with_nothing_failing_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _bp(["--layer", "relu", "--input", "x=3,4", "--plot", "ok.png"], capsys)
    assert code == 0 and not (tmp_path / "ok.png").exists()
    assert "no failing array to draw" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["p.py:f,b", "--input", "x=2,a"], "--input: the shape must be comma-separated integers"),
        (["p.py:f,b", "--input", "x=2,0"], "--input: the shape must hold integers >= 1"),
        (["p.py:f,b", "--input", "x=int:0:3"], "--input: int:HIGH:SHAPE needs an integer HIGH >= 1"),
        (["p.py:f,b", "--input", "2x=3"], "--input: expected NAME=SHAPE"),
        (["p.py:f,b", "--input", "x=2", "--input", "x=3"], "--input: 'x' is given more than once"),
        (["p.py:f,b"], "--input: a forward/backward pair needs its inputs"),
        (["p.py:f,b", "--input", "x=2", "--config", "stride"], "--config: expected KEY=VALUE"),
        (["p.py:f,b", "--input", "x=2", "--config", "eps=nan"], "--config: eps: must be a finite number"),
        (["p.py:f,b", "--input", "x=2", "--config", "a=1", "--config", "a=2"], "--config: 'a' is given more than once"),
        (["--layer", "nope"], "--layer: unknown layer 'nope'; expected one of"),
        (["--layer", "relu", "--dtype", "float16"], "--dtype: invalid choice"),
        (["--layer", "relu", "--seed", "-1"], "--seed: must be an integer >= 0"),
        (["--layer", "relu", "--plot", "report.txt"], "--plot: report.txt: the file name must end in .png"),
        (["--layer", "relu", "--sizes", "2,3"], "--sizes: applies to a gradient function (MODULE:FUNCTION) only"),
        (["p.py:f,b", "--input", "x=2", "--as", "step"], "--as: applies to a gradient function"),
        (["bp_autodiff.catalog:sign_flipped", "--input", "x=2"], "--input: applies to a pair"),
        (["bp_autodiff.catalog:sign_flipped", "--sweep"], "--sweep: applies to a pair"),
        (["bp_autodiff.catalog:sign_flipped", "--layer", "relu"], "--layer: applies to a pair"),
        ([], "MODULE:FUNCTION: give a function to audit, or --layer NAME"),
        (["p.py:a,b,c", "--input", "x=2"], "MODULE:FUNCTION: expected MODULE:FUNCTION"),
        (["p.py:f,b", "--input", "x=2"], "MODULE:FUNCTION: p.py: no such file"),
    ],
)
def test_usage_errors_name_the_flag(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every usage error of the new flags reads ``bp audit: error: <flag>: <what>``, status 2, no stdout."""
    monkeypatch.chdir(tmp_path)
    code, out, err = _bp(argv, capsys)
    assert code == 2 and out == ""
    assert f"bp audit: error: {message}" in err, err
    assert not list(tmp_path.iterdir())


def test_plot_without_matplotlib_is_refused_before_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    code, out, err = _bp(["--layer", "relu", "--plot", "r.png"], capsys)
    assert code == 2 and out == ""
    assert "bp audit: error: --plot: needs matplotlib, which is not installed" in err


def test_default_inputs_cover_every_library_layer_in_its_order() -> None:
    """``--layer NAME`` alone works for every layer: its defaults name the layer's inputs, in order."""
    from bp_autodiff.auditor.adapters import LAYER_INPUTS
    from bp_autodiff.layer_geometries import DEFAULTS

    assert set(DEFAULTS) == set(LAYER_INPUTS)
    for name, (shapes, config) in DEFAULTS.items():
        assert tuple(shapes) == LAYER_INPUTS[name].inputs, name
        case = build_case(name, np.random.default_rng(0), shapes, config)
        getattr(layers, f"{name}_forward")(*case.inputs.values(), **case.config)  # valid inputs


def test_default_inputs_that_config_leaves_unbuildable_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--layer dropout --config`` without ``p``: the default mask cannot be drawn; said before any work."""
    code, out, err = _bp(["--layer", "dropout", "--config", "q=1"], capsys)
    assert code == 2 and out == ""
    assert "bp audit: error: --config: dropout needs p (the drop probability) to draw its mask" in err
