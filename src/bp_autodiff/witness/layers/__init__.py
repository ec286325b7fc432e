"""JAX twins of the layers of :mod:`bp_manual.layers`: ``<name>(*inputs, **config) -> out``.

What this package is for: each layer's forward written again with
``jax.numpy``/``jax.lax`` (convolution through ``lax.conv_general_dilated``,
pooling through ``lax.reduce_window``, recurrences through ``lax.scan``), to be
differentiated by ``jax.vjp``. Same-named modules as :mod:`bp_manual.layers`.

What it is not for: calling the hand derivation, ever.
"""

from bp_autodiff.witness.layers.attention import attention
from bp_autodiff.witness.layers.recurrent import lstm, rnn
from bp_autodiff.witness.layers.softmax import cross_entropy, log_softmax, softmax

__all__ = [
    # softmax, recurrent, attention (the sequence family)
    "attention",
    "cross_entropy",
    "log_softmax",
    "lstm",
    "rnn",
    "softmax",
]
