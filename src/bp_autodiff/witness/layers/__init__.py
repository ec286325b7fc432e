"""JAX twins of the layers of :mod:`bp_manual.layers`: ``<name>(*inputs, **config) -> out``.

What this package is for: each layer's forward written again with
``jax.numpy``/``jax.lax`` (convolution through ``lax.conv_general_dilated``,
pooling through ``lax.reduce_window``, recurrences through ``lax.scan``), to be
differentiated by ``jax.vjp``. Same-named modules as :mod:`bp_manual.layers`.

What it is not for: calling the hand derivation, ever.
"""

# --- dense family: linear, activations, dropout, embedding, sequential ---
from bp_autodiff.witness.layers.activations import gelu, leaky_relu, relu, sigmoid, softplus, tanh
from bp_autodiff.witness.layers.dropout import dropout
from bp_autodiff.witness.layers.embedding import embedding
from bp_autodiff.witness.layers.linear import linear
from bp_autodiff.witness.layers.sequential import TWINS, Twin, sequential, sequential_loss

__all__ = [
    "TWINS",
    "Twin",
    "dropout",
    "embedding",
    "gelu",
    "leaky_relu",
    "linear",
    "relu",
    "sequential",
    "sequential_loss",
    "sigmoid",
    "softplus",
    "tanh",
]
