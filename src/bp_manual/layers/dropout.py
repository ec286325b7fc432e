"""Inverted dropout with the mask as an input: ``out = x * mask / (1 - p)``.

What this module is for: dropout in the layer contract. The random mask is an
*input* of the forward, drawn beforehand by :func:`dropout_mask` from an
explicit ``numpy.random.Generator``, so the forward is a pure function: called
twice on the same inputs it gives the same output, a gradient check sees one
fixed function, and the backward uses the very mask the forward used (the
classic failure "dropout fails its gradient check" is a check that draws a new
mask at every call). Scaling the kept units by ``1 / (1 - p)`` at training time
("inverted" dropout, as PyTorch does) keeps ``E[out] = x``, so nothing changes
at evaluation time, where the layer is left out.

What it is not for: evaluation mode (do not call the layer then), or drawing
randomness inside a forward (never).

``p`` is the probability of *dropping* a unit (PyTorch's convention; CS231n's
assignments use ``p`` for the probability of *keeping* one).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bp_manual.layers.checks import bool_array, check_shape, float_array, nonnegative_int, probability


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs: the boolean ``mask`` (the shape of ``x``) and ``p``."""

    mask: Any
    p: float


def dropout_mask(shape: int | tuple[int, ...], p: float, rng: np.random.Generator) -> NDArray[np.bool_]:
    """A dropout mask: ``True`` (keep) with probability ``1 - p``, independently per entry.

    Drawn as ``rng.random(shape) >= p`` from the caller's Generator, which it
    advances; the global ``np.random`` state is never read or changed. ``p = 0``
    keeps everything.

    Args:
        shape: the shape of the ``x`` it will mask, an int or a tuple of ints >= 0.
        p: the drop probability, in ``[0, 1)``.
        rng: a ``numpy.random.Generator`` (``np.random.default_rng(seed)``).

    Returns:
        A boolean array of shape ``shape``.

    Raises:
        TypeError: ``rng`` is not a ``numpy.random.Generator`` (a seed, ``None``
            and the legacy ``RandomState`` included), a non-integer in ``shape``,
            a non-numeric ``p``.
        ValueError: ``p`` outside ``[0, 1)``, a negative size in ``shape``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    p = probability("p", p)
    dims = (shape,) if not isinstance(shape, tuple | list) else tuple(shape)
    size = tuple(nonnegative_int(f"shape[{i}]", d) for i, d in enumerate(dims))
    return rng.random(size) >= p


def dropout_forward(x: Any, mask: Any, p: float) -> tuple[Any, DropoutCache]:
    """``out = x * mask / (1 - p)``: kept units scaled by ``1 / (1 - p)``, dropped units 0.

    Equals ``torch.nn.functional.dropout(x, p, training=True)`` for the mask
    that call drew (Srivastava et al., "Dropout", JMLR 2014, with the scaling
    moved to training time; CS231n's ``dropout_forward`` in train mode).

    Args:
        x: any shape, float32 or float64 (integers become float64).
        mask: a boolean array of ``x``'s shape, ``True`` where the unit is kept
            (from :func:`dropout_mask` with the same ``p``).
        p: the drop probability the mask was drawn with, in ``[0, 1)``. It has no
            default on purpose: a mask drawn at one ``p`` and scaled at another
            gives a wrong expected value without any error.

    Returns:
        ``(out, cache)``, ``out`` of ``x``'s shape and dtype.

    Raises:
        TypeError: ``x`` not numeric, ``mask`` not boolean, ``p`` not a number.
        ValueError: ``mask`` not of ``x``'s shape, ``p`` outside ``[0, 1)``, NaN or
            inf in a NumPy ``x``.
    """
    x = float_array("x", x)
    mask = bool_array("mask", mask)
    check_shape("mask", mask, tuple(x.shape), "the shape of x")
    p = probability("p", p)
    return x * mask / (1.0 - p), DropoutCache(mask, p)


def dropout_backward(dout: Any, cache: DropoutCache) -> tuple[Any, None]:
    """``(dx, None)`` with ``dx = dout * mask / (1 - p)``; the mask has no gradient.

    The forward is linear in ``x`` with a diagonal Jacobian ``mask / (1 - p)``,
    so the backward applies the same mask and the same scale to ``dout``:
    dropped units get no gradient, kept ones get ``dout / (1 - p)``.
    """
    mask, p = cache
    return dout * mask / (1.0 - p), None
