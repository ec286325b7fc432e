"""``bp init-stats``: the command for :mod:`bp_manual.init_stats` (per-layer statistics under several inits).

What this module is for: the arguments, the table on stdout and the optional
figure; exit status 1 when a statistic is not finite.

What it is not for: the experiment itself (:mod:`bp_manual.init_stats`, NumPy only).
"""

from __future__ import annotations

import argparse
import math

from bp_autodiff.cli import blas
from bp_autodiff.cli.args import Parser, non_negative_int, positive_int, usage_error
from bp_autodiff.cli.outputs import add_output_argument
from bp_manual.activations import HIDDEN
from bp_manual.init_stats import DEFAULT_INITS, compare, parse_inits, plot, render


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp init-stats`` to the ``bp`` parser."""
    p = sub.add_parser(
        "init-stats",
        help="per-layer activation and gradient statistics of a deep network under several init schemes",
        description="Run a deep square network forward and backward once under each init scheme and print, "
        "per hidden layer, the activation mean and std, the saturated fraction and the gradient std.",
    )
    p.add_argument("--depth", type=positive_int, default=10, help="hidden layers (default 10)")
    p.add_argument("--width", type=positive_int, default=256, help="units per layer (default 256)")
    p.add_argument("--activation", choices=sorted(HIDDEN), default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--batch", type=positive_int, default=512, help="samples (default 512)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--init", default=DEFAULT_INITS, help=f"comma-separated schemes (default {DEFAULT_INITS})")
    blas.add_threads_argument(p)
    add_output_argument(
        p, "--png", suffix=".png", needs="matplotlib", help="also write the figure to this .png file (needs matplotlib)"
    )
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        inits = parse_inits(args.init)
    except ValueError as exc:
        usage_error(parser, "--init", str(exc).removeprefix("text: "))  # the library names its argument
    with blas.limited(blas.threads_for(args, (args.width,) * (args.depth + 1), args.batch)):
        results = compare(
            inits, depth=args.depth, width=args.width, activation=args.activation, batch=args.batch, seed=args.seed
        )
    print(render(results))
    if args.png is not None:
        print(f"\nwrote {plot(results, args.png)}")
    if not all(math.isfinite(s.std_A) and math.isfinite(s.std_delta) for r in results for s in r.layers):
        return 1
    return 0
