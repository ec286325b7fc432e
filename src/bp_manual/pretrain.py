"""Greedy layerwise auto-encoder pre-training (the seed's section (1)), then fine-tuning.

What this module is for: :func:`pretrain_layerwise`. For each hidden layer
``l = 1..L-1`` in turn, the layer is trained as the encoder of an auto-encoder
on the codes of the layer below (``A_{l-1}``; ``A_0 = X``)::

    A_{l-1} --(W_l, b_l, f)--> H --(V, c, identity)--> reconstruction of A_{l-1}

with the loss ``mse`` (``1/(2N) ||reconstruction - A_{l-1}||^2``). The
auto-encoder is an ordinary network, ``NetworkSpec((n_{l-1}, n_l, n_{l-1}),
hidden=f, output="identity", loss="mse")``, trained by :func:`bp_manual.train.fit`:
the gradients are those of :mod:`bp_manual.network`, the code the tests hold
to JAX, and no new gradient code is written here (the decoder ``V, c`` is
separate from the encoder: no tied weights). After pre-training, the encoders
replace ``W_l, b_l``; the output layer keeps its initial weights; fine-tune the
whole network with :func:`bp_manual.train.fit` as usual.

What it is not for: denoising or sparse auto-encoders, tied weights, or
fine-tuning itself.
"""

from __future__ import annotations

import numpy as np

from bp_manual import network, train
from bp_manual.initializers import Initializer, Params, ParamsLike, as_generator, init_params
from bp_manual.optim import Optimizer
from bp_manual.spec import NetworkSpec
from bp_manual.validation import as_inputs, check_params, check_spec


def autoencoder_spec(spec: NetworkSpec, layer: int) -> NetworkSpec:
    """The auto-encoder of hidden layer ``layer`` (1-based): ``(n_{l-1}, n_l, n_{l-1})``, f, identity, mse."""
    n_prev, n_l = spec.sizes[layer - 1], spec.sizes[layer]
    return NetworkSpec((n_prev, n_l, n_prev), hidden=spec.hidden, output="identity", loss="mse", bias=spec.bias)


def pretrain_layerwise(
    spec: NetworkSpec,
    params: ParamsLike,
    X: object,
    *,
    epochs: int,
    batch_size: int = 32,
    optimizer: Optimizer | None = None,
    decoder_init: str | Initializer = "xavier_normal",
    seed: int | np.random.Generator | None = None,
) -> tuple[Params, list[train.History]]:
    """Pre-train every hidden layer of ``spec`` as an auto-encoder, bottom up.

    Args:
        spec: the network to pre-train (at least one hidden layer).
        params: its starting params ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``;
            not modified. Each encoder starts from ``W_l, b_l``.
        X: inputs ``(N, n_in)``; no targets are needed.
        epochs: epochs per auto-encoder.
        batch_size: minibatch size.
        optimizer: the update rule (default plain SGD at ``lr`` 0.1); each
            auto-encoder starts with a fresh optimiser state.
        decoder_init: init scheme of each decoder ``V (n_{l-1}, n_l)``.
        seed: one Generator draws the decoders' weights and the shuffles.

    Returns:
        ``(new_params, histories)``: params with pre-trained hidden layers
        (the output layer unchanged, the dtype kept) and one
        :class:`bp_manual.train.History` of reconstruction loss per hidden layer.
    """
    check_spec(spec)
    dtype = check_params(spec, params)
    if spec.n_layers < 2:
        raise ValueError(f"spec {spec.sizes} has no hidden layer to pre-train")
    A = as_inputs(spec, X, dtype)
    rng = as_generator(seed)
    new: Params = [dict(layer) for layer in params]
    histories: list[train.History] = []
    for l in range(1, spec.n_layers):  # hidden layers 1..L-1
        ae = autoencoder_spec(spec, l)
        decoder = init_params(NetworkSpec(ae.sizes[1:], output="identity", bias=spec.bias), decoder_init, rng, dtype)
        ae_params, history = train.fit(
            ae, [new[l - 1], decoder[0]], A, A, epochs=epochs, batch_size=batch_size, optimizer=optimizer, seed=rng
        )
        histories.append(history)
        new[l - 1] = ae_params[0]
        _, cache = network.forward(ae, ae_params, A)
        A = cache[0].A  # the codes A_l = f(Z_l) feed the next auto-encoder
    return new, histories
