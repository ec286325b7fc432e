"""bp_autodiff: the same network in JAX, the witness for :mod:`bp_manual`.

``loss_and_grads`` has the signature of ``bp_manual.loss_and_grads`` and
returns NumPy arrays, so the core check reads::

    assert_close(bp_manual.loss_and_grads(spec, params, X, Y),
                 bp_autodiff.loss_and_grads(spec, params, X, Y))

float64 params give float64 results without touching JAX's global
configuration (see :mod:`bp_autodiff.grads`). The auditor (:func:`audit`,
:func:`audit_step`, :func:`audit_forward`, in :mod:`bp_autodiff.audit`) holds
someone's own backward pass against JAX and finite differences and says what
kind of mistake it resembles; :mod:`bp_autodiff.catalog` is a collection of
wrong backward passes to practise on.
"""

from bp_autodiff.audit import AuditReport, Comparison, Finding, audit, audit_forward, audit_step
from bp_autodiff.grads import loss_and_grads, loss_grads_and_deltas, predict, sgd_step

__all__ = [
    "AuditReport",
    "Comparison",
    "Finding",
    "audit",
    "audit_forward",
    "audit_step",
    "loss_and_grads",
    "loss_grads_and_deltas",
    "predict",
    "sgd_step",
]
__version__ = "0.1.0"
