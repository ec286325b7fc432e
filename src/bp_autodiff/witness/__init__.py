"""The witness: the computations of :mod:`bp_manual` written again, independently, in JAX.

What this package is for: gradients that come from ``jax.vjp``/``jax.grad`` of a
forward pass written with ``jax.numpy``/``jax.lax``, never from the hand
derivation, so that holding the two equal proves something.

What it is not for: judging (:mod:`bp_autodiff.auditor`) or the command line
(:mod:`bp_autodiff.cli`).
"""
