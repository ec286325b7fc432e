"""The entry point for predictions: :func:`audit_forward` holds a prediction function against JAX's forward pass.

What this module is for: auditing ``Y_hat = predict_fn(spec, params, X)``:
``forward`` when the values differ, ``shape`` when it cannot run or returns
the wrong shape (and whether the transpose would match), ``nonfinite`` for
NaN or inf.

What it is not for: gradients (:mod:`bp_autodiff.auditor.gradients`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import as_float_array, copy_params, exception_finding, function_name
from bp_autodiff.auditor.report import AuditReport, Comparison, Finding
from bp_autodiff.auditor.tolerance import close, gradient_rtol
from bp_autodiff.witness import grads as jax_grads
from bp_manual.initializers import Params, ParamsLike
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, check_params, check_spec

Array = NDArray[np.floating]
PredictFn = Callable[[NetworkSpec, Params, Array], Any]


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
    dtype = X_.dtype
    N = X_.shape[0]
    rtol = gradient_rtol(spec.sizes, N, dtype)
    who = name or function_name(predict_fn)
    report = AuditReport(who, "forward", spec, np.dtype(dtype).name, N, rtol)
    ref = jax_grads.predict(spec, params, X_)
    try:
        with np.errstate(all="ignore"):
            out = predict_fn(spec, copy_params(params), X_.copy())
    except Exception as exc:
        report.findings.append(exception_finding("Y_hat", who, exc, otherwise="forward"))
        report.comparisons.append(Comparison("Y_hat", "jax", tuple(ref.shape), "missing"))
        return report
    m = as_float_array(out)
    if m is None or m.shape != ref.shape:
        shape = None if m is None else m.shape
        detail = f"returned shape {shape}, expected {ref.shape} (N, n_out)"
        if m is not None and m.shape == ref.T.shape and close(m.T, ref, rtol)[0]:
            detail += "; transposed (one column per sample) it matches JAX"
        report.findings.append(Finding("Y_hat", "shape", detail))
        report.comparisons.append(Comparison("Y_hat", "jax", tuple(ref.shape), "shape"))
        return report
    c = compare("Y_hat", "jax", m, ref, rtol)
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
