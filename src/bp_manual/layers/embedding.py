"""The embedding lookup ``out = E[indices]`` and its backward pass, a scatter-add.

What this module is for: turning integer tokens (word ids, characters, class
ids) into rows of a learned table ``E (V, D)`` in the layer contract. The
forward is a gather; its backward sends each row of ``dout`` back to the row of
``E`` it was read from, and *adds* when an index occurs more than once (a
batch of text repeats its common tokens): the classic mistake is to write
instead (``dE[indices] = dout``, or ``dE[indices] += dout``, which NumPy
buffers into the same thing), losing all but one of the repeats.

What it is not for: one-hot inputs (a one-hot row times ``E`` is
:func:`bp_manual.layers.linear.linear_forward` without bias, with ``W = E.T``),
or padding indices and max-norm renormalisation (PyTorch's ``padding_idx`` and
``max_norm`` options).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bp_manual.layers.checks import float_array, index_array
from bp_manual.namespace import is_numpy, namespace


class EmbeddingCache(NamedTuple):
    """What :func:`embedding_backward` needs: the ``indices`` and the table's number of rows ``V``."""

    indices: Any
    V: int


def scatter_add(target: Any, indices: Any, values: Any) -> Any:
    """A copy of ``target`` with ``values[k]`` added at row ``indices[k]`` for every ``k``, repeats adding up.

    ``target (V, ...)``, ``indices (M,)`` int, ``values (M, ...)``. NumPy:
    ``np.add.at`` on a copy (unbuffered: a repeated index gets every one of its
    values, which ``copy[indices] += values`` would not); JAX: ``.at[].add``,
    which adds repeats and returns a new array. ``target`` is never modified.
    """
    if is_numpy(target):
        out = target.copy()
        np.add.at(out, indices, values)
        return out
    return target.at[indices].add(values)


def embedding_forward(indices: Any, E: Any) -> tuple[Any, EmbeddingCache]:
    """``out = E[indices]``: row ``indices[...]`` of the table for every index.

    Equals ``torch.nn.functional.embedding(indices, E)`` (Bengio et al., "A
    Neural Probabilistic Language Model", JMLR 2003; CS231n's
    ``word_embedding_forward``).

    Args:
        indices: integers of any shape, each in ``[0, V)``.
        E: ``(V, D)``, float32 or float64 (integers become float64).

    Returns:
        ``(out, cache)``: ``out`` of shape ``indices.shape + (D,)`` in ``E``'s dtype.

    Raises:
        TypeError: ``indices`` not an integer array (floats holding whole numbers
            and booleans included), ``E`` not numeric.
        ValueError: ``E`` not 2-D; (NumPy ``indices``) an index below 0 or at
            least ``V``, named with its position; NaN or inf in a NumPy ``E``.
    """
    E = float_array("E", E, ndim=2)
    indices = index_array("indices", indices, E.shape[0], "rows of E")
    return E[indices], EmbeddingCache(indices, E.shape[0])


def embedding_backward(dout: Any, cache: EmbeddingCache) -> tuple[None, Any]:
    """``(None, dE)``: ``dE[v] = sum of dout[k] over every position k with indices[k] == v``.

    ``dout`` has shape ``indices.shape + (D,)``; ``dE`` has ``E``'s shape
    ``(V, D)`` and ``dout``'s dtype, zero in the rows no index names. Each output row ``out[k]`` is
    a copy of ``E[indices[k]]``, so ``d out[k] / d E[v] = [indices[k] == v]``
    (times the identity on ``D``) and the chain rule sums over ``k``: a
    scatter-*add* (:func:`scatter_add`). ``indices`` get no gradient.
    """
    indices, V = cache
    D = dout.shape[-1]
    dE = scatter_add(namespace(dout).zeros((V, D), dtype=dout.dtype), indices.reshape(-1), dout.reshape(-1, D))
    return None, dE
