"""The witness: the computations of :mod:`bp_manual` written again, independently, in JAX.

What this package is for: gradients that come from ``jax.vjp``/``jax.grad`` of a
forward pass written with ``jax.numpy``/``jax.lax``, never from the hand
derivation, so that holding the two equal proves something. Its modules are
named after their twins in :mod:`bp_manual`:

=====================  =========================================================
``activations``        ``HIDDEN``, ``OUTPUTS`` (the functions; JAX differentiates)
``losses``             ``loss_from_logits``
``network``            ``layer_forward``, ``layers``, ``predict``, ``loss``
``optim``              ``sgd_step``
``grads``              ``loss_and_grads``, ``loss_grads_and_deltas``, ``predict``:
                       NumPy in, NumPy out, float64 kept (``jax.enable_x64``)
``bucketed``           the same gradients, compiled once per shape bucket (tests)
``jitcache``           a size-bounded ``jax.jit``
``layers``             the JAX twins of :mod:`bp_manual.layers`
=====================  =========================================================

What it is not for: judging (:mod:`bp_autodiff.auditor`) or the command line
(:mod:`bp_autodiff.cli`).
"""

from bp_autodiff.witness.grads import loss_and_grads, loss_grads_and_deltas, predict
from bp_autodiff.witness.optim import sgd_step

__all__ = ["loss_and_grads", "loss_grads_and_deltas", "predict", "sgd_step"]
