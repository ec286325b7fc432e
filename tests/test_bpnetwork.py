"""The seed's ``BPNetwork``: its API kept, its bugs fixed, and the fixes shown.

``PublishedBPNetwork`` is the post's code verbatim (only the random source
made explicit), so every claim about the seed is checked by running it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import bp_manual
from bp_manual import BPNetwork
from bp_manual.seed_published import PublishedBPNetwork


def half_sse(net: BPNetwork | PublishedBPNetwork, x: np.ndarray, y: np.ndarray) -> float:
    """``0.5 ||out - y||**2``, computed here from the weights (not by either class)."""
    hidden = 1 / (1 + np.exp(-(net.w_in2hid @ x)))
    return 0.5 * float(np.sum((net.w_hid2out @ hidden - y) ** 2))


def twins(sizes: tuple[int, int, int], lr: float, seed: int) -> tuple[BPNetwork, PublishedBPNetwork]:
    net = BPNetwork(*sizes, lr, seed=seed)
    published = PublishedBPNetwork(*sizes, lr)
    published.w_in2hid = net.w_in2hid.copy()
    published.w_hid2out = net.w_hid2out.copy()
    return net, published


def test_corrected_train_descends_where_the_published_one_climbs() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, 6), rng.normal(0, 1, 3)
    net, published = twins((6, 4, 3), 0.1, seed=0)
    ours, theirs = [half_sse(net, x, y)], [half_sse(published, x, y)]
    for _ in range(5):
        net.train(x, y)
        published.train(x, y)
        ours.append(half_sse(net, x, y))
        theirs.append(half_sse(published, x, y))
    assert ours[0] == theirs[0]
    assert all(b < a for a, b in itertools.pairwise(ours)), ours
    assert all(b > a for a, b in itertools.pairwise(theirs)), theirs


@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 8), n_hid=st.integers(1, 8), n_out=st.integers(1, 8))
def test_one_small_step_lowers_the_loss_and_the_published_step_raises_it(
    seed: int, n_in: int, n_hid: int, n_out: int
) -> None:
    """First order: ``L(w - lr g) = L - lr |g|**2 + O(lr**2)``, so a small enough
    step down lowers the loss and the seed's step up raises it. With ``lr =
    1e-4 / (1 + |g|**2)`` the second-order term is far below the first."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 1, n_in), rng.normal(0, 1, n_out)
    probe = BPNetwork(n_in, n_hid, n_out, 1.0, seed=seed)
    _, grads = probe.mlp.loss_and_grads(x, y)
    g2 = sum(float(np.sum(layer["W"] ** 2)) for layer in grads)
    assume(g2 > 1e-8)
    lr = 1e-4 / (1 + g2)
    net, published = twins((n_in, n_hid, n_out), lr, seed=seed)
    before = half_sse(net, x, y)
    net.train(x, y)
    published.train(x, y)
    assert half_sse(net, x, y) < before < half_sse(published, x, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bpnetwork_equals_mlp_at_batch_one(dtype: type) -> None:
    rng = np.random.default_rng(1)
    net = BPNetwork(5, 4, 3, 0.05, seed=9, dtype=dtype)
    mlp = bp_manual.MLP(
        (5, 4, 3), hidden="sigmoid", output="identity", loss="mse", bias=False, init="seed", seed=9, dtype=dtype
    )
    for _ in range(3):
        x, y = rng.normal(size=5), rng.normal(size=3)
        loss_net = net.train(list(x), list(y))  # plain lists, as in the seed
        loss_mlp = mlp.step(x, y, 0.05)
        assert loss_net == float(loss_mlp)
        np.testing.assert_array_equal(net.w_in2hid, mlp.params[0]["W"])
        np.testing.assert_array_equal(net.w_hid2out, mlp.params[1]["W"])
        assert net.w_in2hid.dtype == np.dtype(dtype)


def test_run_works_for_784_32_64_and_the_published_run_does_not() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 784)
    net = BPNetwork(784, 32, 64, 0.01, seed=0)
    out = net.run(x)
    assert out.shape == (64, 1)
    expected = net.w_hid2out @ (1 / (1 + np.exp(-(net.w_in2hid @ x[:, None]))))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert net.run(list(x)).shape == (64, 1)
    assert net.run(np.stack([x, x])).shape == (64, 2)
    published = PublishedBPNetwork(784, 32, 64, 0.01, seed=0)
    with pytest.raises(ValueError, match="not aligned"):
        published.run(x)


def test_seed_api_names_shapes_and_live_weights() -> None:
    net = BPNetwork(784, 32, 64, 0.01, seed=0)
    assert (net.input_nodes, net.hidden_nodes, net.output_nodes) == (784, 32, 64)
    assert net.learning_rate == net.lr == 0.01
    assert net.w_in2hid.shape == (32, 784) and net.w_hid2out.shape == (64, 32)
    # the seed's init, exactly: N(0, hidden_nodes**-0.5) and N(0, output_nodes**-0.5)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(net.w_in2hid, rng.normal(0.0, 32**-0.5, (32, 784)))
    np.testing.assert_array_equal(net.w_hid2out, rng.normal(0.0, 64**-0.5, (64, 32)))
    x, y = np.full(784, 0.5), np.zeros(64)
    net.train(x, y)
    assert net.w_in2hid is net.mlp.params[0]["W"]  # live, not a copy that drifts
    mine = np.zeros((64, 32))
    net.w_hid2out = mine
    assert net.w_hid2out is not mine and np.array_equal(net.w_hid2out, mine)
    np.testing.assert_array_equal(net.run(x), np.zeros((64, 1)))


def test_bad_inputs_are_refused_and_change_nothing() -> None:
    net = BPNetwork(4, 3, 2, 0.1, seed=0)
    before = [layer["W"].copy() for layer in net.mlp.params]
    with pytest.raises(ValueError, match="inputs_org has 3 features, spec expects n_in = 4"):
        net.train([1, 2, 3], [0, 0])
    with pytest.raises(ValueError, match="groundtruth_org has 3 values in 1-D; expected n_out = 2"):
        net.train([1, 2, 3, 4], [0, 0, 0])
    with pytest.raises(ValueError, match="w_in2hid must have shape"):
        net.w_in2hid = np.zeros((4, 3))
    with pytest.raises(ValueError, match="learning_rate must be finite and > 0"):
        BPNetwork(4, 3, 2, 0.0)
    for a, b in zip(before, net.mlp.params, strict=True):
        np.testing.assert_array_equal(a, b["W"])
