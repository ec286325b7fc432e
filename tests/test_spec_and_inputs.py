"""``NetworkSpec`` validation and the accepted input forms, on both sides."""

from __future__ import annotations

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from bp_manual import NetworkSpec


def test_valid_pairs_and_defaults() -> None:
    spec = NetworkSpec((784, 32, 64))
    assert (spec.hidden, spec.output, spec.loss, spec.bias) == ("sigmoid", "identity", "mse", True)
    assert spec.n_layers == 2 and spec.weight_shapes == [(32, 784), (64, 32)]
    assert spec == NetworkSpec([784, 32, 64])  # type: ignore[arg-type]  # a list is normalised to a tuple
    assert set(bp_manual.VALID_PAIRS) == {
        ("identity", "mse"),
        ("softmax", "cross_entropy"),
        ("sigmoid", "binary_cross_entropy"),
    }


def test_invalid_pair_names_the_valid_pairs() -> None:
    with pytest.raises(ValueError) as info:
        NetworkSpec((3, 2), output="softmax", loss="mse")
    msg = str(info.value)
    assert "output 'softmax' does not go with loss 'mse'" in msg
    for pair in ("identity+mse", "softmax+cross_entropy", "sigmoid+binary_cross_entropy"):
        assert pair in msg


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sizes": (3,)}, ValueError, "at least 2 entries"),
        ({"sizes": (3, 0)}, ValueError, "must all be >= 1"),
        ({"sizes": (3, -2)}, ValueError, "must all be >= 1"),
        ({"sizes": (3, 2.0)}, TypeError, "sizes must hold integers"),
        ({"sizes": (3, True)}, TypeError, "sizes must hold integers"),
        ({"sizes": "32"}, TypeError, "sizes must be a sequence"),
        ({"sizes": (3, 2), "hidden": "gelu"}, ValueError, r"unknown hidden activation 'gelu'; expected one of \["),
        ({"sizes": (3, 2), "output": "tanh"}, ValueError, "unknown output activation 'tanh'"),
        ({"sizes": (3, 2), "loss": "hinge"}, ValueError, "unknown loss 'hinge'"),
        ({"sizes": (3, 2), "bias": 1}, TypeError, "bias must be a bool"),
        ({"sizes": (3, 1), "output": "softmax", "loss": "cross_entropy"}, ValueError, "at least 2 output units"),
    ],
)
def test_bad_specs_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        NetworkSpec(**kwargs)


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
def test_labels_and_one_hot_give_identical_results(module) -> None:
    spec = NetworkSpec((4, 5, 3), hidden="tanh", output="softmax", loss="cross_entropy")
    params = bp_manual.init_params(spec, seed=0)
    X = np.random.default_rng(0).normal(size=(6, 4))
    labels = np.array([0, 2, 1, 1, 0, 2])
    loss_a, grads_a = module.loss_and_grads(spec, params, X, labels)
    loss_b, grads_b = module.loss_and_grads(spec, params, X, np.eye(3)[labels])
    assert loss_a == loss_b
    for a, b in zip(grads_a, grads_b, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_cross_entropy_by_hand() -> None:
    """``L = -(1/N) sum log softmax(Z)[label]`` on numbers small enough to check on paper."""
    spec = NetworkSpec((2, 2), output="softmax", loss="cross_entropy", bias=False)
    params = [{"W": np.eye(2)}]
    X = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])  # softmax rows (1/2, 1/2) and (3/4, 1/4)
    loss, grads = bp_manual.loss_and_grads(spec, params, X, np.array([0, 1]))
    assert loss == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2, rel=1e-15)
    # dW = delta.T @ X with delta = (Y_hat - Y) / N = [[-1/4, 1/4], [3/8, -3/8]]
    np.testing.assert_allclose(grads[0]["W"], [[3 / 8 * np.log(3), 0], [-3 / 8 * np.log(3), 0]], rtol=1e-15)


def test_mse_is_the_seeds_half_squared_error_at_batch_one() -> None:
    spec = NetworkSpec((2, 3), bias=False)
    params = [{"W": np.zeros((3, 2))}]
    y = np.array([1.0, -2.0, 2.0])
    assert bp_manual.loss(spec, params, np.ones(2), y) == 0.5 * (1 + 4 + 4)


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
def test_input_forms(module) -> None:
    spec = NetworkSpec((3, 1))
    params = bp_manual.init_params(spec, seed=0)
    x = np.array([1.0, 2.0, 3.0])
    one = module.loss_and_grads(spec, params, x, 0.5 * np.ones(1))  # 1-D X is one sample
    two = module.loss_and_grads(spec, params, x[None, :], np.array([[0.5]]))
    assert one[0] == two[0]
    X = np.array([[1, 2, 3], [4, 5, 6]])  # integers are converted to the params' dtype
    by_vector = module.loss_and_grads(spec, params, X, np.array([1.0, 2.0]))  # (N,) when n_out = 1
    by_column = module.loss_and_grads(spec, params, X.astype(float), np.array([[1.0], [2.0]]))
    assert by_vector[0] == by_column[0]


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
@pytest.mark.parametrize(
    ("spec", "X", "Y", "error", "match"),
    [
        (NetworkSpec((3, 2)), np.ones((2, 4)), np.ones((2, 2)), ValueError, "X has 4 features, spec expects n_in = 3"),
        (NetworkSpec((3, 2)), np.ones((0, 3)), np.ones((0, 2)), ValueError, "X has 0 samples"),
        (NetworkSpec((3, 2)), np.ones((2, 3, 1)), np.ones((2, 2)), ValueError, "X must be 2-D"),
        (NetworkSpec((3, 2)), [[1, 2, 3], [1, 2]], np.ones((2, 2)), ValueError, "X is not a rectangular array"),
        (NetworkSpec((3, 2)), np.array([["a", "b", "c"]]), np.ones((1, 2)), TypeError, "X must be numeric"),
        (NetworkSpec((3, 2)), np.full((1, 3), np.nan), np.ones((1, 2)), ValueError, "X contains NaN or inf"),
        (NetworkSpec((3, 2)), np.ones((2, 3)), np.ones((3, 2)), ValueError, "Y has 3 samples for 2 input samples"),
        (NetworkSpec((3, 2)), np.ones((2, 3)), np.ones((2, 5)), ValueError, "Y has 5 columns, spec expects n_out = 2"),
        (NetworkSpec((3, 2)), np.ones((1, 3)), np.array([[np.inf, 0]]), ValueError, "Y contains NaN or inf"),
        (
            NetworkSpec((3, 2), output="softmax", loss="cross_entropy"),
            np.ones((2, 3)),
            np.array([0, 2]),
            ValueError,
            r"Y labels must lie in \[0, 2\)",
        ),
        (
            NetworkSpec((3, 2), output="softmax", loss="cross_entropy"),
            np.ones((1, 3)),
            np.array([[0.5, 0.6]]),
            ValueError,
            "summing to 1",
        ),
        (
            NetworkSpec((3, 2), output="sigmoid", loss="binary_cross_entropy"),
            np.ones((1, 3)),
            np.array([[0.5, 1.5]]),
            ValueError,
            r"must lie in \[0, 1\]",
        ),
    ],
)
def test_bad_inputs_name_the_argument(module, spec, X, Y, error, match) -> None:
    params = bp_manual.init_params(spec, seed=0)
    with pytest.raises(error, match=match):
        module.loss_and_grads(spec, params, X, Y)


@pytest.mark.parametrize("module", [bp_manual, bp_autodiff], ids=["manual", "jax"])
def test_params_must_fit_the_spec(module) -> None:
    spec = NetworkSpec((3, 4, 2))
    good = bp_manual.init_params(spec, seed=0)
    X, Y = np.ones((1, 3)), np.ones((1, 2))
    cases = [
        (good[:1], ValueError, "params has 1 layers, spec"),
        ([good[0], {"W": good[1]["W"]}], ValueError, r"params\[1\] has keys \['W'\], expected \['W', 'b'\]"),
        ([good[0], {"W": good[1]["W"].T, "b": good[1]["b"]}], ValueError, r"params\[1\]\['W'\] has shape \(4, 2\)"),
        ([good[0], {k: v.astype(np.float32) for k, v in good[1].items()}], TypeError, "mix dtypes"),
        ([{k: v.astype(np.int64) for k, v in layer.items()} for layer in good], TypeError, "dtype int64"),
        ("params", TypeError, "params must be a list"),
    ]
    for params, error, match in cases:
        with pytest.raises(error, match=match):
            module.loss_and_grads(spec, params, X, Y)
    with pytest.raises(TypeError, match="spec must be a NetworkSpec"):
        module.loss_and_grads((3, 4, 2), good, X, Y)


def test_jax_side_keeps_float64_without_global_config() -> None:
    import jax

    assert not jax.config.read("jax_enable_x64")
    spec = NetworkSpec((3, 2))
    params = bp_manual.init_params(spec, seed=0)
    loss, grads = bp_autodiff.loss_and_grads(spec, params, np.ones((2, 3)), np.ones((2, 2)))
    assert grads[0]["W"].dtype == np.float64 and type(loss) is np.float64
    assert not jax.config.read("jax_enable_x64")  # the user's setting is untouched
    assert jax.numpy.ones(1).dtype == np.float32


@pytest.mark.parametrize("n_samples", [2, 400_000], ids=["element-wise", "by-sum"])  # 3 x 400,000 > 2**20
def test_both_finiteness_checks_refuse_nan_and_inf_and_pass_huge_finite_values(n_samples: int) -> None:
    """``as_inputs`` checks small arrays element-wise and large ones by a sum: both must agree.

    Finite values near the float64 maximum make the sum overflow to inf; that
    alone must not be taken for a non-finite input (nor raise a warning, which
    the suite turns into an error).
    """
    spec = NetworkSpec((3, 2))
    assert (3 * n_samples > bp_manual.validation._ELEMENTWISE_MAX) == (n_samples > 2)
    dtype = np.dtype(np.float64)
    huge = np.full((n_samples, 3), np.finfo(np.float64).max / 2)
    assert bp_manual.validation.as_inputs(spec, huge, dtype) is huge
    for bad in (np.nan, np.inf, -np.inf):
        X = np.ones((n_samples, 3))
        X[n_samples - 1, 1] = bad
        with pytest.raises(ValueError, match=rf"X contains NaN or inf \(first at index \({n_samples - 1}, 1\)\)"):
            bp_manual.validation.as_inputs(spec, X, dtype)
