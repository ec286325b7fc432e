"""The network catalog: wrong backward passes of the dense network, teaching examples for the auditor.

What this module is for: each function below is a plain, readable backward
pass (or update rule, or prediction) with one classic mistake in it, marked
``# MISTAKE``. Its docstring states the mistake and the finding the auditor
should give. Run one through the auditor to see what that mistake looks like::

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
backward pass is ``bp_manual.network.backward``; the correct steps here call
its kernels (``delta_below``, ``layer_grads``), so that only the mistake is
written out by hand.

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

import bp_manual
from bp_autodiff.auditor.forward import audit_forward
from bp_autodiff.auditor.gradients import audit
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.auditor.step import audit_step
from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.network import Cache, delta_below, layer_grads
from bp_manual.seed_published import PublishedBPNetwork
from bp_manual.spec import NetworkSpec
from bp_manual.validation import check_lr, prepare_batch

Array = NDArray[np.floating]
GradResult = tuple[np.floating, Params, list[Array]]


def _forward(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Array, Cache, np.floating]:
    """``(Y, cache, loss)``: the checked targets ``(N, n_out)``, the (correct) forward pass and loss."""
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _, cache = bp_manual.forward(spec, params, X_)
    return Y_, cache, bp_manual.loss(spec, params, X_, Y_)


# ---------------------------------------------------------------- grad functions


def sign_flipped(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the output error is written ``target - output``: ``delta_L = (Y - Y_hat) / N``.

    Every gradient comes out negated (``Y - Y_hat`` is the error people
    *subtract*, the seed's ``out_error`` the other way round).
    Expected finding: ``sign`` on every parameter, introduced at ``delta_L``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = (Y_ - cache[-1].A) / Y_.shape[0]  # MISTAKE: should be (Y_hat - Y) / N
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def missing_activation_derivative(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the recursion forgets the hidden derivative: ``delta_l = delta_{l+1} @ W_{l+1}``.

    The layers below the output get the gradient of a network whose hidden
    units were linear. Expected finding: ``activation_derivative`` on ``W_l``,
    ``b_l`` for ``l < L`` (the output layer is right), introduced at ``delta_{L-1}``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            delta = delta @ params[l - 1]["W"]  # MISTAKE: "* f'(Z_{l-1})" is missing
    return loss, grads[::-1], deltas[::-1]


def sigmoid_derivative_on_Z(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``sigmoid' = a (1 - a)`` is evaluated with ``a = Z`` (the pre-activation) instead of ``A``.

    The formula is right for ``a = sigmoid(Z)``; fed ``Z`` it is another
    function. (For another hidden activation the same slip is made on its
    ``A``-form derivative, e.g. ``1 - Z**2`` for tanh.) Demonstrated with
    sigmoid hidden units. Expected finding: ``activation_derivative`` on the
    hidden layers' parameters, introduced at ``delta_{L-1}``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            wrong = f_prime(below.Z, below.Z)  # MISTAKE: the A-form derivative fed Z: Z * (1 - Z)
            delta = delta_below(delta, params[l - 1]["W"], wrong)
    return loss, grads[::-1], deltas[::-1]


def tanh_derivative_at_A(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``tanh'`` is taken at ``A`` instead of ``Z``: ``1 - tanh(A)**2`` with ``A = tanh(Z)``.

    The activation is applied twice. Demonstrated with tanh hidden units (for
    the sigmoid it is ``sigmoid(A) (1 - sigmoid(A))``). Expected finding:
    ``activation_derivative`` on the hidden layers' parameters.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    act = HIDDEN[spec.hidden]
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            A = cache[l - 2].A
            wrong = act.derivative(A, act.f(A))  # MISTAKE: f'(A), should be f'(Z)
            delta = delta_below(delta, params[l - 1]["W"], wrong)
    return loss, grads[::-1], deltas[::-1]


def relu_derivative_one(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``relu'`` is taken to be 1 everywhere ("relu is linear, its slope is 1").

    The units that are off (``Z < 0``) pass gradient they should block.
    Demonstrated with ReLU hidden units. Expected finding:
    ``activation_derivative`` (it equals the chain rule with the derivative dropped).
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            ones = np.ones_like(cache[l - 2].Z)  # MISTAKE: relu'(Z) is (Z > 0), not 1
            delta = delta_below(delta, params[l - 1]["W"], ones)
    return loss, grads[::-1], deltas[::-1]


def sum_instead_of_mean(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the output delta has no ``1/N``: ``delta_L = Y_hat - Y``, while the loss is a batch mean.

    Every gradient is ``N`` times too large (invisible at ``N = 1``, so it is
    demonstrated with ``N = 5``). Expected finding: ``scale`` with ``c = N``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta: Array = cache[-1].A - Y_  # MISTAKE: should be divided by N = X.shape[0]
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def mse_without_half(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the derivative of ``(1/N) sum (Y_hat - Y)**2`` is taken, but the loss is ``1/(2N) ...``.

    The 1/2 that makes the derivative clean is forgotten: ``delta_L = 2 (Y_hat - Y) / N``.
    Demonstrated with ``identity`` + ``mse``. Expected finding: ``scale`` with ``c = 2``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = 2 * (cache[-1].A - Y_) / Y_.shape[0]  # MISTAKE: the loss has a 1/2; no factor 2
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def dW_transposed(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``dW_l = A_{l-1}.T @ delta_l``, shape ``(n_{l-1}, n_l)``: the transpose of ``W_l``'s shape.

    In the column convention (``W`` is ``(n_l, n_{l-1})``, samples as columns)
    it is ``delta @ A.T``; copied into the row convention without swapping the
    factors it gives the transpose. Expected finding: ``transpose`` on every
    ``W_l`` (the biases are right), introduced at ``W_l`` (the deltas are right).
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads: Params = []
    deltas = []
    for l in range(spec.n_layers, 0, -1):
        layer = layer_grads(delta, cache[l - 1].A_prev, spec.bias)
        layer["W"] = cache[l - 1].A_prev.T @ delta  # MISTAKE: should be delta.T @ A_prev
        grads.append(layer)
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def W_instead_of_W_T(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the recursion multiplies by the transpose where none belongs: ``delta_{l+1} @ W_{l+1}.T``.

    In the column convention the recursion is ``W_{l+1}.T @ delta_{l+1}``; the
    slip is the other way round (``W`` where ``W.T`` belongs). For non-square
    ``W_{l+1}`` it cannot even run (the auditor reports ``shape``); for square
    ones it runs and is silently wrong, so it is demonstrated on 4-6-6.
    Expected finding: ``mismatch`` on ``W_1``, ``b_1``, introduced at ``delta_1``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = (delta @ params[l - 1]["W"].T) * f_prime(below.Z, below.A)  # MISTAKE: W.T, should be W
    return loss, grads[::-1], deltas[::-1]


def bias_not_summed(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``db_l = delta_l``, one row per sample, instead of ``delta_l.sum(axis=0)``.

    With one sample per update (the seed's setting) the values are right and
    only the shape ``(1, n_l)`` gives it away; demonstrated with ``N = 5``.
    Expected finding: ``shape`` on every ``b_l``, with the note that summing
    over the batch matches.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads: Params = []
    deltas = []
    for l in range(spec.n_layers, 0, -1):
        layer = layer_grads(delta, cache[l - 1].A_prev, spec.bias)
        if spec.bias:
            layer["b"] = delta.copy()  # MISTAKE: should be delta.sum(axis=0)
        grads.append(layer)
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def softmax_ce_without_softmax(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: for softmax + cross-entropy, ``delta_L = (Z_L - Y) / N``: the logits instead of ``softmax(Z_L)``.

    "The gradient is prediction minus target", with the prediction taken
    before the softmax. Demonstrated with ``softmax`` + ``cross_entropy``.
    Expected finding: ``mismatch`` everywhere, introduced at ``delta_L``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = (cache[-1].Z - Y_) / Y_.shape[0]  # MISTAKE: should be (softmax(Z_L) - Y) / N = (Y_hat - Y) / N
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads[::-1], deltas[::-1]


def only_output_layer(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the gradient stops at the output layer; the hidden layers' gradients are left at zero.

    As if the error were never propagated (or the buffers never filled).
    Expected finding: ``zero`` on every hidden layer's parameters.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads: Params = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in params]
    grads[-1] = layer_grads(delta, cache[-1].A_prev, spec.bias)
    # MISTAKE: no loop over the hidden layers
    deltas = [np.zeros_like(c.Z) for c in cache[:-1]] + [delta]
    return loss, grads, deltas


def layers_swapped(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the gradients are collected from the output layer down and never put back in order.

    ``grads[0]`` is then layer ``L``'s gradient. For layers of different shapes
    the auditor reports ``shape``; demonstrated on 5-5-5, where ``W1`` and
    ``W2`` have the same shape and the values are silently exchanged.
    Expected finding: ``swapped``.
    """
    Y_, cache, loss = _forward(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):
        grads.append(layer_grads(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, params[l - 1]["W"], f_prime(below.Z, below.A))
    return loss, grads, deltas[::-1]  # MISTAKE: grads should be reversed too (grads[::-1])


# ---------------------------------------------------------------- update rules


def update_before_propagating(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> Params:
    """Mistake: each layer is updated as soon as its gradient is known, then the error is propagated
    through the *new* weights.

    ``delta_{l-1}`` should use the ``W_l`` the forward pass used. The output
    layer's update is right; every layer below sees stale weights (demonstrated
    with ``lr = 0.5``, where the difference is plain). Expected finding
    (``bp_autodiff.audit_step``): ``stale_weights``.
    """
    Y_, cache, _ = _forward(spec, params, X, Y)
    lr = check_lr(lr)
    f_prime = HIDDEN[spec.hidden].derivative
    new: Params = [dict(layer) for layer in params]
    delta = bp_manual.losses.output_delta(cache[-1].A, Y_)
    for l in range(spec.n_layers, 0, -1):
        g = layer_grads(delta, cache[l - 1].A_prev, spec.bias)
        new[l - 1] = {k: params[l - 1][k] - lr * g[k] for k in g}
        if l > 1:
            below = cache[l - 2]
            delta = delta_below(delta, new[l - 1]["W"], f_prime(below.Z, below.A))  # MISTAKE: new W, use params
    return new


# ---------------------------------------------------------------- the seed, as published


def _published(spec: NetworkSpec, params: ParamsLike) -> PublishedBPNetwork:
    """The seed's class with these weights: needs ``(n_in, n_hidden, n_out)``, sigmoid, identity, mse, no bias."""
    if not (
        spec.n_layers == 2
        and spec.hidden == "sigmoid"
        and spec.output == "identity"
        and spec.loss == "mse"
        and not spec.bias
    ):
        raise ValueError(
            "the seed's BPNetwork is (n_in, n_hidden, n_out) with sigmoid hidden units, identity output, "
            f"mse and no bias; got {spec}"
        )
    n_in, n_hidden, n_out = spec.sizes
    net = PublishedBPNetwork(n_in, n_hidden, n_out, 1.0, seed=0)
    net.w_in2hid = np.array(params[0]["W"], dtype=np.float64)
    net.w_hid2out = np.array(params[1]["W"], dtype=np.float64)
    return net


def _one_sample(X: Array) -> None:
    if X.shape[0] != 1:
        raise ValueError(f"the seed's train() takes one sample per update; X has {X.shape[0]} (use --batch 1)")


def seed_published_train(spec: NetworkSpec, params: ParamsLike, X: object, Y: object, lr: float) -> Params:
    """The seed blog's ``BPNetwork.train`` as published, as an update rule (one sample, ``N = 1``).

    Mistake: ``out_error = out - target`` is ``dL/d out``, and then
    ``w += lr * ...``: it adds the gradient. Expected finding
    (``bp_autodiff.audit_step``): ``ascent``.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _one_sample(X_)
    net = _published(spec, params)
    net.lr = check_lr(lr)
    net.train(X_[0], Y_[0])
    dtype = X_.dtype
    return [{"W": net.w_in2hid.astype(dtype)}, {"W": net.w_hid2out.astype(dtype)}]


def seed_published_gradients(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Any, Params]:
    """The gradient the seed's published ``train()`` descends along: ``(W_before - W_after) / lr``.

    Its derivative is right, its update adds it, so the direction it descends
    is minus the gradient. Expected finding (``bp_autodiff.audit``): ``sign``.
    """
    X_, Y_ = prepare_batch(spec, params, X, Y)
    lr = 1.0
    new = seed_published_train(spec, params, X_, Y_, lr)
    grads = [{"W": (params[i]["W"] - new[i]["W"]) / lr} for i in range(2)]
    return bp_manual.loss(spec, params, X_, Y_), grads


def seed_published_run(spec: NetworkSpec, params: ParamsLike, X: object) -> Array:
    """The seed's published ``BPNetwork.run``, one sample at a time: ``(N, n_in) -> (N, n_out)``.

    Mistake: the second product uses ``w_in2hid`` instead of ``w_hid2out``; for
    784-32-64 (and any ``n_hidden != n_in``) it raises a shape error.
    Expected finding (``bp_autodiff.audit_forward``): ``shape``.
    """
    net = _published(spec, params)
    X_ = np.atleast_2d(np.asarray(X, dtype=np.float64))
    return np.stack([net.run(x)[:, 0] for x in X_])


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
    rng = np.random.default_rng(seed)
    params = bp_manual.init_params(ex.spec, ex.init, rng)
    if ex.spec.bias:
        params = [{**layer, "b": rng.normal(0.0, 0.5, layer["b"].shape)} for layer in params]
    X = rng.normal(0.0, 1.0, (ex.batch, ex.spec.n_in))
    if ex.spec.loss == "cross_entropy":
        Y = np.eye(ex.spec.n_out)[rng.integers(0, ex.spec.n_out, ex.batch)]
    else:
        Y = rng.normal(0.0, 1.0, (ex.batch, ex.spec.n_out))
    return ex.spec, params, X, Y


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
