"""The activations in ``jax.numpy``: the witness's twin of :mod:`bp_manual.activations`.

What this module is for: the element-wise functions of the network, taken
from JAX's own library (``jax.nn.sigmoid``, ``jax.nn.relu``, ...), not from
:mod:`bp_manual`, so a wrong formula there cannot hide by being shared. There
are no derivatives here: JAX differentiates these functions itself.

What it is not for: the loss (:mod:`bp_autodiff.witness.losses`).

``HIDDEN`` and ``OUTPUTS`` have the same keys as ``bp_manual``'s registries of
the same names; an entry here is the function ``f`` alone (``bp_manual``'s
entry is ``f`` with its derivative). All functions are traceable by ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

#: Written here, not imported from ``bp_manual``, so a wrong slope there cannot
#: hide by being shared; a test checks the two agree.
LEAKY_SLOPE = 0.01

#: Hidden activations ``A = f(Z)``, from JAX's library (not from ``bp_manual``).
HIDDEN: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda Z: Z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=LEAKY_SLOPE),
    "softplus": jax.nn.softplus,
}

#: Output activations ``Y_hat = g(Z_L)``.
OUTPUTS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda Z: Z,
    "softmax": partial(jax.nn.softmax, axis=-1),
    "sigmoid": jax.nn.sigmoid,
}
