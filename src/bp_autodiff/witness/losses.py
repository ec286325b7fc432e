"""The losses in ``jax.numpy``: the witness's twin of :mod:`bp_manual.losses`.

What this module is for: each batch-mean loss written again from JAX's
primitives (``jax.nn.log_softmax``, ``jax.nn.log_sigmoid``), as a function of
the output logits ``Z_L``; JAX differentiates it.

What it is not for: the output delta ``(Y_hat - Y) / N`` (that is the hand
derivation's shortcut; the witness never takes it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bp_manual.spec import NetworkSpec


def loss_from_logits(
    spec: NetworkSpec, Z: jax.Array, Y: jax.Array, rows: jax.Array | None = None, cols: jax.Array | None = None
) -> jax.Array:
    """The batch-mean loss from the output logits ``Z (N, n_out)`` and targets ``Y (N, n_out)``.

    - ``mse``: ``sum((Z - Y)**2) / (2N)``;
    - ``cross_entropy``: ``-sum(Y * log_softmax(Z)) / N``;
    - ``binary_cross_entropy``: ``-sum(Y log sigmoid(Z) + (1 - Y) log sigmoid(-Z)) / N``.

    ``rows (N,)`` and ``cols (n_out,)``, boolean masks given together, are for
    shapes padded to buckets (:mod:`bp_autodiff.witness.bucketed`): only real rows and
    columns enter the sums, the softmax runs over real columns only, and ``N``
    is the number of real rows. Without them every entry is real.
    """
    if spec.loss == "mse":
        terms, scale = jnp.square(Z - Y), 2
    elif spec.loss == "cross_entropy":
        terms, scale = Y * jax.nn.log_softmax(Z, axis=-1, where=cols), -1
    elif spec.loss == "binary_cross_entropy":
        terms, scale = Y * jax.nn.log_sigmoid(Z) + (1 - Y) * jax.nn.log_sigmoid(-Z), -1
    else:
        raise ValueError(f"unknown loss {spec.loss!r}")
    if rows is None or cols is None:
        return jnp.sum(terms) / (scale * Z.shape[0])
    # a padded entry's term may be -inf or NaN (softmax over real columns only); where() keeps it out
    real = rows[:, None] & cols[None, :]
    return jnp.sum(jnp.where(real, terms, 0)) / (scale * jnp.sum(rows, dtype=Z.dtype))
