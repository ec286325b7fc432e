"""Nonlinearities, each written beside its derivative.

What this module is for: the element-wise functions ``f`` of the derivation,
``A = f(Z)``, and the derivatives ``f'(Z)`` that the backward pass multiplies
into the delta recursion ``delta_l = (delta_{l+1} @ W_{l+1}) * f'(Z_l)``.

Every function is written against the array namespace of its input
(:mod:`bp_manual.namespace`), so it runs unchanged on NumPy and ``jax.numpy``.

What it is not for: the output layer's activation and the loss, whose
derivatives are never needed separately (see :mod:`bp_manual.losses`: for each
valid output/loss pair the product simplifies to ``(Y_hat - Y) / N``).

Every derivative takes both ``Z`` (the pre-activation) and ``A = f(Z)``, so it
can be written the way the derivation writes it (``sigmoid' = A * (1 - A)``)
without recomputing ``f``. All functions are pure: they allocate their result
and never modify their arguments. Shapes: any; the result has the shape and the
floating dtype of ``Z``.

Kinks: ``relu`` and ``leaky_relu`` have no derivative at 0. This module uses
``relu'(0) = 0`` and ``leaky_relu'(0) = slope`` (the left derivative, as
PyTorch does); other libraries choose differently, which is why the property
tests keep pre-activations away from 0 instead of testing a convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bp_manual.namespace import namespace

Array = NDArray[np.floating]

#: Slope of ``leaky_relu`` for negative inputs (the common default, as in
#: PyTorch and ``jax.nn.leaky_relu``).
LEAKY_SLOPE = 0.01


def identity(Z: Array) -> Array:
    """``f(Z) = Z``. Returns ``Z`` itself: nothing here modifies arrays in place, so sharing is safe."""
    return Z


def identity_derivative(Z: Array, A: Array) -> Array:
    """``identity'(Z) = 1``."""
    return namespace(Z).ones_like(Z)


def sigmoid(Z: Array) -> Array:
    """``sigmoid(Z) = 1 / (1 + exp(-Z))``, stable for any finite ``Z``.

    Written with ``E = exp(-|Z|)``, which lies in ``(0, 1]`` and never
    overflows: ``sigmoid(Z) = 1 / (1 + E)`` for ``Z >= 0`` and ``E / (1 + E)``
    for ``Z < 0`` (multiply the numerator and denominator by ``exp(Z)``).
    For ``|Z|`` beyond about 745 (float64) ``E`` underflows to 0 and the
    result is exactly 0 or 1, with no warning.
    """
    xp = namespace(Z)
    E = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def sigmoid_derivative(Z: Array, A: Array) -> Array:
    """``sigmoid'(Z) = A * (1 - A)`` with ``A = sigmoid(Z)`` (the seed's form)."""
    return A * (1.0 - A)


def tanh(Z: Array) -> Array:
    """``tanh(Z) = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z))``; ``np.tanh`` is stable."""
    return namespace(Z).tanh(Z)


def tanh_derivative(Z: Array, A: Array) -> Array:
    """``tanh'(Z) = 1 - A**2`` with ``A = tanh(Z)``."""
    return 1.0 - A * A


def relu(Z: Array) -> Array:
    """``relu(Z) = max(Z, 0)``."""
    return namespace(Z).maximum(Z, 0.0)


def relu_derivative(Z: Array, A: Array) -> Array:
    """``relu'(Z) = 1 if Z > 0 else 0`` (0 at the kink ``Z = 0``)."""
    return (Z > 0).astype(Z.dtype)


def leaky_relu(Z: Array) -> Array:
    """``leaky_relu(Z) = Z if Z >= 0 else slope * Z`` with ``slope = LEAKY_SLOPE``."""
    return namespace(Z).where(Z >= 0, Z, LEAKY_SLOPE * Z)


def leaky_relu_derivative(Z: Array, A: Array) -> Array:
    """``leaky_relu'(Z) = 1 if Z > 0 else slope`` (``slope`` at the kink)."""
    return namespace(Z).where(Z > 0, 1.0, LEAKY_SLOPE).astype(Z.dtype)


def softplus(Z: Array) -> Array:
    """``softplus(Z) = log(1 + exp(Z))``, stable for any finite ``Z``.

    Written as ``max(Z, 0) + log1p(exp(-|Z|))``: the exponent is never
    positive, so nothing overflows, and ``log1p`` keeps accuracy when
    ``exp(-|Z|)`` is tiny.
    """
    xp = namespace(Z)
    return xp.maximum(Z, 0.0) + xp.log1p(xp.exp(-xp.abs(Z)))


def softplus_derivative(Z: Array, A: Array) -> Array:
    """``softplus'(Z) = sigmoid(Z)``."""
    return sigmoid(Z)


@dataclass(frozen=True)
class Activation:
    """A hidden-layer nonlinearity ``f`` and its derivative ``f'``.

    Attributes:
        name: the registry name, e.g. ``"sigmoid"``.
        f: ``Z (N, n) -> A (N, n)``.
        derivative: ``(Z (N, n), A (N, n)) -> f'(Z) (N, n)``.
        kinked: True when ``f`` is not differentiable at ``Z = 0``.
    """

    name: str
    f: Callable[[Array], Array]
    derivative: Callable[[Array, Array], Array]
    kinked: bool = False


#: Hidden activations by name.
HIDDEN: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", identity, identity_derivative),
        Activation("sigmoid", sigmoid, sigmoid_derivative),
        Activation("tanh", tanh, tanh_derivative),
        Activation("relu", relu, relu_derivative, kinked=True),
        Activation("leaky_relu", leaky_relu, leaky_relu_derivative, kinked=True),
        Activation("softplus", softplus, softplus_derivative),
    )
}
