"""Classic wrong backward passes of the embedding layer (:mod:`bp_manual.layers.embedding`).

What this module is for: teaching and the auditor's dictionary. Each function
is :func:`bp_manual.layers.embedding.embedding_backward` with one mistake,
marked ``# MISTAKE``. :data:`MISTAKES` maps each name to its
:class:`LayerMistake`. Both mistakes show only when an index repeats (always,
in a batch of real text); they are demonstrated with repeated indices.

What it is not for: correct code; NumPy arrays only (they write in place).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.embedding import EmbeddingCache


def assign_instead_of_add(dout: Any, cache: EmbeddingCache) -> tuple[None, Any]:
    """Mistake: ``dE[indices] = dout``: each row of ``E`` gets the gradient of one of its uses.

    With repeated indices, the last write wins and the others are lost.
    Expected finding: ``lost_accumulation`` on ``E``.
    """
    indices, V = cache
    D = dout.shape[-1]
    dE = np.zeros((V, D), dtype=dout.dtype)
    dE[indices.reshape(-1)] = dout.reshape(-1, D)  # MISTAKE: np.add.at(dE, indices, dout) adds the repeats
    return None, dE


def buffered_add(dout: Any, cache: EmbeddingCache) -> tuple[None, Any]:
    """Mistake: ``dE[indices] += dout``, which looks like a sum and is not one in NumPy.

    Fancy-index ``+=`` is buffered: it reads ``dE[indices]``, adds, and writes
    back, so a repeated index is written several times with one addition each
    (the same result as ``=`` here). Unbuffered ``np.add.at`` is the fix (the
    hint CS231n's assignment gives). Expected finding: ``lost_accumulation`` on ``E``.
    """
    indices, V = cache
    D = dout.shape[-1]
    dE = np.zeros((V, D), dtype=dout.dtype)
    dE[indices.reshape(-1)] += dout.reshape(-1, D)  # MISTAKE: buffered; repeats are not summed
    return None, dE


MISTAKES: dict[str, LayerMistake] = {
    "embedding_assign_instead_of_add": LayerMistake("embedding", assign_instead_of_add, "lost_accumulation", ("E",)),
    "embedding_buffered_add": LayerMistake("embedding", buffered_add, "lost_accumulation", ("E",)),
}
