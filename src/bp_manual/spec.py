"""``NetworkSpec``: the architecture of a fully connected network, validated once.

What this module is for: the description both sides (``bp_manual`` and
``bp_autodiff``) compute from: layer sizes, the hidden activation, the output
activation and loss (a valid pair), and whether layers have biases.

What it is not for: parameters (:mod:`bp_manual.initializers`) or arithmetic
(:mod:`bp_manual.network`).

A spec is frozen and hashable, so it can be a static argument of ``jax.jit``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from bp_manual.activations import HIDDEN
from bp_manual.losses import LOSSES, OUTPUTS, VALID_PAIRS


def _unknown(kind: str, name: object, valid: Sequence[str]) -> ValueError:
    return ValueError(f"unknown {kind} {name!r}; expected one of {sorted(valid)}")


def _pairs_text() -> str:
    return ", ".join(f"{output}+{loss}" for output, loss in VALID_PAIRS)


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of an ``L``-layer fully connected network.

    Layer ``l = 1..L`` maps ``A_{l-1} (N, sizes[l-1])`` to ``A_l (N, sizes[l])``:
    ``Z_l = A_{l-1} @ W_l.T + b_l`` and ``A_l = f(Z_l)`` with ``f = hidden`` for
    ``l < L`` and ``f = output`` for ``l = L``. ``A_0 = X``.

    Args:
        sizes: ``(n_in, n_hidden..., n_out)``, at least two positive integers
            (at least one weight layer).
        hidden: hidden activation, a name in ``bp_manual.activations.HIDDEN``.
        output: output activation: ``"identity"``, ``"softmax"`` or ``"sigmoid"``.
        loss: ``"mse"``, ``"cross_entropy"`` or ``"binary_cross_entropy"``; it
            must pair with ``output`` (identity+mse, softmax+cross_entropy,
            sigmoid+binary_cross_entropy).
        bias: whether each layer has a bias vector ``b_l (sizes[l],)``.

    Raises:
        TypeError: ``sizes`` is not a sequence of integers, a name is not a
            string, ``bias`` is not a bool.
        ValueError: fewer than two sizes, a size below 1, an unknown name, an
            invalid output/loss pair, or softmax with a single output unit.
    """

    sizes: tuple[int, ...]
    hidden: str = "sigmoid"
    output: str = "identity"
    loss: str = "mse"
    bias: bool = True

    def __post_init__(self) -> None:
        sizes = self.sizes
        if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of integers, got {type(sizes).__name__}")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral):
                raise TypeError(f"sizes must hold integers, got {s!r} in {list(sizes)!r}")
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least 2 entries (n_in, n_out), got {list(sizes)!r}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes must all be >= 1, got {list(sizes)!r}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))

        for kind, name, registry in (
            ("hidden activation", self.hidden, HIDDEN),
            ("output activation", self.output, OUTPUTS),
            ("loss", self.loss, LOSSES),
        ):
            if not isinstance(name, str):
                raise TypeError(f"{kind} must be a string name, got {type(name).__name__}")
            if name not in registry:
                raise _unknown(kind, name, list(registry))
        if LOSSES[self.loss].output != self.output:
            raise ValueError(
                f"output {self.output!r} does not go with loss {self.loss!r}; valid output+loss pairs: {_pairs_text()}"
            )
        if self.output == "softmax" and self.sizes[-1] < 2:
            raise ValueError(
                "softmax needs at least 2 output units (with 1 it is constant 1 and the "
                "loss is always 0); for two classes use output='sigmoid', "
                "loss='binary_cross_entropy' with 1 unit"
            )
        if not isinstance(self.bias, bool):
            raise TypeError(f"bias must be a bool, got {type(self.bias).__name__}")

    @property
    def n_layers(self) -> int:
        """``L``, the number of weight layers (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    @property
    def n_in(self) -> int:
        """Input width ``sizes[0]``."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """Output width ``sizes[-1]``."""
        return self.sizes[-1]

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        """``[(n_out, n_in)]`` of ``W_1 .. W_L``, i.e. ``(sizes[l], sizes[l-1])``."""
        return [(self.sizes[i + 1], self.sizes[i]) for i in range(self.n_layers)]
