"""JAX twin of :mod:`bp_manual.layers.sequential`: the composition of the layers' JAX twins, and its loss.

What this module is for: the witness of a chain of layers. ``sequential`` runs
the twins in order on the same steps and params as a
:class:`bp_manual.layers.Sequential` (steps ``(name, config)``, params one dict
per layer with parameters); ``jax.grad`` of :func:`sequential_loss` is then the
reference for the container's hand backward pass, computed without any of its
code (the twins' registry :data:`TWINS` is written here again).

What it is not for: calling :mod:`bp_manual`, ever. Layer families add their
twins to :data:`TWINS` under the names of their layers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bp_autodiff.witness.layers import activations, softmax
from bp_autodiff.witness.layers.conv import conv2d
from bp_autodiff.witness.layers.embedding import embedding
from bp_autodiff.witness.layers.flatten import flatten
from bp_autodiff.witness.layers.linear import linear
from bp_autodiff.witness.layers.norm import batch_norm, layer_norm
from bp_autodiff.witness.layers.pool import avg_pool2d, max_pool2d
from bp_autodiff.witness.layers.recurrent import lstm_zero_state, rnn_zero_state


class Twin(NamedTuple):
    """A layer's JAX twin ``fn(x, *params, **settings) -> out``: its parameter names in order, its settings,
    and which settings fix shapes (window sizes, strides, axes), passed to ``jax.jit`` as static."""

    fn: Callable[..., jax.Array]
    params: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    static: tuple[str, ...] = ()


_WINDOW = ("kernel_size", "stride")

#: The twins by layer name (the names of :data:`bp_manual.layers.sequential.LAYERS`).
TWINS: dict[str, Twin] = {
    "linear": Twin(linear, ("W", "b")),
    "embedding": Twin(embedding, ("E",)),
    "relu": Twin(activations.relu),
    "leaky_relu": Twin(activations.leaky_relu, settings=("slope",)),
    "sigmoid": Twin(activations.sigmoid),
    "tanh": Twin(activations.tanh),
    "softplus": Twin(activations.softplus),
    "gelu": Twin(activations.gelu),
    "softmax": Twin(softmax.softmax, settings=("axis",), static=("axis",)),
    "log_softmax": Twin(softmax.log_softmax, settings=("axis",), static=("axis",)),
    "conv2d": Twin(conv2d, ("w", "b"), ("stride", "padding"), ("stride", "padding")),
    "max_pool2d": Twin(max_pool2d, settings=_WINDOW, static=_WINDOW),
    "avg_pool2d": Twin(avg_pool2d, settings=_WINDOW, static=_WINDOW),
    "batch_norm": Twin(batch_norm, ("gamma", "beta"), ("eps",)),
    "layer_norm": Twin(layer_norm, ("gamma", "beta"), ("eps",)),
    "flatten": Twin(flatten, settings=("start_dim", "end_dim"), static=("start_dim", "end_dim")),
    "rnn": Twin(rnn_zero_state, ("Wx", "Wh", "b")),
    "lstm": Twin(lstm_zero_state, ("Wx", "Wh", "b")),
}


@functools.cache
def _compiled(fn: Callable[..., jax.Array], static: tuple[str, ...]) -> Callable[..., jax.Array]:
    """``fn`` compiled on its own (once per shape, dtype and static setting): ``jax.grad`` of the chain
    then reuses the compiled layers, and their transposes, across architectures, instead of compiling
    every primitive op by op (eager) or every architecture anew (one jit of the whole chain)."""
    return jax.jit(fn, static_argnames=static)


def sequential(
    steps: Sequence[tuple[str, Mapping[str, Any]]], params: Sequence[Mapping[str, jax.Array]], x: jax.Array
) -> jax.Array:
    """The model's output: each step's twin applied in order, taking the next params dict when it has parameters.

    ``steps``: ``(name, config)`` pairs (``Sequential.steps``); config keys other
    than a twin's settings (the sizes) are ignored. ``params``: one dict per
    layer with parameters.
    """
    it = iter(params)
    out = x
    for name, config in steps:
        twin = TWINS[name]
        p = next(it) if twin.params else {}
        out = _compiled(twin.fn, twin.static)(
            out, *(p[k] for k in twin.params), **{k: v for k, v in config.items() if k in twin.settings}
        )
    return out


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """``-(1/N) sum_n log_softmax(logits_n)[y_n]``: ``logits (N, K)``, integer ``y (N,)``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def sequential_loss(
    steps: Sequence[tuple[str, Mapping[str, Any]]],
    params: Sequence[Mapping[str, jax.Array]],
    x: jax.Array,
    y: jax.Array,
) -> jax.Array:
    """:func:`cross_entropy` of :func:`sequential`'s output against the labels ``y``."""
    return cross_entropy(sequential(steps, params, x), y)
