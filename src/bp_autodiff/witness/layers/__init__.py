"""JAX twins of the layers of :mod:`bp_manual.layers`: ``<name>(*inputs, **config) -> out``.

What this package is for: each layer's forward written again with
``jax.numpy``/``jax.lax`` (convolution through ``lax.conv_general_dilated``,
pooling through ``lax.reduce_window``, recurrences through ``lax.scan``), to be
differentiated by ``jax.vjp``. Same-named modules as :mod:`bp_manual.layers`.

What it is not for: calling the hand derivation, ever.
"""

from bp_autodiff.witness.layers.conv import conv2d
from bp_autodiff.witness.layers.norm import batch_norm, layer_norm
from bp_autodiff.witness.layers.pool import avg_pool2d, max_pool2d

__all__ = ["avg_pool2d", "batch_norm", "conv2d", "layer_norm", "max_pool2d"]
