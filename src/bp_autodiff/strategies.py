"""Hypothesis strategies for other projects' test suites (and this one's): networks, problems, batches.

What this module is for: drawing what a gradient test needs, kept off the
places where a correct backward pass and its witness may legitimately differ
(ReLU kinks within rounding distance), so a failure means a mistake. Shapes,
names and flags are drawn by hypothesis (so it can shrink them); the numbers
inside arrays come from a ``numpy.random.Generator`` seeded by a drawn integer
(drawing thousands of floats one by one would be slow and shrink poorly), at a
drawn scale, through the project's one builder of random problems
(:func:`bp_manual.problems.random_problem`).

Use::

    from hypothesis import given
    from bp_autodiff.strategies import problems
    from bp_autodiff.testing import assert_gradients

    @given(problems(max_layers=3, max_width=8))
    def test_my_backward(problem):
        assert_gradients(my_grad_fn, problem.spec, problem.params, problem.X, problem.Y)

What it is not for: the hypothesis profiles (a test suite's own ``conftest.py``
registers those; this project's are in ``tests/conftest.py``). Needs
``hypothesis`` (in the ``dev`` and ``testing`` extras); importing
``bp_autodiff`` does not import this module.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, settings
from hypothesis import strategies as st

import bp_manual
from bp_autodiff.auditor import tolerance
from bp_manual import HIDDEN, INITIALIZERS, LOSSES, NetworkSpec
from bp_manual.problems import FORMS, Problem, random_problem

__all__ = [
    "COVERING",
    "DTYPES",
    "HIDDEN_NAMES",
    "INITS",
    "INIT_NAMES",
    "LOSS_NAMES",
    "Problem",
    "examples",
    "kinks_are_clear",
    "problems",
    "specs",
]

HIDDEN_NAMES = sorted(HIDDEN)
LOSS_NAMES = sorted(LOSSES)
INIT_NAMES = sorted(INITIALIZERS)
#: every named scheme, plus a plain N(0, 0.1**2) (the ``normal(std)`` factory)
INITS: list[str | bp_manual.initializers.Initializer] = [*INIT_NAMES, bp_manual.normal(0.1)]
DTYPES = (np.float64, np.float32)

#: Seven networks, each with its batch size, that between them take every path of the network code: each hidden
#: activation once (in a network with hidden layers), each output/loss pair at least twice, biases on and off, 1 to 4
#: weight layers, widths of 1 (input, hidden and output) and a batch of 1 (one-sample gradients are outer products).
#: For properties of a function compiled once per shape (``jax.jit`` of the hand derivation, the public witness):
#: drawn through ``problems(spec=..., batch=...)``, such a function compiles once per network and dtype instead of once
#: per random shape, and no path is left to chance. Random shapes belong to the properties that do not compile.
COVERING: tuple[tuple[NetworkSpec, int], ...] = (
    (NetworkSpec((3, 4, 2), hidden="identity", output="identity", loss="mse", bias=True), 1),
    (NetworkSpec((5, 3, 4, 3), hidden="leaky_relu", output="softmax", loss="cross_entropy", bias=False), 4),
    (NetworkSpec((2, 6, 1, 3), hidden="relu", output="sigmoid", loss="binary_cross_entropy", bias=True), 3),
    (NetworkSpec((4, 5, 2), hidden="sigmoid", output="softmax", loss="cross_entropy", bias=True), 1),
    (NetworkSpec((1, 3, 3, 4, 2), hidden="softplus", output="identity", loss="mse", bias=False), 5),
    (NetworkSpec((3, 4, 1), hidden="tanh", output="sigmoid", loss="binary_cross_entropy", bias=False), 2),
    (NetworkSpec((4, 3), hidden="tanh", output="softmax", loss="cross_entropy", bias=True), 2),
)


def examples(fraction: float) -> int:
    """``fraction`` of the active profile's ``max_examples`` (at least 1), so a
    cheaper structural property can run fewer examples and still scale with
    the ``thorough`` profile."""
    current = settings.default
    assert current is not None
    return max(1, round(current.max_examples * fraction))


@st.composite
def specs(
    draw: st.DrawFn,
    max_layers: int = 5,
    max_width: int = 32,
    hidden: list[str] | None = None,
    losses: list[str] | None = None,
) -> NetworkSpec:
    """A valid ``NetworkSpec``: 1..max_layers weight layers, widths 1..max_width."""
    n_layers = draw(st.integers(1, max_layers))
    loss = draw(st.sampled_from(losses or LOSS_NAMES))
    min_out = 2 if loss == "cross_entropy" else 1
    sizes = draw(st.lists(st.integers(1, max_width), min_size=n_layers, max_size=n_layers))
    sizes.append(draw(st.integers(min_out, max_width)))
    return NetworkSpec(
        tuple(sizes),
        hidden=draw(st.sampled_from(hidden or HIDDEN_NAMES)),
        output=LOSSES[loss].output,
        loss=loss,
        bias=draw(st.booleans()),
    )


def kinks_are_clear(problem: Problem) -> bool:
    """True when every pre-activation of a kinked hidden layer is farther from 0
    than the forward rounding error could move it (:func:`bp_autodiff.auditor.tolerance.kinks_are_clear`),
    so both sides take the same branch of ``relu'``."""
    return tolerance.kinks_are_clear(problem.spec, problem.params, problem.X)


@st.composite
def problems(
    draw: st.DrawFn,
    max_layers: int = 5,
    max_width: int = 32,
    max_batch: int = 16,
    dtypes: tuple[type, ...] = DTYPES,
    hidden: list[str] | None = None,
    inits: list[str | bp_manual.initializers.Initializer] | None = None,
    x_scales: tuple[float, ...] = (0.1, 1.0, 3.0),
    spec: NetworkSpec | None = None,
    batch: int | None = None,
) -> Problem:
    """A spec, params from a drawn init scheme, and a batch (``bp_manual.problems.random_problem``),
    with ReLU kinks kept clear.

    ``spec`` and ``batch`` fix the network and the batch size (e.g. from :data:`COVERING`), so only the values are
    drawn; ``max_layers``, ``max_width``, ``hidden`` (and ``max_batch``) then play no part.
    """
    if spec is None:
        spec = draw(specs(max_layers=max_layers, max_width=max_width, hidden=hidden))
    dtype = draw(st.sampled_from(dtypes))
    init = draw(st.sampled_from(inits or INITS))
    if HIDDEN[spec.hidden].kinked and spec.n_layers > 1:
        # all-zero weights put every hidden pre-activation exactly on the kink
        assume(init != "zeros")
    seed = draw(st.integers(0, 2**32 - 1))
    n = batch if batch is not None else draw(st.integers(1, max_batch))
    x_scale = draw(st.sampled_from(x_scales))
    form = draw(st.sampled_from(FORMS))
    problem = random_problem(spec, np.random.default_rng(seed), n, init=init, dtype=dtype, x_scale=x_scale, form=form)
    assume(kinks_are_clear(problem))
    return problem
