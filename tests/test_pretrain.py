"""Layerwise auto-encoder pre-training: built from the verified network, and doing what it says."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bp_autodiff
import bp_manual
from bp_manual import optim
from bp_manual.activations import HIDDEN
from bp_manual.pretrain import autoencoder_spec, pretrain_layerwise
from strategies import HIDDEN_NAMES, examples
from tolerances import FLOAT64_RTOL, close, record


@settings(max_examples=examples(0.05))  # a JAX compile per new shape
@given(
    hidden=st.sampled_from(HIDDEN_NAMES),
    sizes=st.lists(st.integers(1, 8), min_size=3, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_autoencoder_gradients_equal_jax(hidden: str, sizes: list[int], seed: int) -> None:
    """The auto-encoders are ordinary networks: their hand gradients match JAX's (float64, rtol 1e-9,
    the bar derived in tests/tolerances.py)."""
    spec = bp_manual.NetworkSpec((*sizes[:-1], 3), hidden=hidden)
    rng = np.random.default_rng(seed)
    for layer in range(1, spec.n_layers):
        ae = autoencoder_spec(spec, layer)
        params = bp_manual.init_params(ae, "xavier_normal", seed=rng)
        A = rng.normal(size=(5, ae.n_in))
        loss_m, grads_m = bp_manual.loss_and_grads(ae, params, A, A)
        loss_j, grads_j = bp_autodiff.loss_and_grads(ae, params, A, A)
        assert close(np.asarray(loss_m), np.asarray(loss_j), FLOAT64_RTOL)[0]
        for gm, gj in zip(grads_m, grads_j, strict=True):
            for key in gj:
                ok, rel, fraction = close(gm[key], gj[key], FLOAT64_RTOL)
                record("autoencoder grads vs JAX", rel, fraction, f"{ae.sizes} {hidden}")
                assert ok


def _problem():
    rng = np.random.default_rng(0)
    spec = bp_manual.NetworkSpec((6, 5, 4, 3), hidden="sigmoid", output="softmax", loss="cross_entropy")
    params = bp_manual.init_params(spec, "xavier_normal", seed=1)
    X = rng.normal(size=(40, 6))
    return spec, params, X


def test_pretraining_is_the_composition_it_claims() -> None:
    """Written out by hand with train.fit: encoder from params, codes of the layer below, same generator."""
    spec, params, X = _problem()
    saved = copy.deepcopy(params)
    opt = optim.momentum(0.1)
    new, histories = pretrain_layerwise(spec, params, X, epochs=5, batch_size=8, optimizer=opt, seed=7)

    rng = np.random.default_rng(7)
    A, expected = X, [dict(p) for p in params]
    for l in (1, 2):
        ae = autoencoder_spec(spec, l)
        dec = bp_manual.init_params(bp_manual.NetworkSpec(ae.sizes[1:]), "xavier_normal", rng)
        ae_params, _ = bp_manual.fit(
            ae, [expected[l - 1], dec[0]], A, A, epochs=5, batch_size=8, optimizer=opt, seed=rng
        )
        expected[l - 1] = ae_params[0]
        A = HIDDEN["sigmoid"].f(A @ ae_params[0]["W"].T + ae_params[0]["b"])  # the codes, A_l = f(Z_l)
    for a, b in zip(new, expected, strict=True):
        for key in a:
            assert a[key].tobytes() == b[key].tobytes()
    assert new[2]["W"] is params[2]["W"]  # the output layer is left as it was
    for a, b in zip(params, saved, strict=True):  # inputs untouched
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert len(histories) == 2


def test_reconstruction_loss_goes_down_and_dtype_is_kept() -> None:
    spec, params, X = _problem()
    p32 = [{k: v.astype(np.float32) for k, v in layer.items()} for layer in params]
    new, histories = pretrain_layerwise(spec, p32, X, epochs=30, batch_size=8, optimizer=optim.adam(0.01), seed=0)
    for h in histories:
        assert h.loss[-1] < 0.5 * h.loss[0]
    assert all(v.dtype == np.float32 for layer in new for v in layer.values())


def test_pretraining_needs_a_hidden_layer() -> None:
    spec = bp_manual.NetworkSpec((3, 2))
    with pytest.raises(ValueError, match=r"has no hidden layer to pre-train"):
        pretrain_layerwise(spec, bp_manual.init_params(spec, seed=0), np.ones((2, 3)), epochs=1)
