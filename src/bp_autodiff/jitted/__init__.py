"""The hand derivation compiled by XLA: :mod:`bp_manual`'s kernels traced by ``jax.jit``.

What this package is for: running the *manual* backward pass at XLA speed
(``bp_manual``'s kernels are written against the array namespace of their
inputs, so they trace on JAX arrays). :mod:`bp_autodiff.jitted.scan` runs a
whole epoch of one-sample SGD as one ``lax.scan``.

What it is not for: autodiff. Nothing here calls ``jax.grad``; the witness is
:mod:`bp_autodiff.witness`.
"""
