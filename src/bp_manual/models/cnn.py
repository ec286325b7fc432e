"""A small convolutional network trained on scikit-learn's digits as ``1 x 8 x 8`` images, by the hand derivation.

What this module is for: the convolutional model of ``bp train --model cnn``:
the architecture (:func:`digits_cnn`), the images (:func:`digits_images`), the
augmentation (:func:`shift_images`) and the seeded run (:func:`train_digits_cnn`),
all in :mod:`bp_manual` (NumPy only; gradients by
:class:`bp_manual.layers.Sequential`'s backward over the hand-derived layers)::

    x (N, 1, 8, 8) -> conv2d 3x3, 16 filters, padding 1 -> relu      (N, 16, 8, 8)
                   -> conv2d 3x3, 16 filters, padding 1 -> relu      (N, 16, 8, 8)
                   -> max_pool2d 2x2                                 (N, 16, 4, 4)
                   -> flatten                                        (N, 256)
                   -> linear                                         (N, 10)  -> cross-entropy

The run: the split of :func:`bp_manual.data.load_digits` (the one ``bp train``
uses), the pixels as images in ``[0, 1]`` (``value / 16``, one scale for every
pixel: the per-pixel standardisation of the dense network's inputs would give
each position its own units, which a convolution, sharing its weights across
positions, cannot use), He-initialised convolutions, each training image
shifted by a random ``-1, 0, +1`` pixels along each axis at every step, Adam
(lr ``3e-3``) with a cosine decay over 30 epochs, batches of 32.

What it is not for: a fast CNN (the convolutions are NumPy's im2col; see
``docs/layers/conv.md``), other image sizes, or evaluation-mode batch statistics.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.data import Dataset, load_digits
from bp_manual.initializers import as_generator
from bp_manual.layers.sequential import Sequential
from bp_manual.models.loop import blas_threads, cosine, evaluate, fit_model
from bp_manual.models.result import TrainedModel
from bp_manual.optim import Optimizer, adam
from bp_manual.scalars import nonnegative_int, positive_int
from bp_manual.train import Callback

#: The defaults of :func:`train_digits_cnn` (and of ``bp train --model cnn``).
EPOCHS, BATCH_SIZE, LR = 30, 32, 3e-3


def digits_cnn(channels: int = 16) -> Sequential:
    """The network of the module docstring, with ``channels`` filters in each convolution."""
    c = positive_int("channels", channels)
    return Sequential(
        [
            ("conv2d", {"in_channels": 1, "out_channels": c, "kernel_size": 3, "padding": 1}),
            "relu",
            ("conv2d", {"in_channels": c, "out_channels": c, "kernel_size": 3, "padding": 1}),
            "relu",
            ("max_pool2d", {"kernel_size": 2}),
            "flatten",
            ("linear", {"in_features": c * 4 * 4, "out_features": 10}),
        ]
    )


def digits_images(ds: Dataset) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(x_train, x_test)``: the digits of ``ds`` as images ``(N, 1, 8, 8)`` with values ``pixel / 16`` in ``[0, 1]``.

    ``ds`` is :func:`bp_manual.data.load_digits`'s split, whose inputs are
    standardised per pixel; the pixel values (the integers 0 to 16 of
    scikit-learn's data) are recovered exactly by undoing the standardisation
    and rounding.

    Raises:
        ValueError: ``ds`` is not the 64-pixel digits.
    """
    if ds.n_in != 64:
        raise ValueError(f"ds must be the 8x8 digits (64 inputs), got {ds.name} with {ds.n_in}")
    images = [np.rint(X * ds.x_scale + ds.x_mean).reshape(-1, 1, 8, 8) / 16.0 for X in (ds.X_train, ds.X_test)]
    return images[0], images[1]


def shift_images(x: NDArray[Any], rng: np.random.Generator, max_shift: int = 1) -> NDArray[Any]:
    """Each image ``x[n] (C, H, W)`` translated by its own random ``(dy, dx)`` in ``[-max_shift, max_shift]``.

    Pixels shifted out are lost, zeros come in. The shifts are drawn from
    ``rng`` (``2 N`` integers); a new array of ``x``'s shape and dtype.
    """
    s = nonnegative_int("max_shift", max_shift)
    N, _, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    offsets = rng.integers(0, 2 * s + 1, size=(N, 2))
    rows = offsets[:, 0, None] + np.arange(H)  # (N, H): the rows of the padded image each shifted image takes
    cols = offsets[:, 1, None] + np.arange(W)
    n, c = np.arange(N)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]


def train_digits_cnn(
    *,
    seed: int = 0,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    optimizer: Optimizer | None = None,
    test_size: float = 0.25,
    callback: Callback | None = None,
) -> TrainedModel:
    """Train :func:`digits_cnn` on the digits (module docstring); reproducible for a given ``seed``.

    ``seed`` sets the split (as ``bp train --seed``), then one Generator draws
    the init, the shuffles and the shifts, in that order. ``optimizer``:
    default ``adam(3e-3)``, its learning rate decayed by :func:`cosine`.
    ``callback(epoch, loss, params)`` after each epoch, as in :func:`fit_model`.

    Returns:
        A :class:`TrainedModel` whose metrics hold ``test_accuracy``,
        ``test_loss``, ``train_accuracy``, ``train_loss`` (the trained params on
        each split, unshifted images), ``epochs``, ``seed`` and
        ``train_seconds`` (the wall time of the training loop).
    """
    ds = load_digits(test_size=test_size, seed=nonnegative_int("seed", seed))
    x_train, x_test = digits_images(ds)
    model = digits_cnn()
    rng = as_generator(seed)
    params = model.init(rng)
    with blas_threads(1):  # small products: one BLAS thread is the fast choice (blas_threads)
        start = time.perf_counter()
        params, history = fit_model(
            model,
            params,
            x_train,
            ds.y_train,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=adam(LR) if optimizer is None else optimizer,
            seed=rng,
            schedule=cosine,
            augment=shift_images,
            callback=callback,
        )
        seconds = time.perf_counter() - start
        train_loss, train_accuracy = evaluate(model, params, x_train, ds.y_train)
        test_loss, test_accuracy = evaluate(model, params, x_test, ds.y_test)
    metrics = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "train_accuracy": train_accuracy,
        "train_loss": train_loss,
        "epochs": len(history.loss),
        "seed": seed,
        "train_seconds": seconds,
    }
    return TrainedModel("cnn", "digits as 1x8x8 images (scikit-learn)", model, params, history, metrics)
