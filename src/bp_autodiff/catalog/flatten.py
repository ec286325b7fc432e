"""A classic wrong backward pass of the flatten step (:mod:`bp_manual.layers.flatten`).

What this module is for: teaching and the auditor's dictionary. The function
is :func:`bp_manual.layers.flatten.flatten_backward` with one mistake, marked
``# MISTAKE``; :data:`MISTAKES` maps its name to its :class:`LayerMistake`.

What it is not for: correct code.
"""

from __future__ import annotations

from typing import Any

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.flatten import FlattenCache


def channels_last(dout: Any, cache: FlattenCache) -> tuple[Any]:
    """Mistake: ``dx`` unflattened as ``(N, H, W, C)`` and transposed to ``(N, C, H, W)``.

    The forward flattened ``(N, C, H, W)`` channels first (PyTorch's layout); a
    backward ported from a channels-last library unflattens in the other order.
    Every shape fits and each gradient lands on another pixel and channel
    (unless ``C = 1`` or ``H = W = 1``). Expected finding: ``layer_mistake`` on ``x``.
    """
    N, C, H, W = cache.x_shape
    return (dout.reshape(N, H, W, C).transpose(0, 3, 1, 2),)  # MISTAKE: dout.reshape(N, C, H, W)


MISTAKES: dict[str, LayerMistake] = {
    "flatten_channels_last": LayerMistake("flatten", channels_last, "layer_mistake", ("x",)),
}
