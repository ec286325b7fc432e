"""The README's code runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


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
    """docs/auditing.md's worked example is what its command prints today.

    The numeric columns of passing rows are rounding-level numbers that may
    differ in the last digits between BLAS builds, so the comparison covers
    the localisation and the findings exactly, and each row's param, witness
    and verdict.
    """
    from bp_autodiff.cli import main

    doc = (README.parent / "docs" / "auditing.md").read_text(encoding="utf-8")
    example = doc.split("## A worked example", 1)[1]
    command = re.search(r"```bash\n(bp audit .*?)\n```", example)
    assert command is not None
    block = example.split("<!-- report: missing_activation_derivative -->\n```text\n", 1)[1].split("```", 1)[0]
    assert main(command.group(1).split()[1:]) == 1
    text = capsys.readouterr().out
    tail = "localisation"
    assert block.split(tail, 1)[1].strip() == text.split(tail, 1)[1].strip()

    def rows(t: str) -> list[tuple[str, str, str]]:
        table = t.split("\n\n")[1].splitlines()[1:]
        return [(r.split()[0], r.split()[2], r.split()[-1]) for r in table]

    assert rows(block) == rows(text)
