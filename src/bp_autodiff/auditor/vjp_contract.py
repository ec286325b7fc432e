"""The layer contract: naming a function's inputs, calling it safely, reading what its backward returned.

What this module is for: everything between :func:`bp_autodiff.audit_vjp` and a
user's pair in the layer contract (``forward(*inputs, **config) -> (out,
cache)``, ``backward(dout, cache) -> tuple``): which inputs are differentiated,
fresh copies of the inputs for every call, the output as a list of arrays,
and turning whatever the pair returned or raised into arrays and
:class:`~bp_autodiff.auditor.report.Finding`\\ s, never into a traceback.

Which inputs are differentiated. A NumPy (or JAX) array of a floating dtype.
Integer and boolean arrays (indices, masks) and anything that is not an array
(a settings dict such as a course's ``conv_param``, an int, a float, ``None``,
a list) are passed through as given and get no gradient.

How many gradients ``backward`` returns (the rule, in this order):

1. one per input, in input order (``None`` where there is none), as
   :mod:`bp_manual.layers` does;
2. one per input up to the last array, or up to the last floating-point
   array: trailing inputs that are not arrays (a course's ``conv_param``, a
   dropout's ``p``) or not differentiated have none, as in CS231n's
   ``conv_backward(dout, cache) -> (dx, dw, db)`` for ``conv_forward(x, w, b,
   conv_param)``; gradients stand at their inputs' positions;
3. one per floating-point array input, in order (integer inputs in between
   skipped).

The first of these lengths that fits decides (they can coincide only when
they agree).

A bare array counts as a tuple of one (CS231n's ``relu_backward`` returns
``dx``). Any other length is a ``shape`` finding on ``backward``.

It also holds what one audit runs: the pair and what it is held to
(:class:`Subject`), the options of one check (:class:`Options`), and
:func:`run_pair`, forward then backward at a given precision and upstream
gradient, with nothing raised.

What it is not for: judging values (:mod:`bp_autodiff.auditor.vjp_witness`,
:mod:`bp_autodiff.auditor.vjp_diagnosis`) or the network contract
(:mod:`bp_autodiff.auditor.contract`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.contract import exception_finding
from bp_autodiff.auditor.report import Finding

Array = NDArray[Any]
Forward = Callable[..., Any]
Backward = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Slot:
    """One input of the audited function.

    Attributes:
        name: its name in the report (the mapping's key, or ``x0, x1, ...``).
        value: as given (a float or integer array is kept as a NumPy array).
        role: ``"float"`` (differentiated), ``"int"`` (an integer or boolean array,
            passed through) or ``"setting"`` (anything else, passed through).
    """

    name: str
    value: Any
    role: str

    def describe(self) -> str:
        """``"float64 (2, 3)"``, ``"int64 (5,) passed through"``, ``"setting {...} passed through"``."""
        if self.role == "setting":
            text = repr(self.value)
            return f"setting {text if len(text) <= 60 else text[:57] + '...'} passed through"
        suffix = "" if self.role == "float" else " passed through"
        return f"{self.value.dtype.name} {tuple(self.value.shape)}{suffix}"


def role_of(value: object) -> str:
    """``"float"``, ``"int"`` or ``"setting"`` for an input value (module docstring)."""
    if isinstance(value, np.ndarray) or (hasattr(value, "__array__") and hasattr(value, "dtype")):
        kind = np.dtype(value.dtype).kind
        if kind == "f":
            return "float"
        if kind in "biu":
            return "int"
    return "setting"


def make_slots(inputs: object) -> list[Slot]:
    """The inputs as :class:`Slot`\\ s: a mapping keeps its names, a sequence is named ``x0, x1, ...``.

    Raises:
        TypeError: ``inputs`` is neither a mapping nor a list/tuple, or a name is not a string.
        ValueError: no floating-point array among them, or one that holds NaN or inf.
    """
    if isinstance(inputs, Mapping):
        items = list(inputs.items())
    elif isinstance(inputs, list | tuple):
        items = [(f"x{i}", v) for i, v in enumerate(inputs)]
    else:
        raise TypeError(f"inputs must be a mapping name -> value or a list/tuple, got {type(inputs).__name__}")
    slots = []
    for name, value in items:
        if not isinstance(name, str):
            raise TypeError(f"inputs: every name must be a string, got {name!r}")
        role = role_of(value)
        if role != "setting":
            value = np.array(value, copy=True)
        if role == "float" and not np.all(np.isfinite(value)):
            raise ValueError(f"inputs: {name!r} holds NaN or inf")
        slots.append(Slot(name, value, role))
    if not any(s.role == "float" for s in slots):
        raise ValueError("inputs: no floating-point array among them, nothing to differentiate")
    return slots


def fresh(value: Any) -> Any:
    """A copy of an input for one call: arrays copied, settings deep-copied (as given when that fails)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    try:
        return copy.deepcopy(value)
    except Exception:  # an object that cannot be copied is passed as it is
        return value


def arguments(slots: Sequence[Slot], floats: Mapping[str, Array] | None = None) -> list[Any]:
    """Fresh copies of the inputs in order, with the float inputs replaced by ``floats[name]`` where given."""
    floats = floats or {}
    return [fresh(floats[s.name]) if s.name in floats else fresh(s.value) for s in slots]


def same_value(a: Any, b: Any) -> bool:
    """Are two input values equal (arrays element by element, NaN equal to NaN; settings by ``==``)?"""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            a_, b_ = np.asarray(a), np.asarray(b)
            return a_.shape == b_.shape and bool(np.array_equal(a_, b_, equal_nan=a_.dtype.kind == "f"))
        except Exception:
            return False
    try:
        return bool(a == b)
    except Exception:  # an == that raises or is ambiguous: treat as unchanged
        return True


def changed_inputs(slots: Sequence[Slot], given: Sequence[Any]) -> list[str]:
    """The names of the inputs whose copies in ``given`` no longer equal the originals."""
    return [s.name for s, g in zip(slots, given, strict=True) if not same_value(s.value, g)]


@dataclass
class Outputs:
    """What ``forward`` returned, read as arrays.

    Attributes:
        arrays: the floating-point pieces of ``out``, in order (one for a plain array).
        cache: the second element of forward's return value.
        structure: ``"array"`` (``out`` is one array) or ``"tuple"``; ``kinds`` gives,
            per piece of a tuple, ``"float"`` or ``"other"`` (passed ``None`` as dout).
    """

    arrays: list[Array]
    cache: Any
    structure: str
    kinds: list[str]

    def dout(self, douts: Sequence[Array]) -> Any:
        """``dout`` in the structure of ``out``: one array, or a tuple with ``None`` for non-float pieces."""
        if self.structure == "array":
            return douts[0]
        it = iter(douts)
        return tuple(next(it) if k == "float" else None for k in self.kinds)


def read_forward(result: object, who: str) -> tuple[Outputs | None, Finding | None]:
    """Split forward's return value into :class:`Outputs`, or a ``shape`` finding on ``forward``."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        what = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
        return None, Finding("forward", "shape", f"{who} returned a {what}; expected (out, cache)")
    out, cache = result
    pieces = list(out) if isinstance(out, tuple | list) else [out]
    arrays: list[Array] = []
    kinds: list[str] = []
    for piece in pieces:
        try:
            arr = np.asarray(piece)
        except Exception:
            arr = np.asarray(None)
        if arr.dtype.kind == "f":
            arrays.append(arr)
            kinds.append("float")
        else:
            kinds.append("other")
    if not arrays:
        return None, Finding("forward", "shape", f"{who}: out holds no floating-point array ({type(out).__name__})")
    structure = "tuple" if isinstance(out, tuple | list) else "array"
    return Outputs(arrays, cache, structure, kinds), None


def raised(param: str, who: str, exc: BaseException) -> Finding:
    """A user's function raised: ``shape`` when the message speaks of shapes, else ``raises``
    (:func:`bp_autodiff.auditor.contract.exception_finding`, with the place in the user's code)."""
    return exception_finding(param, who, exc, otherwise="raises")


def read_grads(result: object, slots: Sequence[Slot], who: str) -> tuple[dict[str, Any], list[Finding], list[str]]:
    """``(raw gradient per float input, findings, warnings)`` by the counting rule of the module docstring.

    The raw values are not yet checked (:func:`as_gradient` does that). A
    ``None`` for a float input is a ``missing`` finding; a value given for an
    integer input is ignored with a warning.
    """
    items = list(result) if isinstance(result, tuple | list) else [result]
    floats = [i for i, s in enumerate(slots) if s.role == "float"]
    last_array = max(i for i, s in enumerate(slots) if s.role != "setting") + 1
    if len(items) in (len(slots), last_array, floats[-1] + 1):
        positions = list(range(len(items)))
    elif len(items) == len(floats):
        positions = floats
    else:
        expected = sorted({len(slots), last_array, floats[-1] + 1, len(floats)})
        detail = (
            f"{who} returned {len(items)} gradient(s); expected {' or '.join(map(str, expected))} "
            f"(one per input {[s.name for s in slots]}, or one per floating-point input)"
        )
        return {}, [Finding("backward", "shape", detail)], []
    grads: dict[str, Any] = {}
    findings: list[Finding] = []
    warnings: list[str] = []
    for pos, item in zip(positions, items, strict=True):
        slot = slots[pos]
        if slot.role != "float":
            if item is not None and slot.role == "int":
                warnings.append(f"{who} returned a gradient for the integer input {slot.name!r} (ignored)")
            continue
        if item is None:
            findings.append(Finding(slot.name, "missing", f"{who} returned None for the float input {slot.name!r}"))
            continue
        grads[slot.name] = item
    return grads, findings, warnings


def as_gradient(slot: Slot, raw: object, who: str) -> tuple[Array | None, Finding | None]:
    """A returned gradient as a float NumPy array, or a finding: ``shape`` (not numeric) or ``dtype``.

    A gradient of another floating dtype than its input is kept (and judged) with a ``dtype`` finding.
    """
    try:
        arr = np.asarray(raw)
    except Exception:
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf":
        return None, Finding(slot.name, "shape", f"{who} returned a {type(raw).__name__} for {slot.name!r}")
    if arr.dtype != slot.value.dtype:
        detail = f"the gradient is {arr.dtype.name}, the input {slot.value.dtype.name}"
        return arr.astype(np.float64) if arr.dtype.kind != "f" else arr, Finding(slot.name, "dtype", detail)
    return arr, None


@dataclass(frozen=True)
class Subject:
    """The pair under audit and what it is held to.

    Attributes:
        forward, backward: the pair; ``who``: how the report names it.
        reference: a JAX function ``(*inputs, **config) -> out``, or None.
        mistakes: catalog entry name -> ``LayerMistake``, run on ``library_forward``'s cache.
        library_forward: the library layer's forward (for the catalog), or None.
    """

    forward: Callable[..., Any]
    backward: Callable[..., Any]
    who: str
    reference: Callable[..., Any] | None = None
    mistakes: Mapping[str, Any] = field(default_factory=dict)
    library_forward: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Options:
    """``seed`` (``dout`` and directions), ``fd_max_entries`` (above it: directions), ``directions``,
    ``budget`` (entries differenced when a direction fails), ``dout`` (given by the user, or None)."""

    seed: int = 0
    fd_max_entries: int = 256
    directions: int = 2
    budget: int = 32
    dout: Any = None


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs), None
    except Exception as exc:  # a user's function may raise anything: the caller turns it into a finding
        return None, exc


def run_pair(
    subject: Subject, slots: Sequence[Slot], config: Mapping[str, Any], dtype: Any, douts: Sequence[Array]
) -> tuple[Outputs | None, dict[str, Array]]:
    """Forward then backward with the float inputs cast to ``dtype`` (None: as given) and ``douts`` likewise;
    ``(outputs, gradients as float64 by input name)``, empty where the pair raised or returned nothing usable."""
    floats = {s.name: s.value if dtype is None else s.value.astype(dtype) for s in slots if s.role == "float"}
    result, exc = call(subject.forward, *arguments(slots, floats), **config)
    outputs = None if exc else read_forward(result, subject.who)[0]
    if outputs is None:
        return None, {}
    dout = outputs.dout([np.asarray(d, dtype=dtype or d.dtype) for d in douts])
    back, exc = call(subject.backward, dout, outputs.cache)
    if exc:
        return outputs, {}
    raw, _, _ = read_grads(back, slots, subject.who)
    grads = {}
    for s in slots:
        if s.name in raw:
            arr, _ = as_gradient(s, raw[s.name], subject.who)
            if arr is not None:
                grads[s.name] = arr.astype(np.float64)
    return outputs, grads
