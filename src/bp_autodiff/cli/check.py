"""``bp check``: the command of the project's main job (the engine is :mod:`bp_autodiff.auditor.check`).

What this module is for: the arguments, a progress bar on stderr, and the
table or JSON on stdout; exit status 1 on any finding.

What it is not for: the checking itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

import numpy as np

from bp_autodiff.cli.args import Parser, non_negative_int, positive_int
from bp_manual import HIDDEN


def progress_bar(stream: TextIO) -> Callable[[int, int, str], None]:
    """A one-line progress bar on ``stream``, redrawn in place (one line per 10% when not a terminal)."""

    tty = stream.isatty()
    last = [-1]

    def show(done: int, total: int, label: str) -> None:
        width = 30
        filled = width * done // total
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<40}"
        if tty:
            stream.write(f"\r{bar}" + ("\n" if done == total else ""))
        elif 10 * done // total > last[0]:  # not a terminal (a log): one line per 10%
            last[0] = 10 * done // total
            stream.write(bar.rstrip() + "\n")
        stream.flush()

    return show


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp check`` to the ``bp`` parser."""
    p = sub.add_parser(
        "check",
        help="check the hand-derived gradients against JAX and finite differences on many random networks",
        description=(
            "Audit bp_manual's backward pass on random architectures x every init scheme x every hidden "
            "activation x every output/loss pair, against JAX and float64 central finite differences. "
            "Exit status 1 if any gradient disagrees."
        ),
    )
    p.add_argument(
        "--examples", type=positive_int, default=3, help="random architectures per activation and loss pair (default 3)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    p.add_argument(
        "--hidden",
        action="append",
        choices=sorted(HIDDEN),
        default=None,
        help="only this hidden activation (repeatable; default all)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    print(
        "bp check: bp_manual's gradients vs JAX and finite differences, every activation x loss x init",
        file=sys.stderr,
    )
    from bp_autodiff.auditor.check import check  # imports JAX: only when bp check runs, not with every bp command

    result = check(args.examples, args.seed, np.dtype(args.dtype).type, progress_bar(sys.stderr), hidden=args.hidden)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.render())
    return 0 if result.ok else 1
