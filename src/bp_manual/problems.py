"""Random problems for the network: a spec, params, inputs and targets, drawn from one Generator.

What this module is for: the one builder of a random ``(spec, params, X, Y)``
that the checks (``bp check``), the teaching commands (``bp explain --trace``),
the catalog's examples, the tests and other projects' tests
(``bp_autodiff.strategies``) share, so that "a random problem" means one thing.
Every draw comes from the ``numpy.random.Generator`` passed in, in a fixed
order (params, then ``X``, then ``Y``), so a seed reproduces a problem.

What it is not for: data to learn from (:mod:`bp_manual.data`).

Target forms (``form``), for each loss:

=====================  ============================================================
``mse``                ``N(0, 1)`` values, whatever the form
``cross_entropy``      ``"labels"``: integer labels ``(N,)``; ``"one_hot"`` (or
                       ``"hard"``): one-hot rows; ``"soft"``: probability rows
                       (Dirichlet(1))
``binary_cross_entropy``  ``"hard"``: 0/1 values; any other form: uniform in [0, 1]
=====================  ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike, NDArray

from bp_manual.initializers import Initializer, Params, init_params
from bp_manual.losses import LOSSES
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]

#: The target forms :func:`random_targets` accepts.
FORMS = ("labels", "one_hot", "hard", "soft")


@dataclass(frozen=True)
class Problem:
    """One drawn case: ``spec``, ``params``, ``X (N, n_in)``, ``Y`` (see the module's forms), and how it was made."""

    spec: NetworkSpec
    params: Params
    X: Array
    Y: NDArray[np.generic]
    init: str | Initializer
    dtype: type

    def describe(self) -> str:
        """One line: the architecture, init, batch size and dtype (for test failures and tables)."""
        name = getattr(self.init, "__name__", self.init)
        s = self.spec
        return (
            f"sizes={s.sizes} hidden={s.hidden} {s.output}+{s.loss} bias={s.bias} "
            f"init={name} N={self.X.shape[0]} {np.dtype(self.dtype).name}"
        )


def random_spec(
    rng: np.random.Generator, hidden: str, loss: str, *, max_layers: int = 4, max_width: int = 8
) -> NetworkSpec:
    """A spec with 1..``max_layers`` weight layers of widths 1..``max_width`` (2.. for a softmax output),
    the output activation that ``loss`` pairs with, and a bias drawn on or off."""
    n_layers = int(rng.integers(1, max_layers + 1))
    sizes = [int(s) for s in rng.integers(1, max_width + 1, n_layers)]
    sizes.append(int(rng.integers(2 if loss == "cross_entropy" else 1, max_width + 1)))
    return NetworkSpec(tuple(sizes), hidden=hidden, output=LOSSES[loss].output, loss=loss, bias=bool(rng.integers(2)))


def random_params(
    spec: NetworkSpec,
    rng: np.random.Generator,
    init: str | Initializer = "xavier_normal",
    dtype: DTypeLike = np.float64,
    bias_std: float | None = 0.5,
) -> Params:
    """``init_params(spec, init, rng, dtype)``, then biases ``N(0, bias_std**2)`` (None: left at zero),
    so that the bias path is exercised."""
    params = init_params(spec, init, rng, dtype)
    if spec.bias and bias_std is not None:
        params = [{**layer, "b": rng.normal(0.0, bias_std, layer["b"].shape).astype(dtype)} for layer in params]
    return params


def random_targets(spec: NetworkSpec, rng: np.random.Generator, n: int, form: str = "labels") -> NDArray[np.generic]:
    """``n`` targets for ``spec.loss`` in ``form`` (module docstring), float64 or integer labels.

    Raises:
        ValueError: ``form`` is not one of :data:`FORMS`.
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; expected one of {list(FORMS)}")
    if spec.loss == "mse":
        return rng.normal(0.0, 1.0, (n, spec.n_out))
    if spec.loss == "cross_entropy":
        if form == "soft":  # probability rows: the case where (Y_hat - Y)/N needs rows summing to 1
            return rng.dirichlet(np.ones(spec.n_out), n)
        labels = rng.integers(0, spec.n_out, n)
        return labels if form == "labels" else np.eye(spec.n_out)[labels]
    if form == "hard":
        return rng.integers(0, 2, (n, spec.n_out)).astype(np.float64)
    return rng.uniform(0.0, 1.0, (n, spec.n_out))


def random_batch(
    spec: NetworkSpec,
    rng: np.random.Generator,
    n: int,
    dtype: DTypeLike = np.float64,
    *,
    x_scale: float = 1.0,
    form: str = "labels",
) -> tuple[Array, NDArray[np.generic]]:
    """``X ~ N(0, x_scale**2)`` of shape ``(n, n_in)`` and targets (:func:`random_targets`), floats in ``dtype``."""
    X: Array = rng.normal(0.0, x_scale, (n, spec.n_in)).astype(dtype)
    Y = random_targets(spec, rng, n, form)
    return X, (Y.astype(dtype) if Y.dtype.kind == "f" else Y)


def random_problem(
    spec: NetworkSpec,
    rng: np.random.Generator,
    n: int,
    *,
    init: str | Initializer = "xavier_normal",
    dtype: type = np.float64,
    bias_std: float | None = 0.5,
    x_scale: float = 1.0,
    form: str = "labels",
) -> Problem:
    """A :class:`Problem` for ``spec``: :func:`random_params`, then :func:`random_batch` of ``n`` samples."""
    params = random_params(spec, rng, init, dtype, bias_std)
    X, Y = random_batch(spec, rng, n, dtype, x_scale=x_scale, form=form)
    return Problem(spec, params, X, Y, init, dtype)
