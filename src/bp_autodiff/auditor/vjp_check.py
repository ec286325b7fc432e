"""One audit of a forward/backward pair at one setting: the stages of :func:`bp_autodiff.audit_vjp`.

What this module is for: :func:`check`, which runs a pair once on given inputs
and settings and returns the :class:`~bp_autodiff.auditor.report.AuditReport`
of that setting: the contracts (the forward runs, twice to the same result,
leaves its inputs alone; the backward runs and returns one gradient per
input), the witnesses (:mod:`bp_autodiff.auditor.vjp_witness`), the
comparisons, the entries left out at kinks, vacuity, and the diagnosis of
each failing gradient (:mod:`bp_autodiff.auditor.vjp_diagnosis`).

What it is not for: the options, the layer by name and the sweep over
settings (:mod:`bp_autodiff.auditor.vjp`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bp_autodiff.auditor.report import AuditReport, Comparison, Finding, summarise
from bp_autodiff.auditor.tolerance import FD_SAFETY, KAPPA, unit_roundoff
from bp_autodiff.auditor.vacuity import vacuous_vjp
from bp_autodiff.auditor.vjp_compare import best_reference, compare_input, escalate, own_allowance
from bp_autodiff.auditor.vjp_contract import (
    Options,
    Outputs,
    Slot,
    Subject,
    arguments,
    as_gradient,
    call,
    changed_inputs,
    raised,
    read_forward,
    read_grads,
    run_pair,
)
from bp_autodiff.auditor.vjp_diagnosis import Evidence, classify_vjp
from bp_autodiff.auditor.vjp_jax import jax_vjp
from bp_autodiff.auditor.vjp_witness import (
    U32,
    U64,
    Evaluator,
    FDResult,
    ForwardFailedError,
    directional,
    elementwise,
    noise,
)

Array = Any
#: The most Jacobian entries kept from the finite differences for the diagnosis (float64, 32 MB).
MAX_COLUMNS = 4_000_000


def check(subject: Subject, slots: Sequence[Slot], config: Mapping[str, Any], options: Options) -> AuditReport:
    """Audit ``subject`` at one setting (module docstring); never raises because of what the pair does."""
    floats = [s for s in slots if s.role == "float"]
    u = max(unit_roundoff(s.value.dtype) for s in floats)
    dtype = next(s.value.dtype for s in floats if unit_roundoff(s.value.dtype) == u)
    report = AuditReport(subject.who, "vjp", None, dtype.name, 0, KAPPA * u)
    report.inputs = {s.name: s.describe() for s in slots}
    if config:
        report.inputs["config"] = repr(dict(config))
    given = arguments(slots)
    result, exc = call(subject.forward, *given, **config)
    if exc:
        report.findings.append(raised("forward", subject.who, exc))
        return report
    outputs, problem = read_forward(result, subject.who)
    if outputs is None:
        report.findings.append(problem)  # type: ignore[arg-type]
        return report
    if not all(np.all(np.isfinite(a)) for a in outputs.arrays):
        report.findings.append(Finding("out", "nonfinite", f"{subject.who} returned NaN or inf at the given inputs"))
        return report
    again, _ = call(subject.forward, *arguments(slots), **config)
    second = read_forward(again, subject.who)[0] if again is not None else None
    if second is not None and not _same_outputs(outputs, second, u):
        report.findings.append(
            Finding(
                "forward",
                "nondeterministic",
                "two calls on the same inputs returned different outputs: something random (a dropout mask, a "
                "key) is drawn inside forward, so finite differences and the backward each see another function; "
                "pass the mask or key as an input, as bp_manual.layers.dropout does (dropout_forward(x, mask, p))",
            )
        )
        return report
    for name in changed_inputs(slots, given):
        report.findings.append(Finding(name, "modifies_inputs", f"forward modified input {name!r} in place"))

    douts = _douts(outputs, options)
    if options.dout is not None and any(d.size > 1 and np.all(d == d.reshape(-1)[0]) for d in douts):
        report.warnings.append("the dout given is uniform: mistakes that cancel under a constant dout stay hidden")
    dout_given = outputs.dout([d.copy() for d in douts])
    back, exc = call(subject.backward, dout_given, outputs.cache)
    if exc:
        report.findings.append(raised("backward", subject.who, exc))
        return report
    if not all(np.array_equal(a, b) for a, b in zip(_pieces(dout_given), douts, strict=True)):
        report.findings.append(Finding("dout", "modifies_inputs", f"{subject.who}'s backward modified dout in place"))
    for name in changed_inputs(slots, given):
        if not any(f.param == name and f.kind == "modifies_inputs" for f in report.findings):
            report.findings.append(Finding(name, "modifies_inputs", f"backward modified input {name!r} in place"))
    raw, found, warnings = read_grads(back, slots, subject.who)
    report.findings += found
    report.warnings += warnings
    manual: dict[str, Array] = {}
    for s in floats:
        if s.name in raw:
            arr, problem = as_gradient(s, raw[s.name], subject.who)
            if problem is not None:
                report.findings.append(problem)
            if arr is not None:
                manual[s.name] = arr
    _judge(report, subject, slots, config, options, outputs, douts, manual, u)
    return report


def _pieces(dout: Any) -> list[Array]:
    return [d for d in dout if d is not None] if isinstance(dout, tuple) else [dout]


def _same_outputs(a: Outputs, b: Outputs, u: float) -> bool:
    if len(a.arrays) != len(b.arrays):
        return False
    for x, y in zip(a.arrays, b.arrays, strict=True):
        if x.shape != y.shape:
            return False
        scale = float(np.max(np.abs(x), initial=0.0))
        if np.any(np.abs(x.astype(np.float64) - y.astype(np.float64)) > KAPPA * u * scale):
            return False
    return True


def _douts(outputs: Outputs, options: Options) -> list[Array]:
    """The upstream gradient per float output: the user's, or random normal (seeded), in the output's dtype."""
    if options.dout is not None:
        given = _pieces(tuple(options.dout)) if isinstance(options.dout, tuple | list) else [options.dout]
        shapes = [tuple(a.shape) for a in outputs.arrays]
        if [np.shape(d) for d in given] != shapes:
            raise ValueError(f"dout: shapes {[np.shape(d) for d in given]} do not fit the outputs' {shapes}")
        return [np.asarray(d, dtype=a.dtype) for d, a in zip(given, outputs.arrays, strict=True)]
    rng = np.random.default_rng([options.seed, 1])
    return [np.asarray(rng.standard_normal(a.shape), dtype=a.dtype) for a in outputs.arrays]


def _judge(
    report: AuditReport,
    subject: Subject,
    slots: Sequence[Slot],
    config: Mapping[str, Any],
    options: Options,
    outputs: Outputs,
    douts: list[Array],
    manual: dict[str, Array],
    u: float,
) -> None:
    """The witnesses, the comparisons, the kinks and the diagnosis, into ``report``."""
    floats = [s for s in slots if s.role == "float"]
    ev = Evaluator(subject.forward, slots, config, {s.name: s.value.astype(np.float64) for s in floats})
    try:
        base = ev.outs()
    except ForwardFailedError as exc:
        report.findings.append(Finding("forward", "raises", f"{subject.who} fails on float64 inputs: {exc}"))
        return
    other_dtype = np.float32 if u == U64 else np.float64
    other_out, other_grads = run_pair(subject, slots, config, other_dtype, douts)
    other_flat = None
    if other_out is not None:
        other_flat = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in other_out.arrays])
    e = noise(base, other_flat, U64, U32)
    dout = np.concatenate([d.astype(np.float64).reshape(-1) for d in douts])
    rng = np.random.default_rng([options.seed, 2])
    noises = {
        n: noise(m.astype(np.float64), other_grads.get(n), u, unit_roundoff(other_dtype)) for n, m in manual.items()
    }
    for n, m in manual.items():
        half = math.sqrt(u) * float(np.max(np.abs(m.astype(np.float64)), initial=0.0))
        if n in other_grads and noises[n] > half:
            report.warnings.append(
                f"{n}: its own rounding (the same function in {np.dtype(other_dtype).name}) is {noises[n]:.3g}, more "
                "than half the digits of its largest entry: errors below that are not seen"
            )
    jax_refs = _jax_refs(report, subject, slots, config, douts, base, e)
    fds: dict[str, FDResult] = {}
    for s in floats:
        m = manual.get(s.name)
        usable = m is not None and m.shape == s.value.shape and bool(np.all(np.isfinite(m)))
        u_m = max(u, unit_roundoff(m.dtype)) if m is not None else u  # a gradient less precise than its input
        allow_m = own_allowance(noises.get(s.name, 0.0), u_m, m if usable else None)
        if s.value.size <= options.fd_max_entries:
            keep = base.size * s.value.size <= MAX_COLUMNS
            fds[s.name] = elementwise(ev, s.name, base, dout, e, range(s.value.size), keep)
        else:
            m64 = m.astype(np.float64) if usable and m is not None else None
            fds[s.name], _ = directional(
                ev, s.name, base, dout, e, m64, allow_m, rng, options.directions, options.budget
            )
        if usable and s.name in jax_refs and m is not None:
            escalate(ev, s.name, base, dout, e, fds[s.name], m, jax_refs[s.name], noises[s.name], u_m, options.budget)
    report.extra["forward_calls"] = float(ev.calls)

    refs: dict[str, Array] = {}
    allows: dict[str, Array] = {}
    failing: list[tuple[str, Comparison]] = []
    for s in floats:
        m = manual.get(s.name)
        fd = fds[s.name]
        if m is None:
            report.comparisons.append(Comparison(s.name, "fd", tuple(s.value.shape), "missing"))
            refs[s.name], allows[s.name] = best_reference(fd, jax_refs.get(s.name), None, 0.0, u)
            continue
        u_m = max(u, unit_roundoff(m.dtype))
        rows, inconclusive, ref, allow = compare_input(s.name, m, fd, jax_refs.get(s.name), noises[s.name], u_m)
        refs[s.name], allows[s.name] = ref, allow
        report.inconclusive += inconclusive
        for row in rows:
            warning = vacuous_vjp(s.name, ref, m, allow) if row.verdict == "pass" else None
            if warning:
                row = dataclasses.replace(row, verdict="vacuous")
                if warning not in report.warnings:
                    report.warnings.append(warning)
            report.comparisons.append(row)
        bad = [r for r in rows if r.verdict in ("FAIL", "shape", "nonfinite")]
        if bad:
            failing.append((s.name, bad[-1]))
            if m.shape == ref.shape:
                report.arrays[s.name] = (ref, m)
        fd_pass = any(r.witness == "fd" and r.verdict == "pass" for r in rows)
        if fd_pass and any(r.witness == "jax" and r.verdict == "FAIL" for r in rows):
            report.warnings.append(f"{s.name}: disagrees with the JAX reference but agrees with finite differences")
    if failing:
        evidence = _evidence(subject, slots, config, options, outputs, douts, dout, refs, allows, fds, jax_refs)
        for name, row in failing:
            report.findings.append(classify_vjp(name, manual[name], evidence, row))
    report.warnings += summarise(report.inconclusive)


def _jax_refs(
    report: AuditReport,
    subject: Subject,
    slots: Sequence[Slot],
    config: Mapping[str, Any],
    douts: list[Array],
    base: Array,
    e: float,
) -> dict[str, Array]:
    """JAX's gradients, when a reference is given and computes the same forward (else a finding or a warning)."""
    if subject.reference is None:
        return {}
    try:
        outs, grads = jax_vjp(subject.reference, slots, config, douts)
        ref_flat = np.concatenate([o.reshape(-1) for o in outs])
    except Exception as exc:  # the reference is the user's too
        report.warnings.append(f"the JAX reference raised {type(exc).__name__}: {exc}; finite differences only")
        return {}
    if ref_flat.shape != base.shape:
        report.findings.append(
            Finding("out", "forward", f"the output has {base.size} entries, the reference's {ref_flat.size}")
        )
        return {}
    allowed = FD_SAFETY * 2 * e + KAPPA * U64 * np.abs(ref_flat)
    off = np.abs(base - ref_flat)
    if np.any(off > allowed):
        k = int(np.argmax(off / np.where(allowed > 0, allowed, 1.0)))
        report.findings.append(
            Finding(
                "out",
                "forward",
                f"the forward differs from the JAX reference's (flat output entry {k}: {base[k]:.6g} against "
                f"{ref_flat[k]:.6g}): not the same function; the gradients are judged by finite differences only",
            )
        )
        return {}
    return grads


def _evidence(
    subject: Subject,
    slots: Sequence[Slot],
    config: Mapping[str, Any],
    options: Options,
    outputs: Outputs,
    douts: list[Array],
    dout: Array,
    refs: dict[str, Array],
    allows: dict[str, Array],
    fds: dict[str, FDResult],
    jax_refs: dict[str, Array],
) -> Evidence:
    """Everything the diagnosis may use (:class:`~bp_autodiff.auditor.vjp_diagnosis.Evidence`)."""
    columns = {n: fd.columns for n, fd in fds.items() if fd.columns is not None}
    cache: dict[str, Mapping[str, Array] | None] = {}
    rng = np.random.default_rng([options.seed, 3])
    second = [np.asarray(rng.standard_normal(d.shape), dtype=d.dtype) for d in douts]

    def probe(label: str) -> Mapping[str, Array] | None:
        if label not in cache:
            chosen = {"again": douts, "second": second}.get(label) or [np.zeros_like(d) for d in douts]
            _, grads = run_pair(subject, slots, config, None, chosen)
            cache[label] = grads or None
        return cache[label]

    ones = {n: (np.ones_like(dout) @ J).reshape(refs[n].shape) for n, J in columns.items()}
    if subject.reference is not None and jax_refs:
        with contextlib.suppress(Exception):  # it ran once already; a failure now only loses a detail
            ones.update(jax_vjp(subject.reference, slots, config, [np.ones_like(d) for d in douts])[1])
    shapes = [tuple(a.shape) for a in outputs.arrays]
    return Evidence(
        refs,
        allows,
        dout,
        shapes,
        columns,
        probe,
        ones,
        _mistakes(subject, slots, config, outputs, douts),
        _hints(slots, config, shapes),
    )


def _mistakes(
    subject: Subject, slots: Sequence[Slot], config: Mapping[str, Any], outputs: Outputs, douts: list[Array]
) -> dict[str, tuple[Any, dict[str, Array], str]]:
    """Each catalog entry's gradients on the library forward's cache of the same inputs (those that raise left out)."""
    if not subject.mistakes or subject.library_forward is None:
        return {}
    out: dict[str, tuple[Any, dict[str, Array], str]] = {}
    for entry_name, entry in subject.mistakes.items():
        lib = Subject(subject.library_forward, entry.backward, entry_name)
        _, grads = run_pair(lib, slots, config, None, douts)
        summary = ((entry.backward.__doc__ or "").strip().splitlines() or [""])[0]
        if grads:
            out[entry_name] = (entry, grads, summary.removeprefix("Mistake: "))
    return out


def _hints(slots: Sequence[Slot], config: Mapping[str, Any], shapes: list[tuple[int, ...]]) -> dict[float, str]:
    """Factors with a usual reason, where the setting has them: ``1 - p``, ``1 / (1 - p)`` (a ``p``), ``k*k``
    (a ``kernel_size``), ``N`` and ``1/N`` (a scalar output, a loss, over a first input of ``N > 1`` rows)."""
    settings: dict[str, Any] = dict(config)
    for s in slots:
        if isinstance(s.value, Mapping):
            settings.update(s.value)
        elif s.role == "setting" and isinstance(s.value, float) and s.name == "p":
            settings["p"] = s.value
    hints: dict[float, str] = {}
    p = settings.get("p")
    if isinstance(p, float | int) and 0 < p < 1:
        hints[1 - p] = f"1 - p with p = {p}: the scale 1 / (1 - p) left out"
        hints[1 / (1 - p)] = f"1 / (1 - p) with p = {p}, applied twice"
    k = settings.get("kernel_size")
    if isinstance(k, int) and k > 1:
        hints[float(k * k)] = f"k * k = {k * k}: the 1 / k**2 of the window mean left out"
    first = next(s for s in slots if s.role == "float")
    if shapes == [()] and first.value.ndim >= 1 and first.value.shape[0] > 1:
        n = first.value.shape[0]
        hints.setdefault(float(n), f"N = {n}, the batch: a sum where a mean is taken")
        hints.setdefault(1.0 / n, f"1/N with N = {n}: a mean taken twice")
    return hints
