"""The witness on shapes padded to a few buckets: few compiles for many random shapes.

What this module is for: property tests draw hundreds of random networks, and
:func:`bp_autodiff.loss_grads_and_deltas` compiles one XLA executable per new
``(spec, shapes, dtype)`` (about 0.15 s each: about 6 examples per second).
:func:`loss_grads_and_deltas` here gives the same numbers (the same
:mod:`bp_autodiff.witness.network` equations, differentiated by ``jax.value_and_grad``)
from one executable per ``(dtype, bucket)``; all the networks the property
tests draw share two executables (float32 and float64):

- every width is padded to one size (:func:`bucket`: the next power of two
  of the widest layer, at least :data:`WIDTH_FLOOR`) and the batch likewise
  (at least :data:`BATCH_FLOOR`), with zeros;
- the depth is padded to at least :data:`DEPTH_FLOOR` weight layers by
  *identity layers* in front of the first real one: ``W = I``, ``b = 0`` and
  the identity activation, which pass ``X`` forward and the delta backward
  unchanged, exactly (``x * 1`` plus exact zeros);
- the hidden activation of each layer and the loss are chosen at run time
  (``lax.switch`` over ``HIDDEN`` and over the three losses of
  ``loss_from_logits``), and a network without biases gets zero
  biases whose gradients are dropped.

Why the width and batch padding cannot change a real gradient
(``tests/test_bucketed.py`` checks each point, and that the result equals the
unpadded witness):

- every padded entry of every ``W`` is zero. A padded unit's outgoing
  weights (its column of the next ``W``) are zero, so whatever its activation
  (``f(0)``, or anything else) it adds exact zeros to every real ``Z``; its
  incoming weights (its row of ``W``) are zero, so in the recursion
  ``delta_l = (delta_{l+1} @ W_{l+1}) * f'(Z_l)`` it adds exact zeros to every
  real delta. A padded input column of ``X`` meets zero columns of ``W_1``;
- the loss sums only real rows and real columns (``loss_from_logits``
  with masks), divides by the number of real rows, and its softmax runs over
  real columns only, so a padded sample or output has zero delta and adds
  exact zeros to ``dW`` and ``db``;
- adding exact zeros to a sum does not round, so the padded computation is
  the unpadded one in another summation order, which the rounding model of
  :mod:`bp_autodiff.auditor.tolerance` already allows for.

Who uses it: the property tests, and the auditor (:func:`bp_autodiff.audit`,
so ``bp check``), which takes the JAX reference from here for every problem
that :func:`fits` the smallest bucket (``bp check``'s networks always do) and
from the per-shape :func:`bp_autodiff.loss_grads_and_deltas` otherwise: a
larger bucket would compile one executable per bucket, no fewer than per shape
for the few large problems a user audits. (Stacking many problems in one
``jax.vmap``-ed call was measured and does not pay: under ``vmap`` the
``lax.switch`` evaluates every branch, and a call costs the same per problem.)

What it is not for: a user's own calls. The public witness is
:func:`bp_autodiff.loss_grads_and_deltas`, whose results this equals (within
the rounding model, not bit for bit: the summation order differs). Compiled
executables are capped by :class:`bp_autodiff.witness.jitcache.bounded_jit` as
everywhere else.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from bp_autodiff.witness import network
from bp_autodiff.witness.activations import HIDDEN
from bp_autodiff.witness.grads import prepare
from bp_autodiff.witness.jitcache import bounded_jit
from bp_autodiff.witness.losses import loss_from_logits
from bp_manual.initializers import Params, ParamsLike
from bp_manual.losses import LOSSES
from bp_manual.spec import NetworkSpec

Array = NDArray[np.floating]

#: Smallest padded width, batch and depth: every network the property tests
#: draw (widths up to 32, batches up to 16, up to 5 weight layers) falls in a
#: single bucket per dtype.
WIDTH_FLOOR = 32
BATCH_FLOOR = 16
DEPTH_FLOOR = 5

#: The hidden activations and the losses, in the order ``lax.switch`` indexes them.
HIDDEN_NAMES = tuple(sorted(HIDDEN))
LOSS_NAMES = tuple(sorted(LOSSES))
_LOSS_SPECS = tuple(NetworkSpec((2, 2), output=LOSSES[name].output, loss=name) for name in LOSS_NAMES)


def fits(spec: NetworkSpec, n_samples: int) -> bool:
    """True when the problem falls in the smallest bucket (:data:`WIDTH_FLOOR`, :data:`BATCH_FLOOR`,
    :data:`DEPTH_FLOOR`): it then shares the one executable per dtype that every such problem uses."""
    return max(spec.sizes) <= WIDTH_FLOOR and n_samples <= BATCH_FLOOR and spec.n_layers <= DEPTH_FLOOR


def bucket(n: int, floor: int) -> int:
    """The padded size for ``n``: the next power of two, at least ``floor``."""
    return max(floor, 1 << (n - 1).bit_length())


class Padded(NamedTuple):
    """A problem padded to its bucket (see :func:`pad`).

    Attributes:
        spec: the padded spec: ``D`` layers of width ``W``, biases on (the
            hidden, output and loss names in it are placeholders).
        hidden: ``(D - 1,)`` int32, the index in :data:`HIDDEN_NAMES` of each hidden layer's activation.
        loss: int32 scalar, the index in :data:`LOSS_NAMES`.
        params: ``D`` layers of ``{"W": (W, W), "b": (W,)}``.
        X, Y: ``(B, W)``; rows ``(B,)``, cols ``(W,)``: the real samples and outputs.
        first: ``params[first]`` is the real layer 1 (the ones before are identity layers).
    """

    # NumPy arrays outside jax.jit, traced arrays inside it (where spec is None)
    spec: NetworkSpec | None
    hidden: Any
    loss: Any
    params: Any
    X: Any
    Y: Any
    rows: Any
    cols: Any
    first: int


def _impl(spec: NetworkSpec, p: Padded) -> Any:
    """``(loss, (grads, deltas))`` on a padded problem; ``p.spec`` is ``spec`` (static), the rest traced."""
    branches = [HIDDEN[name] for name in HIDDEN_NAMES]

    def f(l: int, Z: jax.Array) -> jax.Array:
        return jax.lax.switch(p.hidden[l - 1], branches, Z)

    def loss(params: network.JParams, probes: list[jax.Array]) -> jax.Array:
        Z = network.layers(spec, params, p.X, probes, hidden=f)[-1][0]
        losses = [lambda Z, s=s: loss_from_logits(s, Z, p.Y, p.rows, p.cols) for s in _LOSS_SPECS]
        return jax.lax.switch(p.loss, losses, Z)

    probes = [jnp.zeros((p.X.shape[0], n), p.X.dtype) for n in spec.sizes[1:]]
    return jax.value_and_grad(loss, argnums=(0, 1))(p.params, probes)


_padded = bounded_jit(_impl, static_argnums=(0,))


def pad(spec: NetworkSpec, params: Params, X: Array, Y: Array) -> Padded:
    """The problem padded to its bucket, the new entries zeros (identity layers in front).

    ``X (N, n_in)`` and ``Y (N, n_out)`` are already prepared, in the params' dtype.
    """
    W = bucket(max(spec.sizes), WIDTH_FLOOR)
    B = bucket(X.shape[0], BATCH_FLOOR)
    D = max(DEPTH_FLOOR, spec.n_layers)
    first = D - spec.n_layers
    dtype = X.dtype
    padded_spec = NetworkSpec((W,) * (D + 1), hidden="identity", output="identity", loss="mse", bias=True)
    new: Params = [{"W": np.eye(W, dtype=dtype), "b": np.zeros(W, dtype)} for _ in range(first)]
    for layer in params:
        Wl = np.zeros((W, W), dtype)
        Wl[: layer["W"].shape[0], : layer["W"].shape[1]] = layer["W"]
        bl = np.zeros(W, dtype)
        if "b" in layer:
            bl[: layer["b"].shape[0]] = layer["b"]
        new.append({"W": Wl, "b": bl})
    Xp = np.zeros((B, W), dtype)
    Xp[: X.shape[0], : X.shape[1]] = X
    Yp = np.zeros((B, W), dtype)
    Yp[: Y.shape[0], : Y.shape[1]] = Y
    hidden = [HIDDEN_NAMES.index("identity")] * first + [HIDDEN_NAMES.index(spec.hidden)] * (spec.n_layers - 1)
    return Padded(
        padded_spec,
        np.array(hidden, np.int32),
        np.array(LOSS_NAMES.index(spec.loss), np.int32),
        new,
        Xp,
        Yp,
        np.arange(B) < X.shape[0],
        np.arange(W) < spec.n_out,
        first,
    )


def padded_call(p: Padded) -> tuple[np.floating, Params, list[Array]]:
    """Run the compiled witness on a padded problem: ``(loss, grads, deltas)`` for all ``D`` layers, padded."""
    with jax.enable_x64(True):
        value, (grads, deltas) = _padded(p.spec, p._replace(spec=None, first=0))
        return (
            p.X.dtype.type(value),
            [{k: np.asarray(v) for k, v in g.items()} for g in grads],
            [np.asarray(d) for d in deltas],
        )


def compile_smallest(dtype: type) -> None:
    """Compile (or find compiled) the executable that every problem in the smallest bucket of ``dtype``
    (``np.float32`` or ``np.float64``) shares: the first call's cost, paid up front (``bp check``
    reports it apart from the checking). Raises ``TypeError`` for another dtype."""
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    spec = NetworkSpec((1, 1))
    params: Params = [{"W": np.zeros((1, 1), dtype), "b": np.zeros(1, dtype)}]
    padded_call(pad(spec, params, np.zeros((1, 1), dtype), np.zeros((1, 1), dtype)))


def loss_grads_and_deltas(
    spec: NetworkSpec, params: ParamsLike, X: object, Y: object
) -> tuple[np.floating, Params, list[Array]]:
    """:func:`bp_autodiff.loss_grads_and_deltas`, computed on padded shapes.

    Same arguments, checks, shapes and dtypes: ``params``
    ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]`` in float32 or float64,
    ``X (N, n_in)``, ``Y (N, n_out)`` or labels; returns the loss (NumPy
    scalar), ``grads`` shaped like ``params`` and ``deltas[l - 1]`` of shape
    ``(N, n_l)``, all in the params' dtype.
    """
    return loss_grads_and_deltas_prepared(spec, *prepare(spec, params, X, Y))


def loss_grads_and_deltas_prepared(
    spec: NetworkSpec, params: Params, X: Array, Y: Array
) -> tuple[np.floating, Params, list[Array]]:
    """:func:`loss_grads_and_deltas` on inputs already checked (``bp_manual.validation.prepare_batch``):
    NumPy ``params``, ``X (N, n_in)`` and ``Y (N, n_out)`` in the params' dtype (the auditor's path)."""
    p = pad(spec, params, X, Y)
    value, grads, deltas = padded_call(p)
    N, sizes = X.shape[0], spec.sizes
    out: Params = []
    for l, g in enumerate(grads[p.first :], start=1):
        layer = {"W": np.array(g["W"][: sizes[l], : sizes[l - 1]])}
        if spec.bias:
            layer["b"] = np.array(g["b"][: sizes[l]])
        out.append(layer)
    return value, out, [np.array(d[:N, : sizes[l]]) for l, d in enumerate(deltas[p.first :], start=1)]


def loss_and_grads(spec: NetworkSpec, params: ParamsLike, X: object, Y: object) -> tuple[np.floating, Params]:
    """:func:`loss_grads_and_deltas` without the deltas (the signature of :func:`bp_autodiff.loss_and_grads`)."""
    value, grads, _ = loss_grads_and_deltas(spec, params, X, Y)
    return value, grads
