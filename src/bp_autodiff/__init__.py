"""bp_autodiff: the witness for :mod:`bp_manual` in JAX, and the tools that hold a backward pass against it.

``loss_and_grads`` has the signature of ``bp_manual.loss_and_grads`` and
returns NumPy arrays, so the core check reads::

    assert_close(bp_manual.loss_and_grads(spec, params, X, Y),
                 bp_autodiff.loss_and_grads(spec, params, X, Y))

float64 params give float64 results without touching JAX's global
configuration (see :mod:`bp_autodiff.witness.grads`). The auditor
(:func:`audit`, :func:`audit_step`, :func:`audit_forward`) holds someone's own
backward pass against JAX and finite differences and says what kind of
mistake it resembles; :mod:`bp_autodiff.catalog` is a collection of wrong
backward passes to practise on.

The sub-packages, and which may import which (``docs/architecture.md``):

- :mod:`bp_autodiff.witness`: the computations in JAX (imports ``bp_manual``'s
  spec, params structure and input checks only, never its derivation);
- :mod:`bp_autodiff.jitted`: the hand derivation compiled by XLA;
- :mod:`bp_autodiff.auditor`: the judging (imports the witness and ``bp_manual``);
- :mod:`bp_autodiff.catalog`: wrong backward passes (imports the auditor);
- :mod:`bp_autodiff.cli`: the ``bp`` command (imports all of the above; nothing imports it);
- :mod:`bp_autodiff.testing`, :mod:`bp_autodiff.strategies`,
  :mod:`bp_autodiff.pytest_plugin`: for other projects' test suites.

``import bp_autodiff`` is cheap: the names below are imported on first use
(PEP 562), so the pytest plugin, which pytest loads in every session of a
project that has this package installed, does not import JAX until an audit
runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bp_autodiff import compat, lazy

compat.install()

#: public name -> the module it lives in (imported on first use)
_LAZY = {
    "FORWARD_KINDS": "bp_autodiff.auditor",
    "KINDS": "bp_autodiff.auditor",
    "STEP_KINDS": "bp_autodiff.auditor",
    "VJP_KINDS": "bp_autodiff.auditor",
    "AuditReport": "bp_autodiff.auditor",
    "Comparison": "bp_autodiff.auditor",
    "Finding": "bp_autodiff.auditor",
    "Localisation": "bp_autodiff.auditor",
    "audit": "bp_autodiff.auditor",
    "audit_chain": "bp_autodiff.auditor",
    "audit_forward": "bp_autodiff.auditor",
    "audit_step": "bp_autodiff.auditor",
    "audit_vjp": "bp_autodiff.auditor",
    "loss_and_grads": "bp_autodiff.witness",
    "loss_grads_and_deltas": "bp_autodiff.witness",
    "predict": "bp_autodiff.witness",
    "sgd_step": "bp_autodiff.witness",
}
#: sub-packages and modules reachable as attributes (``bp_autodiff.catalog``) without importing them first
_SUBMODULES = ("auditor", "catalog", "cli", "jitted", "strategies", "testing", "witness")

if TYPE_CHECKING:
    from bp_autodiff.auditor import (
        FORWARD_KINDS,
        KINDS,
        STEP_KINDS,
        VJP_KINDS,
        AuditReport,
        Comparison,
        Finding,
        Localisation,
        audit,
        audit_chain,
        audit_forward,
        audit_step,
        audit_vjp,
    )
    from bp_autodiff.witness import loss_and_grads, loss_grads_and_deltas, predict, sgd_step


__getattr__, __dir__ = lazy.attributes(__name__, _LAZY, _SUBMODULES)


__all__ = [
    "FORWARD_KINDS",
    "KINDS",
    "STEP_KINDS",
    "VJP_KINDS",
    "AuditReport",
    "Comparison",
    "Finding",
    "Localisation",
    "audit",
    "audit_chain",
    "audit_forward",
    "audit_step",
    "audit_vjp",
    "loss_and_grads",
    "loss_grads_and_deltas",
    "predict",
    "sgd_step",
]
__version__ = "0.1.0"
