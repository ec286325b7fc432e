"""Argument checks shared by every layer of :mod:`bp_manual.layers`.

What this module is for: refusing bad input to a layer's forward with a
``TypeError``/``ValueError`` that names the argument, before any work is done,
in one wording for every layer. Arrays of another array-API library (JAX arrays,
and tracers under ``jax.jit``) are checked by shape and dtype only: their values
are not read, so the layers still trace.

What it is not for: the dense network's validation (:mod:`bp_manual.validation`),
or checking anything inside a backward pass (a backward trusts its cache).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from bp_manual.namespace import is_numpy


def float_array(name: str, x: object, ndim: int | tuple[int, ...] | None = None, dtype: Any = None) -> Any:
    """``x`` as a floating array (float64 unless it already is float32/float64, or ``dtype`` says).

    NumPy inputs (arrays, lists, numbers) are converted with ``np.asarray``;
    integer and boolean arrays become float64. Arrays of another array-API library
    are returned as they are, after the same dtype and ``ndim`` checks.

    Raises:
        TypeError: ``x`` is not numeric (strings, objects, complex numbers).
        ValueError: ``x`` has the wrong number of dimensions, or (NumPy inputs)
            holds NaN or inf.
    """
    arr: Any
    if is_numpy(x):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}: {e}") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        target = np.dtype(dtype) if dtype is not None else (arr.dtype if arr.dtype.kind == "f" else np.float64)
        if target not in (np.float32, np.float64):
            target = np.dtype(np.float64)
        arr = arr.astype(target, copy=False)
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite; it holds NaN or inf")
    else:
        arr = x
        if getattr(arr, "dtype", None) is None or np.dtype(arr.dtype).kind != "f":
            raise TypeError(f"{name} must be a floating array, got dtype {getattr(arr, 'dtype', None)}")
    check_ndim(name, arr, ndim)
    return arr


def check_ndim(name: str, x: Any, ndim: int | tuple[int, ...] | None) -> None:
    """Raise ``ValueError`` unless ``x.ndim`` is ``ndim`` (or one of them); ``None`` accepts any."""
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")


def check_shape(name: str, x: Any, shape: tuple[int, ...], why: str = "") -> None:
    """Raise ``ValueError`` unless ``x.shape == shape``; ``why`` says where ``shape`` comes from."""
    if tuple(x.shape) != tuple(shape):
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must have shape {tuple(shape)}{reason}, got {tuple(x.shape)}")


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` >= 1; ``TypeError`` for a non-integer (``bool`` included), ``ValueError`` below 1."""
    return nonnegative_int(name, value, low=1)


def nonnegative_int(name: str, value: object, low: int = 0) -> int:
    """``value`` as an ``int`` >= ``low``; ``TypeError`` for a non-integer (``bool`` included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def probability(name: str, value: object) -> float:
    """``value`` as a ``float`` in ``[0, 1)``; ``TypeError`` for a non-number, ``ValueError`` outside."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return float(value)


def positive_float(name: str, value: object) -> float:
    """``value`` as a finite ``float`` > 0 (an ``eps``); ``TypeError`` for a non-number, ``ValueError`` else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not (np.isfinite(float(value)) and float(value) > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def same_dtype(**arrays: Any) -> None:
    """Raise ``TypeError`` unless every array has the same floating dtype (float32 and float64 do not mix)."""
    dtypes = {name: np.dtype(a.dtype) for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise TypeError(f"inputs must share one floating dtype, got {listed}")


def window_fits(name: str, window: tuple[int, ...], size: tuple[int, ...], what: str = "the input") -> None:
    """Raise ``ValueError`` unless the sliding ``window`` fits inside ``size`` on every axis.

    ``name`` is the argument that sets the window (a convolution's ``w``, a
    pool's ``kernel_size``); ``what`` names ``size`` (``"the padded input"``).
    """
    if any(k > n for k, n in zip(window, size, strict=True)):
        raise ValueError(f"{name}: the window {tuple(window)} is larger than {what} {tuple(size)}")
