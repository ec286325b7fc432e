"""Arguments shared by the ``bp`` subcommands, and the one format of a usage error.

What this module is for: parsing a command-line value once, the same way in
every subcommand, and reporting every usage error in one format,

    bp <command>: error: <flag>: <what>

on standard error with exit status 2, before any work is done (the
command's usage line comes first, as argparse prints it). Values are checked
while parsing by the type functions below (``--lr``, ``--momentum``,
``--epochs``, ...); a check that needs two values, or a data set, calls
:func:`usage_error` on the subcommand's parser with the flag the user typed.

What it is not for: output files and optional dependencies
(:mod:`bp_autodiff.cli.outputs`), or the computation.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

from bp_manual import HIDDEN, LOSSES, OUTPUTS, NetworkSpec


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors read ``bp <command>: error: <flag>: <what>``.

    argparse words its own errors ``argument --flag: ...``; this class drops
    the word ``argument`` so that its errors and the commands' own checks
    (:func:`usage_error`) share one format. The output files a subcommand
    writes are listed in ``outputs`` (see :mod:`bp_autodiff.cli.outputs`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outputs: list[Any] = []

    def error(self, message: str) -> NoReturn:
        """Print the usage and ``<prog>: error: <message>`` to stderr, exit with status 2."""
        super().error(message.removeprefix("argument "))


def usage_error(parser: argparse.ArgumentParser, flag: str, what: str) -> NoReturn:
    """Exit with ``bp <command>: error: <flag>: <what>`` and status 2 (``parser`` is the subcommand's)."""
    parser.error(f"{flag}: {what}")


def _number(text: str, kind: Callable[[str], float | int], what: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (``--epochs``, ``--batch-size``, ``--examples``, ...).

    Raises:
        argparse.ArgumentTypeError: anything else (argparse names the flag).
    """
    value = int(_number(text, int, "an integer >= 1"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``--seed``, ``--pretrain-epochs``).

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    value = int(_number(text, int, "an integer >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``--lr``).

    Raises:
        argparse.ArgumentTypeError: zero, negative, NaN, inf or not a number.
    """
    value = float(_number(text, float, "a finite number > 0"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (``--weight-decay``).

    Raises:
        argparse.ArgumentTypeError: negative, NaN, inf or not a number.
    """
    value = float(_number(text, float, "a finite number >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def open_fraction(text: str) -> float:
    """A number in (0, 1) (``--test-size``).

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    value = float(_number(text, float, "a number in (0, 1)"))
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1), got {text!r}")
    return value


def momentum(text: str) -> float:
    """A number in [0, 1) (``--momentum``, the beta of momentum and Nesterov).

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    value = float(_number(text, float, "a number in [0, 1)"))
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text!r}")
    return value


def layer_sizes(text: str) -> tuple[int, ...]:
    """``--sizes``: ``"784,32,64"`` -> ``(784, 32, 64)``, at least two positive integers.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse names ``--sizes``).
    """
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers like 784,32,64, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"needs at least 2 positive integers, got {text!r}")
    return sizes


def dimensions(text: str) -> dict[str, int]:
    """``--dims``: ``"N=2,C=3"`` -> ``{"N": 2, "C": 3}``, names and integer sizes.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse names ``--dims``).
    """
    out: dict[str, int] = {}
    for part in text.split(","):
        name, eq, value = part.partition("=")
        try:
            if not (eq and name.strip()):
                raise ValueError
            out[name.strip()] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be NAME=INT pairs separated by commas like N=2,H=8, got {text!r}"
            ) from None
    return out


def add_spec_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--sizes``, ``--hidden``, ``--output``, ``--loss``, ``--bias/--no-bias``; see :func:`spec_from_args`."""
    p.add_argument("--sizes", type=layer_sizes, required=required, help="layer widths n_0,n_1,...,n_L, e.g. 784,32,64")
    p.add_argument("--hidden", choices=sorted(HIDDEN), default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--output", choices=sorted(OUTPUTS), default=None, help="output activation (default: the loss's)")
    p.add_argument("--loss", choices=sorted(LOSSES), default="mse", help="loss (default mse)")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True, help="biases (default on)")


def spec_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> NetworkSpec:
    """The ``NetworkSpec`` of ``--sizes --hidden --output --loss --bias``; ``--output`` defaults to the loss's.

    Exits with a usage error naming the flag: ``--output`` for an output
    that does not go with ``--loss``, ``--sizes`` for one softmax unit.
    """
    loss = LOSSES[args.loss]
    output = args.output or loss.output
    if output != loss.output:
        usage_error(
            parser, "--output", f"{output!r} does not go with --loss {args.loss} (which needs --output {loss.output})"
        )
    if output == "softmax" and args.sizes[-1] < 2:
        usage_error(
            parser, "--sizes", "softmax needs at least 2 output units; for two classes use --loss binary_cross_entropy"
        )
    return NetworkSpec(args.sizes, hidden=args.hidden, output=output, loss=args.loss, bias=args.bias)
