"""What an audit found: the findings, the comparisons and the report that holds them.

What this module is for: the records every entry point of the auditor returns
(:class:`AuditReport`, with its :class:`Comparison` rows, :class:`Finding` list
and :class:`Localisation` entries), the fixed vocabularies of finding kinds,
and the two ways a report is read: :meth:`AuditReport.render` (a text table)
and :meth:`AuditReport.to_dict`/:meth:`AuditReport.to_json`.

What it is not for: deciding anything. The comparison is
:mod:`bp_autodiff.auditor.compare`, the diagnosis
:mod:`bp_autodiff.auditor.classify`, the localisation
:mod:`bp_autodiff.auditor.localise`.

Findings carry their numbers as fields (the scale factor ``c`` of a ``scale``
finding, the layer of a parameter, where its error is introduced), so a caller
never has to read a number back out of ``detail``, which is for people.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bp_manual.spec import NetworkSpec

#: Finding kinds for gradients (:func:`bp_autodiff.audit`).
KINDS = ("sign", "scale", "transpose", "zero", "swapped", "activation_derivative", "shape", "nonfinite", "mismatch")
#: Finding kinds for update rules (:func:`bp_autodiff.audit_step`).
STEP_KINDS = (*KINDS, "ascent", "stale_weights", "lr_scale")
#: Finding kinds for prediction functions (:func:`bp_autodiff.audit_forward`).
FORWARD_KINDS = ("forward", "shape", "nonfinite")
#: Finding kinds for any backward pass (:func:`bp_autodiff.audit_vjp`); ``auditor/vjp.py`` says what each means.
VJP_KINDS = (
    "sign",
    "scale",
    "transpose",
    "zero",
    "swapped",
    "shape",
    "nonfinite",
    "ignores_upstream",
    "unreduced",
    "lost_accumulation",
    "diagonal_only",
    "layer_mistake",
    "nondeterministic",
    "modifies_inputs",
    "dtype",
    "missing",
    "raises",
    "forward",
    "mismatch",
)

#: Localisation statuses: the array is right, wrong and made wrong here, or wrong only by what it was given.
STATUSES = ("ok", "introduced", "inherited")

_LAYER = re.compile(r"^(?:W|b|delta|layer)(\d+)$")


def layer_of(param: str) -> int | None:
    """The layer ``l`` a parameter name belongs to (``"W2"``, ``"b2"``, ``"delta2"``, ``"layer2"`` -> 2), else None."""
    m = _LAYER.match(param)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Finding:
    """One thing wrong.

    Attributes:
        param: ``"W1"``, ``"delta2"``, ``"loss"``, ``"grad_fn"``...
        kind: from :data:`STEP_KINDS` or :data:`FORWARD_KINDS`.
        detail: what was seen, in plain words (for people; the numbers are fields).
        factor: for ``scale``, ``lr_scale`` and a scaled ``ascent``: the ``c`` with
            ``manual = c * reference``; else None.
        layer: the layer ``l`` of ``param`` (layer 1 is ``params[0]``), or None.
        status: from the localisation, when the function returned deltas:
            ``"introduced"`` (the error is made here) or ``"inherited"``; else None.
        setting: for :func:`bp_autodiff.audit_vjp`'s sweep, the settings and shapes at
            which this was found (``"conv_param={'stride': 1, 'pad': 0}"``); None
            for the settings given.
    """

    param: str
    kind: str
    detail: str
    factor: float | None = None
    layer: int | None = None
    status: str | None = None
    setting: str | None = None

    @classmethod
    def of(cls, param: str, kind: str, detail: str, factor: float | None = None) -> Finding:
        """A finding with its ``layer`` read from ``param``'s name."""
        return cls(param, kind, detail, factor, layer_of(param))


@dataclass(frozen=True)
class Comparison:
    """One array against one witness.

    Attributes:
        param: ``"W1"``, ``"b1"``, ``"delta1"``, ``"loss"``, ``"Y_hat"``...
        witness: ``"jax"`` or ``"fd"`` (float64 central finite differences).
        shape: the reference's shape.
        verdict: ``"pass"``, ``"FAIL"``, ``"vacuous"``, ``"shape"``, ``"nonfinite"`` or ``"missing"``.
        max_abs: ``max|m - r|`` over the compared entries (``nan`` when not comparable).
        max_rel: ``max_i |m_i - r_i| / (max(max|r|, T) + |r_i|)`` (``tolerance.relative_errors``).
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


@dataclass(frozen=True)
class Localisation:
    """Where an error is introduced: one delta or gradient of the function, judged against its own inputs.

    Attributes:
        where: ``"delta2"``, ``"W1"``, ``"b1"``...
        status: ``"ok"``, ``"introduced"`` or ``"inherited"`` (:data:`STATUSES`).
        detail: the equation that is or is not followed, in plain words.
    """

    where: str
    status: str
    detail: str


@dataclass(frozen=True)
class Inconclusive:
    """An entry a witness could not judge, left out of the verdict (never a finding on its own).

    Attributes:
        param: ``"W1"``...; ``index``: the entry's index in that array.
        witness: ``"fd"`` or ``"jax"``.
        reason: why, in plain words (a kink inside the finite-difference step, a
            pre-activation on a kink, a kink within rounding distance).
        one_sided: which one-sided derivative the function's value equals (a valid
            choice at a kink): against finite differences ``"left"`` or ``"right"``
            (in the direction of the parameter); against JAX ``"jax"`` (the branch
            JAX took) or ``"other"`` (the other branch); None for neither.
    """

    param: str
    index: tuple[int, ...]
    witness: str
    reason: str
    one_sided: str | None = None


@dataclass(frozen=True)
class SweepCase:
    """One setting tried by :func:`bp_autodiff.audit_vjp`'s sweep.

    Attributes:
        setting: the settings and shapes, in words (``"conv_param={'stride': 2, 'pad': 0}"``).
        verdict: ``"pass"``, ``"FAIL"`` or ``"skipped"`` (the forward or the reference
            does not accept that setting).
        kinds: the finding kinds at that setting (empty for a pass).
        note: why it was skipped, or the first finding, in words.
    """

    setting: str
    verdict: str
    kinds: tuple[str, ...] = ()
    note: str = ""


@dataclass
class AuditReport:
    """What an audit found. ``ok`` is True when there is no finding.

    Attributes:
        subject: what was audited (a function's qualified name).
        mode: ``"gradients"``, ``"step"``, ``"forward"``, ``"vjp"`` or ``"chain"``
            (:func:`bp_autodiff.audit_chain`: per step, names prefixed ``"<step>/"``).
        spec: the architecture (None for ``"vjp"``, which describes ``inputs`` instead);
            ``dtype``: ``"float64"`` or ``"float32"``; ``n_samples``: ``N`` (0 for ``"vjp"``).
        rtol: the relative tolerance against JAX (:mod:`bp_autodiff.auditor.tolerance`).
        comparisons: one :class:`Comparison` per array and witness.
        findings: the :class:`Finding` list (empty when ``ok``).
        warnings: vacuity and other caveats, in plain words.
        localisation: one :class:`Localisation` per delta and gradient, when the
            function returned deltas.
        inconclusive: the entries left out of the verdict (:class:`Inconclusive`).
        extra: mode-specific numbers (e.g. the loss before and after a step).
        inputs: for ``"vjp"``: each input's name and what it is (``"float64 (2, 3, 8, 8)"``,
            ``"int64 (5,) passed through"``, ``"setting {'stride': 1} passed through"``),
            and the keyword settings as ``"config"``.
        sweep: for ``"vjp"``: the settings tried beyond the ones given (:class:`SweepCase`).
        arrays: ``{name: (expected, got)}`` for each failing array whose shape is right, at
            the settings given (the reference the verdict used, and the function's value),
            for :func:`bp_autodiff.auditor.plot.plot_arrays`; not part of :meth:`to_dict`.
    """

    subject: str
    mode: str
    spec: NetworkSpec | None
    dtype: str
    n_samples: int
    rtol: float
    comparisons: list[Comparison] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    localisation: list[Localisation] = field(default_factory=list)
    inconclusive: list[Inconclusive] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    sweep: list[SweepCase] = field(default_factory=list)
    arrays: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)

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
        return [entry.where for entry in self.localisation if entry.status == "introduced"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become strings)."""
        s = self.spec
        spec = None
        if s is not None:
            spec = {"sizes": list(s.sizes), "hidden": s.hidden, "output": s.output, "loss": s.loss, "bias": s.bias}
        return jsonable(
            {
                "subject": self.subject,
                "mode": self.mode,
                "spec": spec,
                "dtype": self.dtype,
                "n_samples": self.n_samples,
                "rtol": self.rtol,
                "ok": self.ok,
                "findings": [asdict(f) for f in self.findings],
                "warnings": list(self.warnings),
                "localisation": [asdict(e) for e in self.localisation],
                "inconclusive": [asdict(e) for e in self.inconclusive],
                "comparisons": [asdict(c) for c in self.comparisons],
                "extra": dict(self.extra),
                "inputs": dict(self.inputs),
                "sweep": [asdict(c) for c in self.sweep],
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def render(self) -> str:
        """The report as a text table with findings, localisation and warnings."""
        s = self.spec
        lines = [f"audit of {self.subject} ({self.mode})"]
        if s is not None:
            lines.append(
                f"network {s.sizes}, hidden {s.hidden}, output {s.output} + loss {s.loss}, "
                f"bias {s.bias}, N = {self.n_samples}, {self.dtype}; rtol vs JAX {self.rtol:.2g}"
            )
        else:
            lines.append("inputs: " + "; ".join(f"{k} {v}" for k, v in self.inputs.items()))
        if self.mode == "step":
            lines.append("manual = the gradient the step implies, (p - new) / lr; reference = JAX's gradient")
        lines.append("")
        lines += _table(self.comparisons)
        if self.localisation:
            if self.mode == "chain":
                lines += ["", "localisation (each step's backward, given the gradient the chain passed it):"]
            else:
                lines += ["", "localisation (deltas dL/dZ_l from the function, against JAX's):"]
            lines += [f"  {e.where:<8} {e.status:<10} {e.detail}" for e in self.localisation]
        if self.extra:
            lines += ["", "  ".join(f"{k} = {v:.6g}" for k, v in self.extra.items())]
        if self.sweep:
            failed = sum(c.verdict == "FAIL" for c in self.sweep)
            lines += ["", f"settings swept: {len(self.sweep)}, failing: {failed}"]
            lines += [f"  {c.verdict:<8} {c.setting}" + (f": {c.note}" if c.note else "") for c in self.sweep]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        lines += ["", f"findings: {len(self.findings)}" if self.findings else "findings: none (ok)"]
        lines += [
            f"  {f.param:<8} {f.kind:<22} " + (f"at {f.setting}: " if f.setting else "") + f.detail
            for f in self.findings
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _side(witness: str, one_sided: str | None) -> str:
    """What the function's value is at an inconclusive entry, in words."""
    if one_sided is None:
        return "; the value given is neither one-sided derivative"
    if witness == "fd":
        return f"; the value given is the {one_sided} derivative"
    return "; the value given takes " + ("JAX's branch" if one_sided == "jax" else "the other branch (also valid)")


def summarise(inconclusive: list[Inconclusive]) -> list[str]:
    """One warning per array, witness, reason and branch for the inconclusive entries (at most six listed)."""
    groups: dict[tuple[str, str, str, str | None], list[tuple[int, ...]]] = {}
    for e in inconclusive:
        groups.setdefault((e.param, e.witness, e.reason, e.one_sided), []).append(e.index)
    out = []
    for (param, witness, reason, one_sided), indices in groups.items():
        against = "finite differences" if witness == "fd" else "JAX"
        listed = ", ".join(str(list(i)) for i in indices[:6]) + (" ..." if len(indices) > 6 else "")
        n = len(indices)
        out.append(
            f"{param}: {n} entr{'y' if n == 1 else 'ies'} inconclusive against {against}, left out of the verdict "
            f"({listed}): {reason}{_side(witness, one_sided)}"
        )
    return out


_HEADER = ("param", "shape", "witness", "checked", "max abs", "max rel", "x tol", "worst at", "manual", "reference")


def _table(comparisons: list[Comparison]) -> list[str]:
    """One aligned row per comparison, under a header."""
    rows = [(*_HEADER, "verdict")]
    for c in comparisons:
        rows.append(
            (
                c.param,
                "x".join(map(str, c.shape)) or "()",
                c.witness,
                str(c.checked),
                number(c.max_abs),
                number(c.max_rel),
                number(c.fraction, ".2g"),
                "-" if c.worst_index is None else str(list(c.worst_index)),
                number(c.manual, ".6g"),
                number(c.reference, ".6g"),
                c.verdict,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def number(x: float | None, fmt: str = ".2e") -> str:
    """``x`` formatted with ``fmt``, or ``"-"`` for None and NaN (a value that was not measured)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy scalars as Python numbers and non-finite floats as strings (``"nan"``, ``"inf"``)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return str(float(obj))
    if isinstance(obj, np.floating | np.integer):
        return obj.item()
    return obj
