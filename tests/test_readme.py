"""The README's code runs as written."""

from __future__ import annotations

import re
from pathlib import Path

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
