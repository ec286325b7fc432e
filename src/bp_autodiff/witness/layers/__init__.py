"""JAX twins of the layers of :mod:`bp_manual.layers`: ``<name>(*inputs, **config) -> out``.

What this package is for: each layer's forward written again with
``jax.numpy``/``jax.lax`` (convolution through ``lax.conv_general_dilated``,
pooling through ``lax.reduce_window``, recurrences through ``lax.scan``), to be
differentiated by ``jax.vjp``. Same-named modules as :mod:`bp_manual.layers`.

Import a twin from its module (``from bp_autodiff.witness.layers.softmax import
softmax``): the twins are named after their modules, so the package does not
re-export them (a name would be both a module and a function).

What it is not for: calling the hand derivation, ever.
"""
