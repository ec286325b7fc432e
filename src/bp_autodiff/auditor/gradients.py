"""The entry point for gradients: :func:`audit` holds a network backward pass against JAX and finite differences.

What this module is for: :func:`audit` ``(spec, params, X, Y, grad_fn) ->
AuditReport``: every ``W_l``, ``b_l`` (and ``delta_l``, when ``grad_fn``
returns deltas) of a hand-written backward pass (a ``grad_fn`` with the
signature of ``bp_manual.loss_and_grads``) against JAX
(:mod:`bp_autodiff.witness.grads`; for a problem that fits the smallest
bucket, up to width 32, batch 16 and depth 5, the same numbers from the
padded :mod:`bp_autodiff.witness.bucketed`, one executable per dtype instead
of one per shape) and against float64 central finite
differences of the loss, with the diagnosis of each failing array. The steps
live in their own modules; this one runs them in order. Update rules:
:mod:`bp_autodiff.auditor.step`; predictions: :mod:`bp_autodiff.auditor.forward`.

What it is not for: deciding whether a network trains well, or auditing other
architectures than ``bp_manual.NetworkSpec`` describes.

Parameters are named ``W1, b1, W2, b2, ...`` (layer 1 is the first weight
layer, ``params[0]``), deltas ``delta1, ...`` (``delta_l = dL/dZ_l``).

Errors. For a manual array ``m`` and a reference ``r`` of the same shape,
elementwise ``rel_i = |m_i - r_i| / (max|r| + |r_i|)`` (0 where both are 0).
``max rel`` is the largest ``rel_i``; the comparison with JAX passes when
``max rel <= rtol``, the policy of :mod:`bp_autodiff.auditor.tolerance` (float64:
``1e-9``; float32: derived from the rounding bound). Against finite
differences the allowance per element is the one derived in
:mod:`bp_autodiff.auditor.tolerance` (truncation estimated from steps ``h`` and ``2h``,
plus rounding). ``fraction`` is the largest ratio of an element's error to its
allowance (``<= 1`` is a pass); the worst index is where it is largest.

Findings. Each failing array gets one :class:`Finding` whose ``kind`` is from a
fixed vocabulary (:mod:`bp_autodiff.auditor.report`: ``KINDS``,
``STEP_KINDS``, ``FORWARD_KINDS``), tested in this order against the JAX
reference (:mod:`bp_autodiff.auditor.classify`):

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

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff.auditor.classify import classify, derivative_variants
from bp_autodiff.auditor.compare import by_param, compare
from bp_autodiff.auditor.contract import (
    as_float_array,
    copy_params,
    deltas_by_name,
    exception_finding,
    flatten,
    function_name,
    modified_inputs,
    parse_deltas,
    parse_grads,
)
from bp_autodiff.auditor.finite_differences import fd_witness
from bp_autodiff.auditor.kinks import convention_dependent, judged_against
from bp_autodiff.auditor.localise import annotate, localise
from bp_autodiff.auditor.report import AuditReport, Comparison, Finding, summarise
from bp_autodiff.auditor.tolerance import close, float64_forward, gradient_rtol, saturation, term_scales
from bp_autodiff.auditor.vacuity import vacuity
from bp_autodiff.witness import bucketed
from bp_autodiff.witness import grads as jax_grads
from bp_autodiff.witness.grads import host_params
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import forward_prepared
from bp_manual.spec import NetworkSpec
from bp_manual.validation import prepare_batch

Array = NDArray[np.floating]
GradFn = Callable[[NetworkSpec, Params, Array, Array], Any]


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
    X_, Y_ = prepare_batch(spec, params, X, Y)
    if isinstance(fd_max_entries, bool) or not isinstance(fd_max_entries, int) or fd_max_entries < 1:
        raise ValueError(f"fd_max_entries must be an integer >= 1, got {fd_max_entries!r}")
    dtype = X_.dtype
    N = X_.shape[0]
    at = float64_forward(spec, params, X_, Y_, checked=True)  # for the tolerance, term sizes, finite differences
    rtol = gradient_rtol(spec.sizes, N, dtype, saturation(spec, params, X_, Y_, at=at))
    who = name or function_name(grad_fn)
    report = AuditReport(who, "gradients", spec, np.dtype(dtype).name, N, rtol)

    if bucketed.fits(spec, N):  # the same numbers from one executable per dtype (inputs checked above)
        loss_j, grads_j, deltas_j = bucketed.loss_grads_and_deltas_prepared(spec, host_params(params), X_, Y_)
    else:
        loss_j, grads_j, deltas_j = jax_grads.loss_grads_and_deltas(spec, params, X_, Y_)
    scales = term_scales(spec, params, X_, Y_, at=at)
    refs = flatten(spec, grads_j)
    delta_refs = deltas_by_name(deltas_j)
    cache = at.cache if dtype == np.float64 else forward_prepared(spec, params, X_)[1]  # float64: the same pass
    kink_masks, kink_other = convention_dependent(spec, params, cache, Y_, {**refs, **delta_refs}, rtol, scales)

    args = (copy_params(params), X_.copy(), Y_.copy())
    try:
        with np.errstate(all="ignore"):
            out = grad_fn(spec, *args)
    except Exception as exc:  # a user's function may raise anything: that is a finding
        report.findings.append(exception_finding("grad_fn", who, exc))
        report.comparisons = [Comparison(n, "jax", tuple(r.shape), "missing") for n, r in refs.items()]
        return report
    if modified_inputs(args, params, X_, Y_):
        report.warnings.append(f"{who} modified its inputs in place (the audit used copies)")

    loss_m, manual, deltas_m, structural = parse_grads(spec, out, who)
    report.findings += structural
    refs, at_kinks = judged_against(refs, manual, kink_masks, kink_other, rtol, scales)
    report.inconclusive += at_kinks

    @functools.cache
    def wrong_derivatives() -> dict[str, dict[str, Array]]:
        """The gradients of the known wrong hidden derivatives: three backward passes, so only once an array fails."""
        return derivative_variants(spec, params, cache, Y_, rtol)

    def ok(a: Array, b: Array) -> bool:
        return close(a, b, rtol)[0]

    comparisons: list[Comparison] = []
    loss_arr = as_float_array(loss_m)
    if loss_arr is not None and loss_arr.size == 1:
        c = compare("loss", "jax", loss_arr.reshape(()), np.asarray(loss_j, dtype=np.float64), rtol)
        comparisons.append(c)
        if c.verdict != "pass":
            report.findings.append(
                classify("loss", loss_arr.reshape(()), {"loss": np.asarray(loss_j)}, {}, ok, N, c, spec.loss)
            )
    elif loss_m is not None or not structural:
        report.findings.append(Finding.of("loss", "shape", f"the loss is not a number: {type(loss_m).__name__}"))

    for n, r in refs.items():
        m = manual.get(n)
        if m is None:
            comparisons.append(Comparison(n, "jax", tuple(r.shape), "missing"))
            continue
        c = compare(n, "jax", m, r, rtol, scale=scales[n])
        comparisons.append(c)
        if c.verdict != "pass":
            report.findings.append(classify(n, m, refs, wrong_derivatives(), ok, N, c, spec.loss))
            if np.shape(m) == r.shape:
                report.arrays[n] = (r, m)

    fd: list[Comparison] = []
    if finite_differences:
        rng = np.random.default_rng(seed)
        fd, inconclusive = fd_witness(spec, params, X_, Y_, manual, refs, rtol, fd_max_entries, rng, scales, at=at)
        report.inconclusive += inconclusive
        jax_verdict = {c.param: c.verdict for c in comparisons}
        for c in fd:
            if c.verdict == "FAIL" and jax_verdict.get(c.param) == "pass":
                report.findings.append(
                    Finding.of(
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
        delta_manual, delta_findings, delta_warnings = parse_deltas(spec, deltas_m, N)
        report.findings += delta_findings
        report.warnings += delta_warnings
        delta_refs, at_kinks = judged_against(delta_refs, delta_manual, kink_masks, kink_other, rtol, scales)
        report.inconclusive += at_kinks
        for n, r in delta_refs.items():
            m = delta_manual.get(n)
            if m is None:
                continue
            c = compare(n, "jax", m, r, rtol, scale=scales[n])
            comparisons.append(c)
            if c.verdict != "pass":
                report.findings.append(classify(n, m, delta_refs, wrong_derivatives(), ok, N, c, spec.loss))
                if np.shape(m) == r.shape:
                    report.arrays[n] = (r, m)
        if len(delta_manual) == spec.n_layers:
            passed = {c.param for c in comparisons if c.verdict == "pass"}
            report.localisation = localise(
                spec, params, cache, manual, delta_manual, delta_refs, refs, rtol, scales, passed
            )

    report.comparisons, vac_warnings = vacuity(spec, cache, refs, manual, by_param(comparisons, fd), np.dtype(dtype))
    report.warnings += vac_warnings
    report.findings = annotate(report.findings, report.localisation)
    report.warnings += summarise(report.inconclusive)
    return report
