"""``bp explain``: the equations of one architecture with every shape, and a trace that runs them.

What this module is for: the command. Without ``--trace`` it prints the
equations of :func:`bp_manual.explain.equations` (forward, loss, backward,
gradients, update) with the concrete shape of every term; with ``--trace`` it
also prints :func:`bp_autodiff.auditor.trace.trace`: one step on seeded random
data, every intermediate from the hand derivation and from JAX side by side.
``--json`` gives both as JSON. ``--layer NAME`` prints one layer of
:mod:`bp_manual.layers` instead (:mod:`bp_manual.layers.explain`), its shapes
in symbols, or in numbers with ``--dims``.

What it is not for: the equations (:mod:`bp_manual.explain`,
:mod:`bp_manual.layers.explain`) or the trace (:mod:`bp_autodiff.auditor.trace`) themselves.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bp_autodiff.cli.args import (
    Parser,
    add_spec_arguments,
    dimensions,
    non_negative_int,
    positive_int,
    spec_from_args,
    usage_error,
)
from bp_manual.explain import equations, render, to_dict
from bp_manual.initializers import INITIALIZERS
from bp_manual.layers import explain as layer_explain


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp explain`` to the ``bp`` parser."""
    p = sub.add_parser(
        "explain",
        help="the forward and backward equations of an architecture with every shape; --trace runs them",
        description="Print the equations of one SGD step with the shape of every term. "
        "--trace runs one step on seeded random data and shows bp_manual and JAX side by side.",
    )
    add_spec_arguments(p, required=False)
    p.add_argument(
        "--layer",
        choices=sorted(layer_explain.TABLE),
        help="one layer of bp_manual.layers instead of a network (no --sizes then)",
    )
    p.add_argument("--dims", type=dimensions, help="with --layer: sizes instead of symbols, e.g. N=2,H=8")
    p.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="batch size N (default: symbolic N; 4 for --trace)",  # tests/test_packaging.py: = TRACE_BATCH
    )
    p.add_argument("--trace", action="store_true", help="run one step and compare every intermediate with JAX")
    p.add_argument(
        "--init",
        choices=sorted(INITIALIZERS),
        default="xavier_normal",
        help="init scheme for --trace (default xavier_normal)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed for --trace (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--full", action="store_true", help="with --trace --json: include every array in full")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.layer is not None:
        return _run_layer(args, parser)
    if args.dims is not None:
        usage_error(parser, "--dims", "needs --layer")
    if args.sizes is None:
        usage_error(parser, "--sizes", "required (or --layer NAME for one layer)")
    spec = spec_from_args(args, parser)
    result = None
    if args.trace:  # the trace runs JAX: imported only here, so that explaining alone starts without it
        from bp_autodiff.auditor.trace import TRACE_BATCH, trace

        batch = args.batch if args.batch is not None else TRACE_BATCH
        result = trace(spec, batch, args.init, args.seed)
    else:
        batch = args.batch
    eqs = equations(spec, batch)
    if args.json:
        out: dict[str, Any] = to_dict(spec, eqs)
        if result is not None:
            out["trace"] = result.to_dict(args.full)
        print(json.dumps(out, indent=1))
    else:
        print(render(spec, eqs))
        if result is not None:
            print()
            print(result.render())
    return 0 if result is None or result.ok else 1


def _run_layer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``bp explain --layer NAME [--dims ...] [--json]``: one layer's equations and shapes."""
    if args.sizes is not None or args.trace:
        parser.error(
            f"--layer: explains one layer; {'--sizes' if args.sizes is not None else '--trace'} is for networks"
        )
    try:
        layer_explain.sizes(args.layer, args.dims)
    except (TypeError, ValueError) as exc:
        parser.error(f"--dims: {exc}")
    if args.json:
        print(json.dumps(layer_explain.to_dict(args.layer, args.dims), indent=1))
    else:
        print(layer_explain.render(args.layer, args.dims))
    return 0
