"""The bucketed witness cannot hide a wrong gradient.

``bp_autodiff.witness.bucketed`` pads every shape to a few buckets so the property
tests compile a handful of executables instead of one per random shape. Three
properties make that safe:

1. its results equal the unpadded witness's (``bp_autodiff.loss_grads_and_deltas``)
   within the tolerance of ``tolerances.py``, so a manual gradient it accepts
   the unpadded witness accepts too (up to rounding, which the tolerance's error
   model covers: padding adds exact zeros, changing only the summation order);
2. whatever the padded slots that the design leaves free hold (incoming weights
   and biases of padded units, padded samples, padded input columns, padded
   targets), the real loss, gradients and deltas are the same, bit for bit: no
   padded unit, sample or output reaches a real number (the identity layers
   put in front to pad the depth are covered by 1: exact, but not free);
3. and that check is not vacuous: a non-zero *outgoing* weight of a padded unit
   (a slot that must stay zero) does change the real gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_autodiff
import bp_manual
from bp_autodiff.witness import bucketed
from bp_manual.spec import NetworkSpec
from bp_manual.validation import prepare_batch
from strategies import Problem, examples, problems
from tolerances import close, problem_rtol, record, term_scales

#: The networks of property 1, each with its batch size: the edges of the padding within the one bucket that the
#: property tests' networks fill (width ``WIDTH_FLOOR``, batch ``BATCH_FLOOR``, depth ``DEPTH_FLOOR``): every size
#: padded (one layer 1 -> 1, one sample), none padded (widths 32, batch 16, no bias), five weight layers (no
#: identity layer in front) with a width one short of the bucket, a bottleneck of width 1, and each hidden activation
#: and output/loss pair. The unpadded witness compiles once per network and dtype (0.3-0.5 s each): with a random
#: shape per example it compiled 30 times, 14.7 s of a run (now 14 programs, two examples each); random shapes
#: inside the bucket stay with properties 2 and 3 and with every gradient property of the suite, which read the
#: bucketed witness.
EDGES: tuple[tuple[NetworkSpec, int], ...] = (
    (NetworkSpec((1, 1), hidden="relu", output="identity", loss="mse", bias=True), 1),
    (NetworkSpec((32, 32, 32), hidden="relu", output="softmax", loss="cross_entropy", bias=False), 16),
    (
        NetworkSpec((5, 31, 2, 7, 3, 4), hidden="leaky_relu", output="sigmoid", loss="binary_cross_entropy", bias=True),
        9,
    ),
    (NetworkSpec((7, 1, 6), hidden="sigmoid", output="softmax", loss="cross_entropy", bias=True), 15),
    (NetworkSpec((3, 8, 8, 2), hidden="softplus", output="identity", loss="mse", bias=False), 2),
    (NetworkSpec((16, 4, 1), hidden="identity", output="sigmoid", loss="binary_cross_entropy", bias=True), 5),
    (NetworkSpec((1, 2, 1), hidden="tanh", output="identity", loss="mse", bias=True), 1),
)


def test_the_edges_are_in_one_bucket_and_cover_the_code() -> None:
    W, B = bucketed.WIDTH_FLOOR, bucketed.BATCH_FLOOR
    assert all(max(spec.sizes) <= W and n <= B and spec.n_layers <= bucketed.DEPTH_FLOOR for spec, n in EDGES)
    assert {spec.hidden for spec, _ in EDGES if spec.n_layers > 1} == set(bp_manual.HIDDEN)
    assert {spec.loss for spec, _ in EDGES} == set(bp_manual.LOSSES)
    assert {max(spec.sizes) for spec, _ in EDGES} >= {1, W} and {n for _, n in EDGES} >= {1, B}
    assert {spec.n_layers for spec, _ in EDGES} >= {1, bucketed.DEPTH_FLOOR}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(EDGES)))
@settings(max_examples=examples(0.02))
@given(data=st.data())
def test_bucketed_witness_equals_the_unpadded_one(case: int, dtype: type, data: st.DataObject) -> None:
    """Every network of ``EDGES`` in both dtypes (none left to the draw), values drawn anew."""
    spec, n = EDGES[case]
    problem = data.draw(problems(spec=spec, batch=n, dtypes=(dtype,)))
    args = (problem.spec, problem.params, problem.X, problem.Y)
    loss_b, grads_b, deltas_b = bucketed.loss_grads_and_deltas(*args)
    loss_u, grads_u, deltas_u = bp_autodiff.loss_grads_and_deltas(*args)
    rtol = problem_rtol(problem)
    assert type(loss_b) is type(loss_u)
    pairs = [("loss", np.array([loss_b]), np.array([loss_u]))]
    for l, (gb, gu) in enumerate(zip(grads_b, grads_u, strict=True), start=1):
        assert gb.keys() == gu.keys()
        pairs += [(f"{k}{l}", gb[k], gu[k]) for k in gu]
    pairs += [(f"delta{l}", db, du) for l, (db, du) in enumerate(zip(deltas_b, deltas_u, strict=True), start=1)]
    scales = term_scales(*args)  # a gradient that cancels to rounding noise is judged by its terms
    for name, value, ref in pairs:
        assert value.shape == ref.shape and value.dtype == ref.dtype, name
        ok, rel, fraction = close(value, ref, rtol, scale=scales.get(name, 0.0))
        record(f"bucketed vs unpadded {np.dtype(problem.dtype).name}", rel, fraction, f"{name}: {problem.describe()}")
        assert ok, f"{name}: rel error {rel:.2e} ({fraction:.2f} x tol) for {problem.describe()}"


def _padded(problem: Problem) -> tuple[np.ndarray, bucketed.Padded]:
    X, Y = prepare_batch(problem.spec, problem.params, problem.X, problem.Y)
    return X, bucketed.pad(problem.spec, problem.params, X, Y)


def _real(problem: Problem, X: np.ndarray, p: bucketed.Padded) -> list[np.ndarray]:
    """The real part of the padded witness's result on ``p``, as a flat list of arrays."""
    loss, grads, deltas = bucketed.padded_call(p)
    sizes, N = problem.spec.sizes, X.shape[0]
    out = [np.array([loss])]
    for l, g in enumerate(grads[p.first :], start=1):
        out += [g["W"][: sizes[l], : sizes[l - 1]], g["b"][: sizes[l]]]
    return out + [d[:N, : sizes[l]] for l, d in enumerate(deltas[p.first :], start=1)]


@settings(max_examples=examples(0.3))
@given(problems())
def test_free_padded_slots_cannot_reach_a_real_gradient(problem: Problem) -> None:
    X, p = _padded(problem)
    clean = _real(problem, X, p)
    rng = np.random.default_rng(0)
    sizes, N, dtype = problem.spec.sizes, X.shape[0], X.dtype

    def junk(shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, 3.0, shape).astype(dtype)

    dirty = p.params[: p.first]  # the identity layers in front are not free slots
    for l, layer in enumerate(p.params[p.first :], start=1):
        W, b = layer["W"].copy(), layer["b"].copy()
        W[sizes[l] :, :] = junk(W[sizes[l] :, :].shape)  # incoming weights of padded units
        b[sizes[l] :] = junk(b[sizes[l] :].shape)
        dirty.append({"W": W, "b": b})
    Xd, Yd = p.X.copy(), p.Y.copy()
    Xd[N:, :] = junk(Xd[N:, :].shape)  # padded samples
    Xd[:, sizes[0] :] = junk(Xd[:, sizes[0] :].shape)  # padded input columns
    Yd[N:, :] = junk(Yd[N:, :].shape)
    Yd[:, sizes[-1] :] = junk(Yd[:, sizes[-1] :].shape)  # padded outputs' targets
    result = _real(problem, X, p._replace(params=dirty, X=Xd, Y=Yd))
    for a, b in zip(clean, result, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=problem.describe())


def test_a_nonzero_outgoing_weight_of_a_padded_unit_would_show() -> None:
    """The slot that must stay zero does reach real gradients: the test above can fail."""
    import bp_manual

    spec = bp_manual.NetworkSpec((3, 4, 2), hidden="sigmoid")  # f(0) = 0.5: padded units are active
    problem = Problem(spec, bp_manual.init_params(spec, seed=0), np.ones((2, 3)), np.zeros((2, 2)), "x", np.float64)
    X, p = _padded(problem)
    clean = _real(problem, X, p)
    leaky = [dict(layer) for layer in p.params]
    out = p.first + 1  # the real output layer
    leaky[out] = {"W": p.params[out]["W"].copy(), "b": p.params[out]["b"]}
    leaky[out]["W"][:2, 4] = 1.0  # padded hidden unit 5 feeds the real outputs
    result = _real(problem, X, p._replace(params=leaky))
    assert not np.array_equal(clean[0], result[0])  # the loss moved
    assert not np.array_equal(clean[1], result[1])  # and dW1 with it
