"""What a model run of :mod:`bp_manual.models` returns: the model, its trained params, its history, its metrics.

What this module is for: one record for every run, with the JSON form that
``bp train --json`` prints.

What it is not for: saving models to disk (:mod:`bp_manual.saving` saves the dense network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bp_manual.initializers import Params
from bp_manual.layers.sequential import Sequential
from bp_manual.train import History


@dataclass(frozen=True)
class TrainedModel:
    """A trained chain of layers.

    Attributes:
        name: ``"cnn"`` or ``"rnn"`` (``bp train --model``).
        data: what it was trained on, in words.
        model: the :class:`bp_manual.layers.Sequential`.
        params: the trained params.
        history: the training loop's :class:`bp_manual.train.History`.
        metrics: numbers (or ``None``) by name; always ``test_accuracy``.
    """

    name: str
    data: str
    model: Sequential
    params: Params
    history: History
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``model``, ``data``, every metric, ``loss_per_epoch``, ``stop_reason``."""
        return {
            "model": self.name,
            "data": self.data,
            **self.metrics,
            "loss_per_epoch": list(self.history.loss),
            "stop_reason": self.history.stop_reason,
        }
