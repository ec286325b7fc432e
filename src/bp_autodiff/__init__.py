"""bp_autodiff: the same network in JAX, the witness for :mod:`bp_manual`.

``loss_and_grads`` has the signature of ``bp_manual.loss_and_grads`` and
returns NumPy arrays, so the core check reads::

    assert_close(bp_manual.loss_and_grads(spec, params, X, Y),
                 bp_autodiff.loss_and_grads(spec, params, X, Y))

float64 params give float64 results without touching JAX's global
configuration (see :mod:`bp_autodiff.grads`).
"""

from bp_autodiff.grads import loss_and_grads, loss_grads_and_deltas, sgd_step

__all__ = ["loss_and_grads", "loss_grads_and_deltas", "sgd_step"]
__version__ = "0.1.0"
