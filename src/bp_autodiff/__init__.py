"""bp_autodiff: the witness for :mod:`bp_manual` in JAX, and the tools that hold a backward pass against it.

``loss_and_grads`` has the signature of ``bp_manual.loss_and_grads`` and
returns NumPy arrays, so the core check reads::

    assert_close(bp_manual.loss_and_grads(spec, params, X, Y),
                 bp_autodiff.loss_and_grads(spec, params, X, Y))

float64 params give float64 results without touching JAX's global
configuration (see :mod:`bp_autodiff.witness.grads`). The auditor
(:func:`audit`, :func:`audit_step`, :func:`audit_forward`, and
:func:`audit_vjp` for any backward pass in the layer contract) holds someone's own
backward pass against JAX and finite differences and says what kind of
mistake it resembles; :mod:`bp_autodiff.catalog` is a collection of wrong
backward passes to practise on.

The sub-packages, and which may import which (``docs/architecture.md``):

- :mod:`bp_autodiff.witness`: the computations in JAX (imports ``bp_manual``'s
  spec, params structure and input checks only, never its derivation);
- :mod:`bp_autodiff.jitted`: the hand derivation compiled by XLA;
- :mod:`bp_autodiff.auditor`: the judging (imports the witness and ``bp_manual``);
- :mod:`bp_autodiff.catalog`: wrong backward passes (imports the auditor);
- :mod:`bp_autodiff.cli`: the ``bp`` command (imports all of the above; nothing imports it).
"""

from bp_autodiff import compat
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
    audit_forward,
    audit_step,
    audit_vjp,
)
from bp_autodiff.witness import loss_and_grads, loss_grads_and_deltas, predict, sgd_step

compat.install()

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
    "audit_forward",
    "audit_step",
    "audit_vjp",
    "loss_and_grads",
    "loss_grads_and_deltas",
    "predict",
    "sgd_step",
]
__version__ = "0.1.0"
