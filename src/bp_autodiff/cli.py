"""The ``bp`` command: one subcommand per module, registered here.

What this module is for: parsing the command line and dispatching. Each
subcommand lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``run(args, parser) -> exit status``:

- ``bp check`` (:mod:`bp_autodiff.check`): the main job, the hand derivation
  audited on many random networks;
- ``bp audit MODULE:FUNCTION`` (:mod:`bp_autodiff.audit_command`): audit your
  own backward pass;
- ``bp demo`` (:mod:`bp_autodiff.demo`).
- ``bp explain`` (:mod:`bp_autodiff.explain`).
- ``bp init-stats`` (:mod:`bp_manual.init_stats`, NumPy only).
- ``bp train``, ``bp predict`` (:mod:`bp_autodiff.train_cli`).

What it is not for: any computation.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bp_autodiff import audit_command, check, demo, explain, train_cli
from bp_manual import init_stats

COMMANDS = (check, audit_command, demo, explain, init_stats, train_cli)


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


if __name__ == "__main__":
    sys.exit(main())
