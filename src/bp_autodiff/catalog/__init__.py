"""Catalogs of wrong backward passes, each with its mistake marked ``# MISTAKE``.

What this package is for: teaching (``bp audit bp_autodiff.catalog:sign_flipped``),
the auditor's tests, and the dictionary of classic mistakes the auditor's
diagnosis is matched against.

- :mod:`bp_autodiff.catalog.network`: the dense network's classic mistakes,
  in the network contract ``grad_fn(spec, params, X, Y)``; re-exported here,
  so ``bp_autodiff.catalog.sign_flipped`` and ``bp_autodiff.catalog.CATALOG``
  work as they always have.
- one module per layer family of :mod:`bp_manual.layers`, each with a
  ``MISTAKES`` registry of :class:`~bp_autodiff.catalog.layer_mistake.LayerMistake`.

What it is not for: correct code. The right backward passes are in
:mod:`bp_manual`.
"""

from bp_autodiff.catalog.network import (
    CATALOG,
    EXAMPLES,
    Entry,
    Example,
    W_instead_of_W_T,
    audit_entry,
    bias_not_summed,
    dW_transposed,
    example_problem,
    layers_swapped,
    missing_activation_derivative,
    mse_without_half,
    only_output_layer,
    relu_derivative_one,
    seed_published_gradients,
    seed_published_run,
    seed_published_train,
    sigmoid_derivative_on_Z,
    sign_flipped,
    softmax_ce_without_softmax,
    sum_instead_of_mean,
    tanh_derivative_at_A,
    update_before_propagating,
)

__all__ = [
    "CATALOG",
    "EXAMPLES",
    "Entry",
    "Example",
    "W_instead_of_W_T",
    "audit_entry",
    "bias_not_summed",
    "dW_transposed",
    "example_problem",
    "layers_swapped",
    "missing_activation_derivative",
    "mse_without_half",
    "only_output_layer",
    "relu_derivative_one",
    "seed_published_gradients",
    "seed_published_run",
    "seed_published_train",
    "sigmoid_derivative_on_Z",
    "sign_flipped",
    "softmax_ce_without_softmax",
    "sum_instead_of_mean",
    "tanh_derivative_at_A",
    "update_before_propagating",
]
