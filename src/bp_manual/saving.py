"""Saved models: a network's spec and params in one ``.npz`` file, and reading it back safely.

What this module is for: :func:`save` and :func:`load`. The file is a NumPy
``.npz`` archive (a zip of ``.npy`` arrays) holding:

==================  ==========================================================
``format``          the string ``"bp-model"``: what the file is
``version``         the format version, an integer (this module writes ``1``)
``spec``            the ``NetworkSpec`` as JSON (sizes, hidden, output, loss, bias)
``meta``            JSON chosen by the caller (e.g. class labels), ``{}`` by default
``W_<l>, b_<l>``    the params of layer ``l`` (from 0), float32 or float64
``extra_<name>``    numeric arrays chosen by the caller (e.g. standardisation statistics)
``sha256``          a digest of everything above (names, dtypes, shapes, bytes)
==================  ==========================================================

Reading uses ``allow_pickle=False``, so a file can never run code. The digest
catches a file that was cut short, corrupted or edited after it was written;
it is a checksum, not a signature (whoever can write the file can recompute
it). Writing goes to a temporary file in the same directory, which is synced
and then renamed over the target, so an interrupted save leaves the previous
file as it was.

What it is not for: optimiser state or training history (save those yourself
with ``numpy.savez``), or files from other libraries.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import Params, ParamsLike
from bp_manual.readers import read_npz
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_params, check_spec

FORMAT = "bp-model"
VERSION = 1


@dataclass
class SavedModel:
    """What :func:`load` returns.

    Attributes:
        spec: the ``NetworkSpec``.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]`` in the dtype they were saved in.
        meta: the JSON metadata given to :func:`save`.
        extras: the extra arrays given to :func:`save`, by name.
    """

    spec: NetworkSpec
    params: Params
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, NDArray[Any]] = field(default_factory=dict)


def _spec_json(spec: NetworkSpec) -> str:
    return json.dumps(
        {"sizes": list(spec.sizes), "hidden": spec.hidden, "output": spec.output, "loss": spec.loss, "bias": spec.bias},
        sort_keys=True,
    )


def _digest(arrays: dict[str, NDArray[Any]]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"extras names must be identifiers, got {name!r}")
    return name


def save(
    path: str | os.PathLike[str],
    spec: NetworkSpec,
    params: ParamsLike,
    *,
    meta: dict[str, Any] | None = None,
    extras: dict[str, NDArray[Any]] | None = None,
) -> Path:
    """Write ``spec`` and ``params`` to ``path`` (an ``.npz`` file), atomically.

    Args:
        path: where to write; an existing file is replaced only once the new
            one is complete.
        spec, params: the network; ``params`` is checked against ``spec``
            (float32 or float64 arrays of the spec's shapes).
        meta: JSON-serialisable metadata (a dict).
        extras: numeric (bool, int, float) arrays to store alongside, by identifier name.

    Returns:
        The path written.

    The file gets the mode of the file it replaces, or that of any new
    file (``0666`` less the umask), not the private ``0600`` of a temporary file.

    Raises:
        TypeError / ValueError: bad params, metadata that JSON cannot encode,
            or a non-numeric extra. Nothing is written then.
        OSError: the file cannot be written (a missing or read-only directory,
            ``path`` is a directory); the message names ``path``, and nothing is left behind.
    """
    check_spec(spec)
    check_params(spec, params)
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    try:
        meta_json = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta must be JSON-serialisable: {exc}") from exc
    arrays: dict[str, NDArray[Any]] = {
        "format": np.array(FORMAT),
        "version": np.array(VERSION, dtype=np.int64),
        "spec": np.array(_spec_json(spec)),
        "meta": np.array(meta_json),
    }
    for l, layer in enumerate(params):
        for key, value in layer.items():
            arrays[f"{key}_{l}"] = np.asarray(value)
    for name, value in (extras or {}).items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"extras[{name!r}] must be numeric, got dtype {arr.dtype}")
        arrays[f"extra_{_check_name(name)}"] = arr
    arrays["sha256"] = np.array(_digest(arrays))

    path = Path(path)
    try:
        fd, tmp = _create_temporary(path)
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: cannot be written ({exc.strerror})") from None
    try:
        with contextlib.suppress(OSError):  # replacing a file keeps its mode
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise IsADirectoryError(errno.EISDIR, f"{path}: is a directory") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file next to ``path``, open for writing, with the mode ``open()`` gives (0666 less the umask)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name next to {path}")


def _text(path: Path, arrays: dict[str, NDArray[Any]], key: str) -> str:
    arr = arrays[key]
    if arr.shape != () or arr.dtype.kind != "U":
        raise ValueError(f"{path}: entry {key!r} should be a string, got {arr.dtype} of shape {arr.shape}")
    return str(arr[()])


def load(path: str | os.PathLike[str]) -> SavedModel:
    """Read a model written by :func:`save`, checking everything before returning it.

    Returns:
        A :class:`SavedModel` (spec, params in the saved dtype, meta, extras).

    Raises:
        ValueError: naming the file, when it is missing, not an ``.npz``
            archive, cut short, not a bp model (foreign), of an unknown format
            version, inconsistent with its spec, or altered after it was
            written (its SHA-256 digest does not match).
    """
    path = Path(path)
    arrays = read_npz(path)
    if "format" not in arrays or arrays["format"].shape != () or str(arrays["format"][()]) != FORMAT:
        raise ValueError(f"{path}: not a bp model file (no 'format' entry saying {FORMAT!r}; found {sorted(arrays)})")
    version = arrays.get("version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{path}: bp model file without an integer format version")
    if int(version) != VERSION:
        raise ValueError(f"{path}: format version {int(version)}; this bp_manual reads version {VERSION}")
    for key in ("spec", "meta", "sha256"):
        if key not in arrays:
            raise ValueError(f"{path}: bp model file lacks its {key!r} entry")
    stored_digest = _text(path, arrays, "sha256")
    content = {key: value for key, value in arrays.items() if key != "sha256"}
    if _digest(content) != stored_digest:
        raise ValueError(f"{path}: contents do not match their SHA-256 digest; the file was altered or corrupted")
    try:
        fields = json.loads(_text(path, arrays, "spec"))
        spec = NetworkSpec(tuple(fields.pop("sizes")), **fields)
        meta = json.loads(_text(path, arrays, "meta"))
        if not isinstance(meta, dict):
            raise TypeError(f"meta is a {type(meta).__name__}, not a dict")
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: invalid spec or meta: {exc}") from exc
    keys = ("W", "b") if spec.bias else ("W",)
    params: Params = []
    for l in range(spec.n_layers):
        layer = {}
        for key in keys:
            name = f"{key}_{l}"
            if name not in arrays:
                raise ValueError(f"{path}: missing {name} for spec {spec.sizes}")
            layer[key] = arrays[name]
        params.append(layer)
    known = {"format", "version", "spec", "meta", "sha256"} | {f"{k}_{l}" for l in range(spec.n_layers) for k in keys}
    unexpected = [key for key in arrays if key not in known and not key.startswith("extra_")]
    if unexpected:
        raise ValueError(f"{path}: unexpected entries {sorted(unexpected)}")
    try:
        check_params(spec, params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: params do not fit the spec: {exc}") from exc
    extras = {key.removeprefix("extra_"): value for key, value in arrays.items() if key.startswith("extra_")}
    return SavedModel(spec, params, meta, extras)
