"""The seed blog's ``BPNetwork`` exactly as published, bugs included.

What this module is for: a specimen. The demo, the tests and the docs run it
next to the corrected :class:`bp_manual.BPNetwork` to show what goes wrong
(the loss climbs; ``run`` raises for 784-32-64). Nothing else in
``bp_manual`` uses it.

What it is not for: training anything.

The arithmetic of ``train`` and ``run`` is the post's line for line. The only
change: the weights come from an explicit ``numpy.random.Generator`` instead
of the global ``np.random``, with the post's distribution
(``N(0, hidden_nodes**-0.5)`` and ``N(0, output_nodes**-0.5)``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import as_generator

Array = NDArray[np.floating]


class PublishedBPNetwork:
    """The post's class. ``train`` climbs the loss; ``run`` uses the wrong matrix."""

    def __init__(
        self,
        input_nodes: int,
        hidden_nodes: int,
        output_nodes: int,
        learning_rate: float,
        *,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        rng = as_generator(seed)
        self.input_nodes = input_nodes
        self.hidden_nodes = hidden_nodes
        self.output_nodes = output_nodes
        self.lr = learning_rate
        # w_in2hid.shape=(32,784)
        self.w_in2hid: Array = rng.normal(0.0, self.hidden_nodes**-0.5, (self.hidden_nodes, self.input_nodes))
        # w_hid2out.shape=(64,32)
        self.w_hid2out: Array = rng.normal(0.0, self.output_nodes**-0.5, (self.output_nodes, self.hidden_nodes))
        self.act_func = lambda x: 1 / (1 + np.exp(-x))

    def train(self, inputs_org: object, groundtruth_org: object) -> None:
        """As published: ``out_error = out - target``, then ``w += lr * ...`` (ascent)."""
        inputs = np.array(inputs_org, ndmin=2).T
        groundtruth = np.array(groundtruth_org, ndmin=2).T
        hid_ints = np.dot(self.w_in2hid, inputs)
        hid_outs = self.act_func(hid_ints)
        out_ints = np.dot(self.w_hid2out, hid_outs)
        out_outs = out_ints
        out_error = out_outs - groundtruth
        hid_error = np.dot(out_error.T, self.w_hid2out) * (hid_outs * (1 - hid_outs)).T
        self.w_hid2out += out_error * hid_outs.T * self.lr
        self.w_in2hid += (inputs * hid_error * self.lr).T

    def run(self, inputs_org: object) -> Array:
        """As published: the second product uses ``w_in2hid`` (a shape error for 784-32-64)."""
        inputs = np.array(inputs_org, ndmin=2).T
        hid_ints = np.dot(self.w_in2hid, inputs)
        hid_outs = self.act_func(hid_ints)
        out_ints = np.dot(self.w_in2hid, hid_outs)
        out_outs = out_ints
        return out_outs
