"""Output activations and losses, each loss beside ``dL/dZ`` of the output layer.

What this module is for: the last step of the forward pass (``Y_hat = g(Z_L)``),
the loss ``L(Z_L, Y)`` averaged over the batch, and the output delta
``delta_L = dL/dZ_L`` that starts the backward pass.

What it is not for: hidden nonlinearities (:mod:`bp_manual.activations`) and
the recursion (:mod:`bp_manual.network`).

Notation: ``N`` samples, ``n`` outputs; ``Z`` is the output pre-activation
``(N, n)``, ``Y_hat = g(Z)`` the prediction and ``Y`` the target, both
``(N, n)`` (integer labels are turned into one-hot rows before they get here).
The losses and the row-wise softmax also take a stack of batches, ``Z`` of
shape ``(..., N, n)`` (``Y`` broadcast against it), and return one loss per
batch, ``(...)``: the auditor's finite differences evaluate many perturbed
networks at once this way. For a 2-D ``Z`` the sums over the last two axes
are the whole-array sums, bit for bit.

Why every pair has the same output delta. Each loss is matched with the output
activation ``g`` whose derivative cancels against the loss's derivative (the
"canonical link"), so the chain rule ``dL/dZ = dL/dY_hat * g'(Z)`` collapses:

- ``identity`` + ``mse``: ``L = 1/(2N) sum (Y_hat - Y)**2``, ``g' = 1``, so
  ``dL/dZ = (Y_hat - Y) / N``.
- ``sigmoid`` + ``binary_cross_entropy``:
  ``L = -(1/N) sum [Y log Y_hat + (1 - Y) log(1 - Y_hat)]``;
  ``dL/dY_hat = (Y_hat - Y) / (N Y_hat (1 - Y_hat))`` and
  ``g' = Y_hat (1 - Y_hat)``, so ``dL/dZ = (Y_hat - Y) / N``.
- ``softmax`` + ``cross_entropy``: ``L = -(1/N) sum_i sum_k Y_ik log softmax(Z_i)_k``;
  ``d log softmax(Z)_k / dZ_j = [k == j] - softmax(Z)_j``, so
  ``dL/dZ_ij = -(1/N) (Y_ij - softmax(Z_i)_j sum_k Y_ik) = (Y_hat_ij - Y_ij) / N``
  because each row of ``Y`` sums to 1 (one-hot or a probability vector; the
  input validation refuses rows that do not).

So :func:`output_delta` is written once and shared by all three losses.
Like the activations, every function here runs on NumPy and ``jax.numpy``
arrays alike (:mod:`bp_manual.namespace`).
Losses are evaluated from the logits ``Z``, never from ``log(Y_hat)``, so they
stay finite when ``Y_hat`` underflows to 0 or rounds to 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bp_manual.activations import identity, sigmoid, softplus
from bp_manual.namespace import namespace

Array = NDArray[np.floating]


def softmax(Z: Array) -> Array:
    """Row-wise ``softmax(Z)_ij = exp(Z_ij) / sum_k exp(Z_ik)``, stable.

    Shifting each row by its maximum changes nothing mathematically and keeps
    every exponent ``<= 0``, so nothing overflows; the largest term is
    ``exp(0) = 1``, so the denominator is ``>= 1``.
    Shape: ``(..., N, n) -> (..., N, n)``, same dtype (along the last axis).
    """
    E = namespace(Z).exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def log_softmax(Z: Array) -> Array:
    """Row-wise ``log softmax(Z) = Z - max - log(sum exp(Z - max))``, stable.

    Finite for finite ``Z`` even where ``softmax(Z)`` underflows to 0.
    Shape: ``(..., N, n) -> (..., N, n)``, same dtype (along the last axis).
    """
    xp = namespace(Z)
    shifted = Z - Z.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def output_delta(Y_hat: Array, Y: Array) -> Array:
    """``delta_L = dL/dZ_L = (Y_hat - Y) / N`` for every valid output/loss pair.

    See the module docstring for the three derivations.
    Shapes: ``Y_hat (N, n)``, ``Y (N, n)`` -> ``(N, n)``, dtype of ``Y_hat``.
    """
    return (Y_hat - Y) / Y_hat.shape[0]


def mse(Z: Array, Y: Array) -> np.floating:
    """``L = 1/(2N) sum over samples and outputs of (Z - Y)**2`` (identity output).

    For ``N = 1`` this is the seed's ``0.5 * ||e||**2``.
    Shapes: ``Z (..., N, n)``, ``Y (N, n)`` -> ``(...)`` (a scalar for 2-D ``Z``) of ``Z``'s dtype.
    """
    E = Z - Y
    return 0.5 * (E * E).sum(axis=(-2, -1)) / Z.shape[-2]


def cross_entropy(Z: Array, Y: Array) -> np.floating:
    """``L = -(1/N) sum_i sum_k Y_ik log softmax(Z_i)_k`` (softmax output).

    With one-hot ``Y`` this is ``-(1/N) sum_i log softmax(Z_i)[label_i]``.
    Shapes: ``Z (..., N, n)``, ``Y (N, n)`` -> ``(...)`` (a scalar for 2-D ``Z``) of ``Z``'s dtype.
    """
    return -(Y * log_softmax(Z)).sum(axis=(-2, -1)) / Z.shape[-2]


def binary_cross_entropy(Z: Array, Y: Array) -> np.floating:
    """``L = -(1/N) sum [Y log sigmoid(Z) + (1 - Y) log(1 - sigmoid(Z))]``.

    Evaluated from the logits with ``-log sigmoid(Z) = softplus(-Z)`` and
    ``-log(1 - sigmoid(Z)) = softplus(Z)``, as
    ``(1/N) sum [Y softplus(-Z) + (1 - Y) softplus(Z)]``, finite for any finite
    ``Z``. Each output unit is an independent binary label (multi-label),
    summed over outputs and averaged over samples.
    Shapes: ``Z (..., N, n)``, ``Y (N, n)`` with ``0 <= Y <= 1`` -> ``(...)`` (a scalar for 2-D ``Z``)
    of ``Z``'s dtype.
    """
    terms = Y * softplus(-Z) + (1.0 - Y) * softplus(Z)
    return terms.sum(axis=(-2, -1)) / Z.shape[-2]


@dataclass(frozen=True)
class Loss:
    """A loss, the output activation it is paired with, and its output delta.

    Attributes:
        name: the registry name, e.g. ``"mse"``.
        output: name of the output activation it pairs with (see ``OUTPUTS``).
        value: ``(Z (N, n), Y (N, n)) -> scalar``, from the logits (or ``Z (..., N, n) -> (...)``, one per batch).
        delta: ``(Y_hat (N, n), Y (N, n)) -> dL/dZ (N, n)``.
    """

    name: str
    output: str
    value: Callable[[Array, Array], np.floating]
    delta: Callable[[Array, Array], Array] = output_delta


#: Output activations by name: ``Z (N, n) -> Y_hat (N, n)``.
OUTPUTS: dict[str, Callable[[Array], Array]] = {
    "identity": identity,
    "softmax": softmax,
    "sigmoid": sigmoid,
}

#: Losses by name; each names the one output activation it is valid with.
LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", "identity", mse),
        Loss("cross_entropy", "softmax", cross_entropy),
        Loss("binary_cross_entropy", "sigmoid", binary_cross_entropy),
    )
}

#: The valid ``(output, loss)`` pairs, for error messages and strategies.
VALID_PAIRS: tuple[tuple[str, str], ...] = tuple((loss.output, loss.name) for loss in LOSSES.values())
