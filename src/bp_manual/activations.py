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

    Computed as ``exp(min(Z, 0)) / (1 + E)``, with ``-|Z|`` as
    ``copysign(Z, -1)`` (exact: only the sign bit changes): the numerator is
    ``exp(0) = 1`` for ``Z >= 0`` and ``exp(Z) = E`` for ``Z < 0`` (there
    ``-|Z|`` is ``Z``), so each element is the same division of the same two
    numbers as the two-branch form, bit for bit, in six array operations
    instead of nine (``tests/test_numerics.py`` holds it to the two-branch form).
    """
    xp = namespace(Z)
    return xp.exp(xp.minimum(Z, 0.0)) / (1.0 + xp.exp(xp.copysign(Z, -1.0)))


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


def leaky_relu(Z: Array, slope: float = LEAKY_SLOPE) -> Array:
    """``leaky_relu(Z) = Z if Z >= 0 else slope * Z`` (``slope = LEAKY_SLOPE`` unless given)."""
    return namespace(Z).where(Z >= 0, Z, slope * Z)


def leaky_relu_derivative(Z: Array, A: Array, slope: float = LEAKY_SLOPE) -> Array:
    """``leaky_relu'(Z) = 1 if Z > 0 else slope`` (``slope`` at the kink)."""
    return namespace(Z).where(Z > 0, 1.0, slope).astype(Z.dtype)


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


#: The constants of GELU's tanh form (Hendrycks & Gimpel, "Gaussian Error Linear
#: Units", 2016, section 2): ``c = sqrt(2 / pi)`` and the cubic coefficient ``a``.
GELU_C = float(np.sqrt(2.0 / np.pi))
GELU_A = 0.044715
#: Beyond ``|Z| = GELU_CLIP`` the tanh below is exactly +-1 in float32 and float64
#: (its argument exceeds 3e4, and tanh rounds to 1 past 9.1 in float32, 19.1 in
#: float64), so clipping ``Z`` there inside the tanh changes no result and keeps
#: ``Z**3`` and ``Z**2`` from overflowing.
GELU_CLIP = 100.0


def gelu(Z: Array) -> Array:
    """GELU in its tanh form: ``gelu(Z) = 0.5 Z (1 + tanh(c (Z + a Z**3)))``.

    ``c = sqrt(2 / pi)``, ``a = 0.044715`` (Hendrycks & Gimpel 2016); equals
    PyTorch's ``F.gelu(Z, approximate="tanh")``. Not in :data:`HIDDEN` (the
    dense network's activations): it serves the layer library
    (:mod:`bp_manual.layers.activations`).
    """
    xp = namespace(Z)
    Zc = xp.clip(Z, -GELU_CLIP, GELU_CLIP)
    return 0.5 * Z * (1.0 + xp.tanh(GELU_C * (Zc + GELU_A * Zc * Zc * Zc)))


def gelu_derivative(Z: Array, A: Array) -> Array:
    """``gelu'(Z) = 0.5 (1 + t) + 0.5 Z (1 - t**2) c (1 + 3 a Z**2)``, ``t = tanh(c (Z + a Z**3))``.

    The product rule on ``0.5 Z (1 + t)``, with ``tanh' = 1 - t**2`` and the
    inner derivative ``c (1 + 3 a Z**2)``. ``t`` is recomputed from ``Z``
    (``A`` is unused: ``t = 2 A / Z - 1`` would lose all accuracy near 0).
    """
    xp = namespace(Z)
    Zc = xp.clip(Z, -GELU_CLIP, GELU_CLIP)
    t = xp.tanh(GELU_C * (Zc + GELU_A * Zc * Zc * Zc))
    return 0.5 * (1.0 + t) + 0.5 * Zc * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * Zc * Zc)


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
