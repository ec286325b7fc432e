"""Batch and layer normalisation with their backward passes derived by hand.

What this module is for: the layers ``batch_norm`` (training mode: the batch's
own statistics, as ``torch.nn.functional.batch_norm(..., training=True)``) and
``layer_norm`` (over the last axis, as ``torch.nn.functional.layer_norm``),
each a pair ``<name>_forward(x, gamma, beta, eps) -> (out, cache)`` and
``<name>_backward(dout, cache) -> (dx, dgamma, dbeta)``. The two layers share
one normalisation and one backward kernel; they differ only in the axes they
average over. The derivation is ``docs/layers/norm.md``.

Notation: ``x`` the input; the statistics are taken over ``M`` entries (the
*reduced axes*); ``mu`` and ``var`` the mean and the biased variance over
them; ``inv_std = 1 / sqrt(var + eps)``; ``xhat = (x - mu) * inv_std``;
``out = gamma * xhat + beta``.

The backward pass, with ``dxhat = dout * gamma`` and ``mean`` over the
reduced axes::

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

The three terms are the three paths from ``x`` to the loss: through ``xhat``
directly, through ``mu``, and through ``var``. Batch norm couples the samples
of a batch (each sample's ``dx`` depends on every other sample's ``dout``);
code that treats ``mu`` and ``var`` as constants keeps only the first term.

What it is not for: running statistics or evaluation mode (use the batch
statistics you are given: ``out = gamma * (x - mean) / sqrt(var + eps) + beta``
is then an affine map), group or instance norm, RMSNorm.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from bp_manual.layers.checks import check_shape, float_array, positive, same_dtype
from bp_manual.namespace import is_numpy, namespace

Array = Any  # a NumPy array, or a JAX array under jax.jit


class NormCache(NamedTuple):
    """What the normalisation backward passes need from the forward pass.

    Fields: ``xhat`` (shape of ``x``); ``inv_std`` (``x``'s shape with the
    reduced axes kept as 1); ``gamma`` reshaped to broadcast against ``x``;
    ``axes``, the reduced axes (the statistics'); ``param_axes``, the axes
    ``dgamma`` and ``dbeta`` sum over (every axis ``gamma`` does not have).
    """

    xhat: Array
    inv_std: Array
    gamma: Array
    axes: tuple[int, ...]
    param_axes: tuple[int, ...]


def normalize(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array]:
    """``(xhat, inv_std)``: ``xhat = (x - mu) * inv_std``, ``inv_std = 1 / sqrt(var + eps)``.

    ``mu`` and the biased variance ``var = mean((x - mu)**2)`` are taken over
    ``axes`` (kept as size 1, so they broadcast). Two passes (the mean first,
    then the squares of the centred values), which does not lose digits when
    the mean is large against the spread. Same dtype as ``x``.
    """
    xp = namespace(x)
    mu = xp.mean(x, axis=axes, keepdims=True)
    centred = x - mu
    var = mean_of_products(centred, centred, axes)
    inv_std = 1.0 / xp.sqrt(var + eps)
    centred *= inv_std  # xhat, in the temporary's own memory (a JAX array is rebound: centred = centred * inv_std)
    return centred, inv_std


def sum_of_products(a: Array, b: Array, axes: tuple[int, ...], keepdims: bool = False) -> Array:
    """``sum(a * b)`` over ``axes``; on NumPy in one pass without the ``a * b`` temporary (``np.einsum``).

    ``a`` and ``b`` of one shape and dtype; ``axes`` non-negative; the result ``a``'s shape without ``axes``
    (or with them kept as 1). Other namespaces compute ``xp.sum(a * b, axis=axes)`` itself: ``jnp.einsum`` is
    a matrix product, which JAX runs in TF32 or bfloat16 by default on GPUs and TPUs, where the product and
    the sum stay in the inputs' precision. On NumPy the same ``M`` products, perhaps added in another order
    (the two within ``M u`` of each other relative to the sum of ``|a b|``, Higham 3.1;
    ``tests/test_layers_fast_paths.py`` holds them to that bound), in 0.5-0.65x the time of the product
    then the sum at (256, 1024) (``benchmarks/bench_layer_floors.py``, ``docs/performance.md``).
    """
    if not is_numpy(a):
        return namespace(a, b).sum(a * b, axis=axes, keepdims=keepdims)
    letters = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axes)
    total = np.einsum(f"{letters},{letters}->{kept}", a, b)
    return np.reshape(total, tuple(1 if i in axes else n for i, n in enumerate(a.shape))) if keepdims else total


def mean_of_products(a: Array, b: Array, axes: tuple[int, ...]) -> Array:
    """``mean(a * b)`` over ``axes``, kept as axes of length 1: :func:`sum_of_products` over the ``M`` entries of each
    group, divided by ``M``."""
    return sum_of_products(a, b, axes, keepdims=True) / math.prod(a.shape[axis] for axis in axes)


def normalize_backward(dxhat: Array, xhat: Array, inv_std: Array, axes: tuple[int, ...]) -> Array:
    """``dx`` from ``dxhat = dL/dxhat``, through all three paths (``docs/layers/norm.md``)::

        dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
                        direct  through mu    through var

    ``mean`` is over ``axes``, the axes :func:`normalize` reduced. Same shape and dtype as ``dxhat``.
    """
    xp = namespace(dxhat)
    mean_dxhat = xp.mean(dxhat, axis=axes, keepdims=True)  # through mu
    mean_dxhat_xhat = mean_of_products(dxhat, xhat, axes)  # through var
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def _check(x: Array, gamma: Array, beta: Array, eps: float, ndim: tuple[int, ...] | None) -> tuple[Array, ...]:
    """Checked ``(x, gamma, beta, eps)``; ``gamma`` and ``beta`` 1-D, one dtype for all three.

    ``ndim`` the allowed dimensions of ``x``; ``None``: any from 1 up, with a last axis of at least 1 entry.
    """
    x = float_array("x", x, ndim=ndim)
    if ndim is None and (x.ndim == 0 or x.shape[-1] == 0):
        raise ValueError(f"x must have a last axis (..., D) with D >= 1, got shape {tuple(x.shape)}")
    gamma = float_array("gamma", gamma, ndim=1)
    beta = float_array("beta", beta, ndim=1)
    same_dtype(x=x, gamma=gamma, beta=beta)
    return x, gamma, beta, positive("eps", eps)


def _affine_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """``(dx, dgamma, dbeta)`` of ``out = gamma * xhat + beta`` followed back through :func:`normalize`."""
    xp = namespace(dout)
    dbeta = xp.sum(dout, axis=cache.param_axes)
    dgamma = sum_of_products(dout, cache.xhat, cache.param_axes)
    if cache.axes == cache.param_axes:  # batch norm: dx's two means are dbeta and dgamma again
        return batch_norm_dx(dout, cache, dgamma, dbeta), dgamma, dbeta
    dxhat = dout * cache.gamma
    dx = normalize_backward(dxhat, cache.xhat, cache.inv_std, cache.axes)
    return dx, dgamma, dbeta


def batch_norm_dx(dout: Array, cache: NormCache, dgamma: Array, dbeta: Array) -> Array:
    """:func:`normalize_backward`'s ``dx`` when ``gamma`` is constant over each statistics group (batch norm).

    Then ``dxhat = dout * gamma`` gives ``mean(dxhat) = gamma * dbeta / M`` and ``mean(dxhat * xhat) =
    gamma * dgamma / M`` (``M`` entries per group), sums the backward has already taken, so::

        dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
           = gamma * inv_std * (dout - (dbeta + xhat * dgamma) / M)

    the same three paths in four passes over ``x`` instead of eight (CS231n assignment 2,
    ``batchnorm_backward_alt``). ``dout`` and ``cache.xhat`` shaped like ``x``; ``dgamma``, ``dbeta`` one
    per feature. Same dtype as ``dout``.
    """
    xp = namespace(dout)
    M = dout.size // dbeta.size
    per_group = cache.gamma.shape  # (1, D) or (1, C, 1, 1): broadcasts against x
    mean_dout, mean_dout_xhat = xp.reshape(dbeta, per_group) / M, xp.reshape(dgamma, per_group) / M
    # (cache.gamma * cache.inv_std) * (dout - (cache.xhat * mean_dout_xhat + mean_dout)), the same operations in
    # the same order (the same bits, signed zeros included), in one temporary on NumPy (JAX arrays: rebound).
    dx = cache.xhat * mean_dout_xhat
    dx += mean_dout
    if is_numpy(dx):
        np.subtract(dout, dx, out=dx)
    else:
        dx = dout - dx
    dx *= cache.gamma * cache.inv_std
    return dx


def batch_norm_forward(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, NormCache]:
    """Batch normalisation with the batch's statistics: ``out = gamma * (x - mu) / sqrt(var + eps) + beta``.

    ``mu`` and the biased ``var`` are per feature ``d`` (``x (N, D)``: over
    the ``N`` samples) or per channel ``c`` (``x (N, C, H, W)``: over ``N``, ``H``
    and ``W``). Equals ``torch.nn.functional.batch_norm(x, None, None, gamma,
    beta, training=True, eps=eps)``. Source: Ioffe and Szegedy, *Batch
    Normalization* (2015), Algorithm 1; CS231n assignment 2; Karpathy's
    "makemore" part 4 (the backward pass in one line).

    Args:
        x: ``(N, D)`` or ``(N, C, H, W)`` float32/float64.
        gamma, beta: ``(D,)`` or ``(C,)``, the same dtype.
        eps: float > 0, added to the variance.

    Returns:
        ``(out, cache)``: ``out`` shaped and typed like ``x``; the :class:`NormCache`.

    Raises:
        TypeError: a non-numeric array; float32 and float64 mixed; ``eps`` not a number.
        ValueError: ``x`` not 2-D or 4-D; ``gamma`` or ``beta`` not ``(D,)``/``(C,)``;
            at most one value per feature (``N = 1`` for ``(N, D)``, ``N*H*W = 1``),
            whose variance is not a statistic (PyTorch refuses it too);
            ``eps <= 0``; NaN or inf in a NumPy input.
    """
    x, gamma, beta, eps = _check(x, gamma, beta, eps, ndim=(2, 4))
    features = x.shape[1]
    why = f"one per {'feature' if x.ndim == 2 else 'channel'} of x, whose axis 1 has {features}"
    check_shape("gamma", gamma, (features,), why)
    check_shape("beta", beta, (features,), why)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    if x.size // max(features, 1) <= 1:
        raise ValueError(f"x must have more than one value per feature to take batch statistics, got {tuple(x.shape)}")
    broadcast = (1, features) if x.ndim == 2 else (1, features, 1, 1)
    xp = namespace(x)
    gamma_b, beta_b = xp.reshape(gamma, broadcast), xp.reshape(beta, broadcast)

    xhat, inv_std = normalize(x, axes, eps)
    out = xhat * gamma_b
    out += beta_b  # out = gamma_b * xhat + beta_b without a second temporary (JAX arrays: rebound)
    return out, NormCache(xhat, inv_std, gamma_b, axes, axes)


def batch_norm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Gradients of ``batch_norm``: ``(dx, dgamma, dbeta)``, shaped like ``x``, ``gamma``, ``beta``.

    With ``dxhat = dout * gamma`` and means over the batch axes (``docs/layers/norm.md``)::

        dbeta  = sum(dout)
        dgamma = sum(dout * xhat)
        dx     = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

    ``dout`` shaped like ``x``; same dtype.
    """
    return _affine_backward(dout, cache)


def layer_norm_forward(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, NormCache]:
    """Layer normalisation over the last axis: ``out = gamma * (x - mu) / sqrt(var + eps) + beta``.

    ``mu`` and the biased ``var`` are per sample (every leading index),
    over the ``D`` entries of the last axis. Equals
    ``torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps)``. Source: Ba,
    Kiros and Hinton, *Layer Normalization* (2016).

    Args:
        x: ``(..., D)`` float32/float64, at least 1-D.
        gamma, beta: ``(D,)``, the same dtype.
        eps: float > 0, added to the variance.

    Returns:
        ``(out, cache)``: ``out`` shaped and typed like ``x``; the :class:`NormCache`.

    Raises:
        TypeError: a non-numeric array; float32 and float64 mixed; ``eps`` not a number.
        ValueError: ``x`` 0-D or with ``D = 0``; ``gamma`` or ``beta`` not ``(D,)``; ``eps <= 0``;
            NaN or inf in a NumPy input.
    """
    x, gamma, beta, eps = _check(x, gamma, beta, eps, ndim=None)
    D = x.shape[-1]
    check_shape("gamma", gamma, (D,), f"x's last axis has D = {D}")
    check_shape("beta", beta, (D,), f"x's last axis has D = {D}")

    xhat, inv_std = normalize(x, (x.ndim - 1,), eps)
    out = gamma * xhat + beta
    return out, NormCache(xhat, inv_std, gamma, (x.ndim - 1,), tuple(range(x.ndim - 1)))


def layer_norm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Gradients of ``layer_norm``: ``(dx, dgamma, dbeta)``, shaped like ``x``, ``gamma``, ``beta``.

    The same equations as :func:`batch_norm_backward`, with the means of ``dx``
    over the last axis (each sample's own ``D`` entries) and the sums of
    ``dgamma``, ``dbeta`` over every leading axis::

        dbeta  = sum(dout),  dgamma = sum(dout * xhat)       over the leading axes
        dx     = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   means over the last axis

    ``dout`` shaped like ``x``; same dtype.
    """
    return _affine_backward(dout, cache)
