"""Every init scheme draws what its docstring says, and seeds reproduce exactly.

The expected variances below are written from the papers, independently of
``bp_manual.initializers``:

=================  ===========================  =============
scheme             Var(W)                        distribution
=================  ===========================  =============
seed (the blog)    1 / fan_out                   normal
lecun_normal       1 / fan_in                    normal
lecun_uniform      1 / fan_in                    uniform
xavier_normal      2 / (fan_in + fan_out)        normal
xavier_uniform     2 / (fan_in + fan_out)        uniform
he_normal          2 / fan_in                    normal
he_uniform         2 / fan_in                    uniform
=================  ===========================  =============

Statistical bounds. For ``n`` independent draws with mean 0 and variance
``s2``, the statistic ``v = mean(W**2)`` has mean ``s2`` and standard deviation
``s2 * sqrt((k - 1) / n)``, with kurtosis ``k = 3`` (normal) or ``9/5``
(uniform). The test allows 6 standard deviations (a false alarm about once in
5e8 draws). The shape of the distribution is checked with the Kolmogorov-Smirnov
statistic ``D = max|F_n - F|`` against the stated distribution: ``P(sqrt(n) D > 3.3)``
is at most ``2 exp(-2 * 3.3**2) = 7.0e-10`` under the hypothesis (Kolmogorov's
limit; the DKW inequality gives the same bound for every ``n``). The normal and
the uniform of equal variance differ by ``max|F - G| = 0.057``, so with
``n = 400 * 400`` draws a sample read as the other distribution gives
``sqrt(n) D`` about 23, far above the threshold (checked below, so the test can fail).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_manual
from bp_manual import initializers
from strategies import examples

FORMULAS = {
    "seed": (lambda fi, fo: 1 / fo, "normal"),
    "lecun_normal": (lambda fi, fo: 1 / fi, "normal"),
    "lecun_uniform": (lambda fi, fo: 1 / fi, "uniform"),
    "xavier_normal": (lambda fi, fo: 2 / (fi + fo), "normal"),
    "xavier_uniform": (lambda fi, fo: 2 / (fi + fo), "uniform"),
    "he_normal": (lambda fi, fo: 2 / fi, "normal"),
    "he_uniform": (lambda fi, fo: 2 / fi, "uniform"),
}
KS_THRESHOLD = 3.3
_erf = np.vectorize(math.erf, otypes=[np.float64])


def ks_statistic(W: np.ndarray, variance: float, distribution: str) -> float:
    """``sqrt(n) * max|F_n(x) - F(x)|`` for N(0, variance) or the uniform with that variance."""
    x = np.sort(W.ravel().astype(np.float64))
    n = x.size
    if distribution == "normal":
        F = 0.5 * (1 + _erf(x / math.sqrt(2 * variance)))
    else:
        limit = math.sqrt(3 * variance)
        F = np.clip((x + limit) / (2 * limit), 0, 1)
    upper = np.arange(1, n + 1) / n - F
    lower = F - np.arange(0, n) / n
    return math.sqrt(n) * float(max(upper.max(), lower.max()))


def test_every_named_scheme_is_covered() -> None:
    assert set(bp_manual.INITIALIZERS) == {*FORMULAS, "zeros"}


@pytest.mark.parametrize("name", sorted(FORMULAS))
@given(
    fan_in=st.integers(100, 400),
    fan_out=st.integers(100, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_sample_variance_and_distribution_match_formula(name: str, fan_in: int, fan_out: int, seed: int) -> None:
    formula, distribution = FORMULAS[name]
    W = bp_manual.INITIALIZERS[name](np.random.default_rng(seed), (fan_out, fan_in), np.float64)
    assert W.shape == (fan_out, fan_in) and W.dtype == np.float64
    n, s2 = W.size, formula(fan_in, fan_out)
    kurtosis = 3.0 if distribution == "normal" else 9 / 5
    sd = s2 * math.sqrt((kurtosis - 1) / n)
    assert abs(np.mean(W * W) - s2) <= 6 * sd, (np.mean(W * W), s2, sd)
    assert abs(np.mean(W)) <= 6 * math.sqrt(s2 / n)
    if distribution == "uniform":
        assert np.max(np.abs(W)) <= math.sqrt(3 * s2)
    assert ks_statistic(W, s2, distribution) <= KS_THRESHOLD


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_the_distribution_check_can_fail(name: str) -> None:
    """Read against the other distribution of the same variance, a sample fails."""
    formula, distribution = FORMULAS[name]
    W = bp_manual.INITIALIZERS[name](np.random.default_rng(0), (400, 400), np.float64)
    other = "uniform" if distribution == "normal" else "normal"
    assert ks_statistic(W, formula(400, 400), other) > 4 * KS_THRESHOLD


@given(std=st.floats(1e-3, 10.0), seed=st.integers(0, 2**32 - 1))
def test_plain_normal_has_the_chosen_std(std: float, seed: int) -> None:
    W = bp_manual.normal(std)(np.random.default_rng(seed), (200, 100), np.float64)
    n = W.size
    assert abs(np.mean(W * W) - std**2) <= 6 * std**2 * math.sqrt(2 / n)
    assert ks_statistic(W, std**2, "normal") <= KS_THRESHOLD


def test_zeros_and_zero_biases() -> None:
    spec = bp_manual.NetworkSpec((3, 4, 2))
    params = bp_manual.init_params(spec, "zeros", seed=0)
    assert all(not np.any(layer[k]) for layer in params for k in layer)
    params = bp_manual.init_params(spec, "he_normal", seed=0)
    assert all(not np.any(layer["b"]) for layer in params)
    assert all(np.any(layer["W"]) for layer in params)


@pytest.mark.parametrize("init", [*sorted(bp_manual.INITIALIZERS)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_seed_gives_bit_identical_params(init: str, dtype: type) -> None:
    spec = bp_manual.NetworkSpec((5, 7, 3), bias=True)
    a = bp_manual.init_params(spec, init, seed=123, dtype=dtype)
    b = bp_manual.init_params(spec, init, seed=123, dtype=dtype)
    c = bp_manual.init_params(spec, init, seed=np.random.default_rng(123), dtype=dtype)
    for la, lb, lc in zip(a, b, c, strict=True):
        for key in la:
            assert la[key].dtype == np.dtype(dtype)
            assert la[key].tobytes() == lb[key].tobytes() == lc[key].tobytes()
    if init != "zeros":
        d = bp_manual.init_params(spec, init, seed=124, dtype=dtype)
        assert not np.array_equal(a[0]["W"], d[0]["W"])


def test_float32_params_are_the_float64_params_rounded() -> None:
    spec = bp_manual.NetworkSpec((6, 5, 4))
    p64 = bp_manual.init_params(spec, "xavier_uniform", seed=7, dtype=np.float64)
    p32 = bp_manual.init_params(spec, "xavier_uniform", seed=7, dtype=np.float32)
    for a, b in zip(p64, p32, strict=True):
        np.testing.assert_array_equal(a["W"].astype(np.float32), b["W"])


def test_global_numpy_random_state_is_untouched() -> None:
    before = np.random.get_state(legacy=False)  # noqa: NPY002 (reading it is the point)
    spec = bp_manual.NetworkSpec((4, 3, 2))
    bp_manual.init_params(spec, "he_uniform", seed=None)
    bp_manual.init_params(spec, "seed", seed=1)
    bp_manual.MLP((4, 3, 2), seed=2).fit(np.ones((5, 4)), np.ones((5, 2)), epochs=2, batch_size=2, seed=3)
    after = np.random.get_state(legacy=False)  # noqa: NPY002
    assert before.keys() == after.keys()
    assert (
        np.array_equal(before["state"]["key"], after["state"]["key"])
        and before["state"]["pos"] == after["state"]["pos"]
    )
    assert all(before[k] == after[k] for k in before if k != "state")


def test_variance_scaling_is_the_general_rule() -> None:
    rng = np.random.default_rng(0)
    W = bp_manual.variance_scaling(3.0, "fan_out", "uniform")(rng, (40, 10), np.float64)
    assert np.max(np.abs(W)) <= math.sqrt(3 * 3.0 / 40)
    with pytest.raises(ValueError, match=r"unknown mode 'fan'; expected one of \['fan_in', 'fan_out', 'fan_avg'\]"):
        bp_manual.variance_scaling(1.0, "fan")
    with pytest.raises(ValueError, match="unknown distribution 'cauchy'"):
        bp_manual.variance_scaling(1.0, "fan_in", "cauchy")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale must be finite and > 0"):
            bp_manual.variance_scaling(bad)
    with pytest.raises(TypeError, match="scale must be a real number"):
        bp_manual.variance_scaling("2")  # type: ignore[arg-type]


def test_init_params_refuses_bad_arguments() -> None:
    spec = bp_manual.NetworkSpec((3, 2))
    with pytest.raises(ValueError, match=r"unknown init 'xavier'; expected one of \[.*'xavier_normal'"):
        bp_manual.init_params(spec, "xavier")
    with pytest.raises(TypeError, match="init must be a name or a callable"):
        bp_manual.init_params(spec, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        bp_manual.init_params(spec, dtype=np.float16)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        bp_manual.init_params(spec, seed=-1)
    with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
        bp_manual.init_params(spec, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spec must be a NetworkSpec"):
        bp_manual.init_params((3, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="returned"):
        bp_manual.init_params(spec, lambda rng, shape, dtype: np.zeros((1, 1), dtype))


def test_docstrings_state_the_variance() -> None:
    for name, init in bp_manual.INITIALIZERS.items():
        assert init.__doc__ and "Var(W)" in init.__doc__, name
    assert initializers.seed.__doc__ is not None and "fan_out**-0.5" in initializers.seed.__doc__


#: Var(W) = scale / n for each mode, written from the definition (not from the code).
MODE_N = {
    "fan_in": lambda fi, fo: fi,
    "fan_out": lambda fi, fo: fo,
    "fan_avg": lambda fi, fo: (fi + fo) / 2,
}


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
@pytest.mark.parametrize("mode", sorted(MODE_N))
@settings(max_examples=examples(0.1))
@given(scale=st.sampled_from([0.5, 1.0, 2.0, 3.0]), seed=st.integers(0, 2**32 - 1))
def test_variance_scaling_draws_scale_over_n(mode: str, distribution: str, scale: float, seed: int) -> None:
    """An initializer built now (not one of the named ones built at import) draws ``Var(W) = scale / n``.

    Same statistical bounds as ``test_sample_variance_and_distribution_match_formula``
    (6 standard deviations of ``mean(W**2)``; the KS threshold), on a
    non-square ``(150, 300)`` so that the three modes give three variances.
    """
    fan_out, fan_in = 150, 300
    init = bp_manual.variance_scaling(scale, mode, distribution)
    W = init(np.random.default_rng(seed), (fan_out, fan_in), np.float64)
    assert W.shape == (fan_out, fan_in) and W.dtype == np.float64
    s2 = scale / MODE_N[mode](fan_in, fan_out)
    kurtosis = 3.0 if distribution == "normal" else 9 / 5
    n = W.size
    assert abs(np.mean(W * W) - s2) <= 6 * s2 * math.sqrt((kurtosis - 1) / n), (np.mean(W * W), s2)
    assert abs(np.mean(W)) <= 6 * math.sqrt(s2 / n)
    assert ks_statistic(W, s2, distribution) <= KS_THRESHOLD
    assert init.__name__ == f"variance_scaling({scale!r}, {mode!r}, {distribution!r})"
    assert init.__doc__ == f"Draw W (fan_out, fan_in) with mean 0 and Var(W) = {scale!r} / {mode} ({distribution})."


def test_variance_scaling_defaults_to_fan_in_normal() -> None:
    a = bp_manual.variance_scaling(2.0)(np.random.default_rng(5), (30, 20), np.float32)
    b = bp_manual.variance_scaling(2.0, "fan_in", "normal")(np.random.default_rng(5), (30, 20), np.float32)
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_plain_normal_is_named_and_refuses_a_bad_std() -> None:
    init = bp_manual.normal(0.25)
    assert init(np.random.default_rng(0), (3, 2), np.float32).dtype == np.float32
    assert init.__name__ == init.__qualname__ == "normal(0.25)"
    assert init.__doc__ == "``W ~ N(0, 0.25**2)``, ``Var(W) = 0.25**2``."
    with pytest.raises(ValueError, match=r"^std must be finite and > 0, got -0\.5$"):
        bp_manual.normal(-0.5)
    with pytest.raises(TypeError, match=r"^std must be a real number, got str$"):
        bp_manual.normal("0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^std must be a real number, got bool$"):
        bp_manual.normal(True)


def test_init_params_messages_in_full() -> None:
    """Each refusal names the argument and what it got, word for word."""
    spec = bp_manual.NetworkSpec((3, 2))
    names = str(sorted(bp_manual.INITIALIZERS)).replace("[", r"\[").replace("]", r"\]")
    cases: list[tuple[type, str, dict]] = [
        (ValueError, rf"^unknown init 'xavier'; expected one of {names}$", {"init": "xavier"}),
        (TypeError, r"^init must be a name or a callable, got int$", {"init": 3}),
        (ValueError, r"^dtype must be float32 or float64, got float16$", {"dtype": np.float16}),
        (TypeError, r"^dtype must be float32 or float64, got None$", {"dtype": None}),
        (TypeError, r"^dtype must be float32 or float64, got 'no-such-type'$", {"dtype": "no-such-type"}),
        (ValueError, r"^seed must be >= 0, got -1$", {"seed": -1}),
        (
            TypeError,
            r"^seed must be None, a non-negative int or a numpy.random.Generator, got float$",
            {"seed": 1.5},
        ),
        (TypeError, r"^seed must be None, a non-negative int or a numpy.random.Generator, got bool$", {"seed": True}),
        (
            ValueError,
            r"^init 'lambda' returned float64\(1, 1\), expected float64\(2, 3\)$",
            {"init": _Named("lambda", lambda rng, shape, dtype: np.zeros((1, 1), dtype))},
        ),
        (
            ValueError,
            r"^init 'f32' returned float32\(2, 3\), expected float64\(2, 3\)$",
            {"init": _Named("f32", lambda rng, shape, dtype: np.zeros(shape, np.float32))},
        ),
    ]
    for error, match, kwargs in cases:
        with pytest.raises(error, match=match):
            bp_manual.init_params(spec, **kwargs)
    with pytest.raises(TypeError, match=r"^spec must be a NetworkSpec, got tuple$"):
        bp_manual.init_params((3, 2))  # type: ignore[arg-type]


class _Named:
    """A callable initializer whose repr is its name (for the message checks above)."""

    def __init__(self, name: str, fn) -> None:
        self.name, self.fn = name, fn

    def __call__(self, rng, shape, dtype):
        return self.fn(rng, shape, dtype)

    def __repr__(self) -> str:
        return repr(self.name)


def test_init_params_draws_each_layer_in_order_from_one_generator() -> None:
    """``seed`` as an int, a Generator, or None: the layers come from one stream, W_1 first;
    biases are zeros; float32 and float64 both."""
    spec = bp_manual.NetworkSpec((3, 4, 2), bias=True)
    for dtype in (np.float32, np.float64):
        params = bp_manual.init_params(spec, "lecun_normal", seed=7, dtype=dtype)
        rng = np.random.default_rng(7)
        for layer, (fan_out, fan_in) in zip(params, [(4, 3), (2, 4)], strict=True):
            expected = rng.normal(0.0, math.sqrt(1 / fan_in), size=(fan_out, fan_in)).astype(dtype)
            assert layer["W"].dtype == np.dtype(dtype) and layer["W"].tobytes() == expected.tobytes()
            assert layer["b"].dtype == np.dtype(dtype) and layer["b"].shape == (fan_out,) and not layer["b"].any()
    gen = np.random.default_rng(3)
    assert bp_manual.initializers.as_generator(gen) is gen
    assert isinstance(bp_manual.initializers.as_generator(None), np.random.Generator)
    assert bp_manual.init_params(bp_manual.NetworkSpec((3, 2), bias=False), seed=0)[0].keys() == {"W"}
    default = bp_manual.init_params(spec, seed=5)  # defaults: xavier_normal, float64
    named = bp_manual.init_params(spec, "xavier_normal", seed=5, dtype=np.float64)
    assert all(
        a[k].dtype == np.float64 and a[k].tobytes() == b[k].tobytes()
        for a, b in zip(default, named, strict=True)
        for k in a
    )
