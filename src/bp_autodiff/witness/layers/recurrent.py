"""JAX twins of :mod:`bp_manual.layers.recurrent`: ``rnn`` and ``lstm``, each a ``lax.scan`` over time.

What this module is for: the recurrences written again as one step function
scanned over the time axis, so ``jax.vjp`` differentiates through the scan
(JAX's own backpropagation through time) and never sees the hand derivation.
Layouts as in :mod:`bp_manual.layers.recurrent`: ``x (N, T, D)``, states
``(N, H)``, ``Wx (G H, D)``, ``Wh (G H, H)``, ``b (G H,)`` with ``G = 1`` (RNN)
or ``4`` (LSTM, gates ``i, f, g, o``); every hidden state returned, ``(N, T, H)``.

What it is not for: calling :mod:`bp_manual`, ever.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def rnn(x: jax.Array, h0: jax.Array, Wx: jax.Array, Wh: jax.Array, b: jax.Array) -> jax.Array:
    """``h_t = tanh(x_t Wx^T + h_{t-1} Wh^T + b)`` for ``t = 0 .. T-1``; returns ``(N, T, H)``."""

    def step(h: jax.Array, x_t: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = jnp.tanh(x_t @ Wx.T + h @ Wh.T + b)
        return h, h

    _, hs = lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
    return jnp.swapaxes(hs, 0, 1)


def lstm(x: jax.Array, h0: jax.Array, c0: jax.Array, Wx: jax.Array, Wh: jax.Array, b: jax.Array) -> jax.Array:
    """The LSTM of ``torch.nn.LSTM`` (gates ``i, f, g, o``); returns the hidden states ``(N, T, H)``."""

    def step(state: tuple[jax.Array, jax.Array], x_t: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        h, c = state
        i, f, g, o = jnp.split(x_t @ Wx.T + h @ Wh.T + b, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    _, hs = lax.scan(step, (h0, c0), jnp.swapaxes(x, 0, 1))
    return jnp.swapaxes(hs, 0, 1)


def rnn_zero_state(x: jax.Array, Wx: jax.Array, Wh: jax.Array, b: jax.Array) -> jax.Array:
    """:func:`rnn` from ``h0 = 0`` (``(N, H)`` zeros of ``x``'s dtype): the layer ``rnn`` of a chain."""
    return rnn(x, jnp.zeros((x.shape[0], Wh.shape[1]), x.dtype), Wx, Wh, b)


def lstm_zero_state(x: jax.Array, Wx: jax.Array, Wh: jax.Array, b: jax.Array) -> jax.Array:
    """:func:`lstm` from ``h0 = c0 = 0``: the layer ``lstm`` of a chain."""
    zeros = jnp.zeros((x.shape[0], Wh.shape[1]), x.dtype)
    return lstm(x, zeros, zeros, Wx, Wh, b)
