"""The network catalog's registry: wrong backward passes of the dense network, teaching examples for the auditor.

What this module is for: naming the entries of the network catalog, with the
finding each should get and the network it shows on. Each entry is a plain,
readable backward pass (:mod:`bp_autodiff.catalog.network_grads`) or update
rule or prediction (:mod:`bp_autodiff.catalog.network_steps`) with one classic
mistake in it, marked ``# MISTAKE``. Its docstring states the mistake and the
finding the auditor should give. Run one through the auditor to see what that mistake looks like::

    bp audit bp_autodiff.catalog:sign_flipped --sizes 4,8,3 --hidden tanh --loss mse

or in Python::

    from bp_autodiff import audit, catalog
    spec, params, X, Y = catalog.example_problem("sign_flipped")
    print(audit(spec, params, X, Y, catalog.sign_flipped))

:data:`CATALOG` maps each name to an :class:`Entry` ``(function, kind, mode)``:
the expected finding kind and which auditor applies (``"grad"``:
:func:`bp_autodiff.audit`; ``"step"``: :func:`bp_autodiff.audit_step`;
``"forward"``: :func:`bp_autodiff.audit_forward`). :data:`EXAMPLES` gives the
network each entry is demonstrated on (some mistakes only show on some shapes;
the docstrings say which).

What it is not for: anything but teaching and testing the auditor. The right
backward pass is ``bp_manual.network.backward``; the entries share one
backward loop (``network_grads.backpropagate``) built on its kernels
(``delta_below``, ``layer_grads``), so that only the mistake is written out.

Every grad function has the signature of ``bp_manual.loss_and_grads``
(``spec, params, X (N, n_in), Y (N, n_out)``) and returns
``(loss, grads, deltas)``: the localisation protocol of the auditor, with
``deltas[l - 1] = dL/dZ_l`` of shape ``(N, n_l)`` as the function computed it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.forward import audit_forward
from bp_autodiff.auditor.gradients import audit
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.auditor.step import audit_step
from bp_autodiff.catalog.network_grads import (
    W_instead_of_W_T,
    bias_not_summed,
    dW_transposed,
    layers_swapped,
    missing_activation_derivative,
    mse_without_half,
    only_output_layer,
    relu_derivative_one,
    sigmoid_derivative_on_Z,
    sign_flipped,
    softmax_ce_without_softmax,
    sum_instead_of_mean,
    tanh_derivative_at_A,
)
from bp_autodiff.catalog.network_steps import (
    seed_published_gradients,
    seed_published_run,
    seed_published_train,
    update_before_propagating,
)
from bp_manual.initializers import Params
from bp_manual.problems import random_problem
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]


# ---------------------------------------------------------------- the registry


class Entry(NamedTuple):
    """A catalog entry: the ``function``, the finding ``kind`` it should get, and the auditor ``mode``
    (``"grad"``, ``"step"`` or ``"forward"``)."""

    function: Callable[..., Any]
    kind: str
    mode: str = "grad"


class Example(NamedTuple):
    """The network an entry is demonstrated on: ``spec``, init scheme, batch size ``N`` and ``lr``."""

    spec: NetworkSpec
    init: str = "xavier_normal"
    batch: int = 5
    lr: float = 0.5


CATALOG: dict[str, Entry] = {
    "sign_flipped": Entry(sign_flipped, "sign"),
    "missing_activation_derivative": Entry(missing_activation_derivative, "activation_derivative"),
    "sigmoid_derivative_on_Z": Entry(sigmoid_derivative_on_Z, "activation_derivative"),
    "tanh_derivative_at_A": Entry(tanh_derivative_at_A, "activation_derivative"),
    "relu_derivative_one": Entry(relu_derivative_one, "activation_derivative"),
    "sum_instead_of_mean": Entry(sum_instead_of_mean, "scale"),
    "mse_without_half": Entry(mse_without_half, "scale"),
    "dW_transposed": Entry(dW_transposed, "transpose"),
    "W_instead_of_W_T": Entry(W_instead_of_W_T, "mismatch"),
    "bias_not_summed": Entry(bias_not_summed, "shape"),
    "softmax_ce_without_softmax": Entry(softmax_ce_without_softmax, "mismatch"),
    "only_output_layer": Entry(only_output_layer, "zero"),
    "layers_swapped": Entry(layers_swapped, "swapped"),
    "update_before_propagating": Entry(update_before_propagating, "stale_weights", "step"),
    "seed_published_gradients": Entry(seed_published_gradients, "sign"),
    "seed_published_train": Entry(seed_published_train, "ascent", "step"),
    "seed_published_run": Entry(seed_published_run, "shape", "forward"),
}

_SEED_SPEC = NetworkSpec((4, 8, 3), hidden="sigmoid", output="identity", loss="mse", bias=False)
_DEFAULT = Example(NetworkSpec((4, 8, 3), hidden="tanh"))

#: The network each entry is demonstrated on (the default: 4-8-3, tanh, identity + mse, bias, N = 5).
EXAMPLES: dict[str, Example] = {
    **{name: _DEFAULT for name in CATALOG},
    "sigmoid_derivative_on_Z": Example(NetworkSpec((4, 8, 3), hidden="sigmoid")),
    "relu_derivative_one": Example(NetworkSpec((4, 8, 3), hidden="relu"), init="he_normal"),
    "W_instead_of_W_T": Example(NetworkSpec((4, 6, 6), hidden="tanh")),
    "softmax_ce_without_softmax": Example(
        NetworkSpec((4, 8, 3), hidden="tanh", output="softmax", loss="cross_entropy")
    ),
    "layers_swapped": Example(NetworkSpec((5, 5, 5), hidden="tanh")),
    "seed_published_gradients": Example(_SEED_SPEC, init="seed", batch=1),
    "seed_published_train": Example(_SEED_SPEC, init="seed", batch=1, lr=0.01),
    "seed_published_run": Example(_SEED_SPEC, init="seed", batch=1),
}


def example_problem(name: str, seed: int = 0) -> tuple[NetworkSpec, Params, Array, Array]:
    """``(spec, params, X (N, n_in), Y (N, n_out))`` for catalog entry ``name`` (float64).

    Biases are drawn ``N(0, 0.5**2)`` (not left at zero) so the bias path is exercised.
    """
    if name not in EXAMPLES:
        raise ValueError(f"unknown catalog entry {name!r}; expected one of {sorted(CATALOG)}")
    ex = EXAMPLES[name]
    p = random_problem(ex.spec, np.random.default_rng(seed), ex.batch, init=ex.init, form="one_hot")
    return p.spec, p.params, p.X, p.Y.astype(np.float64)


def audit_entry(name: str, seed: int = 0) -> AuditReport:
    """Run catalog entry ``name`` on its example network through the auditor its mode calls for."""
    spec, params, X, Y = example_problem(name, seed)
    entry = CATALOG[name]
    label = f"bp_autodiff.catalog.{name}"
    if entry.mode == "step":
        return audit_step(spec, params, X, Y, EXAMPLES[name].lr, entry.function, name=label)
    if entry.mode == "forward":
        return audit_forward(spec, params, X, entry.function, name=label)
    return audit(spec, params, X, Y, entry.function, name=label)
