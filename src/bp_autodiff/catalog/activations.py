"""Classic wrong backward passes of the element-wise layers (:mod:`bp_manual.layers.activations`).

What this module is for: teaching and the auditor's dictionary. Each function
is the layer's backward with one mistake, marked ``# MISTAKE``, built from the
kernels of :mod:`bp_manual.activations` (the right ``f`` and ``f'``) so only
the mistake is written out. :data:`MISTAKES` maps each name to its
:class:`LayerMistake`.

What it is not for: correct code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual import activations as kernels
from bp_manual.layers.activations import ActivationCache, LeakyReluCache


def relu_mask_from_output(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """Mistake: ``dx = dout * (out >= 0)``, the mask taken from the output with ``>=``.

    ``out = max(x, 0)`` is never negative, so the mask is all ones and the
    gradient passes through the units that are off. (``out > 0`` or ``x > 0``
    is right.) Expected finding: ``layer_mistake`` on ``x``.
    """
    return (dout * (cache.out >= 0),)  # MISTAKE: out >= 0 everywhere; the mask is x > 0


def leaky_relu_slope_forgotten(dout: Any, cache: LeakyReluCache) -> tuple[Any]:
    """Mistake: relu's backward for a leaky relu: ``dx = dout * [x > 0]``, the negative slope forgotten.

    Made by copying relu's backward. Expected finding: ``layer_mistake`` on ``x``.
    """
    return (dout * kernels.relu_derivative(cache.x, cache.out),)  # MISTAKE: the slope, not 0, where x < 0


def sigmoid_derivative_of_input(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """Mistake: ``dx = dout * x * (1 - x)``: ``sigmoid' = s (1 - s)`` evaluated at the input.

    The formula wants the output ``s = sigmoid(x)``; a backward that keeps only
    ``x`` in its cache plugs that in. Expected finding: ``layer_mistake`` on ``x``.
    """
    return (dout * kernels.sigmoid_derivative(cache.x, cache.x),)  # MISTAKE: A (1 - A) with A = out, not x


def tanh_derivative_of_output(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """Mistake: ``dx = dout * (1 - tanh(out)**2)``: ``tanh'`` applied to the output, tanh taken twice.

    ``tanh'(x) = 1 - tanh(x)**2 = 1 - out**2``; applying the function to the
    cached output is the error. Expected finding: ``layer_mistake`` on ``x``.
    """
    out = cache.out
    return (dout * kernels.tanh_derivative(out, kernels.tanh(out)),)  # MISTAKE: tanh'(x) is 1 - out**2


def softplus_ignores_upstream(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """Mistake: ``dx = sigmoid(x)``, the local derivative returned without ``dout``.

    The chain rule's product with the upstream gradient is left out, as in a
    custom autograd function that returns ``f'(x)`` from its backward.
    Expected finding: ``ignores_upstream`` on ``x``.
    """
    return (kernels.softplus_derivative(cache.x, cache.out),)  # MISTAKE: dx = dout * sigmoid(x)


def gelu_tanh_factor_as_constant(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """Mistake: ``dx = dout * 0.5 (1 + t)``: ``gelu = x * 0.5 (1 + t)`` differentiated as if ``t`` were constant.

    The product rule's second term ``0.5 x (1 - t**2) sqrt(2/pi) (1 + 3 * 0.044715 x**2)``
    is dropped. Expected finding: ``layer_mistake`` on ``x``.
    """
    x = cache.x
    t = np.tanh(kernels.GELU_C * (x + kernels.GELU_A * x**3))
    return (dout * 0.5 * (1.0 + t),)  # MISTAKE: t depends on x too (product rule)


MISTAKES: dict[str, LayerMistake] = {
    "relu_mask_from_output": LayerMistake("relu", relu_mask_from_output, "layer_mistake", ("x",)),
    "leaky_relu_slope_forgotten": LayerMistake(
        "leaky_relu", leaky_relu_slope_forgotten, "layer_mistake", ("x",), {"slope": 0.01}
    ),
    "sigmoid_derivative_of_input": LayerMistake("sigmoid", sigmoid_derivative_of_input, "layer_mistake", ("x",)),
    "tanh_derivative_of_output": LayerMistake("tanh", tanh_derivative_of_output, "layer_mistake", ("x",)),
    "softplus_ignores_upstream": LayerMistake("softplus", softplus_ignores_upstream, "ignores_upstream", ("x",)),
    "gelu_tanh_factor_as_constant": LayerMistake("gelu", gelu_tanh_factor_as_constant, "layer_mistake", ("x",)),
}
