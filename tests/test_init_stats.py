"""``bp init-stats`` reproduces the four initialisation results by numbers.

Set-up (the command's default): 10 hidden tanh layers of 256 units, no bias,
``X ~ N(0, 1)``; batch 256 here (the statistics are means over 256 x 256
entries per layer, so the batch adds well under 1% sampling error).

The reference for every number is the *mean-field recursion*, computed here by
quadrature and independent of the simulation: with ``g = n Var(W)`` (the
layer's gain), ``Var(Z_1) = g Var(X) = g`` and, for ``l >= 1``,

    E[A_l**2] = E[tanh(sqrt(q_l) z)**2],  z ~ N(0, 1),    q_{l+1} = Var(Z_{l+1}) = g E[A_l**2]

(Glorot & Bengio 2010, eq. 5-7, without their linearisation; mean(A) = 0 since
tanh is odd, so std(A_l) = sqrt(E[A_l**2])).

Finite-width fluctuations. One layer's variance gain is an average over the
``256 x 256`` weights, so it fluctuates by about ``sqrt(2 / 65536) = 0.6%``
per layer, and these add up as a random walk over the layers. Measured over
seeds 0..9: the simulated std(A_l) is within 3.7% of the recursion at every
layer for every scheme (worst: normal(0.01) at layer 10). The bound
``MF_RTOL = 0.10`` is 2.7 times that worst case, about 5 standard deviations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bp_autodiff import cli
from bp_manual.init_stats import InitStats, compare, init_stats, parse_inits

MF_RTOL = 0.10
WIDTH = 256
GAINS = {"normal(0.01)": WIDTH * 0.01**2, "normal(1.0)": WIDTH * 1.0**2, "xavier_normal": 1.0, "he_normal": 2.0}


def mean_field_std_tanh(gain: float, depth: int) -> np.ndarray:
    """std(A_l), l = 1..depth, from the recursion in the module docstring.

    The Gaussian expectation is a Riemann sum on ``[-12, 12]`` with step 5e-4:
    fine enough for ``sqrt(q) = 16`` (the tanh step is then 0.06 wide, 120 points).
    """
    z = np.linspace(-12.0, 12.0, 48001)
    weight = np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    q, out = gain, []
    for _ in range(depth):
        second_moment = float(np.sum(weight * np.tanh(math.sqrt(q) * z) ** 2))
        out.append(math.sqrt(second_moment))
        q = gain * second_moment
    return np.array(out)


@pytest.fixture(scope="module")
def tanh_results() -> dict[str, InitStats]:
    results = compare("normal:0.01,normal:1.0,xavier_normal,he_normal,seed", depth=10, width=WIDTH, batch=256, seed=0)
    return {r.init: r for r in results}


@pytest.mark.parametrize("init", sorted(GAINS))
def test_simulation_follows_the_mean_field_recursion(tanh_results: dict[str, InitStats], init: str) -> None:
    """Every layer's std(A_l) is within MF_RTOL of the recursion (see the module docstring)."""
    simulated = tanh_results[init].column("std_A")
    predicted = mean_field_std_tanh(GAINS[init], 10)
    np.testing.assert_allclose(simulated, predicted, rtol=MF_RTOL)


def test_std_001_tanh_activations_collapse_toward_zero(tanh_results: dict[str, InitStats]) -> None:
    """Gain ``256 * 0.01**2 = 0.0256``: near 0 tanh is the identity, so each layer
    multiplies the std by ``sqrt(0.0256) = 0.16``. Bounds: every ratio <= 0.2
    (0.16 plus 25%, against per-layer fluctuations under 1%), and
    std(A_10) < 1e-6 (the recursion gives 0.156 * 0.16**9 = 1.1e-8; a factor of
    90 of slack). The backward signal vanishes the same way: std(delta_1) is
    below 1e-5 of std(delta_10)."""
    r = tanh_results["normal(0.01)"]
    std_A = r.column("std_A")
    assert np.all(std_A[1:] / std_A[:-1] <= 0.2), std_A
    assert std_A[-1] < 1e-6
    std_delta = r.column("std_delta")
    assert std_delta[0] < 1e-5 * std_delta[-1], std_delta


def test_std_1_tanh_activations_saturate_at_plus_minus_one(tanh_results: dict[str, InitStats]) -> None:
    """Gain 256: ``std(Z_l) = 16 rms(A_{l-1}) ~ 15.6``. Then
    ``1 - E[A**2] = E[sech(Z)**2] ~ 2 phi(0) / 15.6 = 0.051``, so std(A) ~ 0.974;
    and f' = 1 - A**2 < 0.1 means ``|Z| > atanh(sqrt(0.9)) = 1.82``, which has
    probability ``1 - (2 Phi(1.82 / 15.6) - 1) = 0.907``. Bounds: std(A_l) >= 0.95
    and saturated >= 0.85 at every layer (each about 3% under the prediction,
    where the fluctuations are below 0.2%)."""
    r = tanh_results["normal(1.0)"]
    assert np.all(r.column("std_A") >= 0.95), r.column("std_A")
    assert np.all(r.column("saturated") >= 0.85), r.column("saturated")
    assert np.all(np.abs(r.column("mean_A")) < 0.05)  # at +1 and at -1 alike, not at one of them


def test_xavier_keeps_tanh_variance_roughly_constant(tanh_results: dict[str, InitStats]) -> None:
    """Glorot & Bengio: with ``n Var(W) = 1`` the linear step keeps the variance,
    ``Var(Z_{l+1}) = Var(A_l)``; bound: the std ratio within 5% (fluctuation
    about 0.6%). tanh itself contracts a little, so std(A_l) decays slowly
    (the recursion gives ratios 0.84..0.95 from layer 3 on, and
    std(A_10) / std(A_2) = 0.47), not geometrically as for normal(0.01), whose
    ratio over the same layers is 0.16**8 = 4e-7. Bounds: every ratio >= 0.8
    from layer 3 on, and std(A_10) / std(A_2) >= 0.4."""
    r = tanh_results["xavier_normal"]
    std_A, std_Z = r.column("std_A"), r.column("std_Z")
    np.testing.assert_allclose(std_Z[1:] / std_A[:-1], 1.0, atol=0.05)
    assert np.all(std_A[2:] / std_A[1:-1] >= 0.8), std_A
    assert std_A[-1] / std_A[1] >= 0.4
    collapse = tanh_results["normal(0.01)"].column("std_A")
    assert collapse[-1] / collapse[1] < 1e-6


def test_the_seeds_init_is_xavier_for_square_layers(tanh_results: dict[str, InitStats]) -> None:
    """``seed``: ``Var = 1/fan_out = 1/256 = 2/(256 + 256)``, Glorot's variance when
    fan_in = fan_out; drawn from the same Generator, the weights are the same."""
    assert tanh_results["seed"].layers == tanh_results["xavier_normal"].layers


@pytest.fixture(scope="module")
def relu_results() -> dict[str, InitStats]:
    results = compare("he_normal,lecun_normal", depth=30, width=WIDTH, activation="relu", batch=128, seed=0)
    return {r.init: r for r in results}


def _per_layer_factor(r: InitStats) -> float:
    """The geometric-mean per-layer variance factor ``(Var(A_30) / Var(A_1)) ** (1/29)``."""
    var = r.column("std_A") ** 2
    return float((var[-1] / var[0]) ** (1 / (len(var) - 1)))


def test_relu_he_keeps_forward_variance_and_fan_in_halves_it(relu_results: dict[str, InitStats]) -> None:
    """He et al. (2015), eq. 10: ``Var(Z_{l+1}) = (n Var(W) / 2) Var(Z_l)`` for ReLU,
    so ``Var(W) = 2/n`` gives a factor 1 per layer and ``1/n`` (lecun_normal) a
    factor 1/2: Var(A_30) / Var(A_1) = 2**-29 = 1.9e-9.

    Finite width makes log Var(A_30) / Var(A_1) fluctuate (Hanin 2018: variance
    about 5 L / n = 0.57 here, sd 0.75; measured over seeds 0..39 the ratio for
    He ranged over 0.15..4.1). The geometric-mean factor per layer divides that
    log by 29: sd 0.026. Bounds: He's factor in [0.9, 1.1], lecun's in
    [0.45, 0.55], both about 4 sd."""
    he, lecun = relu_results["he_normal"], relu_results["lecun_normal"]
    assert 0.9 <= _per_layer_factor(he) <= 1.1
    assert 0.45 <= _per_layer_factor(lecun) <= 0.55
    assert lecun.layers[-1].std_A ** 2 / lecun.layers[0].std_A ** 2 < 1e-8


def test_relu_fan_in_is_he_scaled_by_two_to_the_minus_half_per_layer(relu_results: dict[str, InitStats]) -> None:
    """Exact, not statistical: from the same seed lecun_normal's W is he_normal's
    times 2**-0.5, and ReLU is positively homogeneous, so A_l(lecun) =
    2**(-l/2) A_l(He) up to rounding (relative 1e-12, float64)."""
    he, lecun = relu_results["he_normal"], relu_results["lecun_normal"]
    l = np.arange(1, 31)
    np.testing.assert_allclose(lecun.column("std_A") / he.column("std_A"), 2.0 ** (-l / 2), rtol=1e-12)


def test_parse_inits_and_bad_arguments() -> None:
    labels = [label for label, _ in parse_inits("normal:0.01,xavier_normal, seed")]
    assert labels == ["normal(0.01)", "xavier_normal", "seed"]
    for bad, message in [
        ("xavier", "unknown scheme 'xavier'"),
        ("normal:-1", "STD"),
        ("normal:x", "STD"),
        ("", "text: must be a comma-separated list"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_inits(bad)
    with pytest.raises(ValueError, match="depth"):
        init_stats("he_normal", depth=0)
    with pytest.raises(TypeError, match="width"):
        init_stats("he_normal", width=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown hidden activation"):
        init_stats("he_normal", activation="swish", depth=1, width=2)


def test_cli_table_and_png(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "fig.png"
    argv = ["init-stats", "--depth", "3", "--width", "16", "--batch", "8", "--init", "normal:0.01,he_normal"]
    assert cli.main([*argv, "--activation", "relu", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "normal(0.01)" in out and "he_normal" in out and "std(delta)" in out
    assert len([line for line in out.splitlines() if line.startswith(("normal(0.01)", "he_normal"))]) == 6
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        cli.main([*argv[:-1], "xavier"])
    assert "bp init-stats: error: --init: unknown scheme 'xavier'" in capsys.readouterr().err  # the flag once


def test_init_stats_and_explain_equations_are_numpy_only() -> None:
    """matplotlib is imported by ``plot`` only; neither module pulls in JAX."""
    import subprocess
    import sys

    code = (
        "import sys, bp_manual.init_stats, bp_manual.explain\n"
        "heavy = sorted(m for m in ('jax', 'matplotlib', 'sklearn', 'torch') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
