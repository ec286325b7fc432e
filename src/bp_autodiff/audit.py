"""The gradient auditor: is a backward pass right, where does it go wrong, what does the mistake look like.

What this module is for: holding someone's hand-written backward pass (a
``grad_fn`` with the signature of ``bp_manual.loss_and_grads``), update rule
(``step_fn``) or prediction function (``predict_fn``) against two witnesses
and saying, per parameter, how far off it is and what kind of mistake it
resembles:

- :func:`audit` ``(spec, params, X, Y, grad_fn) -> AuditReport``: every
  ``W_l``, ``b_l`` (and ``delta_l``, when ``grad_fn`` returns deltas) against
  JAX (:mod:`bp_autodiff.grads`) and against float64 central finite
  differences of the loss;
- :func:`audit_step` ``(spec, params, X, Y, lr, step_fn)``: the update against
  ``params - lr * JAX gradient``;
- :func:`audit_forward` ``(spec, params, X, predict_fn)``: the prediction
  against the JAX forward pass.

What it is not for: deciding whether a network trains well, or auditing other
architectures than ``bp_manual.NetworkSpec`` describes.

Parameters are named ``W1, b1, W2, b2, ...`` (layer 1 is the first weight
layer, ``params[0]``), deltas ``delta1, ...`` (``delta_l = dL/dZ_l``).

Errors. For a manual array ``m`` and a reference ``r`` of the same shape,
elementwise ``rel_i = |m_i - r_i| / (max|r| + |r_i|)`` (0 where both are 0).
``max rel`` is the largest ``rel_i``; the comparison with JAX passes when
``max rel <= rtol``, the policy of :mod:`bp_autodiff.tolerance` (float64:
``1e-9``; float32: derived from the rounding bound). Against finite
differences the allowance per element is the one derived in
:mod:`bp_autodiff.tolerance` (truncation estimated from steps ``h`` and ``2h``,
plus rounding). ``fraction`` is the largest ratio of an element's error to its
allowance (``<= 1`` is a pass); the worst index is where it is largest.

Findings. Each failing array gets one :class:`Finding` whose ``kind`` is from a
fixed vocabulary (:data:`KINDS`, :data:`STEP_KINDS`, :data:`FORWARD_KINDS`),
tested in this order against the JAX reference:

``shape``            wrong shape or structure, or the function raised a shape error
``transpose``        equals the reference transposed
``nonfinite``        contains NaN or inf
``zero``             all zeros where the reference is not
``sign``             equals minus the reference
``scale``            equals ``c`` times the reference (``c`` reported; e.g. ``N`` or 2)
``swapped``          equals another parameter's reference
``activation_derivative``  equals what the chain rule gives with the hidden
                     derivative dropped (``f' = 1``), written for ``A`` but
                     evaluated at ``Z`` (``Z (1 - Z)`` for the sigmoid), or
                     evaluated at ``A`` instead of ``Z``
``mismatch``         none of the above
``ascent``           (steps) the update climbs the loss: ``p + c lr g`` with ``c > 0``
``lr_scale``         (steps) ``p - c lr g`` with ``c != 1``
``stale_weights``    (steps) a layer was updated before the error was propagated through it
``forward``          (predictions) the prediction differs from the JAX forward pass

Localisation. A ``grad_fn`` may return ``(loss, grads, deltas)`` instead of
``(loss, grads)``, with ``deltas[l - 1] = dL/dZ_l`` of shape ``(N, n_l)``, as
``bp_manual.loss_grads_and_deltas`` does. The auditor then compares each delta
with JAX's (zero probes added to each ``Z_l``) and says where an error is
*introduced*: ``delta_L`` when the output delta is wrong; ``delta_l`` when it
is wrong and is not what the correct recursion makes of the function's own
``delta_{l+1}``; ``W_l``/``b_l`` when the deltas are right but the gradient
formula ``dW_l = delta_l.T @ A_{l-1}`` is not followed. Errors passed down
from above are reported as inherited.

Vacuity. A comparison passes vacuously when both sides are (almost) zero
(``max|r|`` and ``max|m|`` below ``sqrt(u)`` times the largest gradient in the
network): its verdict is ``vacuous``, not ``pass``, with a warning. Hidden
units that are dead or saturated on every sample (``|f'(Z)| <= sqrt(u)``) are
named in a warning: their rows of ``W_l``, ``b_l`` are zero on both sides and
test nothing.

Nothing a ``grad_fn`` does (raise, return the wrong structure, NaN) makes the
auditor raise: it becomes a finding. Bad input to the auditor itself (a
``spec``, ``params``, ``X``, ``Y`` or ``lr`` that does not fit) raises
``TypeError``/``ValueError`` naming the argument, as everywhere in the project.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff import grads as jax_grads
from bp_autodiff.tolerance import (
    FD_SAFETY,
    FD_STEP,
    fd_rounding,
    gradient_rtol,
    kinks_are_clear,
    relative_errors,
    saturation,
    term_scales,
)
from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import _forward, _loss_from_cache, backward, delta_below, layer_grads
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, check_lr, check_params, check_spec, prepare_batch

Array = NDArray[np.floating]
GradFn = Callable[[NetworkSpec, Params, Array, Array], Any]
StepFn = Callable[[NetworkSpec, Params, Array, Array, float], Any]
PredictFn = Callable[[NetworkSpec, Params, Array], Any]

#: Finding kinds for gradients.
KINDS = ("sign", "scale", "transpose", "zero", "swapped", "activation_derivative", "shape", "nonfinite", "mismatch")
#: Finding kinds for update rules (:func:`audit_step`).
STEP_KINDS = (*KINDS, "ascent", "stale_weights", "lr_scale")
#: Finding kinds for prediction functions (:func:`audit_forward`).
FORWARD_KINDS = ("forward", "shape", "nonfinite")

_SHAPE_WORDS = re.compile(r"shape|align|broadcast|dimension|size|index", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One thing wrong: ``param`` (``"W1"``, ``"delta2"``, ``"loss"``, ``"grad_fn"``...),
    ``kind`` (from :data:`STEP_KINDS` or :data:`FORWARD_KINDS`) and a plain-words ``detail``."""

    param: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Comparison:
    """One array against one witness.

    Attributes:
        param: ``"W1"``, ``"b1"``, ``"delta1"``, ``"loss"``, ``"Y_hat"``...
        witness: ``"jax"`` or ``"fd"`` (float64 central finite differences).
        shape: the reference's shape.
        verdict: ``"pass"``, ``"FAIL"``, ``"vacuous"``, ``"shape"``, ``"nonfinite"`` or ``"missing"``.
        max_abs: ``max|m - r|`` over the compared entries (``nan`` when not comparable).
        max_rel: ``max_i |m_i - r_i| / (max|r| + |r_i|)`` (module docstring).
        fraction: largest error / allowance (``<= 1`` passes).
        worst_index: index of the worst entry, or ``None``.
        manual, reference: the two values at ``worst_index``.
        checked: how many entries were compared (finite differences may sample).
    """

    param: str
    witness: str
    shape: tuple[int, ...]
    verdict: str
    max_abs: float = math.nan
    max_rel: float = math.nan
    fraction: float = math.nan
    worst_index: tuple[int, ...] | None = None
    manual: float | None = None
    reference: float | None = None
    checked: int = 0


@dataclass
class AuditReport:
    """What an audit found. ``ok`` is True when there is no finding.

    Attributes:
        subject: what was audited (a function's qualified name).
        mode: ``"gradients"``, ``"step"`` or ``"forward"``.
        spec: the architecture; ``dtype``: ``"float64"`` or ``"float32"``; ``n_samples``: ``N``.
        rtol: the relative tolerance against JAX (:mod:`bp_autodiff.tolerance`).
        comparisons: one :class:`Comparison` per array and witness.
        findings: the :class:`Finding` list (empty when ``ok``).
        warnings: vacuity and other caveats, in plain words.
        localisation: ``{"where", "status", "detail"}`` per delta and gradient,
            when the function returned deltas (``status``: ``"ok"``,
            ``"introduced"`` or ``"inherited"``).
        extra: mode-specific numbers (e.g. the loss before and after a step).
    """

    subject: str
    mode: str
    spec: NetworkSpec
    dtype: str
    n_samples: int
    rtol: float
    comparisons: list[Comparison] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    localisation: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no finding (warnings do not count)."""
        return not self.findings

    @property
    def kinds(self) -> set[str]:
        """The set of finding kinds."""
        return {f.kind for f in self.findings}

    @property
    def introduced(self) -> list[str]:
        """Where errors are introduced (``"delta2"``, ``"W1"``...), from the localisation."""
        return [entry["where"] for entry in self.localisation if entry["status"] == "introduced"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become strings)."""
        s = self.spec
        return _jsonable(
            {
                "subject": self.subject,
                "mode": self.mode,
                "spec": {
                    "sizes": list(s.sizes),
                    "hidden": s.hidden,
                    "output": s.output,
                    "loss": s.loss,
                    "bias": s.bias,
                },
                "dtype": self.dtype,
                "n_samples": self.n_samples,
                "rtol": self.rtol,
                "ok": self.ok,
                "findings": [asdict(f) for f in self.findings],
                "warnings": list(self.warnings),
                "localisation": list(self.localisation),
                "comparisons": [asdict(c) for c in self.comparisons],
                "extra": dict(self.extra),
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def render(self) -> str:
        """The report as a text table with findings, localisation and warnings."""
        s = self.spec
        lines = [
            f"audit of {self.subject} ({self.mode})",
            f"network {s.sizes}, hidden {s.hidden}, output {s.output} + loss {s.loss}, "
            f"bias {s.bias}, N = {self.n_samples}, {self.dtype}; rtol vs JAX {self.rtol:.2g}",
        ]
        if self.mode == "step":
            lines.append("manual = the gradient the step implies, (p - new) / lr; reference = JAX's gradient")
        lines.append("")
        header = (
            "param",
            "shape",
            "witness",
            "checked",
            "max abs",
            "max rel",
            "x tol",
            "worst at",
            "manual",
            "reference",
            "verdict",
        )
        rows = [header]
        for c in self.comparisons:
            rows.append(
                (
                    c.param,
                    "x".join(map(str, c.shape)) or "()",
                    c.witness,
                    str(c.checked),
                    _num(c.max_abs),
                    _num(c.max_rel),
                    _num(c.fraction, ".2g"),
                    "-" if c.worst_index is None else str(list(c.worst_index)),
                    _num(c.manual, ".6g"),
                    _num(c.reference, ".6g"),
                    c.verdict,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        if self.localisation:
            lines += ["", "localisation (deltas dL/dZ_l from the function, against JAX's):"]
            lines += [f"  {e['where']:<8} {e['status']:<10} {e['detail']}" for e in self.localisation]
        if self.extra:
            lines += ["", "  ".join(f"{k} = {v:.6g}" for k, v in self.extra.items())]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        lines += ["", f"findings: {len(self.findings)}" if self.findings else "findings: none (ok)"]
        lines += [f"  {f.param:<8} {f.kind:<22} {f.detail}" for f in self.findings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _num(x: float | None, fmt: str = ".2e") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return str(float(obj))
    if isinstance(obj, np.floating | np.integer):
        return obj.item()
    return obj


# ---------------------------------------------------------------- helpers


def _name(fn: object) -> str:
    module = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{module}.{qual}" if module else str(qual)


def _copy(params: ParamsLike) -> Params:
    return [{k: np.array(v, copy=True) for k, v in layer.items()} for layer in params]


def _param_names(spec: NetworkSpec) -> list[tuple[int, str, str]]:
    """``[(layer index, key, name)]``: ``(0, "W", "W1"), (0, "b", "b1"), ...``."""
    keys = ("W", "b") if spec.bias else ("W",)
    return [(i, k, f"{k}{i + 1}") for i in range(spec.n_layers) for k in keys]


def _flatten(spec: NetworkSpec, tree: ParamsLike) -> dict[str, Array]:
    return {name: np.asarray(tree[i][k]) for i, k, name in _param_names(spec)}


def _exception_finding(param: str, who: str, exc: BaseException) -> Finding:
    text = f"{who} raised {type(exc).__name__}: {exc}"
    kind = (
        "shape"
        if isinstance(exc, ValueError | IndexError | TypeError) and _SHAPE_WORDS.search(str(exc))
        else "mismatch"
    )
    return Finding(param, kind, text)


def _as_float_array(value: object) -> Array | None:
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return arr.astype(np.float64) if arr.dtype.kind != "f" else arr


def _compare(
    param: str,
    witness: str,
    manual: Array,
    reference: Array,
    rtol: float,
    allowance: Array | None = None,
    index_map: Sequence[tuple[int, ...]] | None = None,
    scale: float = 0.0,
) -> Comparison:
    """Compare ``manual`` with ``reference``: ``rtol * (max(max|r|, scale) + |r_i|)`` per entry.

    ``scale`` is the array's term size ``T`` (``tolerance.term_scales``), so a
    gradient that cancels to rounding noise is judged by its terms; ``allowance``
    overrides the whole expression.
    """
    shape = tuple(reference.shape)  # the FD witness passes its sampled entries flat and restores the shape
    if manual.shape != reference.shape:
        return Comparison(param, witness, tuple(reference.shape), "shape")
    finite = np.isfinite(manual)
    if not np.all(finite):
        bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = index_map[bad[0]] if index_map is not None else bad
        return Comparison(
            param, witness, shape, "nonfinite", worst_index=where, manual=float(manual[bad]), checked=manual.size
        )
    m = manual.astype(np.float64)
    r = reference.astype(np.float64)
    err = np.abs(m - r)
    rel = relative_errors(m, r, scale)
    if allowance is None:
        allowance = rtol * (max(float(np.max(np.abs(r), initial=0.0)), scale) + np.abs(r))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(allowance > 0, err / np.where(allowance > 0, allowance, 1.0), np.where(err == 0, 0.0, np.inf))
    flat = int(np.argmax(frac)) if frac.size else 0
    idx = tuple(int(i) for i in np.unravel_index(flat, frac.shape)) if frac.size else ()
    where = tuple(index_map[idx[0]]) if index_map is not None and frac.size else idx
    fraction = float(frac[idx]) if frac.size else 0.0
    return Comparison(
        param,
        witness,
        shape,
        "pass" if fraction <= 1.0 else "FAIL",
        max_abs=float(np.max(err, initial=0.0)),
        max_rel=float(np.max(rel, initial=0.0)),
        fraction=fraction,
        worst_index=where if frac.size else None,
        manual=float(m[idx]) if frac.size else None,
        reference=float(r[idx]) if frac.size else None,
        checked=int(m.size),
    )


def _describe_scale(c: float, n_samples: int) -> str:
    candidates = {
        "the batch size N: a sum over the batch where the loss takes the mean": float(n_samples),
        "1/N: the mean over the batch taken twice": 1.0 / n_samples,
        "the 1/2 of the squared error forgotten": 2.0,
        "a stray 1/2": 0.5,
    }
    for label, value in candidates.items():
        if value != 1.0 and abs(c - value) <= 1e-6 * abs(value):
            return f"c = {c:.6g} ({label})"
    return f"c = {c:.6g}"


Ok = Callable[[Array, Array], bool]


def _classify(
    name: str,
    manual: Array,
    refs: Mapping[str, Array],
    variants: Mapping[str, Mapping[str, Array]],
    ok: Ok,
    n_samples: int,
    comparison: Comparison,
) -> Finding:
    """Name the mistake ``manual`` resembles, against the JAX references ``refs``."""
    r = refs[name]
    if manual.shape != r.shape:
        if manual.ndim == 2 and manual.shape == r.T.shape and np.all(np.isfinite(manual)) and ok(manual.T, r):
            return Finding(
                name, "transpose", f"has shape {manual.shape}, the transpose of {r.shape}; transposed, it matches JAX"
            )
        if manual.ndim == r.ndim + 1 and manual.shape[1:] == r.shape and ok(manual.sum(axis=0), r):
            return Finding(
                name,
                "shape",
                f"has shape {manual.shape}, expected {r.shape}: one gradient per sample, not summed over the batch "
                "(summed over axis 0 it matches JAX)",
            )
        for other, ref in refs.items():
            if other != name and ref.shape == manual.shape and ok(manual, ref):
                return Finding(
                    name, "swapped", f"has the shape and the values of {other}'s gradient (shape {ref.shape})"
                )
        return Finding(name, "shape", f"has shape {manual.shape}, expected {r.shape}")
    if not np.all(np.isfinite(manual)):
        return Finding(name, "nonfinite", f"contains NaN or inf (first at {comparison.worst_index})")
    m = manual.astype(np.float64)
    r = r.astype(np.float64)
    scale = float(np.max(np.abs(r), initial=0.0))
    if scale > 0 and not np.any(m):
        return Finding(name, "zero", f"is all zeros; JAX's gradient is not (max |g| = {scale:.3g})")
    if scale > 0 and ok(-m, r):
        return Finding(name, "sign", "equals minus the JAX gradient")
    rr = float(np.sum(r * r))
    if rr > 0:
        c = float(np.sum(m * r)) / rr
        if c != 0 and abs(c - 1) > 1e-3 and ok(m / c, r):
            return Finding(name, "scale", f"equals c times the JAX gradient, {_describe_scale(c, n_samples)}")
    if m.ndim == 2 and m.shape == r.T.shape and ok(m, r.T):
        return Finding(name, "transpose", "equals the JAX gradient transposed (a square matrix)")
    for other, ref in refs.items():
        if other != name and ref.shape == m.shape and ok(m, ref):
            return Finding(name, "swapped", f"equals the JAX gradient of {other}")
    for label, variant in variants.items():
        if name in variant and variant[name].shape == m.shape and ok(m, variant[name]):
            kind = "stale_weights" if label.startswith("stale") else "activation_derivative"
            return Finding(name, kind, f"matches the chain rule with {label}")
    return Finding(
        name,
        "mismatch",
        f"differs from JAX (max rel error {comparison.max_rel:.3g}, {comparison.fraction:.3g} x tolerance); "
        f"worst at {comparison.worst_index}: manual {_num(comparison.manual, '.6g')}, "
        f"JAX {_num(comparison.reference, '.6g')}",
    )


def _derivative_variants(
    spec: NetworkSpec, params: ParamsLike, cache: bp_manual.network.Cache, Y: Array, rtol: float
) -> dict[str, dict[str, Array]]:
    """What the chain rule gives with a known wrong hidden derivative, by ``bp_manual.backward``.

    Only variants that differ from the correct gradients are kept. Keys are
    parameter names and ``delta1..``.
    """
    act = HIDDEN[spec.hidden]
    candidates: dict[str, Callable[[Array, Array], Array]] = {
        "the hidden derivative dropped (f' = 1)": lambda Z, A: np.ones_like(Z),
        f"{spec.hidden}' written for A but evaluated at Z": lambda Z, A: act.derivative(Z, Z),
        f"{spec.hidden}' evaluated at A instead of Z": lambda Z, A: act.derivative(A, act.f(A)),
    }
    right_grads, right_deltas = backward(spec, params, cache, Y)
    right = {**_flatten(spec, right_grads), **{f"delta{i + 1}": d for i, d in enumerate(right_deltas)}}
    out: dict[str, dict[str, Array]] = {}
    if spec.n_layers < 2:
        return out
    with np.errstate(all="ignore"):
        for label, fp in candidates.items():
            g, d = backward(spec, params, cache, Y, f_prime=fp)
            flat = {**_flatten(spec, g), **{f"delta{i + 1}": x for i, x in enumerate(d)}}
            differs = any(not (np.all(np.isfinite(flat[k])) and _close(flat[k], right[k], rtol)) for k in right)
            if differs:
                out[label] = flat
    return out


def _close(a: Array, b: Array, rtol: float, scale: float = 0.0) -> bool:
    """``a`` within ``rtol`` of ``b``, as :func:`_compare` judges it (``scale``: the array's ``T``)."""
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    return bool(np.max(relative_errors(a, b, scale), initial=0.0) <= rtol)


def _vacuity(
    spec: NetworkSpec,
    cache: bp_manual.network.Cache,
    refs: Mapping[str, Array],
    manual: Mapping[str, Array],
    comparisons: list[Comparison],
    dtype: np.dtype[Any],
) -> tuple[list[Comparison], list[str]]:
    """Turn passes where both sides are (almost) zero into ``vacuous``; name dead/saturated units."""
    root_u = math.sqrt(float(np.finfo(dtype).eps) / 2)
    biggest = max((float(np.max(np.abs(r), initial=0.0)) for r in refs.values()), default=0.0)
    tiny = root_u * biggest
    warnings: list[str] = []
    vacuous: set[str] = set()
    for name, r in refs.items():
        m = manual.get(name)
        r_max = float(np.max(np.abs(r), initial=0.0))
        if m is None or m.shape != r.shape or not np.all(np.isfinite(m)):
            continue
        if r_max <= tiny and float(np.max(np.abs(m), initial=0.0)) <= tiny:
            vacuous.add(name)
            warnings.append(
                f"{name}: passed only because both sides are (almost) zero (max |g| = {r_max:.3g}, "
                f"largest gradient in the network {biggest:.3g}): nothing was tested"
            )
    out = [
        Comparison(**{**asdict(c), "verdict": "vacuous"}) if c.param in vacuous and c.verdict == "pass" else c
        for c in comparisons
    ]
    act = HIDDEN[spec.hidden]
    for l, c in enumerate(cache[:-1], start=1):
        fp = np.abs(act.derivative(c.Z, c.A))
        flat_units = np.flatnonzero(np.max(fp, axis=0) <= root_u)
        if flat_units.size:
            what = "dead" if act.kinked else "saturated"
            units = ", ".join(map(str, flat_units[:8])) + (" ..." if flat_units.size > 8 else "")
            warnings.append(
                f"layer {l}: {flat_units.size} of {c.Z.shape[1]} hidden units are {what} on every sample "
                f"(|f'(Z)| <= {root_u:.1e}; units {units}): their rows of W{l}"
                + (f", b{l}" if spec.bias else "")
                + " are zero on both sides and test nothing"
            )
    return out, warnings


# ---------------------------------------------------------------- finite differences


def _fd_witness(
    spec: NetworkSpec,
    params: ParamsLike,
    X: Array,
    Y: Array,
    manual: Mapping[str, Array],
    jax_refs: Mapping[str, Array],
    rtol: float,
    max_entries: int,
    rng: np.random.Generator,
) -> list[Comparison]:
    """Float64 central differences at ``h`` and ``2h`` for up to ``max_entries`` entries per array.

    Entries: all of them when the array is small enough; otherwise the entry
    where manual and JAX differ most, the largest JAX entry, and a random
    sample of the rest. The loss is ``bp_manual``'s forward pass in float64
    (the third witness only evaluates the loss, never a derivative).
    """
    p64 = [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    X64 = X.astype(np.float64)
    Y64 = Y.astype(np.float64)

    def loss_now() -> float:
        _, cache = _forward(spec, p64, X64)
        return float(_loss_from_cache(spec, cache, Y64))

    base = loss_now()
    noise = fd_rounding(spec.sizes, X.shape[0], base)
    out: list[Comparison] = []
    for i, key, name in _param_names(spec):
        arr = p64[i][key]
        ref = jax_refs[name]
        m = manual.get(name)
        size = arr.size
        if size <= max_entries:
            chosen = np.arange(size)
        else:
            picks: list[int] = [int(np.argmax(np.abs(ref)))]
            if m is not None and m.shape == ref.shape and np.all(np.isfinite(m)):
                picks.append(int(np.argmax(np.abs(m.astype(np.float64) - ref))))
            rest = rng.choice(size, size=max_entries, replace=False)
            chosen = np.array(list(dict.fromkeys([*picks, *map(int, rest)]))[:max_entries])
        flat = arr.reshape(-1)  # a view: perturb in place, restore after
        d1 = np.empty(chosen.size)
        d2 = np.empty(chosen.size)
        for j, k in enumerate(chosen):
            t = flat[k]
            vals = []
            for step in (FD_STEP, -FD_STEP, 2 * FD_STEP, -2 * FD_STEP):
                flat[k] = t + step
                vals.append(loss_now())
            flat[k] = t
            d1[j] = (vals[0] - vals[1]) / (2 * FD_STEP)
            d2[j] = (vals[2] - vals[3]) / (4 * FD_STEP)
        index_map = [tuple(int(x) for x in np.unravel_index(int(k), arr.shape)) for k in chosen]
        if m is None:
            out.append(Comparison(name, "fd", tuple(arr.shape), "missing"))
            continue
        if m.shape != arr.shape:
            out.append(Comparison(name, "fd", tuple(arr.shape), "shape"))
            continue
        m_sel = np.asarray(m).reshape(-1)[chosen]
        allowance = FD_SAFETY * (np.abs(d2 - d1) / 3 + noise) + rtol * (
            float(np.max(np.abs(d1), initial=0.0)) + np.abs(d1)
        )
        c = _compare(name, "fd", m_sel, d1, rtol, allowance=allowance, index_map=index_map)
        out.append(Comparison(**{**asdict(c), "shape": tuple(arr.shape)}))
    return out


# ---------------------------------------------------------------- gradients


def _parse_grads(spec: NetworkSpec, out: object, who: str) -> tuple[Any, dict[str, Array], Any, list[Finding]]:
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
    for i, key, name in _param_names(spec):
        layer = grads[i]
        if not isinstance(layer, Mapping):
            if key == "W":
                findings.append(
                    Finding(f"layer{i + 1}", "shape", f"grads[{i}] is a {type(layer).__name__}, not a dict")
                )
            continue
        if key not in layer:
            findings.append(Finding(name, "shape", f"grads[{i}] has no {key!r} entry"))
            continue
        arr = _as_float_array(layer[key])
        if arr is None:
            findings.append(Finding(name, "shape", f"grads[{i}][{key!r}] is not a numeric array"))
            continue
        found[name] = arr
    for i, layer in enumerate(grads):
        if isinstance(layer, Mapping):
            extra = set(layer) - ({"W", "b"} if spec.bias else {"W"})
            if extra:
                findings.append(Finding(f"layer{i + 1}", "shape", f"grads[{i}] has unexpected keys {sorted(extra)}"))
    return loss, found, deltas, findings


def _check_problem(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Array, Array]:
    """The auditor's own input check (``ValueError``/``TypeError`` naming the argument)."""
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _check_finite_params(params)
    return X_, Y_


def _check_finite_params(params: ParamsLike) -> None:
    for i, layer in enumerate(params):
        for k, v in layer.items():
            if not np.all(np.isfinite(v)):
                raise ValueError(f"params[{i}][{k!r}] contains NaN or inf")


def audit(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    grad_fn: GradFn = bp_manual.loss_and_grads,
    *,
    finite_differences: bool = True,
    fd_max_entries: int = 64,
    seed: int = 0,
    name: str | None = None,
) -> AuditReport:
    """Audit ``grad_fn`` against JAX and float64 central finite differences.

    Args:
        spec: the architecture.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``, float32 or float64, finite.
        X: ``(N, n_in)`` or one sample; ``Y``: ``(N, n_out)`` or labels (as ``loss_and_grads``).
        grad_fn: ``grad_fn(spec, params, X, Y) -> (loss, grads)`` or
            ``(loss, grads, deltas)`` (the localisation protocol: ``deltas[l-1]``
            is ``dL/dZ_l``, ``(N, n_l)``). It gets copies of the inputs, with
            ``X``, ``Y`` already converted to ``(N, n_in)``, ``(N, n_out)`` in
            the params' dtype.
        finite_differences: also compare with central differences (float64).
        fd_max_entries: at most this many entries per array get a finite
            difference (four loss evaluations each).
        seed: for the choice of sampled entries.
        name: how the report names ``grad_fn`` (default: its qualified name).

    Returns:
        An :class:`AuditReport`; ``report.ok`` is True when nothing was found.

    Raises:
        TypeError / ValueError: ``spec``, ``params``, ``X`` or ``Y`` do not fit
            (never because of what ``grad_fn`` does).
    """
    X_, Y_ = _check_problem(spec, params, X, Y)
    if isinstance(fd_max_entries, bool) or not isinstance(fd_max_entries, int) or fd_max_entries < 1:
        raise ValueError(f"fd_max_entries must be an integer >= 1, got {fd_max_entries!r}")
    dtype = X_.dtype
    N = X_.shape[0]
    rtol = gradient_rtol(spec.sizes, N, dtype, saturation(spec, params, X_, Y_))
    who = name or _name(grad_fn)
    report = AuditReport(who, "gradients", spec, np.dtype(dtype).name, N, rtol)

    loss_j, grads_j, deltas_j = jax_grads.loss_grads_and_deltas(spec, params, X_, Y_)
    scales = term_scales(spec, params, X_, Y_)
    refs = _flatten(spec, grads_j)
    delta_refs = {f"delta{i + 1}": d for i, d in enumerate(deltas_j)}
    _, cache = _forward(spec, params, X_)
    if not kinks_are_clear(spec, params, X_):
        report.warnings.append(
            "some pre-activations lie within rounding distance of a ReLU kink, where the derivative is a "
            "convention; a disagreement there need not be a mistake"
        )

    args = (_copy(params), X_.copy(), Y_.copy())
    try:
        with np.errstate(all="ignore"):
            out = grad_fn(spec, *args)
    except Exception as exc:  # a user's function may raise anything: that is a finding
        report.findings.append(_exception_finding("grad_fn", who, exc))
        report.comparisons = [Comparison(n, "jax", tuple(r.shape), "missing") for n, r in refs.items()]
        return report
    if any(not np.array_equal(a[k], p[k]) for a, p in zip(args[0], params, strict=True) for k in p) or not (
        np.array_equal(args[1], X_) and np.array_equal(args[2], Y_)
    ):
        report.warnings.append(f"{who} modified its inputs in place (the audit used copies)")

    loss_m, manual, deltas_m, structural = _parse_grads(spec, out, who)
    report.findings += structural
    variants = _derivative_variants(spec, params, cache, Y_, rtol)

    def ok(a: Array, b: Array) -> bool:
        return _close(a, b, rtol)

    comparisons: list[Comparison] = []
    loss_arr = _as_float_array(loss_m)
    if loss_arr is not None and loss_arr.size == 1:
        c = _compare("loss", "jax", loss_arr.reshape(()), np.asarray(loss_j, dtype=np.float64), rtol)
        comparisons.append(c)
        if c.verdict != "pass":
            report.findings.append(_classify("loss", loss_arr.reshape(()), {"loss": np.asarray(loss_j)}, {}, ok, N, c))
    elif loss_m is not None or not structural:
        report.findings.append(Finding("loss", "shape", f"the loss is not a number: {type(loss_m).__name__}"))

    for n, r in refs.items():
        m = manual.get(n)
        if m is None:
            comparisons.append(Comparison(n, "jax", tuple(r.shape), "missing"))
            continue
        c = _compare(n, "jax", m, r, rtol, scale=scales[n])
        comparisons.append(c)
        if c.verdict != "pass":
            report.findings.append(_classify(n, m, refs, variants, ok, N, c))

    fd: list[Comparison] = []
    if finite_differences:
        rng = np.random.default_rng(seed)
        fd = _fd_witness(spec, params, X_, Y_, manual, refs, rtol, fd_max_entries, rng)
        jax_verdict = {c.param: c.verdict for c in comparisons}
        for c in fd:
            if c.verdict == "FAIL" and jax_verdict.get(c.param) == "pass":
                report.findings.append(
                    Finding(
                        c.param,
                        "mismatch",
                        f"agrees with JAX but not with finite differences ({c.fraction:.3g} x the allowance at "
                        f"{c.worst_index}): JAX and this function may share a mistake",
                    )
                )
            elif c.verdict == "pass" and jax_verdict.get(c.param) == "FAIL":
                report.warnings.append(f"{c.param}: disagrees with JAX but agrees with finite differences")

    # deltas: the localisation protocol
    delta_manual: dict[str, Array] = {}
    if deltas_m is not None:
        delta_manual = _parse_deltas(spec, deltas_m, N, report)
        for n, r in delta_refs.items():
            m = delta_manual.get(n)
            if m is None:
                continue
            c = _compare(n, "jax", m, r, rtol, scale=scales[n])
            comparisons.append(c)
            if c.verdict != "pass":
                report.findings.append(_classify(n, m, delta_refs, variants, ok, N, c))
        if len(delta_manual) == spec.n_layers:
            report.localisation = _localise(spec, params, cache, manual, delta_manual, delta_refs, refs, rtol, scales)

    all_comparisons = [x for pair in _interleave(comparisons, fd) for x in pair]
    report.comparisons, vac_warnings = _vacuity(spec, cache, {**refs}, manual, all_comparisons, np.dtype(dtype))
    report.warnings += vac_warnings
    _annotate_introduced(report)
    return report


def _interleave(jax_c: list[Comparison], fd_c: list[Comparison]) -> list[list[Comparison]]:
    by_param: dict[str, list[Comparison]] = {}
    for c in jax_c:
        by_param.setdefault(c.param, []).append(c)
    for c in fd_c:
        by_param.setdefault(c.param, []).append(c)
    return list(by_param.values())


def _parse_deltas(spec: NetworkSpec, deltas: object, N: int, report: AuditReport) -> dict[str, Array]:
    if not isinstance(deltas, list | tuple) or len(deltas) != spec.n_layers:
        report.warnings.append(
            f"the third return value (deltas) is not a list of {spec.n_layers} arrays (N, n_l); no localisation"
        )
        return {}
    out: dict[str, Array] = {}
    for l, (d, n) in enumerate(zip(deltas, spec.sizes[1:], strict=True), start=1):
        arr = _as_float_array(d)
        if arr is None or arr.shape != (N, n):
            shape = None if arr is None else arr.shape
            report.findings.append(Finding(f"delta{l}", "shape", f"delta{l} has shape {shape}, expected {(N, n)}"))
            continue
        out[f"delta{l}"] = arr
    return out


def _localise(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: bp_manual.network.Cache,
    manual: Mapping[str, Array],
    deltas: Mapping[str, Array],
    delta_refs: Mapping[str, Array],
    refs: Mapping[str, Array],
    rtol: float,
    scales: Mapping[str, float],
) -> list[dict[str, str]]:
    """Per delta and gradient: right, wrong and introduced here, or wrong and inherited.

    Every comparison uses the array's term size (``scales``, from
    ``tolerance.term_scales``), as the verdicts do.

    A delta is *introduced* wrong when it differs from JAX's and is not what
    the correct recursion (``bp_manual.network.delta_below``) makes of the
    function's own delta one layer up. A gradient is *introduced* wrong when
    it is not what ``layer_grads`` makes of the function's own delta.
    """
    f_prime = HIDDEN[spec.hidden].derivative
    L = spec.n_layers
    entries: list[dict[str, str]] = []
    for l in range(L, 0, -1):
        name = f"delta{l}"
        m = deltas[name]
        if _close(m, delta_refs[name], rtol, scales[name]):
            entries.append({"where": name, "status": "ok", "detail": "matches JAX"})
        elif l == L:
            entries.append(
                {
                    "where": name,
                    "status": "introduced",
                    "detail": "the output delta dL/dZ_L; it should be (Y_hat - Y) / N",
                }
            )
        else:
            below = cache[l - 1]
            with np.errstate(all="ignore"):
                expected = delta_below(deltas[f"delta{l + 1}"], params[l]["W"], f_prime(below.Z, below.A))
            if _close(m, expected, rtol, scales[name]):
                entries.append(
                    {
                        "where": name,
                        "status": "inherited",
                        "detail": f"wrong, but the correct recursion of delta{l + 1}",
                    }
                )
            else:
                entries.append(
                    {
                        "where": name,
                        "status": "introduced",
                        "detail": f"the recursion delta{l} = (delta{l + 1} @ W{l + 1}) * f'(Z{l}) is not followed",
                    }
                )
        with np.errstate(all="ignore"):
            expected_g = layer_grads(deltas[name], cache[l - 1].A_prev, spec.bias)
        for key in expected_g:
            pname = f"{key}{l}"
            g = manual.get(pname)
            if g is None:
                continue
            right = _close(g, refs[pname], rtol, scales[pname])
            follows = _close(g, expected_g[key], rtol, scales[pname])
            formula = f"dW{l} = delta{l}.T @ A{l - 1}" if key == "W" else f"db{l} = delta{l}.sum(axis=0)"
            if right:
                entries.append({"where": pname, "status": "ok", "detail": "matches JAX"})
            elif follows:
                entries.append(
                    {"where": pname, "status": "inherited", "detail": f"wrong, but {formula} of a wrong delta{l}"}
                )
            else:
                entries.append({"where": pname, "status": "introduced", "detail": f"{formula} is not followed"})
    return entries


def _annotate_introduced(report: AuditReport) -> None:
    """Add ``introduced at ...`` / ``inherited`` to each finding's detail."""
    status = {e["where"]: e for e in report.localisation}
    introduced = report.introduced
    if not introduced:
        return
    first = ", ".join(introduced)
    out = []
    for f in report.findings:
        e = status.get(f.param)
        if e is None:
            out.append(f)
        elif e["status"] == "introduced":
            out.append(Finding(f.param, f.kind, f"{f.detail}; the error is introduced here ({e['detail']})"))
        else:
            out.append(Finding(f.param, f.kind, f"{f.detail}; inherited (introduced at {first})"))
    report.findings = out


# ---------------------------------------------------------------- update rules


def _stale_gradient(
    spec: NetworkSpec, params: ParamsLike, cache: bp_manual.network.Cache, Y: Array, lr: float
) -> Params:
    """What a backward pass gives if it updates ``W_{l+1}`` before propagating through it.

    ``delta_l`` then uses ``W_{l+1} - lr dW_{l+1}``. The dependence is
    triangular (layer ``l`` needs only the layers above), so ``L`` rounds of
    ``bp_manual.backward`` on the progressively updated weights reach it exactly.
    """
    current: Params = [dict(layer) for layer in params]
    g: Params = []
    for _ in range(spec.n_layers):
        g, _ = backward(spec, current, cache, Y)
        current = bp_manual.sgd_step(params, g, lr)
    return g


def audit_step(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    Y: object,
    lr: float,
    step_fn: StepFn,
    *,
    name: str | None = None,
) -> AuditReport:
    """Audit an update rule ``new_params = step_fn(spec, params, X, Y, lr)`` against
    ``params - lr * JAX gradient``.

    Each array is compared through its implied gradient ``(p - new) / lr``
    (float64), with the allowance ``rtol (max(max|g|, T) + |g_i|) + 2 u (max|p| + max|new|) / lr``
    (the gradient tolerance, ``T`` the term size of ``tolerance.term_scales``,
    plus the rounding of the subtraction on each side).

    Args:
        spec, params, X, Y: as for :func:`audit`.
        lr: the learning rate, finite and > 0.
        step_fn: the update rule; it gets copies.
        name: how the report names ``step_fn``.

    Returns:
        An :class:`AuditReport` (mode ``"step"``) whose ``extra`` holds the
        loss before and after the step. Findings add ``ascent``, ``lr_scale``
        and ``stale_weights`` to the gradient kinds.
    """
    X_, Y_ = _check_problem(spec, params, X, Y)
    lr = check_lr(lr)
    dtype = X_.dtype
    N = X_.shape[0]
    rtol = gradient_rtol(spec.sizes, N, dtype, saturation(spec, params, X_, Y_))
    u = float(np.finfo(dtype).eps) / 2
    who = name or _name(step_fn)
    report = AuditReport(who, "step", spec, np.dtype(dtype).name, N, rtol)
    loss_before, grads_j = jax_grads.loss_and_grads(spec, params, X_, Y_)
    refs = _flatten(spec, grads_j)
    scales = term_scales(spec, params, X_, Y_)
    report.extra["loss before"] = float(loss_before)
    try:
        with np.errstate(all="ignore"):
            new = step_fn(spec, _copy(params), X_.copy(), Y_.copy(), lr)
    except Exception as exc:
        report.findings.append(_exception_finding("step_fn", who, exc))
        return report
    _, found, _, structural = _parse_grads(spec, (None, new), who)
    report.findings += [Finding(f.param, f.kind, f.detail.replace("grads", "the new params")) for f in structural]
    if structural:
        return report
    p_flat = {k: v.astype(np.float64) for k, v in _flatten(spec, params).items()}
    implied = {k: (p_flat[k] - found[k].astype(np.float64)) / lr for k in found if found[k].shape == p_flat[k].shape}
    _, cache = _forward(spec, params, X_)
    variants = _derivative_variants(spec, params, cache, Y_, rtol)
    if spec.n_layers > 1:
        variants["stale weights (each layer updated before the error was propagated through it)"] = _flatten(
            spec, _stale_gradient(spec, params, cache, Y_, lr)
        )

    def allowance(name: str, r: Array) -> Array:
        new_max = float(np.max(np.abs(found[name].astype(np.float64)), initial=0.0))
        extra = 2 * u * (float(np.max(np.abs(p_flat[name]), initial=0.0)) + new_max) / lr
        return rtol * (max(float(np.max(np.abs(r), initial=0.0)), scales[name]) + np.abs(r)) + extra

    for n, r in refs.items():
        m = found.get(n)
        if m is None or n not in implied:
            report.comparisons.append(Comparison(n, "jax", tuple(r.shape), "shape"))
            report.findings.append(Finding(n, "shape", f"the new {n} has shape {None if m is None else m.shape}"))
            continue
        g = implied[n]
        c = _compare(n, "jax", g, r.astype(np.float64), rtol, allowance=allowance(n, r.astype(np.float64)))
        report.comparisons.append(c)
        if c.verdict == "pass":
            continue

        def ok(a: Array, b: Array, n: str = n) -> bool:
            if a.shape != b.shape or not np.all(np.isfinite(a)):
                return False
            return bool(np.all(np.abs(a - b) <= allowance(n, b)))

        f = _classify(n, g, refs, variants, ok, N, c)
        f = _step_kind(f)
        report.findings.append(f)
    try:
        new_params = [{k: np.asarray(new[i][k], dtype=dtype) for k in params[i]} for i in range(spec.n_layers)]
        loss_after = float(bp_manual.loss(spec, new_params, X_, Y_))
        report.extra["loss after"] = loss_after
    except (ValueError, TypeError):
        pass
    return report


def _step_kind(f: Finding) -> Finding:
    """Re-read a gradient finding as an update-rule finding."""
    if f.kind == "sign":
        return Finding(f.param, "ascent", "the update is p + lr * gradient: it climbs the loss")
    if f.kind == "scale":
        c = float(f.detail.split("c = ", 1)[1].split()[0])
        if c < 0:
            return Finding(f.param, "ascent", f"the update is p + {-c:.6g} * lr * gradient: it climbs the loss")
        return Finding(
            f.param, "lr_scale", f"the update is p - c * lr * gradient with c = {c:.6g} (an effective lr of c * lr)"
        )
    if f.kind == "zero":
        return Finding(f.param, "zero", "the update leaves it unchanged")
    return f


# ---------------------------------------------------------------- predictions


def audit_forward(
    spec: NetworkSpec, params: ParamsLike, X: object, predict_fn: PredictFn, *, name: str | None = None
) -> AuditReport:
    """Audit a prediction function ``Y_hat = predict_fn(spec, params, X)`` against JAX's forward pass.

    Args:
        spec, params: as for :func:`audit`; ``X``: ``(N, n_in)`` or one sample.
        predict_fn: must return ``(N, n_out)``; it gets copies, ``X`` as ``(N, n_in)``.
        name: how the report names ``predict_fn``.

    Returns:
        An :class:`AuditReport` (mode ``"forward"``): finding ``forward`` when
        the values differ, ``shape`` when it cannot even run or returns the
        wrong shape, ``nonfinite`` for NaN/inf.
    """
    check_spec(spec)
    X_ = as_inputs(spec, X, check_params(spec, params))
    _check_finite_params(params)
    dtype = X_.dtype
    N = X_.shape[0]
    rtol = gradient_rtol(spec.sizes, N, dtype)
    who = name or _name(predict_fn)
    report = AuditReport(who, "forward", spec, np.dtype(dtype).name, N, rtol)
    ref = jax_grads.predict(spec, params, X_)
    try:
        with np.errstate(all="ignore"):
            out = predict_fn(spec, _copy(params), X_.copy())
    except Exception as exc:
        report.findings.append(
            Finding(
                "Y_hat",
                "shape" if _SHAPE_WORDS.search(str(exc)) else "forward",
                f"{who} raised {type(exc).__name__}: {exc}",
            )
        )
        report.comparisons.append(Comparison("Y_hat", "jax", tuple(ref.shape), "missing"))
        return report
    m = _as_float_array(out)
    if m is None or m.shape != ref.shape:
        shape = None if m is None else m.shape
        detail = f"returned shape {shape}, expected {ref.shape} (N, n_out)"
        if m is not None and m.shape == ref.T.shape and _close(m.T, ref, rtol):
            detail += "; transposed (one column per sample) it matches JAX"
        report.findings.append(Finding("Y_hat", "shape", detail))
        report.comparisons.append(Comparison("Y_hat", "jax", tuple(ref.shape), "shape"))
        return report
    c = _compare("Y_hat", "jax", m, ref, rtol)
    report.comparisons.append(c)
    if c.verdict == "nonfinite":
        report.findings.append(Finding("Y_hat", "nonfinite", f"contains NaN or inf (first at {c.worst_index})"))
    elif c.verdict != "pass":
        report.findings.append(
            Finding(
                "Y_hat",
                "forward",
                f"differs from the JAX forward pass (max rel error {c.max_rel:.3g}); worst at {c.worst_index}: "
                f"{c.manual:.6g} vs JAX {c.reference:.6g}",
            )
        )
    return report
