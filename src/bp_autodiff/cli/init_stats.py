"""``bp init-stats``: the command for :mod:`bp_manual.init_stats` (per-layer statistics under several inits).

What this module is for: the arguments, the table on stdout and the optional
figure; exit status 1 when a statistic is not finite.

What it is not for: the experiment itself (:mod:`bp_manual.init_stats`, NumPy only).
"""

from __future__ import annotations

import argparse
import math

from bp_manual.activations import HIDDEN
from bp_manual.init_stats import DEFAULT_INITS, compare, parse_inits, plot, render


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bp init-stats`` to the ``bp`` parser."""
    p = sub.add_parser(
        "init-stats",
        help="per-layer activation and gradient statistics of a deep network under several init schemes",
        description="Run a deep square network forward and backward once under each init scheme and print, "
        "per hidden layer, the activation mean and std, the saturated fraction and the gradient std.",
    )
    p.add_argument("--depth", type=int, default=10, help="hidden layers (default 10)")
    p.add_argument("--width", type=int, default=256, help="units per layer (default 256)")
    p.add_argument("--activation", default="tanh", help=f"hidden activation, one of {sorted(HIDDEN)} (default tanh)")
    p.add_argument("--batch", type=int, default=512, help="samples (default 512)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--init", default=DEFAULT_INITS, help=f"comma-separated schemes (default {DEFAULT_INITS})")
    p.add_argument("--png", default=None, help="also write the figure to this PNG file (needs matplotlib)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for name in ("depth", "width", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    if args.activation not in HIDDEN:
        parser.error(f"unknown --activation {args.activation!r}; expected one of {sorted(HIDDEN)}")
    try:
        inits = parse_inits(args.init)
    except ValueError as exc:
        parser.error(str(exc))
    results = compare(
        inits, depth=args.depth, width=args.width, activation=args.activation, batch=args.batch, seed=args.seed
    )
    print(render(results))
    if args.png is not None:
        try:
            print(f"\nwrote {plot(results, args.png)}")
        except ImportError as exc:
            parser.error(str(exc))
    if not all(math.isfinite(s.std_A) and math.isfinite(s.std_delta) for r in results for s in r.layers):
        return 1
    return 0
