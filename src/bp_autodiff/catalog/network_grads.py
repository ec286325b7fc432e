"""The network catalog's wrong backward passes, each with one classic mistake marked ``# MISTAKE``.

What this module is for: grad functions in the network contract
(``grad_fn(spec, params, X, Y) -> (loss, grads, deltas)``), each the correct
backward loop (:func:`backpropagate`, written once) with one mistake passed
in: a wrong output delta, a wrong recursion step or a wrong layer gradient.
The registry that names them and the finding each should get is
:mod:`bp_autodiff.catalog.network`.

What it is not for: correct code (``bp_manual.network.backward``).

Every function returns ``(loss, grads, deltas)``: the localisation protocol
of the auditor, with ``deltas[l - 1] = dL/dZ_l`` of shape ``(N, n_l)`` as the
function computed it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_manual.activations import HIDDEN
from bp_manual.initializers import Params, ParamsLike
from bp_manual.losses import output_delta
from bp_manual.network import Cache, LayerCache, delta_below, layer_grads
from bp_manual.spec import NetworkSpec
from bp_manual.validation import prepare_batch

Array = NDArray[np.floating]
GradResult = tuple[np.floating, Params, list[Array]]


def forward_with_loss(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[Array, Cache, np.floating]:
    """``(Y, cache, loss)``: the checked targets ``(N, n_out)``, the (correct) forward pass and loss."""
    X_, Y_ = prepare_batch(spec, params, X, Y)
    _, cache = bp_manual.forward(spec, params, X_)
    return Y_, cache, bp_manual.loss(spec, params, X_, Y_)


# ---------------------------------------------------------------- the shared loop

#: ``(delta_{l+1}, W_{l+1}, layer l's cache) -> delta_l``: one step of the recursion.
Recursion = Callable[[Array, Array, LayerCache], Array]
#: ``(delta_l, A_{l-1}, bias) -> {"W": dW_l, "b": db_l}``: one layer's gradients.
Gradient = Callable[[Array, Array, bool], dict[str, Array]]


def backpropagate(
    spec: NetworkSpec,
    params: ParamsLike,
    cache: Cache,
    delta: Array,
    *,
    recursion: Recursion | None = None,
    gradient: Gradient = layer_grads,
) -> tuple[Params, list[Array]]:
    """The backward loop every grad entry shares, from a given output delta: ``(grads, deltas)`` in layer order.

    By default it is ``bp_manual.network.backward``'s loop (``delta_below`` with
    the spec's ``f'``, then ``layer_grads``); an entry passes its own output
    ``delta``, ``recursion`` or ``gradient`` to make its one mistake, so only the
    mistake is written out in the entry.
    """
    f_prime = HIDDEN[spec.hidden].derivative

    def right(delta: Array, W: Array, below: LayerCache) -> Array:
        return delta_below(delta, W, f_prime(below.Z, below.A))

    step = right if recursion is None else recursion
    grads, deltas = [], []
    for l in range(spec.n_layers, 0, -1):  # layer l is params[l - 1] and cache[l - 1]
        grads.append(gradient(delta, cache[l - 1].A_prev, spec.bias))
        deltas.append(delta)
        if l > 1:
            delta = step(delta, params[l - 1]["W"], cache[l - 2])
    return grads[::-1], deltas[::-1]


# ---------------------------------------------------------------- grad functions


def sign_flipped(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the output error is written ``target - output``: ``delta_L = (Y - Y_hat) / N``.

    Every gradient comes out negated (``Y - Y_hat`` is the error people
    *subtract*, the seed's ``out_error`` the other way round).
    Expected finding: ``sign`` on every parameter, introduced at ``delta_L``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta = (Y_ - cache[-1].A) / Y_.shape[0]  # MISTAKE: should be (Y_hat - Y) / N
    return loss, *backpropagate(spec, params, cache, delta)


def missing_activation_derivative(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the recursion forgets the hidden derivative: ``delta_l = delta_{l+1} @ W_{l+1}``.

    The layers below the output get the gradient of a network whose hidden
    units were linear. Expected finding: ``activation_derivative`` on ``W_l``,
    ``b_l`` for ``l < L`` (the output layer is right), introduced at ``delta_{L-1}``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta = output_delta(cache[-1].A, Y_)

    def recursion(delta: Array, W: Array, below: LayerCache) -> Array:
        return delta @ W  # MISTAKE: "* f'(Z_{l-1})" is missing

    return loss, *backpropagate(spec, params, cache, delta, recursion=recursion)


def sigmoid_derivative_on_Z(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``sigmoid' = a (1 - a)`` is evaluated with ``a = Z`` (the pre-activation) instead of ``A``.

    The formula is right for ``a = sigmoid(Z)``; fed ``Z`` it is another
    function. (For another hidden activation the same slip is made on its
    ``A``-form derivative, e.g. ``1 - Z**2`` for tanh.) Demonstrated with
    sigmoid hidden units. Expected finding: ``activation_derivative`` on the
    hidden layers' parameters, introduced at ``delta_{L-1}``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative

    def recursion(delta: Array, W: Array, below: LayerCache) -> Array:
        return delta_below(delta, W, f_prime(below.Z, below.Z))  # MISTAKE: the A-form fed Z: Z * (1 - Z)

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), recursion=recursion)


def tanh_derivative_at_A(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``tanh'`` is taken at ``A`` instead of ``Z``: ``1 - tanh(A)**2`` with ``A = tanh(Z)``.

    The activation is applied twice. Demonstrated with tanh hidden units (for
    the sigmoid it is ``sigmoid(A) (1 - sigmoid(A))``). Expected finding:
    ``activation_derivative`` on the hidden layers' parameters.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    act = HIDDEN[spec.hidden]

    def recursion(delta: Array, W: Array, below: LayerCache) -> Array:
        return delta_below(delta, W, act.derivative(below.A, act.f(below.A)))  # MISTAKE: f'(A), should be f'(Z)

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), recursion=recursion)


def relu_derivative_one(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``relu'`` is taken to be 1 everywhere ("relu is linear, its slope is 1").

    The units that are off (``Z < 0``) pass gradient they should block.
    Demonstrated with ReLU hidden units. Expected finding:
    ``activation_derivative`` (it equals the chain rule with the derivative dropped).
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)

    def recursion(delta: Array, W: Array, below: LayerCache) -> Array:
        return delta_below(delta, W, np.ones_like(below.Z))  # MISTAKE: relu'(Z) is (Z > 0), not 1

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), recursion=recursion)


def sum_instead_of_mean(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the output delta has no ``1/N``: ``delta_L = Y_hat - Y``, while the loss is a batch mean.

    Every gradient is ``N`` times too large (invisible at ``N = 1``, so it is
    demonstrated with ``N = 5``). Expected finding: ``scale`` with ``c = N``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta: Array = cache[-1].A - Y_  # MISTAKE: should be divided by N = X.shape[0]
    return loss, *backpropagate(spec, params, cache, delta)


def mse_without_half(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the derivative of ``(1/N) sum (Y_hat - Y)**2`` is taken, but the loss is ``1/(2N) ...``.

    The 1/2 that makes the derivative clean is forgotten: ``delta_L = 2 (Y_hat - Y) / N``.
    Demonstrated with ``identity`` + ``mse``. Expected finding: ``scale`` with ``c = 2``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta = 2 * (cache[-1].A - Y_) / Y_.shape[0]  # MISTAKE: the loss has a 1/2; no factor 2
    return loss, *backpropagate(spec, params, cache, delta)


def dW_transposed(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``dW_l = A_{l-1}.T @ delta_l``, shape ``(n_{l-1}, n_l)``: the transpose of ``W_l``'s shape.

    In the column convention (``W`` is ``(n_l, n_{l-1})``, samples as columns)
    it is ``delta @ A.T``; copied into the row convention without swapping the
    factors it gives the transpose. Expected finding: ``transpose`` on every
    ``W_l`` (the biases are right), introduced at ``W_l`` (the deltas are right).
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)

    def gradient(delta: Array, A_prev: Array, bias: bool) -> dict[str, Array]:
        return {**layer_grads(delta, A_prev, bias), "W": A_prev.T @ delta}  # MISTAKE: should be delta.T @ A_prev

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), gradient=gradient)


def W_instead_of_W_T(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the recursion multiplies by the transpose where none belongs: ``delta_{l+1} @ W_{l+1}.T``.

    In the column convention the recursion is ``W_{l+1}.T @ delta_{l+1}``; the
    slip is the other way round (``W`` where ``W.T`` belongs). For non-square
    ``W_{l+1}`` it cannot even run (the auditor reports ``shape``); for square
    ones it runs and is silently wrong, so it is demonstrated on 4-6-6.
    Expected finding: ``mismatch`` on ``W_1``, ``b_1``, introduced at ``delta_1``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    f_prime = HIDDEN[spec.hidden].derivative

    def recursion(delta: Array, W: Array, below: LayerCache) -> Array:
        return (delta @ W.T) * f_prime(below.Z, below.A)  # MISTAKE: W.T, should be W

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), recursion=recursion)


def bias_not_summed(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: ``db_l = delta_l``, one row per sample, instead of ``delta_l.sum(axis=0)``.

    With one sample per update (the seed's setting) the values are right and
    only the shape ``(1, n_l)`` gives it away; demonstrated with ``N = 5``.
    Expected finding: ``shape`` on every ``b_l``, with the note that summing
    over the batch matches.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)

    def gradient(delta: Array, A_prev: Array, bias: bool) -> dict[str, Array]:
        right = layer_grads(delta, A_prev, bias)
        return {**right, "b": delta.copy()} if bias else right  # MISTAKE: should be delta.sum(axis=0)

    return loss, *backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_), gradient=gradient)


def softmax_ce_without_softmax(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: for softmax + cross-entropy, ``delta_L = (Z_L - Y) / N``: the logits instead of ``softmax(Z_L)``.

    "The gradient is prediction minus target", with the prediction taken
    before the softmax. Demonstrated with ``softmax`` + ``cross_entropy``.
    Expected finding: ``mismatch`` everywhere, introduced at ``delta_L``.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta = (cache[-1].Z - Y_) / Y_.shape[0]  # MISTAKE: should be (softmax(Z_L) - Y) / N = (Y_hat - Y) / N
    return loss, *backpropagate(spec, params, cache, delta)


def only_output_layer(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> GradResult:
    """Mistake: the gradient stops at the output layer; the hidden layers' gradients are left at zero.

    As if the error were never propagated (or the buffers never filled).
    Expected finding: ``zero`` on every hidden layer's parameters.
    """
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    delta = output_delta(cache[-1].A, Y_)
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
    Y_, cache, loss = forward_with_loss(spec, params, X, Y)
    grads, deltas = backpropagate(spec, params, cache, output_delta(cache[-1].A, Y_))
    return loss, grads[::-1], deltas  # MISTAKE: grads in the order they were collected, output layer first
