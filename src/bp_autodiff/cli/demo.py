"""``bp demo``: the seed's network trained a few updates, checked against JAX.

What this module is for: the Quickstart's first run. It trains the seed's
784-32-64 ``BPNetwork`` for a few updates on one random sample, next to the
seed's code as published, and prints the loss of both and the agreement of the
hand-derived gradients with JAX's. The command exits with status 0 only if the
corrected loss went down at every update and every gradient matched JAX to
1e-9 relative (float64).

What it is not for: library use; call the Python API instead.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

import bp_autodiff
import bp_manual
from bp_autodiff.auditor.tolerance import params_difference
from bp_autodiff.cli.args import Parser, non_negative_int, positive_float, positive_int
from bp_manual.seed_published import PublishedBPNetwork

#: The demo's agreement bar, float64: see tests/tolerances.py for the derivation.
DEMO_RTOL = 1e-9


def demo(steps: int = 5, lr: float = 0.01, seed: int = 0) -> int:
    """Print the demo table; return the exit status (0 when both checks hold)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, 784)  # one "image", pixels in [0, 1)
    y = rng.normal(0.0, 1.0, 64)  # one regression target
    net = bp_manual.BPNetwork(784, 32, 64, lr, seed=seed)
    published = PublishedBPNetwork(784, 32, 64, lr)
    published.w_in2hid = net.w_in2hid.copy()  # the same starting point
    published.w_hid2out = net.w_hid2out.copy()
    spec = net.mlp.spec

    print(f"bp demo: the seed's BPNetwork 784-32-64 (sigmoid hidden, identity output), lr {lr},")
    print("one random sample, loss 0.5*||out - target||^2; gradients from bp_manual vs JAX (float64)\n")
    print("(agreement per array: max|manual - JAX| / max|JAX|)\n")
    print(f"{'update':>6}  {'loss, corrected':>16}  {'loss, seed as published':>24}  {'manual vs JAX':>14}")
    losses: list[float] = []
    errors: list[float] = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported below, not warned
        try:
            _train_and_print(steps, net, published, spec, x, y, losses, errors)
        except bp_manual.DivergedError as exc:
            print(f"bp demo: {exc}", file=sys.stderr)
            return 1
    try:
        published.run(x)
        run_note = "seed's run(): no error"
    except ValueError as exc:
        run_note = f"seed's run(): ValueError: {exc}"
    print(f"\ncorrected run(): shape {net.run(x).shape}; {run_note}")

    descending = all(b < a for a, b in itertools.pairwise(losses))
    agree = max(errors) <= DEMO_RTOL
    print(f"loss went down at every update: {descending}; gradients agree within {DEMO_RTOL:g}: {agree}")
    return 0 if descending and agree else 1


def _train_and_print(
    steps: int,
    net: bp_manual.BPNetwork,
    published: PublishedBPNetwork,
    spec: bp_manual.NetworkSpec,
    x: np.ndarray,
    y: np.ndarray,
    losses: list[float],
    errors: list[float],
) -> None:
    X, Y = x[None, :], y[None, :]
    for k in range(steps + 1):
        loss_m, grads_m = bp_manual.loss_and_grads(spec, net.mlp.params, X, Y)
        _, grads_j = bp_autodiff.loss_and_grads(spec, net.mlp.params, X, Y)
        out_pub = published.w_hid2out @ (1 / (1 + np.exp(-published.w_in2hid @ x)))
        loss_pub = 0.5 * float(np.sum((out_pub - y) ** 2))
        errors.append(params_difference(grads_m, grads_j)[1])
        losses.append(float(loss_m))
        print(f"{k:>6}  {losses[-1]:>16.6g}  {loss_pub:>24.6g}  {errors[-1]:>14.2e}")
        if k < steps:
            net.train(x, y)
            published.train(x, y)


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp demo`` to the ``bp`` parser."""
    p = sub.add_parser(
        "demo",
        help="train the seed's 784-32-64 BPNetwork a few updates, checked against JAX",
        description="Train the seed's 784-32-64 BPNetwork (sigmoid hidden layer, identity output) for a few updates "
        "on one random sample, next to the seed's code as published, and check every gradient against JAX. "
        "Exit status 1 when the loss does not go down at every update or a gradient disagrees.",
    )
    p.add_argument("--steps", type=positive_int, default=5, help="number of updates (default 5)")
    p.add_argument("--lr", type=positive_float, default=0.01, help="learning rate (default 0.01, the seed's)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed for data and weights (default 0)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    return demo(args.steps, args.lr, args.seed)
