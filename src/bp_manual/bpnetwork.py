"""``BPNetwork``: the seed blog's class, with its API kept and its bugs fixed.

What this module is for: readers of the seed post, who will recognise every
name (``input_nodes``, ``hidden_nodes``, ``output_nodes``, ``learning_rate``,
``train``, ``run``, ``w_in2hid``, ``w_hid2out``). The maths is not here: it is
an :class:`bp_manual.MLP` with sigmoid hidden units, an identity output, the
``mse`` loss, no biases and the seed's init.

What it is not for: anything beyond the seed's one-sample regime; use ``MLP``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import Initializer
from bp_manual.mlp import MLP
from bp_manual.optim import DivergedError
from bp_manual.validation import as_inputs, as_targets, as_weight, check_lr

Array = NDArray[np.floating]


class BPNetwork:
    """The seed's 3-layer network (input -> sigmoid hidden -> identity output), corrected.

    ``train`` is one step of gradient descent on one sample of the loss
    ``0.5 * ||out - target||**2``; ``run`` is the forward pass.

    What was corrected relative to the published code, and why:

    1. **Descent, not ascent.** The seed computes ``out_error = out - target``
       (which *is* ``dL/d out``) and then does ``w += lr * gradient``: it climbs
       the loss (on ``bp demo``'s random 784-32-64 example it grows 35.6 -> 276.2 in
       five updates). Here ``w <- w - lr * gradient``.
    2. **``run`` uses the right matrix.** The seed multiplies the hidden output
       by ``w_in2hid`` a second time instead of ``w_hid2out``, which raises a
       shape error for 784-32-64. Here ``run`` is the same forward pass that
       ``train`` differentiates.
    3. **The init is named for what it is.** The seed calls
       ``N(0, std = hidden_nodes**-0.5)`` "Xavier"; it is ``Var = 1/fan_out``
       (see :func:`bp_manual.initializers.seed`). It is still the default, so
       the network starts as published; pass ``init="xavier_normal"`` for Glorot's.
    4. **No global random state.** Weights come from an explicit
       ``numpy.random.Generator`` (``seed``), not ``np.random.normal``.

    Kept from the seed: the ordering (both weight gradients are computed from
    the old weights before either changes), the shapes (``w_in2hid`` is
    ``(hidden, input)``, ``w_hid2out`` is ``(output, hidden)``), plain lists as
    input, and ``run`` returning a column.

    Args:
        input_nodes, hidden_nodes, output_nodes: layer widths (positive ints).
        learning_rate: step size, finite and > 0.
        seed: ``None``, an integer or a ``numpy.random.Generator`` (keyword only).
        init: init name or initializer, default ``"seed"`` (keyword only).
        dtype: ``np.float64`` (default) or ``np.float32`` (keyword only).
    """

    def __init__(
        self,
        input_nodes: int,
        hidden_nodes: int,
        output_nodes: int,
        learning_rate: float,
        *,
        seed: int | np.random.Generator | None = None,
        init: str | Initializer = "seed",
        dtype: type[np.floating] = np.float64,
    ) -> None:
        lr = check_lr(learning_rate, name="learning_rate")
        self._mlp = MLP(
            (input_nodes, hidden_nodes, output_nodes),
            hidden="sigmoid",
            output="identity",
            loss="mse",
            bias=False,
            init=init,
            seed=seed,
            dtype=dtype,
        )
        self.input_nodes, self.hidden_nodes, self.output_nodes = self._mlp.spec.sizes
        self.learning_rate = lr

    @property
    def lr(self) -> float:
        """The seed's name for ``learning_rate``."""
        return self.learning_rate

    @property
    def mlp(self) -> MLP:
        """The underlying :class:`bp_manual.MLP` (shares its params with this object)."""
        return self._mlp

    def _get(self, layer: int) -> Array:
        return self._mlp.params[layer]["W"]

    def _set(self, layer: int, name: str, value: object) -> None:
        old = self._get(layer)
        W = as_weight(name, value, old.shape, old.dtype)  # a checked copy: the caller's array stays theirs
        params = list(self._mlp.params)
        params[layer] = {"W": W}
        self._mlp._params = params  # W is checked above and the other layer is the MLP's own

    @property
    def w_in2hid(self) -> Array:
        """Input-to-hidden weights ``W_1``, ``(hidden_nodes, input_nodes)``: the live array."""
        return self._get(0)

    @w_in2hid.setter
    def w_in2hid(self, value: object) -> None:
        self._set(0, "w_in2hid", value)

    @property
    def w_hid2out(self) -> Array:
        """Hidden-to-output weights ``W_2``, ``(output_nodes, hidden_nodes)``: the live array."""
        return self._get(1)

    @w_hid2out.setter
    def w_hid2out(self, value: object) -> None:
        self._set(1, "w_hid2out", value)

    def _one_sample(self, value: object, name: str, *, finite: bool = True) -> Array:
        X = as_inputs(self._mlp.spec, value, self._mlp.params[0]["W"].dtype, name=name, finite=finite)
        if X.shape[0] != 1:
            raise ValueError(f"{name} must be one sample (a list, (n,) or (1, n)), got {X.shape[0]} samples")
        return X

    def train(self, inputs_org: object, groundtruth_org: object) -> float:
        """One gradient-descent update on one sample; returns the loss before it.

        Args:
            inputs_org: ``input_nodes`` numbers (a list, ``(n,)`` or ``(1, n)``).
            groundtruth_org: ``output_nodes`` numbers, likewise.

        Returns:
            ``0.5 * ||out - target||**2`` before the update, as a float (the
            seed returned nothing).

        Raises:
            TypeError / ValueError: a bad argument, named (``inputs_org``,
                ``groundtruth_org``, ``learning_rate``, in that order); the
                weights are left as they were.
            DivergedError: the update would make the weights or the loss non-finite.

        Speed: the arguments' type, shape and dtype are checked before anything
        is computed; their NaN/inf test runs only if the step fails, and then
        in the same order and with the same message as before the step. That
        catches every NaN and inf: with one sample, ``dW1 = delta1 x^T`` is an
        outer product of single multiplications (``einsum``), and ``0 * inf``,
        ``c * inf`` and ``c * NaN`` are NaN or inf, so a non-finite ``x_j``
        makes column ``j`` of ``dW1``, hence of the new ``W1``, non-finite
        (``W - lr * dW`` keeps it, ``lr`` being finite and > 0); a non-finite
        target ``y_k`` makes ``delta2_k = out_k - y_k``, row ``k`` of the new
        ``W2`` and the loss non-finite. Either way the divergence check raises,
        nothing has been assigned, and the test names the argument.
        """
        X = self._one_sample(inputs_org, "inputs_org", finite=False)
        Y: Array | None = None
        try:
            Y = as_targets(self._mlp.spec, groundtruth_org, 1, X.dtype, name="groundtruth_org", finite=False)
            return float(self._mlp._step(X, Y, check_lr(self.learning_rate, name="learning_rate")))
        except (TypeError, ValueError, DivergedError):
            bad = self._bad_values(X, Y)
            if bad is not None:
                raise bad from None
            raise

    def _bad_values(self, X: Array, Y: Array | None) -> ValueError | None:
        """The error of the NaN/inf test that ``train`` deferred (``inputs_org`` first), or None."""
        try:
            as_inputs(self._mlp.spec, X, X.dtype, name="inputs_org")
            if Y is not None:
                as_targets(self._mlp.spec, Y, 1, X.dtype, name="groundtruth_org")
        except ValueError as exc:
            return exc
        return None

    def run(self, inputs_org: object) -> Array:
        """The prediction as a column ``(output_nodes, 1)``, like the seed's.

        ``inputs_org`` is one sample (a list, ``(n,)`` or ``(1, n)``), or a batch
        ``(N, input_nodes)``, which gives one column per sample, ``(output_nodes, N)``.
        """
        X = as_inputs(self._mlp.spec, inputs_org, self.w_in2hid.dtype, name="inputs_org")
        return self._mlp.predict(X).T
