"""Checks of scalar arguments (counts, rates, probabilities), one wording for the whole project.

What this module is for: turning a scalar a user passed into the Python
number the code uses, or refusing it with a ``TypeError`` (not a number of the
right kind; ``bool`` is refused where a number is meant) or a ``ValueError``
(out of range) whose message starts with the argument's name.

What it is not for: arrays (:mod:`bp_manual.validation`, :mod:`bp_manual.layers.checks`).
"""

from __future__ import annotations

import math
import numbers


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` >= 1 (an epoch count, a batch size, a stride)."""
    return nonnegative_int(name, value, low=1)


def integer(name: str, value: object) -> int:
    """``value`` as an ``int``; ``TypeError`` unless it is an integer (``bool`` refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def nonnegative_int(name: str, value: object, low: int = 0) -> int:
    """``value`` as an ``int`` >= ``low`` (default 0: a padding, a seed)."""
    value = integer(name, value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def real(name: str, value: object) -> float:
    """``value`` as a ``float``; ``TypeError`` unless it is a real number (``bool`` refused)."""
    if type(value) is float:  # the common case first: the ABC check below costs about 1 us
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def finite(name: str, value: object) -> float:
    """``value`` as a finite ``float`` of any sign (a slope)."""
    v = real(name, value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def real_in(name: str, value: object, low: float, high: float, *, low_open: bool = False) -> float:
    """``value`` as a finite ``float`` in ``[low, high)`` (``(low, high)`` with ``low_open``)."""
    v = real(name, value)
    if not (math.isfinite(v) and (v > low if low_open else v >= low) and v < high):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return v


def positive(name: str, value: object) -> float:
    """``value`` as a finite ``float`` > 0 (a learning rate, an ``eps``)."""
    v = real(name, value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def probability(name: str, value: object) -> float:
    """``value`` as a ``float`` in ``[0, 1)`` (a dropout rate)."""
    return real_in(name, value, 0.0, 1.0)
