"""``--threads N|auto``: how many BLAS threads the NumPy products of a command may use.

What this module is for: the option, shared by ``bp train`` and ``bp
init-stats``, and applying it with ``threadpoolctl`` around the work. ``auto``
(the default) asks :func:`bp_manual.train.blas_threads`: one thread unless a
product of the batch and the widest layer exceeds ``2**30`` multiply-adds,
because on small products starting threads costs more than it saves, and a
thread that waits for a busy core stalls every product (docs/training.md
has the measurements).

What it is not for: JAX, whose XLA runtime keeps its own threads.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from bp_autodiff.cli.args import Parser, positive_int
from bp_manual.train import blas_threads


def threads_arg(text: str) -> int | str:
    """``--threads``: ``auto`` or an integer >= 1.

    Raises:
        argparse.ArgumentTypeError: anything else.
    """
    return "auto" if text == "auto" else positive_int(text)


def add_threads_argument(p: Parser) -> None:
    """Add ``--threads N|auto`` (default ``auto``) to ``p``."""
    p.add_argument(
        "--threads",
        type=threads_arg,
        default="auto",
        help="BLAS threads for the NumPy products: N, or auto (default): 1 unless a product of the widest layer "
        "and the batch exceeds 2**30 multiply-adds, then BLAS's default",
    )


def threads_for(args: argparse.Namespace, sizes: tuple[int, ...], batch_size: int) -> int | None:
    """The number of BLAS threads ``--threads`` asks for (None: BLAS's default)."""
    return blas_threads(sizes, batch_size) if args.threads == "auto" else int(args.threads)


def describe(args: argparse.Namespace, threads: int | None) -> str:
    """``BLAS threads 1 (auto)``, ``BLAS threads 2``, ``BLAS threads default (auto)``: for the progress line."""
    return f"BLAS threads {threads or 'default'}{' (auto)' if args.threads == 'auto' else ''}"


@contextlib.contextmanager
def limited(threads: int | None) -> Iterator[None]:
    """BLAS limited to ``threads`` threads inside the block (None: BLAS's own default)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
