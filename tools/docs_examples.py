"""Regenerate the command output quoted in the docs, from the commands themselves.

What this is for: a doc that shows what a command prints quotes it between a
marker ``<!-- report: NAME -->`` and the end of the ``text`` block after it;
the command is the ``bash`` block above the marker. This script runs each
such command (``bp`` as ``python -m bp_autodiff.cli``, in this interpreter)
in a temporary directory holding the doc's files (each ``python`` block whose
first line is ``# file: NAME.py`` is written there as ``NAME.py``, so a
command can audit a file the doc shows) and writes its standard output into
the block, so the quoted numbers are
the command's, never copied by hand. ``tests/test_readme.py`` and
``tests/test_cli_audit_vjp.py`` compare the quoted blocks with a fresh run,
cell by cell, and name this script when they differ.

Usage: ``.venv/bin/python tools/docs_examples.py [--check]``; with
``--check`` nothing is written and the exit status is 1 when a block is stale.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/auditing.md",)
#: a bash block holding one command, then the marker, then the quoted output
QUOTE = re.compile(
    r"```bash\n(?P<command>[^\n]+)\n```\n(?P<between>(?:(?!```).)*?)"
    r"<!-- report: (?P<name>[\w-]+) -->\n```text\n(?P<output>.*?)```",
    flags=re.DOTALL,
)
#: a Python block that the doc asks to be saved as a file: ``# file: my_pool.py`` on its first line
FILE = re.compile(r"```python\n# file: (?P<name>[\w.-]+\.py)\n(?P<body>.*?)```", flags=re.DOTALL)


def doc_files(text: str) -> dict[str, str]:
    """``{file name: its text}`` for every ``# file: NAME.py`` block of a doc (the marker line included)."""
    return {m["name"]: f"# file: {m['name']}\n{m['body']}" for m in FILE.finditer(text)}


def command_output(command: str, cwd: Path = ROOT) -> str:
    """Standard output of one documented command line (``.venv/bin/bp ...``), run with this interpreter in ``cwd``."""
    argv = shlex.split(command)
    if argv[0] not in ("bp", ".venv/bin/bp"):
        raise ValueError(f"not a bp command: {command!r}")
    run = subprocess.run(
        [sys.executable, "-m", "bp_autodiff.cli", *argv[1:]], capture_output=True, text=True, check=False, cwd=cwd
    )
    if run.returncode not in (0, 1):
        raise RuntimeError(f"{command!r} exited with {run.returncode}: {run.stderr.strip()}")
    return run.stdout


def quoted_blocks(text: str) -> list[re.Match[str]]:
    """Every (command, quoted output) pair of a doc, in order."""
    return list(QUOTE.finditer(text))


def regenerate(path: Path) -> str:
    """The text of ``path`` with every quoted block replaced by a fresh run of its command."""
    text = path.read_text(encoding="utf-8")
    pieces, end = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in doc_files(text).items():
            (Path(tmp) / name).write_text(body, encoding="utf-8")
        for match in quoted_blocks(text):
            pieces.append(text[end : match.start("output")])
            pieces.append(command_output(match["command"], Path(tmp)))
            end = match.end("output")
    return "".join(pieces) + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a quoted block is stale")
    args = parser.parse_args()
    stale = []
    for name in DOCS:
        path = ROOT / name
        fresh = regenerate(path)
        if fresh != path.read_text(encoding="utf-8"):
            stale.append(name)
            if not args.check:
                path.write_text(fresh, encoding="utf-8")
    verb = "stale" if args.check else "rewritten"
    print(f"{verb}: {', '.join(stale)}" if stale else "every quoted block is up to date")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
