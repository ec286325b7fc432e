"""Fresh parameters for each layer of :mod:`bp_manual.layers` that has any, drawn from an explicit Generator.

What this module is for: the ``init`` of each :class:`bp_manual.layers.sequential.Layer`
with parameters: ``(rng, dtype, **sizes) -> {name: array}``, the names those
of the layer forward's parameter inputs, the sizes keyword-only (those
without a default are required in a step's config). Every draw comes from the
caller's ``numpy.random.Generator``, in a fixed order, so a seed gives
bit-identical parameters.

The schemes (the weight matrices through :data:`bp_manual.initializers.INITIALIZERS`,
which take a ``(fan_out, fan_in)`` matrix shape):

- ``linear``: ``W`` by ``init`` (default Xavier normal, as ``bp_manual.init_params``), ``b = 0``.
- ``conv2d``: ``w (F, C, KH, KW)`` drawn as the matrix ``(F, C*KH*KW)`` (each
  filter is a dot product over ``C*KH*KW`` inputs: ``fan_in = C*KH*KW``,
  ``fan_out = F``), default He normal (``Var = 2 / fan_in``, He et al. 2015, for
  a convolution followed by a ReLU), then reshaped; ``b = 0``.
- ``batch_norm``, ``layer_norm``: ``gamma = 1``, ``beta = 0`` (the identity
  after normalising, as PyTorch starts them).
- ``embedding``: ``E ~ N(0, 1)``, as ``torch.nn.Embedding``.
- ``rnn``: ``Wx (H, D)`` and ``Wh (H, H)`` by ``init`` (default Xavier normal:
  ``Var(Wh) = 1/H`` puts the eigenvalues of ``Wh`` about the unit disc, so the
  tanh recurrence starts neither exploding nor dying out), ``b = 0``.
- ``lstm``: each gate's block of ``Wx (4H, D)`` and ``Wh (4H, H)`` drawn as its
  own ``(H, D)``/``(H, H)`` matrix by ``init`` (default Xavier normal), ``b = 0``
  except the forget gate's ``H`` entries, set to 1 so that ``f = sigmoid(1)``
  keeps most of the cell at the start (Gers, Schmidhuber and Cummins 2000;
  Jozefowicz, Zaremba and Sutskever 2015).

What it is not for: the dense network's params (:func:`bp_manual.init_params`),
or layers without parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bp_manual.initializers import Initializer, resolve
from bp_manual.layers.checks import positive_int


def draw(
    rng: np.random.Generator, dtype: np.dtype[Any], init: str | Initializer, shape: tuple[int, int]
) -> np.ndarray[Any, Any]:
    """A ``(fan_out, fan_in)`` matrix by the scheme ``init`` (a name of ``INITIALIZERS`` or an initializer).

    Raises:
        ValueError: an unknown scheme name (the known ones listed), or an
            initializer that returns another shape or dtype.
        TypeError: ``init`` neither a name nor a callable.
    """
    W = np.asarray(resolve(init)(rng, shape, dtype))
    if W.shape != shape or W.dtype != dtype:
        raise ValueError(f"init returned {W.dtype}{W.shape}, expected {dtype}{shape}")
    return W


def init_linear(
    rng: np.random.Generator,
    dtype: np.dtype[Any],
    *,
    in_features: int,
    out_features: int,
    init: str | Initializer = "xavier_normal",
) -> dict[str, Any]:
    """``{"W": (out_features, in_features), "b": zeros (out_features,)}``, ``W`` by ``init`` (default Xavier normal)."""
    shape = (positive_int("out_features", out_features), positive_int("in_features", in_features))
    return {"W": draw(rng, dtype, init, shape), "b": np.zeros(shape[0], dtype=dtype)}


def init_embedding(
    rng: np.random.Generator, dtype: np.dtype[Any], *, num_embeddings: int, embedding_dim: int
) -> dict[str, Any]:
    """``{"E": (num_embeddings, embedding_dim)}`` drawn from ``N(0, 1)``, as ``torch.nn.Embedding`` does."""
    shape = (positive_int("num_embeddings", num_embeddings), positive_int("embedding_dim", embedding_dim))
    return {"E": rng.standard_normal(shape).astype(dtype)}


def init_conv2d(
    rng: np.random.Generator,
    dtype: np.dtype[Any],
    *,
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    init: str | Initializer = "he_normal",
) -> dict[str, Any]:
    """``{"w": (F, C, KH, KW), "b": zeros (F,)}``: ``w`` drawn as ``(F, C*KH*KW)`` by ``init`` (default He normal).

    ``kernel_size``: an int (square) or a pair ``(KH, KW)``.
    """
    F, C = positive_int("out_channels", out_channels), positive_int("in_channels", in_channels)
    pair = kernel_size if isinstance(kernel_size, tuple | list) else (kernel_size, kernel_size)
    if len(pair) != 2:
        raise ValueError(f"kernel_size must be an int or a pair (KH, KW), got {kernel_size!r}")
    KH, KW = (positive_int("kernel_size", k) for k in pair)
    w = draw(rng, dtype, init, (F, C * KH * KW)).reshape(F, C, KH, KW)
    return {"w": w, "b": np.zeros(F, dtype=dtype)}


def init_norm(rng: np.random.Generator, dtype: np.dtype[Any], *, num_features: int) -> dict[str, Any]:
    """``{"gamma": ones (num_features,), "beta": zeros (num_features,)}``; ``rng`` is not drawn from."""
    D = positive_int("num_features", num_features)
    return {"gamma": np.ones(D, dtype=dtype), "beta": np.zeros(D, dtype=dtype)}


def init_rnn(
    rng: np.random.Generator,
    dtype: np.dtype[Any],
    *,
    input_size: int,
    hidden_size: int,
    init: str | Initializer = "xavier_normal",
) -> dict[str, Any]:
    """``{"Wx": (H, D), "Wh": (H, H), "b": zeros (H,)}``, ``Wx`` then ``Wh`` by ``init`` (default Xavier normal)."""
    D, H = positive_int("input_size", input_size), positive_int("hidden_size", hidden_size)
    return {"Wx": draw(rng, dtype, init, (H, D)), "Wh": draw(rng, dtype, init, (H, H)), "b": np.zeros(H, dtype=dtype)}


def init_lstm(
    rng: np.random.Generator,
    dtype: np.dtype[Any],
    *,
    input_size: int,
    hidden_size: int,
    init: str | Initializer = "xavier_normal",
) -> dict[str, Any]:
    """``{"Wx": (4H, D), "Wh": (4H, H), "b": (4H,)}``: gate blocks ``i, f, g, o`` each by ``init``; ``b`` 0, 1 on ``f``.

    Draw order: the four ``(H, D)`` blocks of ``Wx``, then the four ``(H, H)`` blocks of ``Wh``.
    """
    D, H = positive_int("input_size", input_size), positive_int("hidden_size", hidden_size)
    Wx = np.concatenate([draw(rng, dtype, init, (H, D)) for _ in range(4)])
    Wh = np.concatenate([draw(rng, dtype, init, (H, H)) for _ in range(4)])
    b = np.zeros(4 * H, dtype=dtype)
    b[H : 2 * H] = 1.0  # the forget gate
    return {"Wx": Wx, "Wh": Wh, "b": b}
