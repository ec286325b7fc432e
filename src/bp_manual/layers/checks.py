"""Argument checks shared by every layer of :mod:`bp_manual.layers`.

What this module is for: refusing bad input to a layer's forward with a
``TypeError``/``ValueError`` that names the argument, before any work is done,
in one wording for every layer. Arrays of another array-API library (JAX arrays,
and tracers under ``jax.jit``) are checked by shape and dtype only: their values
are not read, so the layers still trace.

The scalar checks (``positive_int``, ``nonnegative_int``, ``probability``,
``positive``) are :mod:`bp_manual.scalars`', re-exported here for the layers.

What it is not for: the dense network's validation (:mod:`bp_manual.validation`),
or checking anything inside a backward pass (a backward trusts its cache).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_manual.namespace import is_numpy
from bp_manual.scalars import finite, integer, nonnegative_int, positive, positive_int, probability

__all__ = [
    "axis_index",
    "bool_array",
    "check_ndim",
    "check_shape",
    "finite",
    "float_array",
    "index_array",
    "integer",
    "nonnegative_int",
    "positive",
    "positive_int",
    "probability",
    "same_dtype",
    "window_fits",
]


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


def same_dtype(**arrays: Any) -> None:
    """Raise ``TypeError`` unless every array has the same floating dtype (float32 and float64 do not mix)."""
    dtypes = {name: np.dtype(a.dtype) for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise TypeError(f"inputs must share one floating dtype, got {listed}")


def axis_index(name: str, value: object, ndim: int) -> int:
    """``value`` as an axis of an array with ``ndim`` dimensions, in ``[0, ndim)``; negative counts from the end.

    Raises:
        TypeError: ``value`` is not an int (``bool`` included).
        ValueError: ``value`` lies outside ``[-ndim, ndim)``.
    """
    index = integer(name, value)
    if not -ndim <= index < ndim:
        raise ValueError(f"{name} must lie in [{-ndim}, {ndim}) for an array with {ndim} dimensions, got {index}")
    return index % ndim


def index_array(name: str, x: object, size: int, what: str = "", *, ndim: int | tuple[int, ...] | None = None) -> Any:
    """``x`` as an integer array whose values lie in ``[0, size)`` (class labels, embedding indices).

    ``what`` says what is indexed (``"rows of E"``), for the message. NumPy inputs
    (arrays, lists) are converted with ``np.asarray`` and their values checked;
    arrays of another array-API library (JAX arrays, tracers) are checked by
    dtype and ``ndim`` only (their values are not read, so a layer still traces
    under ``jax.jit``). Negative indices are refused, not wrapped around.

    Raises:
        TypeError: ``x`` is not an integer array (floats and booleans included,
            even when they hold whole numbers: an index is an integer).
        ValueError: ``x`` has the wrong number of dimensions, or (NumPy inputs) a
            value below 0 or at least ``size``; the message gives the first such
            value and where it is.
    """
    arr: Any = x
    if is_numpy(x):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be an integer array, got {type(x).__name__}: {e}") from None
    dtype = getattr(arr, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {dtype}")
    check_ndim(name, arr, ndim)
    if is_numpy(arr) and arr.size:
        bad = np.argwhere((arr < 0) | (arr >= size))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            of = f" ({what})" if what else ""
            raise ValueError(f"{name} must lie in [0, {size}){of}, got {arr[where]} at index {where}")
    return arr


def bool_array(name: str, x: object) -> Any:
    """``x`` as a boolean array (a mask); ``TypeError`` for any other dtype (0/1 integers or floats included).

    NumPy inputs (arrays, lists) are converted with ``np.asarray``; arrays of
    another array-API library are checked by dtype only.
    """
    arr: Any = np.asarray(x) if is_numpy(x) else x
    dtype = getattr(arr, "dtype", None)
    if dtype is None or np.dtype(dtype).kind != "b":
        raise TypeError(f"{name} must be a boolean array, got dtype {dtype}")
    return arr


def window_fits(name: str, window: tuple[int, ...], size: tuple[int, ...], what: str = "the input") -> None:
    """Raise ``ValueError`` unless the sliding ``window`` fits inside ``size`` on every axis.

    ``name`` is the argument that sets the window (a convolution's ``w``, a
    pool's ``kernel_size``); ``what`` names ``size`` (``"the padded input"``).
    """
    if any(k > n for k, n in zip(window, size, strict=True)):
        raise ValueError(f"{name}: the window {tuple(window)} is larger than {what} {tuple(size)}")
