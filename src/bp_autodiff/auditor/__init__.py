"""The auditor: is a backward pass right, where does it go wrong, what does the mistake look like.

What this package is for: holding a backward pass against the witnesses (JAX,
:mod:`bp_autodiff.witness`; float64 central finite differences) and saying,
per array, how far off it is and what kind of mistake it resembles. One module
per step and one per entry point:

=========================  =====================================================
``tolerance``              the tolerance policy, derived; the one definition of "close"
``report``                 :class:`AuditReport`, :class:`Comparison`, :class:`Finding`,
                           :class:`Localisation`; the kinds of finding
``contract``               calling a user's function and reading what it returned
``compare``                one array against one witness
``classify``               the diagnosis: which mistake a wrong array resembles
``finite_differences``     the third witness
``kinks``                  entries that depend on the side of a kink rounding chose
``localise``               which layer introduces an error, which inherit it
``vacuity``                passes that tested nothing
``gradients``              entry point :func:`audit` (a network's gradients)
``step``                   entry point :func:`audit_step` (an update rule)
``forward``                entry point :func:`audit_forward` (predictions)
``vjp``                    entry point :func:`audit_vjp` (any backward pass in the layer contract), with
                           ``vjp_contract``, ``vjp_check``, ``vjp_witness``, ``vjp_jax``,
                           ``vjp_compare``, ``vjp_diagnosis``, ``vjp_layers`` and ``sweep``
``chain``                  entry point :func:`audit_chain` (which step of a chain of pairs introduces
                           an error, which inherit it)
``check``                  the engine of ``bp check`` (the hand derivation, everywhere)
``lockstep``, ``trace``    the two sides run side by side (training, one step)
``adapters``               a ``jax.custom_vjp``, a ``torch.autograd.Function`` or a library
                           layer as a forward/backward pair (and its JAX reference)
``plot``                   heatmaps of a failing array: expected, got, difference
=========================  =====================================================

What it is not for: computing gradients (:mod:`bp_autodiff.witness`,
:mod:`bp_manual`) or the command line (:mod:`bp_autodiff.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bp_autodiff import lazy

#: public name -> the module of this package it lives in. Imported on first use (PEP 562), so that a module
#: of the package that needs no JAX (``tolerance``, ``report``, ``plot``) can be imported without the rest,
#: and ``bp`` commands that do not audit (``bp train``, ``bp explain``, ``bp --help``) start without JAX.
_LAZY = {
    "audit_chain": "chain",
    "PredictFn": "forward",
    "audit_forward": "forward",
    "GradFn": "gradients",
    "audit": "gradients",
    "FORWARD_KINDS": "report",
    "KINDS": "report",
    "STEP_KINDS": "report",
    "VJP_KINDS": "report",
    "AuditReport": "report",
    "Comparison": "report",
    "Finding": "report",
    "Localisation": "report",
    "StepFn": "step",
    "audit_step": "step",
    "audit_vjp": "vjp",
}

if TYPE_CHECKING:
    from bp_autodiff.auditor.chain import audit_chain
    from bp_autodiff.auditor.forward import PredictFn, audit_forward
    from bp_autodiff.auditor.gradients import GradFn, audit
    from bp_autodiff.auditor.report import (
        FORWARD_KINDS,
        KINDS,
        STEP_KINDS,
        VJP_KINDS,
        AuditReport,
        Comparison,
        Finding,
        Localisation,
    )
    from bp_autodiff.auditor.step import StepFn, audit_step
    from bp_autodiff.auditor.vjp import audit_vjp


__getattr__, __dir__ = lazy.attributes(__name__, {name: f"{__name__}.{module}" for name, module in _LAZY.items()})


__all__ = [
    "FORWARD_KINDS",
    "KINDS",
    "STEP_KINDS",
    "VJP_KINDS",
    "AuditReport",
    "Comparison",
    "Finding",
    "GradFn",
    "Localisation",
    "PredictFn",
    "StepFn",
    "audit",
    "audit_chain",
    "audit_forward",
    "audit_step",
    "audit_vjp",
]
