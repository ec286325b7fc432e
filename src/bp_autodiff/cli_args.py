"""Argument types shared by the ``bp`` subcommands.

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
