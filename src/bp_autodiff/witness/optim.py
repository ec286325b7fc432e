"""The update in ``jax.numpy``: the witness's twin of :mod:`bp_manual.optim`'s ``sgd_step``.

What this module is for: ``p <- p - lr * g`` written with ``jax.tree.map``, so
the audit of an update rule and the lockstep trainer have an update that does
not share code with the hand derivation's.

What it is not for: momentum and Adam (``bp_manual.optim`` is held to optax
for those, in the tests).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bp_autodiff.witness.grads import to_numpy
from bp_autodiff.witness.jitcache import bounded_jit
from bp_manual.initializers import Params, ParamsLike
from bp_manual.optim import check_update
from bp_manual.validation import check_update_args


def _update(params: object, grads: object, lr: jax.Array) -> object:
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


#: One compiled program per structure of params (eagerly, each ``-`` and ``*``
#: would compile a program of its own for every new shape).
_jitted_update = bounded_jit(_update)


def sgd_step(params: ParamsLike, grads: ParamsLike, lr: float) -> Params:
    """``p <- p - lr * g`` for every array, with ``jax.tree.map``; NumPy in, NumPy out.

    ``params`` and ``grads`` (``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``) are
    left untouched; the result keeps the params' dtype. Like
    ``bp_manual.sgd_step``, it raises ``DivergedError`` rather than return
    non-finite params, and ``TypeError``/``ValueError`` naming the argument for
    params, grads or lr that do not fit.
    """
    lr = check_update_args(params, grads, lr)
    with jax.enable_x64(True):
        arrays = [jax.tree.map(jnp.asarray, tree) for tree in (params, grads)]
        new = to_numpy(_jitted_update(*arrays, lr))
    check_update(new, lr)
    return new
