"""``MLP``: a spec and its params together, for people who want an object.

What this module is for: a thin, stateful convenience over the pure functions
of :mod:`bp_manual.network`, :mod:`bp_manual.optim` and :mod:`bp_manual.train`.
The only state is ``spec`` and ``params``; every method delegates, so there is
one implementation of each equation.

What it is not for: anything the pure functions cannot do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from bp_manual import network, saving, train
from bp_manual.initializers import Initializer, Params, ParamsLike, init_params
from bp_manual.optim import DivergedError, Optimizer, OptState
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, as_targets, check_lr, check_params, check_spec

Array = NDArray[np.floating]


class MLP:
    """A fully connected network: ``spec`` plus ``params``.

    Args:
        sizes: ``(n_in, n_hidden..., n_out)``.
        hidden, output, loss, bias: as for :class:`bp_manual.NetworkSpec`.
        init: an init name or initializer (see :func:`bp_manual.init_params`).
        seed: ``None``, an integer or a ``numpy.random.Generator`` for the init.
        dtype: ``np.float32`` or ``np.float64``.

    Attributes:
        spec: the ``NetworkSpec``.
        params: ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``; replaced (never
            modified in place) by ``step`` and ``fit``. Assigning it checks the
            new value against ``spec`` (structure, shapes, dtype, finite values),
            so every params an ``MLP`` holds came through a checked path; that
            is why ``step`` does not check them again on every update. (Writing
            NaN into one of the arrays in place bypasses the check; the next
            ``step`` then stops with ``DivergedError``, because a non-finite
            weight always makes the updated weights non-finite.)
        steps: the number of updates ``step`` has applied (``fit`` does not count).
    """

    def __init__(
        self,
        sizes: tuple[int, ...] | list[int],
        *,
        hidden: str = "sigmoid",
        output: str = "identity",
        loss: str = "mse",
        bias: bool = True,
        init: str | Initializer = "xavier_normal",
        seed: int | np.random.Generator | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.spec = NetworkSpec(tuple(sizes), hidden=hidden, output=output, loss=loss, bias=bias)
        self._params: Params = init_params(self.spec, init, seed, dtype)
        self.steps = 0

    @classmethod
    def from_params(cls, spec: NetworkSpec, params: ParamsLike) -> MLP:
        """An ``MLP`` around existing ``params`` (checked against ``spec``, not copied)."""
        check_params(check_spec(spec), params)
        self = cls.__new__(cls)
        self.spec, self._params = spec, [dict(layer) for layer in params]
        self.steps = 0
        return self

    @property
    def params(self) -> Params:
        """``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``, float32 or float64 (see the class docstring)."""
        return self._params

    @params.setter
    def params(self, value: ParamsLike) -> None:
        check_params(self.spec, value)
        self._params = [dict(layer) for layer in value]

    def __repr__(self) -> str:
        dtype = self.params[0]["W"].dtype
        return f"MLP({self.spec!r}, dtype={dtype})"

    def predict(self, X: object) -> Array:
        """``Y_hat (N, n_out)`` for ``X (N, n_in)`` or one sample ``(n_in,)``."""
        return network.predict(self.spec, self.params, X)

    def loss(self, X: object, Y: object) -> np.floating:
        """The batch-mean loss on ``(X, Y)``."""
        return network.loss(self.spec, self.params, X, Y)

    def loss_and_grads(self, X: object, Y: object) -> tuple[np.floating, Params]:
        """``(loss, grads)`` at the current params; see :func:`bp_manual.loss_and_grads`."""
        return network.loss_and_grads(self.spec, self.params, X, Y)

    def step(self, X: object, Y: object, lr: float) -> np.floating:
        """One gradient-descent update on the batch ``(X, Y)``; returns the loss before it.

        All gradients are computed at the current params, then every layer is
        updated at once. On an error the params are left as they were.

        Raises:
            TypeError / ValueError: bad ``X``, ``Y`` or ``lr``.
            DivergedError: the update would make the params non-finite (it
                names the step and the layer).
        """
        dtype = self._params[0]["W"].dtype
        X_ = as_inputs(self.spec, X, dtype)
        return self._step(X_, as_targets(self.spec, Y, X_.shape[0], dtype), check_lr(lr))

    def _step(self, X: Array, Y: Array, lr: float) -> np.floating:
        """:meth:`step` on ``X (N, n_in)``, ``Y (N, n_out)`` and ``lr`` already checked.

        The params are not checked again (the object only ever holds checked
        params: see the class docstring); the step's divergence check still runs.
        """
        try:
            loss, self._params = train.train_step_prepared(self.spec, self._params, X, Y, lr)
        except DivergedError as exc:
            raise exc.at_step(self.steps + 1) from None
        self.steps += 1
        return loss

    def fit(
        self,
        X: object,
        Y: object,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float | None = None,
        seed: int | np.random.Generator | None = None,
        callback: train.Callback | None = None,
        optimizer: Optimizer | None = None,
        opt_state: OptState | None = None,
    ) -> train.History:
        """Minibatch training (plain SGD, ``lr`` 0.1, unless an ``optimizer`` is given).

        See :func:`bp_manual.train.fit`. Returns the per-epoch history.
        """
        self._params, history = train.fit(
            self.spec,
            self.params,
            X,
            Y,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            callback=callback,
            optimizer=optimizer,
            opt_state=opt_state,
        )
        return history

    def save(self, path: str | os.PathLike[str], *, meta: dict[str, Any] | None = None) -> Path:
        """Write the spec and params to an ``.npz`` file, atomically; see :func:`bp_manual.saving.save`."""
        return saving.save(path, self.spec, self.params, meta=meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLP:
        """An ``MLP`` from a file written by :meth:`save` (checked; see :func:`bp_manual.saving.load`)."""
        saved = saving.load(path)
        return cls.from_params(saved.spec, saved.params)
