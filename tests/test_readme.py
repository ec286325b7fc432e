"""The README's code runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TUTORIAL = README.parent / "docs" / "tutorial.md"


def test_readme_usage_example_runs() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "README.md has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_documents_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    for command in ("bp check", "bp audit", "bp demo"):
        assert command in text, command


def test_the_catalog_size_the_docs_give() -> None:
    """README.md and docs/tutorial.md give the number of the catalog's wrong backward passes: it is the catalog's."""
    from bp_autodiff import catalog

    n = len(catalog.CATALOG)
    words = {path.name: " ".join(path.read_text(encoding="utf-8").split()) for path in (README, TUTORIAL)}
    assert f"holds {n} classic wrong backward passes" in words["README.md"]
    assert f"ships {n} such wrong backward passes" in words["tutorial.md"]


def test_quickstart_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1]
    commands = re.search(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL)
    assert commands is not None
    lines = commands.group(1).strip().splitlines()
    assert len(lines) == 2
    assert "pip install" in lines[0] and lines[0].endswith(".venv/bin/bp check")
    assert "pytest" in lines[1]


def test_auditing_doc_shows_the_report_it_gets(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/auditing.md's worked example is, character for character, what its command prints today.

    Every cell is compared, the numeric columns included, and so are the
    numbers the prose around it quotes. When the auditor changes what it
    prints, ``.venv/bin/python tools/docs_examples.py`` pastes the new output.
    """
    from bp_autodiff.cli import main

    doc = (README.parent / "docs" / "auditing.md").read_text(encoding="utf-8")
    example = doc.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```bash\n\.venv/bin/bp (audit .*?)\n```", example)
    assert command is not None
    block = example.split("<!-- report: missing_activation_derivative -->\n```text\n", 1)[1].split("```", 1)[0]
    assert main(command.group(1).split()) == 1
    text = capsys.readouterr().out
    assert block == text, "docs/auditing.md's worked example is stale: run tools/docs_examples.py"

    table = [line.split() for line in text.split("\n\n")[1].splitlines()[1:]]
    failing = [row for row in table if row[-1] == "FAIL"]
    rel = [float(row[5]) for row in failing]
    assert f"`max rel` from {min(rel):.2f} to {max(rel):.2f}" in example
    assert all(float(row[6]) < 1e-7 for row in table if row[2] == "jax" and row[-1] == "pass")
    w1 = next(row for row in failing if row[0] == "W1")
    assert f"`W1{w1[7]} {w1[8]}` is {float(w1[9]):.3f} where it should be {float(w1[10]):.3f}" in example
