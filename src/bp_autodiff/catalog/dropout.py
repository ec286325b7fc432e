"""Classic wrong backward passes of dropout (:mod:`bp_manual.layers.dropout`).

What this module is for: teaching and the auditor's dictionary. Each function
is :func:`bp_manual.layers.dropout.dropout_backward` with one mistake, marked
``# MISTAKE``. :data:`MISTAKES` maps each name to its :class:`LayerMistake`;
each entry's ``config`` is a ``p`` at which the mistake shows (``1/p`` for
``1/(1 - p)`` hides at ``p = 0.5``; a forgotten scale hides at ``p = 0``).

What it is not for: correct code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.dropout import DropoutCache


def scale_forgotten(dout: Any, cache: DropoutCache) -> tuple[Any, None]:
    """Mistake: ``dx = dout * mask``, the forward's ``1 / (1 - p)`` left out of the backward.

    Every kept unit's gradient is ``1 - p`` times too small. Expected finding:
    ``scale`` on ``x`` with ``c = 1 - p``.
    """
    return dout * cache.mask, None  # MISTAKE: dx = dout * mask / (1 - p)


def keep_probability_convention(dout: Any, cache: DropoutCache) -> tuple[Any, None]:
    """Mistake: ``dx = dout * mask / p``, the scale of CS231n's convention (``p`` = keep probability).

    With PyTorch's ``p`` (the drop probability), the scale is ``1 / (1 - p)``;
    mixing the two conventions gives ``(1 - p) / p`` times the gradient (1 at
    ``p = 0.5``, where it hides). Expected finding: ``scale`` on ``x``.
    """
    mask, p = cache
    return dout * mask / p, None  # MISTAKE: p is the drop probability here: divide by 1 - p


def new_mask_in_backward(dout: Any, cache: DropoutCache) -> tuple[Any, None]:
    """Mistake: the backward draws a new mask instead of using the forward's.

    The backward form of "dropout fails its gradient check because every call
    draws a new mask": here the gradient uses a mask the forward never used
    (and a different one at every call). Expected finding: ``layer_mistake``
    on ``x`` (and a backward that is not deterministic).
    """
    mask, p = cache
    fresh = np.random.default_rng().random(mask.shape) >= p  # MISTAKE: use the cached mask, drawn once
    return dout * fresh / (1.0 - p), None


def mask_ignored(dout: Any, cache: DropoutCache) -> tuple[Any, None]:
    """Mistake: ``dx = dout / (1 - p)``, the scale applied but not the mask.

    The dropped units, which did not reach the output, receive gradient.
    Expected finding: ``layer_mistake`` on ``x``.
    """
    return dout / (1.0 - cache.p), None  # MISTAKE: dropped units get no gradient: dout * mask / (1 - p)


MISTAKES: dict[str, LayerMistake] = {
    "dropout_scale_forgotten": LayerMistake("dropout", scale_forgotten, "scale", ("x",), {"p": 0.5}),
    "dropout_keep_probability_convention": LayerMistake(
        "dropout", keep_probability_convention, "scale", ("x",), {"p": 0.25}
    ),
    "dropout_new_mask_in_backward": LayerMistake("dropout", new_mask_in_backward, "layer_mistake", ("x",), {"p": 0.5}),
    "dropout_mask_ignored": LayerMistake("dropout", mask_ignored, "layer_mistake", ("x",), {"p": 0.5}),
}
