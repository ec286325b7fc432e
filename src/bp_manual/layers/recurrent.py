"""Recurrent layers (a tanh RNN and an LSTM) with backpropagation through time.

What this module is for: the two recurrences of the standard curriculum, over
a whole sequence, returning every hidden state, with the backward pass written
as backpropagation through time (BPTT):

- ``rnn``: ``h_t = tanh(x_t Wx^T + h_{t-1} Wh^T + b)``.
- ``lstm``: ``a_t = x_t Wx^T + h_{t-1} Wh^T + b`` split into the gates
  ``i, f, g, o`` (PyTorch's order), ``c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)``,
  ``h_t = sigmoid(o) * tanh(c_t)``.

The time carry. ``h_t`` reaches the loss twice: through ``dout_t`` (it is an
output) and through ``h_{t+1}`` (it is the next step's input). So the backward
walks the steps from last to first carrying ``dh_next = dL/dh_t`` through the
recurrence, and the gradient arriving at step ``t`` is ``dout_t + dh_next``,
never ``dout_t`` alone. The LSTM carries ``dc_next = dL/dc_t`` the same way,
through ``c_{t+1} = f_{t+1} * c_t + ...``. Only the recurrence runs step by
step; the weights are shared by all steps, so their gradients are sums over
``n`` and ``t``, done once at the end as one product of the stacked
pre-activation gradients ``da (N, T, ·)``.

The nonlinearities and their derivatives are the kernels of
:mod:`bp_manual.activations` (``tanh' = 1 - A**2``, ``sigmoid' = A (1 - A)``,
evaluated at the activation ``A``, not at the pre-activation).

Notation: ``N`` sequences, ``T`` steps, ``D`` input features, ``H`` hidden
units. ``x (N, T, D)``, ``h0, c0 (N, H)``, ``Wx (H, D)`` or ``(4H, D)``,
``Wh (H, H)`` or ``(4H, H)``, ``b (H,)`` or ``(4H,)``, all hidden states
``h (N, T, H)``. The layout is ``torch.nn.RNN``/``torch.nn.LSTM``'s with
``batch_first=True``: ``Wx = weight_ih_l0``, ``Wh = weight_hh_l0``,
``b = bias_ih_l0 + bias_hh_l0`` (PyTorch keeps two biases; only their sum matters).

What it is not for: stacked or bidirectional layers, GRUs, variable-length
sequences (pad and mask ``dout`` instead), or speed (the Python loop over
steps unrolls under ``jax.jit``; the JAX twins in
:mod:`bp_autodiff.witness.layers.recurrent` use ``lax.scan``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from bp_manual.activations import sigmoid, sigmoid_derivative, tanh, tanh_derivative
from bp_manual.layers.checks import check_shape, float_array, same_dtype
from bp_manual.namespace import namespace

Array = Any


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs: the inputs, pre-activations ``a (N, T, H)`` and states ``h (N, T, H)``."""

    x: Array
    h0: Array
    Wx: Array
    Wh: Array
    a: Array
    h: Array


class LSTMCache(NamedTuple):
    """What :func:`lstm_backward` needs, stacked over time (axis 1).

    ``a, gates (N, T, 4H)``: pre-activations and gates ``[i, f, g, o]``;
    ``c, tanh_c, h (N, T, H)``: cell states, ``tanh(c)``, hidden states.
    """

    x: Array
    h0: Array
    c0: Array
    Wx: Array
    Wh: Array
    a: Array
    gates: Array
    c: Array
    tanh_c: Array
    h: Array


def _sequence_and_state(x_in: object, h0_in: object) -> tuple[Array, Array]:
    x = float_array("x", x_in, ndim=3)
    h0 = float_array("h0", h0_in, ndim=2)
    if x.shape[1] == 0:
        raise ValueError(f"x must have at least one time step, got shape {tuple(x.shape)}")
    check_shape("h0", h0, (x.shape[0], h0.shape[1]), "N from x")
    return x, h0


def _weights(x: Array, H: int, gates: int, Wx: object, Wh: object, b: object) -> tuple[Array, Array, Array]:
    D = x.shape[2]
    Wx = float_array("Wx", Wx, ndim=2)
    Wh = float_array("Wh", Wh, ndim=2)
    b = float_array("b", b, ndim=1)
    rows = f"{gates}H" if gates > 1 else "H"
    check_shape("Wx", Wx, (gates * H, D), f"{rows} from h0, D from x")
    check_shape("Wh", Wh, (gates * H, H), f"{rows} from h0")
    check_shape("b", b, (gates * H,), f"{rows} from h0")
    return Wx, Wh, b


def _input_projection(x: Array, Wx: Array, b: Array) -> Array:
    """``x_t Wx^T + b`` for every step at once: ``(N, T, D) -> (N, T, rows of Wx)``."""
    return x @ Wx.T + b


def weight_gradients(da: Array, x: Array, h_prev: Array) -> tuple[Array, Array, Array]:
    """``dWx = sum_{n,t} da^T x``, ``dWh = sum_{n,t} da^T h_{t-1}``, ``db = sum_{n,t} da``.

    The weights are shared by every step, so each gradient is a sum over the
    batch and over time; flattening ``(N, T)`` into one axis makes each a
    single product. ``da (N, T, G)``, ``x (N, T, D)``, ``h_prev (N, T, H)``.
    """
    xp = namespace(da)
    G = da.shape[-1]
    da2 = xp.reshape(da, (-1, G))
    dWx = da2.T @ xp.reshape(x, (-1, x.shape[-1]))
    dWh = da2.T @ xp.reshape(h_prev, (-1, h_prev.shape[-1]))
    return dWx, dWh, da2.sum(axis=0)


def previous_states(h0: Array, h: Array) -> Array:
    """``h_{t-1}`` for every step: ``h0`` then ``h_0 .. h_{T-2}``, ``(N, T, H)``."""
    xp = namespace(h)
    return xp.concat([h0[:, None, :], h[:, :-1, :]], axis=1)


def rnn_forward(x: Array, h0: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, RNNCache]:
    """All hidden states of a tanh RNN: ``h_t = tanh(x_t Wx^T + h_{t-1} Wh^T + b)``.

    Equals ``torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True)`` with
    ``weight_ih_l0 = Wx``, ``weight_hh_l0 = Wh``, ``bias_ih_l0 = b``,
    ``bias_hh_l0 = 0``, called as ``rnn(x, h0[None])[0]``. Source: Elman,
    "Finding structure in time" (1990); CS231n assignment 3 (``rnn_layers.py``,
    there with ``x_t Wx`` for ``Wx (D, H)``; here PyTorch's ``(H, D)``).

    Args:
        x: ``(N, T, D)``, ``T >= 1``.
        h0: ``(N, H)``, the state before the first step.
        Wx: ``(H, D)``, input-to-hidden weights.
        Wh: ``(H, H)``, hidden-to-hidden weights.
        b: ``(H,)``.
        All float32 or all float64 (other real dtypes become float64).

    Returns:
        ``(h, cache)`` with ``h (N, T, H)``, ``h[:, t]`` the state after step ``t``.

    Raises:
        TypeError: an input is not a real array, or they mix float32 and float64.
        ValueError: a shape disagrees with ``x (N, T, D)`` and ``h0 (N, H)``
            (the message names the argument and the expected shape), ``T = 0``,
            or an input holds NaN or inf.
    """
    x, h0 = _sequence_and_state(x, h0)
    Wx, Wh, b = _weights(x, h0.shape[1], 1, Wx, Wh, b)
    same_dtype(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    xp = namespace(x, h0, Wx, Wh, b)
    projected = _input_projection(x, Wx, b)
    h_t, a, h = h0, [], []
    for t in range(x.shape[1]):
        a_t = projected[:, t] + h_t @ Wh.T
        h_t = tanh(a_t)
        a.append(a_t)
        h.append(h_t)
    hs = xp.stack(h, axis=1)
    return hs, RNNCache(x, h0, Wx, Wh, xp.stack(a, axis=1), hs)


def rnn_backward(dout: Array, cache: RNNCache) -> tuple[Array, ...]:
    """Backpropagation through time for :func:`rnn_forward`; ``dout (N, T, H)`` is ``dL/dh``.

    From the last step to the first, with ``dh_next = dL/dh_t`` through later steps (0 after the last)::

        dh_t  = dout_t + dh_next                (the time carry)
        da_t  = dh_t * (1 - h_t**2)             (tanh' at the activation)
        dh_next = da_t Wh                       (now dL/dh_{t-1})

    then, summed over ``n`` and ``t``: ``dx = da Wx``, ``dWx = da^T x``,
    ``dWh = da^T h_{t-1}``, ``db = sum da``; ``dh0`` is the last ``dh_next``.

    Returns:
        ``(dx, dh0, dWx, dWh, db)``, shaped and typed like the inputs.
    """
    x, h0, Wx, Wh, a, h = cache
    xp = namespace(dout, h)
    dh_next = xp.zeros_like(h0)
    da: list[Array] = [None] * x.shape[1]
    for t in reversed(range(x.shape[1])):
        dh = dout[:, t] + dh_next
        da[t] = dh * tanh_derivative(a[:, t], h[:, t])
        dh_next = da[t] @ Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, x, previous_states(h0, h))
    return da_all @ Wx, dh_next, dWx, dWh, db


def lstm_forward(x: Array, h0: Array, c0: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, LSTMCache]:
    """All hidden states of an LSTM with gates in PyTorch's order ``i, f, g, o``.

    ``a_t = x_t Wx^T + h_{t-1} Wh^T + b`` (``4H`` columns), split into four
    blocks of ``H``: ``i = sigmoid(a_i)``, ``f = sigmoid(a_f)``, ``g = tanh(a_g)``,
    ``o = sigmoid(a_o)``; ``c_t = f * c_{t-1} + i * g``; ``h_t = o * tanh(c_t)``.
    Equals ``torch.nn.LSTM(D, H, batch_first=True)`` with ``weight_ih_l0 = Wx``,
    ``weight_hh_l0 = Wh``, ``bias_ih_l0 = b``, ``bias_hh_l0 = 0``, called as
    ``lstm(x, (h0[None], c0[None]))[0]``. Source: Hochreiter and Schmidhuber
    (1997) with the forget gate of Gers et al. (2000); the equations of the
    ``torch.nn.LSTM`` documentation; CS231n assignment 3 (there in the order
    ``i, f, o, g``).

    Args:
        x: ``(N, T, D)``, ``T >= 1``.
        h0, c0: ``(N, H)``, the hidden and cell state before the first step.
        Wx: ``(4H, D)``; Wh: ``(4H, H)``; b: ``(4H,)``, rows in blocks ``i, f, g, o``.
        All float32 or all float64 (other real dtypes become float64).

    Returns:
        ``(h, cache)`` with ``h (N, T, H)`` (the cell states stay in the cache).

    Raises:
        TypeError: an input is not a real array, or they mix float32 and float64.
        ValueError: a shape disagrees with ``x (N, T, D)`` and ``h0 (N, H)``,
            ``T = 0``, or an input holds NaN or inf.
    """
    x, h0 = _sequence_and_state(x, h0)
    H = h0.shape[1]
    c0 = float_array("c0", c0, ndim=2)
    check_shape("c0", c0, h0.shape, "the shape of h0")
    Wx, Wh, b = _weights(x, H, 4, Wx, Wh, b)
    same_dtype(x=x, h0=h0, c0=c0, Wx=Wx, Wh=Wh, b=b)
    xp = namespace(x, h0, c0, Wx, Wh, b)
    projected = _input_projection(x, Wx, b)
    h_t, c_t = h0, c0
    a, gates, c, tanh_c, h = [], [], [], [], []
    for t in range(x.shape[1]):
        a_t = projected[:, t] + h_t @ Wh.T
        i = sigmoid(a_t[:, :H])
        f = sigmoid(a_t[:, H : 2 * H])
        g = tanh(a_t[:, 2 * H : 3 * H])
        o = sigmoid(a_t[:, 3 * H :])
        c_t = f * c_t + i * g
        tanh_c_t = tanh(c_t)
        h_t = o * tanh_c_t
        a.append(a_t)
        gates.append(xp.concat([i, f, g, o], axis=1))
        c.append(c_t)
        tanh_c.append(tanh_c_t)
        h.append(h_t)
    hs = xp.stack(h, axis=1)
    stacked = [xp.stack(seq, axis=1) for seq in (a, gates, c, tanh_c)]
    return hs, LSTMCache(x, h0, c0, Wx, Wh, stacked[0], stacked[1], stacked[2], stacked[3], hs)


def gate_derivatives(a: Array, gates: Array, c_prev: Array, c: Array, tanh_c: Array) -> tuple[Array, Array]:
    """The LSTM backward's factors that need no carry: ``(local (..., 4H), cell (..., H))``.

    For one step (``(N, ·)`` arrays) or every step at once (``(N, T, ·)``): ``a, gates (..., 4H)``
    the pre-activations and the gates ``[i, f, g, o]``, ``c_prev, c, tanh_c (..., H)`` the cell
    states before and after the step and ``tanh(c)``::

        cell  = o * (1 - tanh(c)**2)                                  (dc gains dh * cell)
        local = [g * i (1 - i), c_prev * f (1 - f), i * (1 - g**2), tanh(c) * o (1 - o)]

    so that ``da = [dc, dc, dc, dh] * local`` (:func:`lstm_carry_step`). None of them depends on
    ``dh`` or ``dc``, so :func:`lstm_backward` computes them for all ``T`` steps before its loop.
    """
    xp = namespace(a, gates)
    H = c.shape[-1]
    i, f, g, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
    a_i, a_f, a_g, a_o = (a[..., k * H : (k + 1) * H] for k in range(4))
    cell = o * tanh_derivative(c, tanh_c)
    local = xp.concat(
        [
            g * sigmoid_derivative(a_i, i),
            c_prev * sigmoid_derivative(a_f, f),
            i * tanh_derivative(a_g, g),
            tanh_c * sigmoid_derivative(a_o, o),
        ],
        axis=-1,
    )
    return local, cell


def lstm_carry_step(dh: Array, dc_next: Array, local_t: Array, cell_t: Array, f_t: Array) -> tuple[Array, Array]:
    """The carried part of one LSTM backward step: ``(da_t (N, 4H), dc_prev (N, H))``.

    ``dh = dL/dh_t`` (the time carry included), ``dc_next = dL/dc_t`` through the later steps,
    ``local_t, cell_t`` from :func:`gate_derivatives`, ``f_t`` the forget gate::

        dc = dc_next + dh * o * (1 - tanh(c_t)**2)      (c_t reaches the loss through h_t too)
        da_t = [dc, dc, dc, dh] * local_t               (blocks i, f, g, o)
        dc_prev = dc * f
    """
    xp = namespace(dh, local_t)
    dc = dc_next + dh * cell_t
    da_t = xp.concat([dc, dc, dc, dh], axis=1) * local_t
    return da_t, dc * f_t


def lstm_step_backward(
    dh: Array, dc_next: Array, a_t: Array, gates_t: Array, c_prev_t: Array, c_t: Array, tanh_c_t: Array
) -> tuple[Array, Array]:
    """One step of the LSTM backward: ``(da_t (N, 4H), dc_prev (N, H))`` from ``dh = dL/dh_t`` and ``dc_next``.

    ``dc_next`` is ``dL/dc_t`` through the later steps; ``a_t, gates_t (N, 4H)``
    are the pre-activations and the gates ``[i, f, g, o]`` of step ``t``,
    ``c_prev_t, c_t, tanh_c_t (N, H)`` its cell states and ``tanh(c_t)``::

        dc = dc_next + dh * o * (1 - tanh(c_t)**2)      (c_t reaches the loss through h_t too)
        da_t = [dc * g * i (1 - i), dc * c_prev * f (1 - f), dc * i * (1 - g**2), dh * tanh(c_t) * o (1 - o)]
        dc_prev = dc * f

    :func:`gate_derivatives` of the step, then :func:`lstm_carry_step`.
    """
    H = dh.shape[1]
    local, cell = gate_derivatives(a_t, gates_t, c_prev_t, c_t, tanh_c_t)
    return lstm_carry_step(dh, dc_next, local, cell, gates_t[:, H : 2 * H])


def lstm_backward(dout: Array, cache: LSTMCache) -> tuple[Array, ...]:
    """Backpropagation through time for :func:`lstm_forward`; ``dout (N, T, H)`` is ``dL/dh``.

    The factors that need no carry (:func:`gate_derivatives`) for every step at once; then
    from the last step to the first, carrying ``dh_next = dL/dh_t`` and
    ``dc_next = dL/dc_t`` through later steps (both 0 after the last)::

        dh_t = dout_t + dh_next                            (the time carry of h)
        da_t, dc_next = lstm_carry_step(dh_t, dc_next, ...)   (the time carry of c)
        dh_next = da_t Wh                                  (now dL/dh_{t-1})

    then, summed over ``n`` and ``t``: ``dx = da Wx``, ``dWx = da^T x``,
    ``dWh = da^T h_{t-1}``, ``db = sum da``; ``dh0, dc0`` are the last carries.

    Returns:
        ``(dx, dh0, dc0, dWx, dWh, db)``, shaped and typed like the inputs.
    """
    xp = namespace(dout, cache.h)
    H = cache.h0.shape[1]
    c_prev = previous_states(cache.c0, cache.c)
    local, cell = gate_derivatives(cache.a, cache.gates, c_prev, cache.c, cache.tanh_c)  # (N, T, 4H), (N, T, H)
    forget = cache.gates[:, :, H : 2 * H]
    dh_next, dc_next = xp.zeros_like(cache.h0), xp.zeros_like(cache.c0)
    da: list[Array] = [None] * cache.x.shape[1]
    for t in reversed(range(cache.x.shape[1])):
        dh = dout[:, t] + dh_next
        da[t], dc_next = lstm_carry_step(dh, dc_next, local[:, t], cell[:, t], forget[:, t])
        dh_next = da[t] @ cache.Wh
    da_all = xp.stack(da, axis=1)
    dWx, dWh, db = weight_gradients(da_all, cache.x, previous_states(cache.h0, cache.h))
    return da_all @ cache.Wx, dh_next, dc_next, dWx, dWh, db


# --- the chain's form: one input x, then the parameters, from a zero state --------------------


def zero_state(x: Array, Wh: Array) -> Array:
    """``(N, H)`` zeros in ``x``'s namespace and dtype: ``N`` from ``x (N, T, D)``, ``H`` from ``Wh``'s last axis."""
    x = float_array("x", x, ndim=3)
    Wh = float_array("Wh", Wh, ndim=2)
    return namespace(x).zeros((x.shape[0], Wh.shape[1]), dtype=x.dtype)


def rnn_zero_state_forward(x: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, RNNCache]:
    """:func:`rnn_forward` from ``h0 = 0`` (as ``torch.nn.RNN`` without ``h0``): the layer ``rnn`` of a
    :class:`bp_manual.layers.Sequential`, whose steps take one input and their parameters. Returns
    every hidden state ``(N, T, H)``; arguments and errors as :func:`rnn_forward`."""
    return rnn_forward(x, zero_state(x, Wh), Wx, Wh, b)


def rnn_zero_state_backward(dout: Array, cache: RNNCache) -> tuple[Array, ...]:
    """``(dx, dWx, dWh, db)``: :func:`rnn_backward` without ``dh0`` (the zero state is no input)."""
    dx, _, dWx, dWh, db = rnn_backward(dout, cache)
    return dx, dWx, dWh, db


def lstm_zero_state_forward(x: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, LSTMCache]:
    """:func:`lstm_forward` from ``h0 = c0 = 0``: the layer ``lstm`` of a :class:`bp_manual.layers.Sequential`.
    Returns every hidden state ``(N, T, H)``; arguments and errors as :func:`lstm_forward`."""
    zeros = zero_state(x, Wh)
    return lstm_forward(x, zeros, zeros, Wx, Wh, b)


def lstm_zero_state_backward(dout: Array, cache: LSTMCache) -> tuple[Array, ...]:
    """``(dx, dWx, dWh, db)``: :func:`lstm_backward` without ``dh0`` and ``dc0``."""
    dx, _, _, dWx, dWh, db = lstm_backward(dout, cache)
    return dx, dWx, dWh, db
