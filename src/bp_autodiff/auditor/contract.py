"""The network contract: naming the parameters, calling a user's function safely, reading what it returned.

What this module is for: everything between the auditor and a user's function
written to the network contract (``grad_fn(spec, params, X, Y)``,
``step_fn(..., lr)``, ``predict_fn(spec, params, X)``): the names ``W1, b1,
W2, ...`` of the parameters, copies of the inputs for the call, and turning
whatever the function returned or raised into arrays and :class:`Finding`\\ s,
never into a traceback.

What it is not for: judging the arrays (:mod:`bp_autodiff.auditor.compare`,
:mod:`bp_autodiff.auditor.classify`).
"""

from __future__ import annotations

import re
import sysconfig
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.report import Finding
from bp_manual.initializers import Params, ParamsLike
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]

#: Words in an exception message that mark a shape or structure error rather than a wrong value.
SHAPE_WORDS = re.compile(r"shape|align|broadcast|dimension|size|index", re.IGNORECASE)


def function_name(fn: object) -> str:
    """``module.qualname`` of a function (or its type's name), for the report's subject."""
    module = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{module}.{qual}" if module else str(qual)


def copy_params(params: ParamsLike) -> Params:
    """A deep copy of ``params`` as NumPy arrays, for a user's function to do with as it likes."""
    return [{k: np.array(v, copy=True) for k, v in layer.items()} for layer in params]


def param_names(spec: NetworkSpec) -> list[tuple[int, str, str]]:
    """``[(layer index, key, name)]``: ``(0, "W", "W1"), (0, "b", "b1"), ...``."""
    keys = ("W", "b") if spec.bias else ("W",)
    return [(i, k, f"{k}{i + 1}") for i in range(spec.n_layers) for k in keys]


def flatten(spec: NetworkSpec, tree: ParamsLike) -> dict[str, Array]:
    """``{"W1": params[0]["W"], "b1": params[0]["b"], ...}`` as NumPy arrays."""
    return {name: np.asarray(tree[i][k]) for i, k, name in param_names(spec)}


def deltas_by_name(deltas: list[Array]) -> dict[str, Array]:
    """``{"delta1": deltas[0], ...}``."""
    return {f"delta{i + 1}": d for i, d in enumerate(deltas)}


#: Where code that is not the user's lives: the standard library, installed packages, and this auditor.
_NOT_THE_USERS = tuple(
    {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(__file__).parent)}
)


def raised_at(exc: BaseException) -> str:
    """``" (my_bp.py, line 7)"``: where in the user's own code ``exc`` was raised, or ``""`` when nowhere.

    The innermost frame of the traceback outside the standard library, the
    installed packages and this auditor (an error NumPy raises inside
    ``W @ A`` is placed at the user's line that called it); a ``SyntaxError``
    at its own file and line.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({Path(exc.filename).name}, line {exc.lineno})"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<") and not frame.filename.startswith(_NOT_THE_USERS)
    ]
    return f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""


def exception_finding(param: str, who: str, exc: BaseException, otherwise: str = "mismatch") -> Finding:
    """A user's function raised: ``shape`` when the message speaks of shapes, else ``otherwise``; the detail
    names the exception, its message and where the user's code raised it (:func:`raised_at`)."""
    text = f"{who} raised {type(exc).__name__}: {exc}{raised_at(exc)}"
    kind = (
        "shape" if isinstance(exc, ValueError | IndexError | TypeError) and SHAPE_WORDS.search(str(exc)) else otherwise
    )
    return Finding.of(param, kind, text)


def as_float_array(value: object) -> Array | None:
    """``value`` as a NumPy float array (integers become float64), or None when it is not numeric."""
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return arr.astype(np.float64) if arr.dtype.kind != "f" else arr


def parse_grads(spec: NetworkSpec, out: object, who: str) -> tuple[Any, dict[str, Array], Any, list[Finding]]:
    """Split a grad_fn's return value into ``(loss, {name: array}, deltas, findings)``."""
    findings: list[Finding] = []
    if not isinstance(out, tuple | list) or len(out) not in (2, 3):
        what = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        findings.append(
            Finding("grad_fn", "shape", f"{who} returned {what}; expected (loss, grads) or (loss, grads, deltas)")
        )
        return None, {}, None, findings
    loss, grads = out[0], out[1]
    deltas = out[2] if len(out) == 3 else None
    found: dict[str, Array] = {}
    if not isinstance(grads, list | tuple) or len(grads) != spec.n_layers:
        n = len(grads) if isinstance(grads, list | tuple) else type(grads).__name__
        findings.append(
            Finding("grads", "shape", f"grads must be a list of {spec.n_layers} per-layer dicts like params, got {n}")
        )
        return loss, found, deltas, findings
    for i, key, name in param_names(spec):
        layer = grads[i]
        if not isinstance(layer, Mapping):
            if key == "W":
                findings.append(
                    Finding.of(f"layer{i + 1}", "shape", f"grads[{i}] is a {type(layer).__name__}, not a dict")
                )
            continue
        if key not in layer:
            findings.append(Finding.of(name, "shape", f"grads[{i}] has no {key!r} entry"))
            continue
        arr = as_float_array(layer[key])
        if arr is None:
            findings.append(Finding.of(name, "shape", f"grads[{i}][{key!r}] is not a numeric array"))
            continue
        found[name] = arr
    for i, layer in enumerate(grads):
        if isinstance(layer, Mapping):
            extra = set(layer) - ({"W", "b"} if spec.bias else {"W"})
            if extra:
                findings.append(Finding.of(f"layer{i + 1}", "shape", f"grads[{i}] has unexpected keys {sorted(extra)}"))
    return loss, found, deltas, findings


def parse_deltas(spec: NetworkSpec, deltas: object, N: int) -> tuple[dict[str, Array], list[Finding], list[str]]:
    """The deltas of the localisation protocol: ``({"delta1": (N, n_1), ...}, findings, warnings)``.

    A value that is not a list of ``spec.n_layers`` arrays is a warning (no
    localisation); a delta of the wrong shape is a ``shape`` finding.
    """
    if not isinstance(deltas, list | tuple) or len(deltas) != spec.n_layers:
        warning = f"the third return value (deltas) is not a list of {spec.n_layers} arrays (N, n_l); no localisation"
        return {}, [], [warning]
    out: dict[str, Array] = {}
    findings: list[Finding] = []
    for l, (d, n) in enumerate(zip(deltas, spec.sizes[1:], strict=True), start=1):
        arr = as_float_array(d)
        if arr is None or arr.shape != (N, n):
            shape = None if arr is None else arr.shape
            findings.append(Finding.of(f"delta{l}", "shape", f"delta{l} has shape {shape}, expected {(N, n)}"))
            continue
        out[f"delta{l}"] = arr
    return out, findings, []


def modified_inputs(copies: tuple[Params, Array, Array], params: ParamsLike, X: Array, Y: Array) -> bool:
    """True when a user's function changed the copies it was given (``(params, X, Y)``) in place."""
    p, X_, Y_ = copies
    changed = any(not np.array_equal(a[k], b[k]) for a, b in zip(p, params, strict=True) for k in b)
    return changed or not (np.array_equal(X_, X) and np.array_equal(Y_, Y))
