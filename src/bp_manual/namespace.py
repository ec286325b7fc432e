"""The array namespace of the inputs: NumPy for NumPy arrays, ``jax.numpy`` for JAX arrays.

What this module is for: letting the kernels of :mod:`bp_manual.activations`,
:mod:`bp_manual.losses` and :mod:`bp_manual.network` run unchanged on any
array library that follows the Python array API standard (NumPy 2 and
``jax.numpy`` both do): each kernel asks its input for its namespace
(``x.__array_namespace__()``) and calls ``xp.exp``, ``xp.where``, ... from it.
So ``jax.jit(bp_manual.loss_and_grads, static_argnums=0)`` traces the hand
derivation into XLA, and the same code runs on a GPU when JAX has one.

What it is not for: importing JAX. Nothing here imports anything but NumPy; a
JAX namespace is only ever reached through a JAX array the caller passed in.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

_NUMPY = (np.ndarray, np.generic)


def namespace(*arrays: Any) -> ModuleType:
    """The namespace of the first non-NumPy array-API array among ``arrays``, else ``numpy``.

    NumPy arrays and scalars, Python numbers and lists all give ``numpy``.
    """
    for a in arrays:
        if type(a) is np.ndarray or isinstance(a, _NUMPY):  # the exact type first: the common case, tested fastest
            continue
        get = getattr(a, "__array_namespace__", None)
        if get is not None:
            return get()
    return np


def is_numpy(a: Any) -> bool:
    """True unless ``a`` is an array of another array-API library (a JAX array or tracer)."""
    return namespace(a) is np
