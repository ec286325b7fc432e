"""Input checks shared by every public entry point, on both sides.

What this module is for: turning what a user passes (lists, 1-D samples,
integer labels) into the arrays the kernels expect, or refusing it with a
``TypeError``/``ValueError`` that names the argument. Nothing here computes a
gradient, and nothing here modifies its inputs.

Conventions (the same on both sides):

- The computation dtype is the params' dtype (float32 or float64, the same for
  every array). ``X`` and ``Y`` are converted to it; integer and boolean
  inputs are accepted and converted, strings and objects are refused.
- ``X`` is ``(N, n_in)`` with ``N >= 1``; a 1-D ``X`` of length ``n_in`` is one sample.
- ``Y`` is ``(N, n_out)``. Also accepted: a 1-D ``Y`` of length ``n_out`` when
  ``N = 1``; a 1-D ``Y`` of length ``N`` when ``n_out = 1``; for
  ``cross_entropy``, integer class labels ``(N,)`` in ``[0, n_out)``, turned
  into one-hot rows.
- ``cross_entropy`` targets are rows of non-negative numbers summing to 1
  (one-hot or probabilities); ``binary_cross_entropy`` targets lie in [0, 1].
- ``X``, ``Y`` and every params array must be finite (NaN or inf is refused).

Arrays of another array-API library (JAX arrays, and JAX tracers under
``jax.jit``) get the shape and dtype checks, which need no values, and are
converted with their own ``astype``; the checks on values (finiteness, label
and target ranges) run on NumPy inputs only, since a traced array has no
values to check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import DTYPES, ParamsLike
from bp_manual.namespace import is_numpy, namespace
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


def check_spec(spec: object) -> NetworkSpec:
    """``spec`` itself, or ``TypeError`` if it is not a ``NetworkSpec``."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    return spec


def check_params(spec: NetworkSpec, params: object, name: str = "params") -> np.dtype[np.floating]:
    """Check ``params`` against ``spec`` and return their common dtype.

    ``params`` must be a list (or tuple) of ``spec.n_layers`` dicts with keys
    exactly ``{"W", "b"}`` (``{"W"}`` without bias), ``W_l`` of shape
    ``(sizes[l], sizes[l-1])``, ``b_l`` of shape ``(sizes[l],)``, all NumPy
    (or array-like with ``shape``/``dtype``) arrays of one dtype, float32 or float64.
    """
    if not isinstance(params, list | tuple):
        raise TypeError(f"{name} must be a list of per-layer dicts, got {type(params).__name__}")
    if len(params) != spec.n_layers:
        raise ValueError(f"{name} has {len(params)} layers, spec {spec.sizes} has {spec.n_layers}")
    keys = {"W", "b"} if spec.bias else {"W"}
    dtypes = set()
    for i, (layer, w_shape) in enumerate(zip(params, spec.weight_shapes, strict=True)):
        where = f"{name}[{i}]"
        if not isinstance(layer, dict):
            raise TypeError(f"{where} must be a dict with keys {sorted(keys)}, got {type(layer).__name__}")
        if set(layer) != keys:
            raise ValueError(f"{where} has keys {sorted(layer)}, expected {sorted(keys)} (bias={spec.bias})")
        for key, shape in (("W", w_shape), ("b", w_shape[:1])):
            if key not in keys:
                continue
            arr = layer[key]
            if not (hasattr(arr, "shape") and hasattr(arr, "dtype")):
                raise TypeError(f"{where}[{key!r}] must be an array, got {type(arr).__name__}")
            if tuple(arr.shape) != shape:
                raise ValueError(f"{where}[{key!r}] has shape {tuple(arr.shape)}, expected {shape}")
            dtypes.add(np.dtype(arr.dtype))
            if np.dtype(arr.dtype).kind == "f" and is_numpy(arr):
                _finite(f"{where}[{key!r}]", np.asarray(arr))
    if len(dtypes) != 1:
        raise TypeError(f"{name} mix dtypes {sorted(str(d) for d in dtypes)}; use one of float32, float64")
    (dtype,) = dtypes
    if dtype not in DTYPES:
        raise TypeError(f"{name} have dtype {dtype}; expected float32 or float64")
    return dtype


def _numeric(name: str, value: object) -> NDArray[Any]:
    if not is_numpy(value):  # an array-API array (e.g. JAX): keep it in its own library
        arr: Any = value
        if np.dtype(arr.dtype).kind not in "biuf":
            raise TypeError(f"{name} must be numeric (bool, int or float), got dtype {arr.dtype}")
        return arr
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} is not a rectangular array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric (bool, int or float), got dtype {arr.dtype}")
    return arr


def _finite(name: str, arr: NDArray[Any]) -> None:
    """Raise ``ValueError`` naming ``name`` and the first bad index if ``arr`` has NaN or inf.

    The fast path is one reduction with no temporary array: a sum is finite
    exactly when every term is finite, unless finite terms overflow it (values
    near the dtype's maximum); only then, or when it is not finite, is the
    element-wise check run, which also finds the index for the message.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if np.isfinite(total):
        return
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad[0])})")


def as_inputs(spec: NetworkSpec, X: object, dtype: np.dtype[np.floating]) -> Array:
    """``X`` as a finite ``(N, n_in)`` array of ``dtype``; a 1-D ``X`` is one sample."""
    arr = _numeric("X", X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, {spec.n_in}) or 1-D (one sample), got shape {arr.shape}")
    if arr.shape[1] != spec.n_in:
        raise ValueError(f"X has {arr.shape[1]} features, spec expects n_in = {spec.n_in}")
    if arr.shape[0] == 0:
        raise ValueError("X has 0 samples; at least 1 is needed")
    out = arr.astype(dtype, copy=False)
    if is_numpy(out):
        _finite("X", out)
    return out


def as_targets(spec: NetworkSpec, Y: object, n_samples: int, dtype: np.dtype[np.floating]) -> Array:
    """``Y`` as a checked ``(n_samples, n_out)`` array of ``dtype`` (labels -> one-hot).

    See the module docstring for the accepted forms and the checks per loss.
    """
    arr = _numeric("Y", Y)
    n_out = spec.n_out
    if spec.loss == "cross_entropy" and arr.dtype.kind in "iu" and arr.ndim <= 1:
        labels = arr.reshape(-1)
        if labels.shape[0] != n_samples:
            raise ValueError(f"Y has {labels.shape[0]} labels for {n_samples} samples of X")
        if is_numpy(labels) and (labels.min() < 0 or labels.max() >= n_out):
            raise ValueError(f"Y labels must lie in [0, {n_out}), got min {labels.min()}, max {labels.max()}")
        xp = namespace(labels)
        return (labels.reshape(-1, 1) == xp.arange(n_out)).astype(dtype)  # one-hot rows
    if spec.loss == "cross_entropy" and arr.ndim <= 1 and not (arr.ndim == 1 and n_samples == 1 and arr.size == n_out):
        raise TypeError(
            f"Y for cross_entropy: class labels must have an integer dtype, got {arr.dtype}; "
            f"or give one-hot rows of shape (n_samples, {n_out})"
        )
    if arr.ndim == 1 and n_samples == 1 and arr.shape[0] == n_out:
        arr = arr.reshape(1, n_out)
    elif arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"Y must be 2-D (n_samples, {n_out}), got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"Y has {arr.shape[0]} samples, X has {n_samples}")
    if arr.shape[1] != n_out:
        raise ValueError(f"Y has {arr.shape[1]} columns, spec expects n_out = {n_out}")
    out = arr.astype(dtype, copy=False)
    if not is_numpy(out):
        return out
    _finite("Y", out)
    if spec.loss == "cross_entropy":
        row_sums = out.sum(axis=1, dtype=np.float64)
        tol = 4 * n_out * np.finfo(dtype).eps
        if np.any(out < 0) or np.any(np.abs(row_sums - 1) > tol):
            raise ValueError(
                "Y for cross_entropy must be integer labels (n_samples,) or rows of "
                "non-negative numbers summing to 1 (one-hot or probabilities)"
            )
    elif spec.loss == "binary_cross_entropy" and (np.any(out < 0) or np.any(out > 1)):
        raise ValueError("Y for binary_cross_entropy must lie in [0, 1]")
    return out


def prepare_batch(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Array, Array]:
    """Check ``spec`` and ``params``; return ``X (N, n_in)`` and ``Y (N, n_out)`` in the params' dtype."""
    check_spec(spec)
    dtype = check_params(spec, params)
    X_ = as_inputs(spec, X, dtype)
    return X_, as_targets(spec, Y, X_.shape[0], dtype)


def check_lr(lr: object) -> float:
    """A learning rate: a finite real number > 0, else ``TypeError``/``ValueError``."""
    if isinstance(lr, bool) or not isinstance(lr, int | float | np.integer | np.floating):
        raise TypeError(f"lr must be a real number, got {type(lr).__name__}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    return float(lr)


def check_grads(params: ParamsLike, grads: object) -> None:
    """``grads`` must have the structure, shapes and dtypes of ``params``."""
    if not isinstance(grads, list | tuple) or len(grads) != len(params):
        raise ValueError(f"grads must be a list of {len(params)} per-layer dicts like params")
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if not isinstance(g, dict) or set(g) != set(p):
            raise ValueError(f"grads[{i}] must be a dict with keys {sorted(p)}")
        for key in p:
            if getattr(g[key], "shape", None) != p[key].shape:
                raise ValueError(
                    f"grads[{i}][{key!r}] has shape {getattr(g[key], 'shape', None)}, expected {p[key].shape}"
                )
