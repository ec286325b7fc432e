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

What it is not for: any computation; the commands call the library
(:mod:`bp_manual`, :mod:`bp_autodiff.auditor`, :mod:`bp_autodiff.witness`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bp_autodiff.cli import audit, check, demo, explain, init_stats, train

COMMANDS = (check, audit, demo, explain, init_stats, train)


def build_parser() -> argparse.ArgumentParser:
    """The ``bp`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="bp", description="Backpropagation, derived by hand and checked by JAX.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bp``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.run(args, parser)
    return status
