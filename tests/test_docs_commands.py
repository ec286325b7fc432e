"""The README and docs/tutorial.md work as written, after the Quickstart, in a new directory and a new shell.

``test_every_readme_and_tutorial_command_runs_in_order`` reads every ``bash``
block of README.md (but the Quickstart's, which ``.ci/run`` runs on a fresh
clone) and then of docs/tutorial.md, writes every ``python`` block that
starts with ``# file: NAME`` to that file, and runs each command line with
``bash -c``, in order, in one empty temporary directory, as written.
``.venv/bin/bp`` and ``.venv/bin/python`` there are two-line shims onto the
interpreter running the tests (the venv the Quickstart made), and
``--dataset mnist`` fetches from a loopback server (tests/mnist_server.py):
the network is never needed. It then holds what the docs say each command
shows. ``test_doc_numbers_are_what_the_commands_print`` holds the numbers the
docs quote (cases checked and skipped by ``bp check``, the seed's climbing
loss in ``bp demo``) to the commands' output.

Also: no command in a bash block of README.md or docs/*.md calls a bare ``bp``
or ``python`` (both are missing from PATH after the Quickstart, which does not
activate ``.venv``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bp_autodiff import cli
from mnist_server import fetch_env, serve, write_small_mnist

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def doc_steps(text: str, skip_first_bash: bool = False) -> list[tuple[str, str, str]]:
    """``("run", line, "")`` for each line of a bash block, ``("file", name, source)`` for a ``# file:`` block."""
    steps: list[tuple[str, str, str]] = []
    skipped = not skip_first_bash
    for lang, body in FENCE.findall(text):
        if lang == "bash":
            if not skipped:
                skipped = True
                continue
            steps += [("run", line, "") for line in body.strip().splitlines() if line.strip()]
        elif lang == "python" and body.startswith("# file: "):
            steps.append(("file", body.splitlines()[0].removeprefix("# file: ").strip(), body))
    return steps


def _shims(workdir: Path) -> None:
    bin_dir = workdir / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, target in (("bp", f'"{sys.executable}" -m bp_autodiff.cli'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        (bin_dir / name).chmod(0o755)


def test_no_doc_command_needs_an_activated_venv() -> None:
    bare = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
            if lang == "bash":
                bare += [f"{path.name}: {line}" for line in body.splitlines() if re.match(r"(bp|python)\s", line)]
        # a code span to copy: python with arguments, or bp with two options or more
        inline = re.findall(r"`((?:bp|python) [^`]+)`", path.read_text(encoding="utf-8"))
        bare += [f"{path.name}: `{c}`" for c in inline if c.startswith("python") or c.count(" --") >= 2]
    assert not bare, "\n".join(bare)
    assert doc_steps("```bash\nbp x\n```\n```bash\nbp y\n```\n", skip_first_bash=True) == [("run", "bp y", "")]


def test_every_readme_and_tutorial_command_runs_in_order(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "## Quickstart" in readme.split("```bash", 1)[0]  # the skipped block is the Quickstart's
    steps = [("README.md", s) for s in doc_steps(readme, skip_first_bash=True)]
    steps += [("tutorial.md", s) for s in doc_steps(tutorial)]
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    _shims(workdir)
    served = tmp_path / "served"
    sums = write_small_mnist(served)
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    with serve(served) as (url, requested):
        env = fetch_env(url, sums, tmp_path)
        for doc, (kind, what, source) in steps:
            if kind == "file":
                (workdir / what).write_text(source, encoding="utf-8")
                continue
            run = subprocess.run(
                ["bash", "-c", what], cwd=workdir, env=env, capture_output=True, text=True, check=False
            )
            expected = 1 if " audit " in what else 0  # an audit of a wrong backward pass finds it
            assert run.returncode == expected, f"{doc}: {what}\n{run.stdout}\n{run.stderr}"
            outputs[f"{doc}: {what.split('#')[0].strip()}"] = run
    assert sorted(requested) == sorted(f"/{name}" for name in sums)  # MNIST fetched, each file once

    def out(doc: str, command: str) -> str:
        """The output of the command written ``command``, or else of the one command that starts so."""
        keys = [k for k in outputs if k == f"{doc}: {command}"] or [
            k for k in outputs if k.startswith(f"{doc}: {command}")
        ]
        (key,) = keys
        return outputs[key].stdout

    # README: the numbers and files it promises
    train = out("README.md", ".venv/bin/bp train")
    accuracy = float(next(line for line in train.splitlines() if line.startswith("test")).split()[-1])
    assert f"Adam: {100 * accuracy:.1f}% test accuracy" in readme
    assert f"reaches {100 * accuracy:.1f}% on digits" in (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert (workdir / "model.npz").is_file() and (workdir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(out("README.md", ".venv/bin/bp predict").split()) == 3  # one prediction per row of rows.csv
    assert "activation_derivative" in out("README.md", ".venv/bin/bp audit")
    assert "agree within 1e-09: True" in out("README.md", ".venv/bin/bp explain --sizes 4,8,3 --hidden tanh --trace")
    assert (workdir / "init.png").read_bytes()[:4] == b"\x89PNG"
    assert "mnist:" in out("README.md", ".venv/bin/bp train --dataset mnist")

    # tutorial: the shapes it shows, the agreement, its prediction, and the auditor's report
    shapes = out("tutorial.md", ".venv/bin/bp explain --sizes 4,8,3 --hidden tanh --output identity --loss mse")
    for line in re.findall(r"^  (\S.* = .*)$", tutorial.split("## 3.")[0], flags=re.MULTILINE):
        assert line in shapes, line
    trace = out("tutorial.md", ".venv/bin/bp explain --sizes 4,8,3 --hidden tanh --output identity --loss mse --trace")
    assert "agree within 1e-09: True" in trace
    errors = dict(re.findall(r"(\w\d): max relative error (\S+)", out("tutorial.md", ".venv/bin/python")))
    assert float(errors["W2"]) < 1e-12 and float(errors["b2"]) < 1e-12
    assert float(errors["W1"]) > 0.1 and float(errors["b1"]) > 0.1
    report = out("tutorial.md", ".venv/bin/bp audit my_backprop")
    assert "W1       activation_derivative" in report
    # section 4's promise: the localisation names layer 1 as where the error is introduced
    assert re.search(r"^  delta1 +introduced ", report, flags=re.MULTILINE), report
    assert re.search(r"^  W1 +inherited ", report, flags=re.MULTILINE), report


def test_doc_numbers_are_what_the_commands_print(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    auditing = (ROOT / "docs" / "auditing.md").read_text(encoding="utf-8")
    assert cli.main(["check", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    claim = f"{result['cases']} cases checked, {result['skipped']} skipped"
    assert claim in " ".join(readme.split()), claim
    assert f"{result['cases']} cases checked, {result['skipped']} skipped" in " ".join(auditing.split())

    assert cli.main(["demo"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if re.match(r"\s+\d+\s+\d", line)]
    climb = f"{float(rows[0][2]):.1f} -> {float(rows[-1][2]):.1f}"  # the seed's published train(), five updates
    texts = {
        "README.md": readme,
        "docs/derivation.md": (ROOT / "docs" / "derivation.md").read_text(encoding="utf-8"),
        "src/bp_manual/bpnetwork.py": (ROOT / "src" / "bp_manual" / "bpnetwork.py").read_text(encoding="utf-8"),
    }
    for name, text in texts.items():
        assert climb in " ".join(text.split()).replace(" to ", " -> "), (name, climb)
