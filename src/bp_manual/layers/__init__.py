"""The backward pass of every layer of the standard curriculum, derived by hand in NumPy.

What this package is for: for each layer a pair of pure functions in the form
courses use (CS231n)::

    <name>_forward(*inputs, **config) -> (out, cache)
    <name>_backward(dout, cache) -> tuple with one gradient per input, in input order

``None`` stands for an input with no gradient (integer indices, a boolean
mask). Layouts are PyTorch's functional ones; float64 by default, float32 kept;
written against the array namespace of their inputs
(:mod:`bp_manual.namespace`), so they also run under ``jax.jit``. One module
per layer family.

What it is not for: importing JAX (never), or drawing randomness inside a
forward (dropout's mask is an input).
"""

from bp_manual.layers.conv import conv2d_backward, conv2d_forward
from bp_manual.layers.norm import batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward
from bp_manual.layers.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]
