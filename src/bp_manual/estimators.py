"""scikit-learn estimators around the hand-derived network: ``BPClassifier`` and ``BPRegressor``.

What this module is for: dropping the network into scikit-learn pipelines,
cross-validation and grid search. Both estimators follow scikit-learn's
estimator contract (``fit``, ``partial_fit``, ``predict``, ``score``,
``get_params``/``set_params``; ``predict_proba`` for the classifier) and pass
``sklearn.utils.estimator_checks.parametrize_with_checks`` (tests/test_estimators.py).
All arithmetic is :mod:`bp_manual`'s (``network``, ``optim``, ``train``).

This module imports scikit-learn, so ``import bp_manual`` does not import it;
``from bp_manual.estimators import BPClassifier`` does.

The defaults (``(64,)`` ReLU units, Xavier-uniform init, Adam at ``3e-3``,
batches of 64, 30 epochs) were chosen on validation splits of digits and diabetes
(``benchmarks/choose_defaults.py``; the figures are in ``docs/training.md``).
The inputs should be standardised (e.g. ``StandardScaler`` in a pipeline), as
for any network; the regressor standardises its targets itself.

What it is not for: sample weights, sparse input, or multi-label classification.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from bp_manual import network, train
from bp_manual.activations import HIDDEN
from bp_manual.initializers import init_params
from bp_manual.optim import OPTIMIZERS, make_optimizer
from bp_manual.spec import NetworkSpec


class _BPBase(BaseEstimator):
    """What both estimators share: parameters, their checks, and the training loop."""

    _output = "identity"
    _loss = "mse"

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64,),
        activation: str = "relu",
        init: str = "xavier_uniform",
        optimizer: str = "adam",
        learning_rate: float = 3e-3,
        momentum: float = 0.9,
        alpha: float = 0.0,
        batch_size: int = 64,
        max_iter: int = 30,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state

    # --- parameter checks (in fit, as scikit-learn asks, never in __init__) ---

    def _check_hyper(self) -> None:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (int(sizes),)
        if not isinstance(sizes, tuple | list) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers, got {self.hidden_layer_sizes!r}"
            )
        self._hidden_sizes = tuple(int(s) for s in sizes)
        if self.activation not in HIDDEN:
            raise ValueError(f"unknown activation {self.activation!r}; expected one of {sorted(HIDDEN)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {sorted(OPTIMIZERS)}")
        for name in ("batch_size", "max_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        kwargs: dict[str, Any] = {"weight_decay": self.alpha}
        if self.optimizer in ("momentum", "nesterov"):
            kwargs["beta"] = self.momentum
        self._opt = make_optimizer(self.optimizer, self.learning_rate, **kwargs)

    def _generator(self) -> np.random.Generator:
        """A Generator from ``random_state`` (an int, a ``RandomState`` or ``None``)."""
        seed = check_random_state(self.random_state).randint(0, 2**31 - 1)
        return np.random.default_rng(seed)

    def _start(self, n_in: int, n_out: int) -> None:
        """A fresh network ``(n_in, *hidden, n_out)``, its optimiser state and its generator."""
        self._check_hyper()
        self._rng = self._generator()
        self.spec_ = NetworkSpec((n_in, *self._hidden_sizes, n_out), self.activation, self._output, self._loss)
        self.params_ = init_params(self.spec_, self.init, seed=self._rng)
        self.opt_state_ = self._opt.init(self.params_)
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0

    def _epochs(self, X: NDArray[np.float64], Y: NDArray[Any], epochs: int) -> None:
        self.params_, history = train.fit(
            self.spec_,
            self.params_,
            X,
            Y,
            epochs=epochs,
            batch_size=self.batch_size,
            optimizer=self._opt,
            opt_state=self.opt_state_,
            seed=self._rng,
        )
        assert history.opt_state is not None  # fit ran at least one epoch
        self.opt_state_ = history.opt_state
        self.loss_curve_ = [*self.loss_curve_, *history.loss]
        self.n_iter_ += len(history.loss)

    def _forward(self, X: object) -> NDArray[np.float64]:
        check_is_fitted(self)
        X_ = validate_data(self, X, reset=False, dtype=np.float64)
        return network.predict(self.spec_, self.params_, X_).astype(np.float64, copy=False)


class BPClassifier(ClassifierMixin, _BPBase):
    """A softmax/cross-entropy network classifier trained by backpropagation.

    Args:
        hidden_layer_sizes: widths of the hidden layers, e.g. ``(64,)``.
        activation: hidden activation (``relu``, ``tanh``, ``sigmoid``, ...).
        init: an init scheme name (default Xavier/Glorot uniform, also
            scikit-learn's and Keras' default).
        optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"`` or ``"adam"``.
        learning_rate: the optimiser's step size.
        momentum: ``beta`` of the momentum optimisers.
        alpha: L2 weight decay on the weights (not the biases).
        batch_size: minibatch size (the last batch of an epoch may be smaller).
        max_iter: epochs of ``fit``; ``partial_fit`` runs one epoch per call.
        random_state: seed of the init and the shuffles.

    Attributes (after fitting):
        classes_: ``(n_classes,)`` the labels; ``predict`` returns them.
        spec_, params_: the network; ``params_[l]["W"]`` is ``(n_l, n_{l-1})``.
        loss_curve_: the training loss per epoch; ``n_iter_``: epochs run.

    Shapes: ``X (n_samples, n_features)``; ``y (n_samples,)``;
    ``predict_proba(X) -> (n_samples, n_classes)`` float64.
    """

    _output = "softmax"
    _loss = "cross_entropy"

    def _targets(self, y: NDArray[Any]) -> NDArray[np.int64]:
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _set_classes(self, classes: NDArray[Any]) -> None:
        if len(classes) < 2:
            raise ValueError(f"BPClassifier needs at least 2 classes to train; got only one class ({classes.tolist()})")
        self.classes_ = classes

    def fit(self, X: object, y: object) -> BPClassifier:
        """Train a fresh network for ``max_iter`` epochs on ``X (n_samples, n_features)``, ``y (n_samples,)``."""
        X_, y_ = validate_data(self, X, y, dtype=np.float64)
        y_ = column_or_1d(y_, warn=True)
        check_classification_targets(y_)
        self._set_classes(unique_labels(y_))
        self._start(X_.shape[1], len(self.classes_))
        self._epochs(X_, self._targets(y_), self.max_iter)
        return self

    def partial_fit(self, X: object, y: object, classes: object = None) -> BPClassifier:
        """One epoch over ``(X, y)``, continuing from the current network and optimiser state.

        The first call starts a network and needs ``classes``, every label that
        will ever be seen, ``(n_classes,)``.
        """
        first = not hasattr(self, "classes_")
        X_, y_ = validate_data(self, X, y, dtype=np.float64, reset=first)
        y_ = column_or_1d(y_, warn=True)
        check_classification_targets(y_)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._set_classes(unique_labels(np.asarray(classes)))
            self._start(X_.shape[1], len(self.classes_))
        elif classes is not None and not np.array_equal(unique_labels(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes {classes!r} differ from those of the first call, {self.classes_.tolist()}")
        self._epochs(X_, self._targets(y_), 1)
        return self

    def predict_proba(self, X: object) -> NDArray[np.float64]:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        return self._forward(X)

    def predict(self, X: object) -> NDArray[Any]:
        """The most probable label of each sample, ``(n_samples,)``."""
        proba = self._forward(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])


class BPRegressor(RegressorMixin, _BPBase):
    """A network regressor (identity output, mean squared error) trained by backpropagation.

    Parameters as for :class:`BPClassifier`. The targets are standardised
    with their mean and standard deviation from ``fit`` (or the first
    ``partial_fit``) and predictions mapped back, so targets of any scale
    train with the same learning rate.

    Shapes: ``X (n_samples, n_features)``; ``y (n_samples,)`` or
    ``(n_samples, n_outputs)``; ``predict`` returns the same shape as ``y``, float64.

    Attributes (after fitting): ``spec_``, ``params_``, ``loss_curve_``,
    ``n_iter_``, and ``y_mean_``, ``y_scale_`` ``(n_outputs,)``.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _prepare(self, X: object, y: object, reset: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        X_, y_ = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=reset)
        y_ = np.asarray(y_, dtype=np.float64)
        if reset:
            self._y_1d = y_.ndim == 1
        Y = y_.reshape(len(y_), -1)
        if reset:
            self.y_mean_ = Y.mean(axis=0)
            scale = Y.std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
        elif Y.shape[1] != len(self.y_mean_):
            raise ValueError(f"y has {Y.shape[1]} outputs, the network was started with {len(self.y_mean_)}")
        return X_, (Y - self.y_mean_) / self.y_scale_

    def fit(self, X: object, y: object) -> BPRegressor:
        """Train a fresh network for ``max_iter`` epochs on ``X (n_samples, n_features)`` and ``y``."""
        X_, Y = self._prepare(X, y, reset=True)
        self._start(X_.shape[1], Y.shape[1])
        self._epochs(X_, Y, self.max_iter)
        return self

    def partial_fit(self, X: object, y: object) -> BPRegressor:
        """One epoch over ``(X, y)``, continuing from the current network (the first call starts one)."""
        first = not hasattr(self, "spec_")
        X_, Y = self._prepare(X, y, reset=first)
        if first:
            self._start(X_.shape[1], Y.shape[1])
        self._epochs(X_, Y, 1)
        return self

    def predict(self, X: object) -> NDArray[np.float64]:
        """Predictions ``(n_samples,)`` for a 1-D ``y`` in fit, else ``(n_samples, n_outputs)``."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out.ravel() if self._y_1d else out
