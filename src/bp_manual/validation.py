"""Input checks shared by every public entry point, on both sides.

What this module is for: turning what a user passes (lists, 1-D samples,
integer labels) into the arrays the kernels expect, or refusing it with a
``TypeError``/``ValueError`` whose message starts with the argument's name.
Nothing here computes a gradient, and nothing here modifies its inputs.

Conventions (the same on both sides):

- The computation dtype is the params' dtype (float32 or float64, the same for
  every array). ``X`` and ``Y`` are converted to it; integer and boolean
  inputs are accepted and converted, strings, objects and complex numbers are
  refused. A float64 value beyond float32's range sent to a float32 network is
  refused rather than turned into inf.
- ``X`` is ``(N, n_in)`` with ``N >= 1``; a 1-D ``X`` of length ``n_in`` is one sample.
- ``Y`` is ``(N, n_out)``. Also accepted: a 1-D ``Y`` of length ``n_out`` when
  ``N = 1``; a 1-D ``Y`` of length ``N`` when ``n_out = 1``; for
  ``cross_entropy``, integer class labels ``(N,)`` in ``[0, n_out)``, turned
  into one-hot rows.
- ``cross_entropy`` targets are rows of non-negative numbers summing to 1
  within ``4 n_out eps`` of the targets' own dtype (float64 for integers);
  ``binary_cross_entropy`` targets lie in [0, 1].
- ``X``, ``Y``, every params array and every gradient array must be finite.

Arrays of another array-API library (JAX arrays) are checked on their values
like NumPy arrays, then kept in their own library for the computation. Under
``jax.jit`` a traced array has no values yet: it gets the shape and dtype
checks only. A JAX array that cannot hold the params' dtype (float64 outside
JAX's 64-bit mode) is refused with a ``TypeError`` that says so.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import DTYPES, ParamsLike
from bp_manual.namespace import is_numpy, namespace
from bp_manual.scalars import positive
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


def check_spec(spec: object) -> NetworkSpec:
    """``spec`` itself, or ``TypeError`` if it is not a ``NetworkSpec``."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    return spec


def _values(arr: Any) -> NDArray[Any] | None:
    """The values of ``arr`` as a NumPy array, or None for a traced array (no values yet)."""
    if type(arr) is np.ndarray:  # the common case first, with no namespace lookup
        return arr
    if is_numpy(arr):
        return np.asarray(arr)
    try:
        return np.asarray(arr)
    except TypeError:  # jax.errors.TracerArrayConversionError under jax.jit
        return None


#: Largest array (in elements) that ``_finite`` checks element-wise: its boolean
#: temporary is at most 1 MiB. Below it the element-wise check is the faster
#: (one core: 9 against 18 us for 128x784 float32, 46 against 77 us for 512x784;
#: about even in float64).
_ELEMENTWISE_MAX = 1 << 20


def _finite(name: str, values: NDArray[Any]) -> None:
    """Raise ``ValueError`` naming ``name`` and the first bad index if ``values`` has NaN or inf.

    Small arrays (one sample, a minibatch) get ``np.isfinite(values).all()``.
    Large ones (a whole training set) get one reduction with no temporary
    array: a sum is finite exactly when every term is finite, unless finite
    terms overflow it (values near the dtype's maximum); only then, or when it
    is not finite, is the element-wise check run, which also finds the index
    for the message. (The sum needs an ``np.errstate`` against that overflow's
    warning, which costs more than the whole check of a small array.)
    """
    if values.dtype.kind != "f":
        return
    if values.size <= _ELEMENTWISE_MAX:
        if np.isfinite(values).all():
            return
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            total = values.sum()
        if np.isfinite(total):
            return
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad[0])})")


def _as_array(name: str, value: object) -> Any:
    """``value`` as a numeric array: NumPy, or the caller's own array-API array kept as is."""
    if type(value) is np.ndarray:  # the common case first (a training step's inputs): nothing to convert
        arr: Any = value
    elif not is_numpy(value):
        if not (hasattr(value, "dtype") and hasattr(value, "shape")):
            raise TypeError(f"{name} must be an array or a nested list of numbers, got {type(value).__name__}")
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} is not a rectangular array: {exc}") from exc
    if np.dtype(arr.dtype).kind not in "biuf":
        raise TypeError(f"{name} must be numeric (bool, int or float), got dtype {arr.dtype}")
    return arr


def _cast(name: str, arr: Any, values: NDArray[Any] | None, dtype: np.dtype[np.floating]) -> Any:
    """``arr`` converted to ``dtype``, refusing values beyond its range and a dtype the library cannot hold."""
    if type(arr) is np.ndarray and arr.dtype == dtype:  # already in the params' dtype: nothing to convert or refuse
        return arr
    if values is not None and values.dtype.kind == "f" and values.dtype.itemsize > dtype.itemsize and values.size:
        largest, limit = float(np.max(np.abs(values))), float(np.finfo(dtype).max)
        if largest > limit:
            raise ValueError(f"{name} has values beyond the {dtype} range ({largest:.3g} > {limit:.3g})")
    if is_numpy(arr):
        return arr.astype(dtype, copy=False)
    with warnings.catch_warnings():  # JAX warns when it truncates float64; the error below says more
        warnings.simplefilter("ignore", UserWarning)
        out = arr.astype(dtype)
    if np.dtype(out.dtype) != dtype:
        raise TypeError(
            f"{name} became {out.dtype} instead of {dtype}: JAX computes in float32 unless 64-bit mode is on; "
            "use `with jax.enable_x64(True):` or pass NumPy arrays"
        )
    return out


def _check_array(where: str, arr: object, shape: tuple[int, ...]) -> np.dtype[Any]:
    if not (hasattr(arr, "shape") and hasattr(arr, "dtype")):
        raise TypeError(f"{where} must be an array, got {type(arr).__name__}")
    if tuple(arr.shape) != shape:
        raise ValueError(f"{where} has shape {tuple(arr.shape)}, expected {shape}")
    return np.dtype(arr.dtype)


def _check_dtype_and_values(
    name: str, arrays: list[tuple[str, Any]], check_values: bool = True
) -> np.dtype[np.floating]:
    dtypes = {np.dtype(arr.dtype) for _, arr in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"{name} mix dtypes {sorted(str(d) for d in dtypes)}; use one of float32, float64")
    (dtype,) = dtypes
    if dtype not in DTYPES:
        raise TypeError(f"{name} have dtype {dtype}; expected float32 or float64")
    for where, arr in arrays if check_values else ():
        values = _values(arr)
        if values is not None:
            _finite(where, values)
    return dtype


def _layer_list(name: str, params: object) -> list[Any]:
    if not isinstance(params, list | tuple):
        raise TypeError(f"{name} must be a list of per-layer dicts, got {type(params).__name__}")
    for i, layer in enumerate(params):
        if not isinstance(layer, dict):
            raise TypeError(f"{name}[{i}] must be a dict like {{'W': ..., 'b': ...}}, got {type(layer).__name__}")
    return list(params)


def check_params(
    spec: NetworkSpec, params: object, name: str = "params", *, values: bool = True
) -> np.dtype[np.floating]:
    """Check ``params`` against ``spec`` and return their common dtype.

    ``params`` must be a list (or tuple) of ``spec.n_layers`` dicts with keys
    exactly ``{"W", "b"}`` (``{"W"}`` without bias), ``W_l`` of shape
    ``(sizes[l], sizes[l-1])``, ``b_l`` of shape ``(sizes[l],)``, all arrays of
    one dtype, float32 or float64, with finite values (``values=False``: the
    structure, shapes and dtype only; the training step uses it and checks the
    values only if the step fails, see :func:`bp_manual.train.train_step`).
    """
    layers = _layer_list(name, params)
    if len(layers) != spec.n_layers:
        raise ValueError(f"{name} has {len(layers)} layers, spec {spec.sizes} has {spec.n_layers}")
    keys = {"W", "b"} if spec.bias else {"W"}
    arrays = []
    for i, (layer, w_shape) in enumerate(zip(layers, spec.weight_shapes, strict=True)):
        if set(layer) != keys:
            raise ValueError(f"{name}[{i}] has keys {sorted(layer)}, expected {sorted(keys)} (bias={spec.bias})")
        for key, shape in (("W", w_shape), ("b", w_shape[:1])):
            if key in keys:
                _check_array(f"{name}[{i}][{key!r}]", layer[key], shape)
                arrays.append((f"{name}[{i}][{key!r}]", layer[key]))
    return _check_dtype_and_values(name, arrays, values)


def check_params_list(params: object, name: str = "params") -> np.dtype[np.floating]:
    """Check params for an update rule (no spec needed) and return their common dtype.

    ``params`` must be a list (or tuple) of dicts, one per layer, each mapping
    string keys (any names: ``"W"``, ``"b"``, ``"w"``, ``"gamma"``, ``"E"``, ...) to
    arrays; an empty dict (a layer without parameters) is allowed, but at
    least one array in all. Every array float32 or every one float64, finite.

    Raises:
        TypeError: not a list of dicts; a key that is not a string; a value that
            is not an array; mixed or non-float dtypes.
        ValueError: no array at all; NaN or inf (named with its index).
    """
    layers = _layer_list(name, params)
    arrays = []
    for i, layer in enumerate(layers):
        for key, arr in layer.items():
            if not isinstance(key, str):
                raise TypeError(f"{name}[{i}] has the key {key!r}; keys must be strings such as 'W' or 'b'")
            if not (hasattr(arr, "shape") and hasattr(arr, "dtype")):
                raise TypeError(f"{name}[{i}][{key!r}] must be an array, got {type(arr).__name__}")
            arrays.append((f"{name}[{i}][{key!r}]", arr))
    if not arrays:
        raise ValueError(f"{name} holds no array ({len(layers)} empty layers): there is nothing to update")
    return _check_dtype_and_values(name, arrays)


def check_update_args(params: object, grads: object, lr: object) -> float:
    """Check the arguments of an update rule (no spec needed); return ``lr`` as a float.

    ``params``: as :func:`check_params_list` (a list of dicts of arrays under any
    keys, one float dtype, finite). ``grads``: the same structure, keys, shapes
    and dtype, finite. ``lr``: finite and > 0.
    """
    layers = _layer_list("params", params)
    check_like_params(layers, grads, "grads", check_params_list(layers))
    return check_lr(lr)


def check_like_params(params: ParamsLike, other: object, name: str, dtype: np.dtype[Any]) -> None:
    """``other`` (gradients, optimiser state) must have the structure, shapes and ``dtype`` of
    ``params`` (already checked), and finite values; else an error naming ``name``."""
    layers = _layer_list(name, other)
    if len(layers) != len(params):
        raise ValueError(f"{name} has {len(layers)} layers, params has {len(params)}")
    arrays = []
    for i, (p, g) in enumerate(zip(params, layers, strict=True)):
        if set(g) != set(p):
            raise ValueError(f"{name}[{i}] has keys {sorted(g)}, expected {sorted(p)} like params")
        for key in p:
            where = f"{name}[{i}][{key!r}]"
            if _check_array(where, g[key], tuple(p[key].shape)) != dtype:
                raise TypeError(f"{where} has dtype {g[key].dtype}, params have {dtype}")
            arrays.append((where, g[key]))
    _check_dtype_and_values(name, arrays)


def as_inputs(
    spec: NetworkSpec, X: object, dtype: np.dtype[np.floating], name: str = "X", *, finite: bool = True
) -> Array:
    """``X`` as a finite ``(N, n_in)`` array of ``dtype``; a 1-D ``X`` is one sample.

    ``name`` is the argument's name in messages (``"inputs_org"`` for ``BPNetwork``).
    ``finite=False`` leaves out the NaN/inf test of values already in
    ``dtype`` (everything else is checked; a conversion keeps the test, which
    its range test needs), for a caller that catches those values another way
    and then calls again with ``finite=True`` to name them (``BPNetwork.train``;
    see there why that is exact).
    """
    arr = _as_array(name, X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, {spec.n_in}) or 1-D (one sample), got shape {arr.shape}")
    if arr.shape[1] != spec.n_in:
        raise ValueError(f"{name} has {arr.shape[1]} features, spec expects n_in = {spec.n_in}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has 0 samples; at least 1 is needed")
    values = _values(arr)
    if values is not None and (finite or values.dtype != dtype):  # a conversion's range test needs finite values
        _finite(name, values)
    return _cast(name, arr, values, dtype)


def as_targets(
    spec: NetworkSpec,
    Y: object,
    n_samples: int,
    dtype: np.dtype[np.floating],
    name: str = "Y",
    *,
    finite: bool = True,
) -> Array:
    """``Y`` as a checked ``(n_samples, n_out)`` array of ``dtype`` (labels -> one-hot).

    See the module docstring for the accepted forms and the checks per loss;
    ``finite=False`` as for :func:`as_inputs`, for the ``mse`` loss only (the
    tests of the other losses' targets need finite values, so they keep the NaN/inf test).
    """
    arr = _as_array(name, Y)
    n_out = spec.n_out
    one_sample_row = arr.ndim == 1 and n_samples == 1 and arr.shape[0] == n_out
    if spec.loss == "cross_entropy" and arr.ndim <= 1 and not one_sample_row:
        if np.dtype(arr.dtype).kind not in "iu":
            raise TypeError(
                f"{name} for cross_entropy: class labels must have an integer dtype, got {arr.dtype}; "
                f"or give one-hot rows of shape (n_samples, {n_out})"
            )
        labels = arr.reshape(-1)
        if labels.shape[0] != n_samples:
            raise ValueError(f"{name} has {labels.shape[0]} labels for {n_samples} input samples")
        values = _values(labels)
        if values is not None and (values.min() < 0 or values.max() >= n_out):
            raise ValueError(f"{name} labels must lie in [0, {n_out}), got min {values.min()}, max {values.max()}")
        return (labels.reshape(-1, 1) == namespace(labels).arange(n_out)).astype(dtype)
    if one_sample_row:
        arr = arr.reshape(1, n_out)
    elif arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim == 1:
        raise ValueError(
            f"{name} has {arr.shape[0]} values in 1-D; expected n_out = {n_out} values for one sample, "
            f"or 2-D (n_samples, {n_out})"
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, {n_out}), got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples for {n_samples} input samples")
    if arr.shape[1] != n_out:
        raise ValueError(f"{name} has {arr.shape[1]} columns, spec expects n_out = {n_out}")
    values = _values(arr)
    if values is not None:
        if finite or spec.loss != "mse" or values.dtype != dtype:  # the value tests below need finite values
            _finite(name, values)
        if spec.loss == "cross_entropy":
            eps = np.finfo(values.dtype if values.dtype.kind == "f" else np.float64).eps
            row_sums = values.sum(axis=1, dtype=np.float64)
            if np.any(values < 0) or np.any(np.abs(row_sums - 1) > 4 * n_out * eps):
                raise ValueError(
                    f"{name} for cross_entropy must be integer labels (n_samples,) or rows of "
                    "non-negative numbers summing to 1 (one-hot or probabilities)"
                )
        elif spec.loss == "binary_cross_entropy" and (np.any(values < 0) or np.any(values > 1)):
            raise ValueError(f"{name} for binary_cross_entropy must lie in [0, 1]")
    return _cast(name, arr, values, dtype)


def prepare_batch(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Array, Array]:
    """Check ``spec`` and ``params``; return ``X (N, n_in)`` and ``Y (N, n_out)`` in the params' dtype."""
    check_spec(spec)
    dtype = check_params(spec, params)
    X_ = as_inputs(spec, X, dtype)
    return X_, as_targets(spec, Y, X_.shape[0], dtype)


def check_lr(lr: object, name: str = "lr") -> float:
    """A learning rate: a finite real number > 0, else ``TypeError``/``ValueError`` naming ``name``."""
    return positive(name, lr)


def as_weight(name: str, value: object, shape: tuple[int, ...], dtype: np.dtype[np.floating]) -> Array:
    """A user-assigned weight array: numeric, of ``shape``, finite, within ``dtype``'s range; a new array."""
    arr = _as_array(name, value)
    if tuple(arr.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(arr.shape)}")
    values = _values(arr)
    if values is not None:
        _finite(name, values)
    return np.array(_cast(name, arr, values, dtype), dtype=dtype, copy=True)
