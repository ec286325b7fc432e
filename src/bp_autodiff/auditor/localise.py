"""Localisation: in which layer a wrong backward pass goes wrong, and which layers only inherit it.

What this module is for: when a ``grad_fn`` returns its deltas
(``deltas[l - 1] = dL/dZ_l``, ``(N, n_l)``), each delta and gradient is judged
twice: against JAX's, and against what the correct equation makes of the
function's *own* inputs to it. A delta is *introduced* wrong when it differs
from JAX's and is not what the correct recursion
(``bp_manual.network.delta_below``) makes of the function's own delta one
layer up; a gradient is *introduced* wrong when it is not what
``bp_manual.network.layer_grads`` makes of the function's own delta. Errors
passed down from above are *inherited*.

What it is not for: the diagnosis of a wrong array (:mod:`bp_autodiff.auditor.classify`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.report import Finding, Localisation
from bp_autodiff.auditor.tolerance import close
from bp_manual.activations import HIDDEN
from bp_manual.initializers import ParamsLike
from bp_manual.network import Cache, delta_below, layer_grads
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


def localise(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: Cache,
    manual: Mapping[str, Array],
    deltas: Mapping[str, Array],
    delta_refs: Mapping[str, Array],
    refs: Mapping[str, Array],
    rtol: float,
    scales: Mapping[str, float],
    passed: Collection[str] = (),
) -> list[Localisation]:
    """Per delta and gradient, from the output layer down: ``ok``, ``introduced`` or ``inherited``.

    Every comparison uses the array's term size (``scales``, from
    ``tolerance.term_scales``), as the verdicts do. ``passed``: the names whose
    comparison with JAX (the same test, :func:`bp_autodiff.auditor.compare.compare`)
    already passed; they are ``ok`` without comparing again.
    """
    f_prime = HIDDEN[spec.hidden].derivative
    L = spec.n_layers
    entries: list[Localisation] = []
    for l in range(L, 0, -1):
        name = f"delta{l}"
        m = deltas[name]
        if name in passed or close(m, delta_refs[name], rtol, scales[name])[0]:
            entries.append(Localisation(name, "ok", "matches JAX"))
        elif l == L:
            entries.append(Localisation(name, "introduced", "the output delta dL/dZ_L; it should be (Y_hat - Y) / N"))
        else:
            below = cache[l - 1]
            with np.errstate(all="ignore"):
                expected = delta_below(deltas[f"delta{l + 1}"], params[l]["W"], f_prime(below.Z, below.A))
            if close(m, expected, rtol, scales[name])[0]:
                entries.append(Localisation(name, "inherited", f"wrong, but the correct recursion of delta{l + 1}"))
            else:
                recursion = f"the recursion delta{l} = (delta{l + 1} @ W{l + 1}) * f'(Z{l}) is not followed"
                entries.append(Localisation(name, "introduced", recursion))
        with np.errstate(all="ignore"):
            expected_g = layer_grads(deltas[name], cache[l - 1].A_prev, spec.bias)
        for key in expected_g:
            pname = f"{key}{l}"
            g = manual.get(pname)
            if g is None:
                continue
            formula = f"dW{l} = delta{l}.T @ A{l - 1}" if key == "W" else f"db{l} = delta{l}.sum(axis=0)"
            if pname in passed or close(g, refs[pname], rtol, scales[pname])[0]:
                entries.append(Localisation(pname, "ok", "matches JAX"))
            elif close(g, expected_g[key], rtol, scales[pname])[0]:
                entries.append(Localisation(pname, "inherited", f"wrong, but {formula} of a wrong delta{l}"))
            else:
                entries.append(Localisation(pname, "introduced", f"{formula} is not followed"))
    return entries


def annotate(findings: list[Finding], localisation: list[Localisation]) -> list[Finding]:
    """Each finding with its localisation ``status`` set and ``introduced at ...`` / ``inherited`` in its detail."""
    status = {e.where: e for e in localisation}
    introduced = [e.where for e in localisation if e.status == "introduced"]
    if not introduced:
        return findings
    first = ", ".join(introduced)
    out = []
    for f in findings:
        e = status.get(f.param)
        if e is None or e.status == "ok":
            out.append(f)
        elif e.status == "introduced":
            detail = f"{f.detail}; the error is introduced here ({e.detail})"
            out.append(dataclasses.replace(f, detail=detail, status="introduced"))
        else:
            detail = f"{f.detail}; inherited (introduced at {first})"
            out.append(dataclasses.replace(f, detail=detail, status="inherited"))
    return out
