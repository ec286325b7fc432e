"""The third witness: hand-derived gradients against central finite differences.

JAX and ``bp_manual`` could in principle share a misconception (both written
from the same spec by the same team); a finite difference only evaluates the
loss. Float64, small networks, every entry of every parameter.

Tolerance. With step ``h``, ``(L(t + h) - L(t - h)) / 2h = L'(t) + h**2 L'''(s) / 6``
for some ``s`` within ``h`` of ``t`` (Taylor), and each loss evaluation carries
a rounding error of at most about ``c u |L|`` with ``c`` of order the number
of operations (under 100 here), which the division by ``2h`` amplifies to
``c u |L| / h``. With ``h = 2**-17`` (about 7.6e-6, near the optimal
``(3 c u / M3)**(1/3)``) the error is at most::

    h**2 M3 / 6 + c u |L| / h  <=  9.7e-12 M3 + 1.5e-9 |L|

These networks have at most 3 layers of width 4, inputs of scale 1 and
weights from the init schemes; sigmoid, tanh and softplus have derivatives up
to the third bounded by 1, ReLU-like units are piecewise linear (and kept at
least 1e-3 from their kink, while a step of ``h`` moves a pre-activation by
less than ``h * 10``), so ``M3`` stays below 1e3 and the error below 1e-8 (1 +
|L|). The test allows ``1e-7 (1 + |L| + |g|)``: ten times that bound, and
still ten million times smaller than the gradient errors a wrong derivation
makes (which are of the order of ``|g|`` itself).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given

import bp_manual
from strategies import Problem, problems
from tolerances import record

H = 2.0**-17
FD_TOL = 1e-7


def central_difference(problem: Problem, l: int, key: str, idx: tuple[int, ...]) -> float:
    def loss_at(delta: float) -> float:
        params = [dict(layer) for layer in problem.params]
        p = params[l][key].copy()
        p[idx] += delta
        params[l][key] = p
        return float(bp_manual.loss(problem.spec, params, problem.X, problem.Y))

    return (loss_at(H) - loss_at(-H)) / (2 * H)


@given(problems(max_layers=3, max_width=4, max_batch=4, dtypes=(np.float64,), x_scales=(1.0,)))
def test_manual_gradients_equal_central_differences(problem: Problem) -> None:
    spec = problem.spec
    if bp_manual.HIDDEN[spec.hidden].kinked:
        _, cache = bp_manual.forward(spec, problem.params, problem.X)
        assume(all(np.min(np.abs(c.Z)) > 1e-3 for c in cache[:-1]))
    loss, grads = bp_manual.loss_and_grads(spec, problem.params, problem.X, problem.Y)
    for l, layer in enumerate(grads):
        for key, g in layer.items():
            for idx in np.ndindex(g.shape):
                fd = central_difference(problem, l, key, idx)
                scale = 1 + abs(float(loss)) + abs(float(g[idx]))
                allowed = FD_TOL * scale
                err = abs(fd - float(g[idx]))
                record(
                    "finite differences float64",
                    err / scale,
                    err / allowed,
                    f"{key}{l + 1}{list(idx)}: {problem.describe()}",
                )
                assert err <= allowed, (f"{key}{l + 1}{list(idx)}", g[idx], fd, problem.describe())
