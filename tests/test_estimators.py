"""The estimators pass scikit-learn's own checks, and work in a pipeline on digits.

No check of ``parametrize_with_checks`` is skipped or marked as expected to
fail by this file. scikit-learn itself skips its two array-API checks unless
``SCIPY_ARRAY_API=1`` is set before SciPy is first imported (it is not set
here, so as not to change SciPy for the other tests); with it set, all 108
checks pass (``SCIPY_ARRAY_API=1 pytest tests/test_estimators.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from bp_manual import data
from bp_manual.estimators import BPClassifier, BPRegressor


@parametrize_with_checks([BPClassifier(), BPRegressor()])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_classifier_defaults_on_standardised_digits() -> None:
    """The documented default: at least 95% on the digits test split (docs/training.md has the figure)."""
    d = data.load_digits()
    clf = BPClassifier(random_state=0).fit(d.X_train, d.y_train)
    assert clf.score(d.X_test, d.y_test) >= 0.95
    proba = clf.predict_proba(d.X_test)
    assert proba.shape == (len(d.y_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


def test_partial_fit_continues_and_equals_fit_epoch_by_epoch() -> None:
    d = data.load_digits()
    a = BPClassifier(max_iter=3, random_state=0).fit(d.X_train, d.y_train)
    b = BPClassifier(max_iter=3, random_state=0)
    for _ in range(3):
        b.partial_fit(d.X_train, d.y_train, classes=np.arange(10))
    assert b.n_iter_ == 3 and b.loss_curve_ == a.loss_curve_
    # one generator draws the init and then one shuffle per epoch, in both: the same params, bit for bit
    for pa, pb in zip(a.params_, b.params_, strict=True):
        for key in pa:
            assert pa[key].tobytes() == pb[key].tobytes()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        BPClassifier().partial_fit(d.X_train, d.y_train)
    with pytest.raises(ValueError, match=r"y has labels \[10\] not in classes_"):
        b.partial_fit(d.X_train[:2], [10, 1])


def test_regressor_in_a_pipeline_and_a_grid_search() -> None:
    d = data.load_diabetes()
    raw_y = d.y_train.ravel() * 77.0 + 150.0  # targets on their original scale
    pipe = make_pipeline(StandardScaler(), BPRegressor(random_state=0, max_iter=20))
    search = GridSearchCV(pipe, {"bpregressor__learning_rate": [1e-3, 3e-3]}, cv=2)
    search.fit(d.X_train, raw_y)
    assert search.best_score_ > 0.3
    pred = search.predict(d.X_test)
    assert pred.shape == (len(d.X_test),) and 50 < pred.mean() < 250


def test_bad_hyper_parameters_are_refused_at_fit() -> None:
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    cases: list[tuple[dict, str]] = [
        ({"activation": "swish"}, "unknown activation 'swish'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes must be a tuple of positive integers"),
        ({"learning_rate": -1.0}, "lr must be finite and > 0"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            BPClassifier(**kwargs).fit(X, y)
