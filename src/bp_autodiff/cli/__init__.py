"""The ``bp`` command: one subcommand per module of this package, registered here.

What this package is for: parsing the command line, printing, and exit
statuses. Each subcommand lives in its own module with a
``register(subparsers)`` function that adds its parser and sets
``run(args, parser) -> exit status``:

- ``bp check`` (:mod:`bp_autodiff.cli.check`): the main job, the hand
  derivation audited on many random networks;
- ``bp audit MODULE:FUNCTION`` (:mod:`bp_autodiff.cli.audit`): audit your own
  backward pass;
- ``bp demo`` (:mod:`bp_autodiff.cli.demo`);
- ``bp explain`` (:mod:`bp_autodiff.cli.explain`);
- ``bp init-stats`` (:mod:`bp_autodiff.cli.init_stats`);
- ``bp train``, ``bp predict`` (:mod:`bp_autodiff.cli.train`).

:func:`main` is the one entry point: it parses, checks the output files and
optional modules of the command (:mod:`bp_autodiff.cli.outputs`), runs it, and
turns the two ordinary ways a shell ends a command into an exit status
instead of a traceback:

- the reader of the output went away (``bp explain | head``): ``bp`` stops
  quietly with status 141 (128 + SIGPIPE, what a shell reports for a command
  that a broken pipe ends);
- Ctrl-C: one line, ``bp <command>: interrupted``, and status 130 (128 + SIGINT).

Usage errors exit with status 2 (``bp <command>: error: <flag>: <what>``, see
:mod:`bp_autodiff.cli.args`).

What it is not for: any computation; the commands call the library
(:mod:`bp_manual`, :mod:`bp_autodiff.auditor`, :mod:`bp_autodiff.witness`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from bp_autodiff.cli import audit, check, demo, explain, init_stats, train
from bp_autodiff.cli.args import Parser
from bp_autodiff.cli.outputs import check_before_work

COMMANDS = (check, audit, demo, explain, init_stats, train)

#: exit status when the reader of the output went away (128 + SIGPIPE)
EXIT_BROKEN_PIPE = 141
#: exit status after Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 130


def version() -> str:
    """The installed version of the project (``bp-reference``), or ``unknown`` when it is run from a source tree."""
    try:
        return metadata.version("bp-reference")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``bp`` argument parser with every subcommand registered.

    Each subcommand's parser is stored in its defaults as ``command_parser``,
    so that its checks report ``bp <command>: error: ...``.
    """
    parser = Parser(prog="bp", description="Backpropagation, derived by hand and checked by JAX.")
    parser.add_argument("--version", action="version", version=f"bp {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    for command_parser in sub.choices.values():
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def _silence_broken_streams() -> None:
    """Point stdout and stderr at /dev/null, so that Python's final flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # not a real file (captured in a test)
            os.dup2(devnull, stream.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bp``; returns the exit status.

    0 success, 1 the command found something (a wrong gradient, a failed
    check, a diverged training), 2 a usage error (raised as ``SystemExit(2)``
    by argparse), 130 after Ctrl-C, 141 when the output pipe was closed.
    """
    name = "bp"
    try:
        args = build_parser().parse_args(argv)
        command_parser: argparse.ArgumentParser = args.command_parser
        name = command_parser.prog
        check_before_work(args, command_parser)
        status: int = args.run(args, command_parser)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
        return status
    except BrokenPipeError:
        _silence_broken_streams()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted" if sys.stderr.isatty() else f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
