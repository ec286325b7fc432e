"""Element-wise nonlinearities as layers: ``out = f(x)``, ``dx = dout * f'(x)``.

What this module is for: ``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``,
``softplus`` and ``gelu`` (tanh form) in the layer contract, on arrays of any
shape. Every equation lives once, in :mod:`bp_manual.activations` (the kernels
``f`` and ``f'`` the dense network uses); the pairs here only check the input,
keep ``(x, out)`` in the cache and apply the one rule all of them share::

    out = f(x)                 any shape
    dx  = dout * f'(x)         the shape of x: the Jacobian of an element-wise
                               map is diagonal, so the vector-Jacobian product
                               is an element-wise product

What it is not for: softmax and log-softmax, which are not element-wise (their
Jacobian is a full matrix per row), nor the dense network's own activation
registry (:data:`bp_manual.activations.HIDDEN`).

Kinks: ``relu`` and ``leaky_relu`` have no derivative at 0; these backward
passes use ``relu'(0) = 0`` and ``leaky_relu'(0) = slope`` (PyTorch's choice).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from bp_manual import activations as kernels
from bp_manual.layers.checks import finite, float_array


class ActivationCache(NamedTuple):
    """What an element-wise backward needs: the input ``x`` and the output ``out = f(x)``, same shape."""

    x: Any
    out: Any


class LeakyReluCache(NamedTuple):
    """:class:`ActivationCache` plus the negative ``slope``."""

    x: Any
    out: Any
    slope: float


def relu_forward(x: Any) -> tuple[Any, ActivationCache]:
    """``out = max(x, 0)``; equals ``torch.nn.functional.relu``.

    The rectified linear unit (Nair & Hinton, ICML 2010; CS231n's ``relu_forward``).

    Args:
        x: any shape, float32 or float64 (integers become float64).

    Returns:
        ``(out, cache)``, ``out`` of ``x``'s shape and dtype.

    Raises:
        TypeError: ``x`` is not numeric. ValueError: NaN or inf in a NumPy ``x``.
    """
    x = float_array("x", x)
    out = kernels.relu(x)
    return out, ActivationCache(x, out)


def relu_backward(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * [x > 0]``: the gradient passes where the unit is on, and only there."""
    x, out = cache
    return (dout * kernels.relu_derivative(x, out),)


def leaky_relu_forward(x: Any, slope: float = kernels.LEAKY_SLOPE) -> tuple[Any, LeakyReluCache]:
    """``out = x if x >= 0 else slope * x``; equals ``F.leaky_relu(x, negative_slope=slope)``.

    Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural Network Acoustic Models" (2013).

    Args:
        x: any shape, float32 or float64 (integers become float64).
        slope: the slope for negative ``x``, a finite number (default 0.01, as PyTorch's).

    Raises:
        TypeError: ``x`` or ``slope`` not numeric. ValueError: NaN or inf in a
            NumPy ``x``, a ``slope`` that is not finite.
    """
    x = float_array("x", x)
    slope = finite("slope", slope)
    out = kernels.leaky_relu(x, slope)
    return out, LeakyReluCache(x, out, slope)


def leaky_relu_backward(dout: Any, cache: LeakyReluCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * (1 if x > 0 else slope)``."""
    x, out, slope = cache
    return (dout * kernels.leaky_relu_derivative(x, out, slope),)


def sigmoid_forward(x: Any) -> tuple[Any, ActivationCache]:
    """``out = 1 / (1 + exp(-x))`` (stable for any finite ``x``); equals ``torch.sigmoid``.

    Shapes, dtypes and errors as :func:`relu_forward`.
    """
    x = float_array("x", x)
    out = kernels.sigmoid(x)
    return out, ActivationCache(x, out)


def sigmoid_backward(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * out * (1 - out)``: ``sigmoid'`` written from the output, not from ``x``."""
    x, out = cache
    return (dout * kernels.sigmoid_derivative(x, out),)


def tanh_forward(x: Any) -> tuple[Any, ActivationCache]:
    """``out = tanh(x)``; equals ``torch.tanh``. Shapes, dtypes and errors as :func:`relu_forward`."""
    x = float_array("x", x)
    out = kernels.tanh(x)
    return out, ActivationCache(x, out)


def tanh_backward(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * (1 - out**2)``: ``tanh'`` written from the output, not from ``x``."""
    x, out = cache
    return (dout * kernels.tanh_derivative(x, out),)


def softplus_forward(x: Any) -> tuple[Any, ActivationCache]:
    """``out = log(1 + exp(x))`` (stable for any finite ``x``); equals ``F.softplus`` (``beta = 1``).

    Dugas et al., "Incorporating Second-Order Functional Knowledge for Better
    Option Pricing" (NIPS 2000). Shapes, dtypes and errors as :func:`relu_forward`.
    (PyTorch returns ``out = x`` above ``threshold = 20``, off from
    ``log(1 + exp(x))`` by less than ``exp(-20) = 2e-9``: below float32's
    resolution there, not below float64's.)
    """
    x = float_array("x", x)
    out = kernels.softplus(x)
    return out, ActivationCache(x, out)


def softplus_backward(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * sigmoid(x)``."""
    x, out = cache
    return (dout * kernels.softplus_derivative(x, out),)


def gelu_forward(x: Any) -> tuple[Any, ActivationCache]:
    """GELU, tanh form: ``out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``.

    Hendrycks & Gimpel, "Gaussian Error Linear Units" (2016), section 2; the
    form GPT-2 and BERT use. Equals ``F.gelu(x, approximate="tanh")`` (not the
    default ``approximate="none"``, which uses the error function).
    Shapes, dtypes and errors as :func:`relu_forward`.
    """
    x = float_array("x", x)
    out = kernels.gelu(x)
    return out, ActivationCache(x, out)


def gelu_backward(dout: Any, cache: ActivationCache) -> tuple[Any]:
    """``(dx,)`` with ``dx = dout * gelu'(x)``.

    ``gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t**2) sqrt(2/pi) (1 + 3 * 0.044715 x**2)``
    with ``t = tanh(sqrt(2/pi) (x + 0.044715 x**3))``: the product rule on
    ``0.5 x (1 + t)`` (:func:`bp_manual.activations.gelu_derivative`).
    """
    x, out = cache
    return (dout * kernels.gelu_derivative(x, out),)
