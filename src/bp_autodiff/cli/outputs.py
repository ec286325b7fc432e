"""Output files and optional dependencies, checked for every command before any work.

What this module is for: a subcommand declares each file it may write
(:func:`add_output_argument`: the flag, the suffix the file must have, the
optional module it needs to write it) and each optional module an argument
value needs (:func:`add_requirement`). :func:`check_before_work`, called by
:func:`bp_autodiff.cli.main` between parsing and running the command, refuses
with one usage error, ``bp <command>: error: <flag>: <what>``, an output path
that cannot be written as given (wrong suffix, a directory, a missing or
read-only directory) and a missing optional module, with the command that
installs it. So a long run never ends in a traceback, and never loses its
work, because of a typo in a path or a module left out of the install.

What it is not for: writing the files (the commands do, through the library).
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bp_autodiff.cli.args import Parser, usage_error

#: how to install each optional module a command may need
INSTALL = {
    "matplotlib": 'pip install matplotlib; in a clone of this project: .venv/bin/pip install -e ".[plot]"',
    "pooch": "pip install pooch; in a clone of this project: .venv/bin/pip install -e .",
}


@dataclass(frozen=True)
class OutputFile:
    """A file a command writes when ``flag`` is given: it must end in ``suffix``; ``needs`` a module, or None."""

    flag: str
    dest: str
    suffix: str
    needs: str | None = None


@dataclass(frozen=True)
class Requirement:
    """The optional module ``module`` that ``flag`` needs when ``applies(value)`` holds."""

    flag: str
    dest: str
    module: str
    applies: Callable[[object], bool]


def add_output_argument(p: Parser, flag: str, *, suffix: str, help: str, needs: str | None = None) -> None:
    """Add ``flag PATH`` to ``p`` and declare it as an output file, checked by :func:`check_before_work`."""
    action = p.add_argument(flag, metavar="PATH", default=None, help=help)
    p.outputs.append(OutputFile(flag, action.dest, suffix, needs))


def add_requirement(p: Parser, flag: str, dest: str, module: str, applies: Callable[[object], bool]) -> None:
    """Declare that the value of ``flag`` (stored in ``args.<dest>``) needs ``module`` when ``applies(value)``."""
    p.outputs.append(Requirement(flag, dest, module, applies))


def output_problem(path: str, suffix: str) -> str | None:
    """What keeps ``path`` from being written as a ``suffix`` file, or None when nothing does."""
    target = Path(path)
    if target.suffix.lower() != suffix:
        return f"{path}: the file name must end in {suffix}"
    if target.is_dir():
        return f"{path}: is a directory"
    parent = target.parent
    if not parent.exists():
        return f"{path}: the directory {parent} does not exist"
    if not parent.is_dir():
        return f"{path}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path}: the directory {parent} is not writable"
    if target.exists() and not os.access(target, os.W_OK):
        return f"{path}: the file exists and is not writable"
    return None


def missing_module(module: str) -> str | None:
    """``needs <module>, which is not installed (<how to install>)``, or None when it imports."""
    try:
        importlib.import_module(module)
    except ImportError:
        return f"needs {module}, which is not installed ({INSTALL.get(module, f'pip install {module}')})"
    return None


def check_before_work(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse, with a usage error naming the flag, an unwritable output or a missing optional module.

    ``parser`` is the subcommand's (a :class:`~bp_autodiff.cli.args.Parser`);
    each declared output that was given is checked, then each requirement
    that applies. Exits with status 2 at the first problem.
    """
    for item in getattr(parser, "outputs", []):
        value = getattr(args, item.dest, None)
        if isinstance(item, OutputFile) and value is not None:
            problem = output_problem(value, item.suffix) or (item.needs and missing_module(item.needs))
            if problem:
                usage_error(parser, item.flag, problem)
        elif isinstance(item, Requirement) and value is not None and item.applies(value):
            problem = missing_module(item.module)
            if problem:
                usage_error(parser, item.flag, f"{value} {problem}")
