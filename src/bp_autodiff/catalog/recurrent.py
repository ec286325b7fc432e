"""Classic wrong backward passes of ``rnn`` and ``lstm`` (backpropagation through time).

What this module is for: the mistakes people make writing BPTT by hand
(:mod:`bp_manual.layers.recurrent`), each a readable backward
``(dout, cache) -> tuple`` with its mistake marked ``# MISTAKE``, registered in
:data:`MISTAKES` for teaching, for the auditor's diagnosis and for the test that
the layers' property tests catch every one of them. They use the correct
layers' caches and kernels (``weight_gradients``, ``previous_states``,
``lstm_step_backward``), so only the mistake is written out.

Every mistake here hides at ``T = 1`` except the derivative and transposition
ones: with one step there is nothing to carry and nothing to accumulate. A
check on a single time step cannot see them.

What it is not for: correct code (:mod:`bp_manual.layers.recurrent`).
"""

from __future__ import annotations

from typing import Any

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual.activations import sigmoid_derivative, tanh_derivative
from bp_manual.layers.recurrent import (
    LSTMCache,
    RNNCache,
    lstm_step_backward,
    previous_states,
    rnn_backward,
    weight_gradients,
)
from bp_manual.namespace import namespace


def rnn_no_time_carry(dout: Any, cache: RNNCache) -> tuple[Any, ...]:
    """Mistake: each step gets only its own ``dout_t``; ``dL/dh_t`` through ``h_{t+1}`` is never added.

    ``h_t`` is both an output and the next step's input; the gradient through
    the second path (``dh_next = da_{t+1} Wh``) is computed and then dropped.
    Every gradient is wrong except at the last step.
    """
    x, h0, Wx, Wh, a, h = cache
    xp = namespace(dout, h)
    dh_next = xp.zeros_like(h0)
    da: list[Any] = [None] * x.shape[1]
    for t in reversed(range(x.shape[1])):
        dh = dout[:, t]  # MISTAKE: should be dout[:, t] + dh_next
        da[t] = dh * tanh_derivative(a[:, t], h[:, t])
        dh_next = da[t] @ Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, x, previous_states(h0, h))
    return da_all @ Wx, dh_next, dWx, dWh, db


def rnn_tanh_derivative_at_preactivation(dout: Any, cache: RNNCache) -> tuple[Any, ...]:
    """Mistake: ``tanh' = 1 - a**2`` with ``a`` the pre-activation, not ``1 - h**2`` with ``h = tanh(a)``.

    The A-form of the derivative fed the wrong letter (the same slip as the
    network catalog's ``tanh_derivative_at_A`` the other way round).
    """
    x, h0, Wx, Wh, a, h = cache
    xp = namespace(dout, h)
    dh_next = xp.zeros_like(h0)
    da: list[Any] = [None] * x.shape[1]
    for t in reversed(range(x.shape[1])):
        dh = dout[:, t] + dh_next
        da[t] = dh * (1.0 - a[:, t] ** 2)  # MISTAKE: should be 1 - h_t**2 (tanh_derivative(a_t, h_t))
        dh_next = da[t] @ Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, x, previous_states(h0, h))
    return da_all @ Wx, dh_next, dWx, dWh, db


def rnn_weight_gradients_written_not_added(dout: Any, cache: RNNCache) -> tuple[Any, ...]:
    """Mistake: ``dWx = ...`` instead of ``dWx += ...`` in the loop over time; only step 0 is kept.

    The weights are shared by every step, so their gradient is a sum over
    steps; writing it inside the loop keeps the last step visited (``t = 0``).
    Expected finding: ``lost_accumulation`` on ``Wx``, ``Wh``, ``b``.
    """
    x, h0, Wx, Wh, a, h = cache
    xp = namespace(dout, h)
    h_prev = previous_states(h0, h)
    dh_next = xp.zeros_like(h0)
    da: list[Any] = [None] * x.shape[1]
    for t in reversed(range(x.shape[1])):
        dh = dout[:, t] + dh_next
        da[t] = dh * tanh_derivative(a[:, t], h[:, t])
        dh_next = da[t] @ Wh
        dWx = da[t].T @ x[:, t]  # MISTAKE: should be dWx += (and dWh, db below)
        dWh = da[t].T @ h_prev[:, t]
        db = da[t].sum(axis=0)
    return xp.stack(da, axis=1) @ Wx, dh_next, dWx, dWh, db


def rnn_dWh_transposed(dout: Any, cache: RNNCache) -> tuple[Any, ...]:
    """Mistake: ``dWh = h_prev^T da`` instead of ``da^T h_prev``; ``Wh`` is square, so the shape does not catch it.

    ``a_t = ... + h_{t-1} Wh^T`` in PyTorch's layout, so ``dWh_ij = sum da_i h_j``;
    the transposed product is what the ``h_{t-1} Wh`` layout (CS231n's) needs.
    Expected finding: ``transpose`` on ``Wh``.
    """
    dx, dh0, dWx, dWh, db = rnn_backward(dout, cache)
    return dx, dh0, dWx, dWh.T, db  # MISTAKE: dWh is da^T h_prev, not its transpose


def lstm_no_time_carry(dout: Any, cache: LSTMCache) -> tuple[Any, ...]:
    """Mistake: the gradient reaching ``h_t`` is ``dout_t`` alone; ``dh_next = da_{t+1} Wh`` is dropped.

    The LSTM form of ``rnn_no_time_carry``: the cell carry ``dc`` is kept, the
    hidden one lost.
    """
    xp = namespace(dout, cache.h)
    c_prev = previous_states(cache.c0, cache.c)
    dh_next, dc_next = xp.zeros_like(cache.h0), xp.zeros_like(cache.c0)
    da: list[Any] = [None] * cache.x.shape[1]
    for t in reversed(range(cache.x.shape[1])):
        dh = dout[:, t]  # MISTAKE: should be dout[:, t] + dh_next
        da[t], dc_next = lstm_step_backward(
            dh, dc_next, cache.a[:, t], cache.gates[:, t], c_prev[:, t], cache.c[:, t], cache.tanh_c[:, t]
        )
        dh_next = da[t] @ cache.Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, cache.x, previous_states(cache.h0, cache.h))
    return da_all @ cache.Wx, dh_next, dc_next, dWx, dWh, db


def lstm_no_cell_carry(dout: Any, cache: LSTMCache) -> tuple[Any, ...]:
    """Mistake: ``dc_t = dh_t * o * tanh'(c_t)`` only; ``dL/dc_t`` through ``c_{t+1} = f c_t + ...`` is dropped.

    The cell state is not an output, so it is easy to forget that it is carried:
    the path that makes the LSTM remember (``dc_{t-1} = dc_t * f``) is lost.
    """
    xp = namespace(dout, cache.h)
    c_prev = previous_states(cache.c0, cache.c)
    dh_next = xp.zeros_like(cache.h0)
    da: list[Any] = [None] * cache.x.shape[1]
    for t in reversed(range(cache.x.shape[1])):
        dh = dout[:, t] + dh_next
        no_carry = xp.zeros_like(cache.c0)  # MISTAKE: should be the dc_next returned by the step after this one
        da[t], dc0 = lstm_step_backward(
            dh, no_carry, cache.a[:, t], cache.gates[:, t], c_prev[:, t], cache.c[:, t], cache.tanh_c[:, t]
        )
        dh_next = da[t] @ cache.Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, cache.x, previous_states(cache.h0, cache.h))
    return da_all @ cache.Wx, dh_next, dc0, dWx, dWh, db


def lstm_gates_read_as_ifog(dout: Any, cache: LSTMCache) -> tuple[Any, ...]:
    """Mistake: the backward reads the gates in CS231n's order ``i, f, o, g``; the forward is PyTorch's ``i, f, g, o``.

    The derivation is right for the other layout: ported into a ``torch.nn.LSTM``
    layout, the output and cell-input gates trade places (and derivatives).
    """
    xp = namespace(dout, cache.h)
    H = cache.h0.shape[1]
    c_prev = previous_states(cache.c0, cache.c)
    dh_next, dc_next = xp.zeros_like(cache.h0), xp.zeros_like(cache.c0)
    da: list[Any] = [None] * cache.x.shape[1]
    for t in reversed(range(cache.x.shape[1])):
        i, f, o, g = (cache.gates[:, t, k * H : (k + 1) * H] for k in range(4))  # MISTAKE: blocks are i, f, g, o
        a_i, a_f, a_o, a_g = (cache.a[:, t, k * H : (k + 1) * H] for k in range(4))  # MISTAKE: likewise
        dh = dout[:, t] + dh_next
        dc = dc_next + dh * o * tanh_derivative(cache.c[:, t], cache.tanh_c[:, t])
        da_i = dc * g * sigmoid_derivative(a_i, i)
        da_f = dc * c_prev[:, t] * sigmoid_derivative(a_f, f)
        da_o = dh * cache.tanh_c[:, t] * sigmoid_derivative(a_o, o)
        da_g = dc * i * tanh_derivative(a_g, g)
        da[t] = xp.concat([da_i, da_f, da_o, da_g], axis=1)
        dh_next = da[t] @ cache.Wh
        dc_next = dc * f
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, cache.x, previous_states(cache.h0, cache.h))
    return da_all @ cache.Wx, dh_next, dc_next, dWx, dWh, db


def lstm_tanh_derivative_at_preactivation(dout: Any, cache: LSTMCache) -> tuple[Any, ...]:
    """Mistake: ``d tanh(c_t)/dc_t`` written ``1 - c_t**2`` instead of ``1 - tanh(c_t)**2``.

    ``h_t = o * tanh(c_t)`` is the one place where the LSTM applies tanh to a
    state it also keeps; the A-form derivative gets the state, not its tanh.
    """
    xp = namespace(dout, cache.h)
    H = cache.h0.shape[1]
    c_prev = previous_states(cache.c0, cache.c)
    dh_next, dc_next = xp.zeros_like(cache.h0), xp.zeros_like(cache.c0)
    da: list[Any] = [None] * cache.x.shape[1]
    for t in reversed(range(cache.x.shape[1])):
        i, f, g, o = (cache.gates[:, t, k * H : (k + 1) * H] for k in range(4))
        a_i, a_f, a_g, a_o = (cache.a[:, t, k * H : (k + 1) * H] for k in range(4))
        c_t, tanh_c = cache.c[:, t], cache.tanh_c[:, t]
        dh = dout[:, t] + dh_next
        dc = dc_next + dh * o * (1.0 - c_t**2)  # MISTAKE: should be 1 - tanh(c_t)**2
        da[t] = xp.concat(
            [
                dc * g * sigmoid_derivative(a_i, i),
                dc * c_prev[:, t] * sigmoid_derivative(a_f, f),
                dc * i * tanh_derivative(a_g, g),
                dh * tanh_c * sigmoid_derivative(a_o, o),
            ],
            axis=1,
        )
        dh_next = da[t] @ cache.Wh
        dc_next = dc * f
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, cache.x, previous_states(cache.h0, cache.h))
    return da_all @ cache.Wx, dh_next, dc_next, dWx, dWh, db


#: The classic mistakes of BPTT, by name. All but the derivative and
#: transposition ones hide at ``T = 1``; every one shows at ``T >= 2``.
_ALL_RNN = ("x", "h0", "Wx", "Wh", "b")
_ALL_LSTM = ("x", "h0", "c0", "Wx", "Wh", "b")
MISTAKES: dict[str, LayerMistake] = {
    "rnn_no_time_carry": LayerMistake("rnn", rnn_no_time_carry, "layer_mistake", _ALL_RNN),
    "rnn_tanh_derivative_at_preactivation": LayerMistake(
        "rnn", rnn_tanh_derivative_at_preactivation, "layer_mistake", _ALL_RNN
    ),
    "rnn_weight_gradients_written_not_added": LayerMistake(
        "rnn", rnn_weight_gradients_written_not_added, "lost_accumulation", ("Wx", "Wh", "b")
    ),
    "rnn_dWh_transposed": LayerMistake("rnn", rnn_dWh_transposed, "transpose", ("Wh",)),
    "lstm_no_time_carry": LayerMistake("lstm", lstm_no_time_carry, "layer_mistake", _ALL_LSTM),
    "lstm_no_cell_carry": LayerMistake("lstm", lstm_no_cell_carry, "layer_mistake", _ALL_LSTM),
    "lstm_gates_read_as_ifog": LayerMistake("lstm", lstm_gates_read_as_ifog, "layer_mistake", _ALL_LSTM),
    "lstm_tanh_derivative_at_preactivation": LayerMistake(
        "lstm", lstm_tanh_derivative_at_preactivation, "layer_mistake", _ALL_LSTM
    ),
}
