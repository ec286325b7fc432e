"""Arguments shared by the ``bp`` subcommands.

What this module is for: parsing a command-line value once, the same way in
every subcommand, with an ``argparse.ArgumentTypeError`` that argparse turns
into ``bp <command>: error: argument --sizes: ...`` and exit status 2.

What it is not for: checking that the value fits anything else (a dataset's
width, a valid activation/loss pair): the commands do that after parsing.
"""

from __future__ import annotations

import argparse


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
    """``--sizes`` (``required`` unless told), ``--hidden``, ``--output``, ``--loss``, ``--bias/--no-bias``."""
    p.add_argument("--sizes", type=layer_sizes, required=required, help="layer widths n_0,n_1,...,n_L, e.g. 784,32,64")
    p.add_argument("--hidden", default="sigmoid", help="hidden activation (default sigmoid)")
    p.add_argument("--output", default="identity", help="output activation (default identity)")
    p.add_argument("--loss", default="mse", help="loss (default mse)")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True, help="biases (default on)")
