"""Classic wrong backward passes of batch and layer norm (:mod:`bp_manual.layers.norm`), mistakes marked ``# MISTAKE``.

What this module is for: :data:`MISTAKES`, the normalisation entries of the
layer library's catalog (teaching, the auditor's dictionary, and the test that
the property test catches each one, ``tests/test_layers_norm.py``). The
correct ``dx`` has three terms, one per path from ``x`` to the loss::

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dout * gamma
                    direct  through mu    through var

and most wrong batch norms drop one or more of them. Every function below
is the correct backward with one mistake, reusing the cache of
:func:`bp_manual.layers.norm.batch_norm_forward` (or ``layer_norm_forward``).

Checks that cannot see some of these: ``gamma`` initialised to 1 hides
:func:`gamma_left_out` (``dout * 1 = dout``); an all-ones ``dout`` makes the
true ``dx`` exactly 0 (``dxhat`` is then constant per feature, the mean path
cancels it, and ``mean(xhat) = 0`` removes the variance path), so
:func:`gamma_left_out` and :func:`variance_path_dropped` also give 0 and the
check compares 0 with 0.

What it is not for: correct code (:mod:`bp_manual.layers.norm`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.layers.norm import NormCache, normalize_backward

Array = Any


def _param_grads(dout: Array, cache: NormCache) -> tuple[Array, Array]:
    """The correct ``(dgamma, dbeta)``."""
    return np.sum(dout * cache.xhat, axis=cache.param_axes), np.sum(dout, axis=cache.param_axes)


def _mean(a: Array, cache: NormCache) -> Array:
    return np.mean(a, axis=cache.axes, keepdims=True)


def statistics_as_constants(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: the batch mean and variance treated as constants: ``dx = dout * gamma / sqrt(var + eps)``.

    Right for the inference-mode layer, whose statistics are fixed numbers;
    in training the mean and variance are functions of the same ``x``, and both
    of their paths are lost. Wrong: ``x``. Finding: ``layer_mistake``.
    """
    dxhat = dout * cache.gamma
    dx = cache.inv_std * dxhat  # MISTAKE: "- mean(dxhat) - xhat * mean(dxhat * xhat)" missing
    return (dx, *_param_grads(dout, cache))


def gamma_left_out(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: ``dxhat = dout``, the scale ``gamma`` left out of ``dx``.

    Invisible while ``gamma`` is 1, its usual initial value: one of the bug
    reports behind issue 13 passed its tests that way. Wrong: ``x``. Finding:
    ``layer_mistake``.
    """
    dxhat = dout  # MISTAKE: dout * gamma
    dx = normalize_backward(dxhat, cache.xhat, cache.inv_std, cache.axes)
    return (dx, *_param_grads(dout, cache))


def variance_path_dropped(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: the path through the variance dropped: ``dx = inv_std * (dxhat - mean(dxhat))``.

    Happens when ``var`` is computed from a detached or precomputed mean, or
    when ``dvar`` is derived but never added into ``dx``. Wrong: ``x``.
    Finding: ``layer_mistake``.
    """
    dxhat = dout * cache.gamma
    dx = cache.inv_std * (dxhat - _mean(dxhat, cache))  # MISTAKE: "- xhat * mean(dxhat * xhat)" missing
    return (dx, *_param_grads(dout, cache))


def mean_path_dropped(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: the path through the mean dropped: ``dx = inv_std * (dxhat - xhat * mean(dxhat * xhat))``.

    ``dmu`` derived but never added into ``dx`` (or ``x - mu`` differentiated
    as if ``mu`` were fixed). Wrong: ``x``. Finding: ``layer_mistake``.
    """
    dxhat = dout * cache.gamma
    dx = cache.inv_std * (dxhat - cache.xhat * _mean(dxhat * cache.xhat, cache))  # MISTAKE: "- mean(dxhat)" missing
    return (dx, *_param_grads(dout, cache))


def dgamma_not_summed(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: ``dgamma = dout * xhat`` not summed over the batch (shape of ``x``, not of ``gamma``).

    ``gamma`` is shared by every sample (and position), so its gradient sums
    over all of them, as ``dbeta``'s does. Wrong: ``gamma``. Finding: ``unreduced``.
    """
    dxhat = dout * cache.gamma
    dx = normalize_backward(dxhat, cache.xhat, cache.inv_std, cache.axes)
    dgamma = dout * cache.xhat  # MISTAKE: np.sum(..., axis=cache.param_axes) missing
    return dx, dgamma, np.sum(dout, axis=cache.param_axes)


def layer_norm_over_wrong_axis(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Mistake: layer norm's ``dx`` with the means over the batch axis (0), as in batch norm.

    Layer norm normalises each sample over its own features (the last axis);
    code adapted from a batch norm keeps ``axis=0``. Wrong: ``x``. Finding:
    ``layer_mistake``.
    """
    dxhat = dout * cache.gamma
    dx = normalize_backward(dxhat, cache.xhat, cache.inv_std, (0,))  # MISTAKE: cache.axes, the last axis
    return (dx, *_param_grads(dout, cache))


#: The classic wrong backward passes of ``batch_norm`` and ``layer_norm``, by name.
MISTAKES: dict[str, LayerMistake] = {
    "statistics_as_constants": LayerMistake("batch_norm", statistics_as_constants, "layer_mistake", ("x",)),
    "gamma_left_out": LayerMistake("batch_norm", gamma_left_out, "layer_mistake", ("x",)),
    "variance_path_dropped": LayerMistake("batch_norm", variance_path_dropped, "layer_mistake", ("x",)),
    "mean_path_dropped": LayerMistake("batch_norm", mean_path_dropped, "layer_mistake", ("x",)),
    "dgamma_not_summed": LayerMistake("batch_norm", dgamma_not_summed, "unreduced", ("gamma",)),
    "layer_norm_over_wrong_axis": LayerMistake("layer_norm", layer_norm_over_wrong_axis, "layer_mistake", ("x",)),
}
