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

# --- dense family: linear, activations, dropout, embedding, sequential (docs/layers/dense.md) ---
from bp_manual.layers.activations import (
    gelu_backward,
    gelu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softplus_backward,
    softplus_forward,
    tanh_backward,
    tanh_forward,
)
from bp_manual.layers.attention import attention_backward, attention_forward
from bp_manual.layers.conv import conv2d_backward, conv2d_forward
from bp_manual.layers.dropout import dropout_backward, dropout_forward, dropout_mask
from bp_manual.layers.embedding import embedding_backward, embedding_forward
from bp_manual.layers.flatten import flatten_backward, flatten_forward
from bp_manual.layers.linear import linear_backward, linear_forward
from bp_manual.layers.norm import batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward
from bp_manual.layers.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from bp_manual.layers.recurrent import lstm_backward, lstm_forward, rnn_backward, rnn_forward
from bp_manual.layers.sequential import LAYERS, Layer, Sequential, register
from bp_manual.layers.softmax import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
)

__all__ = [
    "LAYERS",
    "Layer",
    "Sequential",
    "attention_backward",
    "attention_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "embedding_backward",
    "embedding_forward",
    "flatten_backward",
    "flatten_forward",
    "gelu_backward",
    "gelu_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "linear_backward",
    "linear_forward",
    "log_softmax_backward",
    "log_softmax_forward",
    "lstm_backward",
    "lstm_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "register",
    "relu_backward",
    "relu_forward",
    "rnn_backward",
    "rnn_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_backward",
    "softmax_forward",
    "softplus_backward",
    "softplus_forward",
    "tanh_backward",
    "tanh_forward",
]
