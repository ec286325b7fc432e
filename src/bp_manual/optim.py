"""Update rules as pure functions: params, gradients and state in; new params and state out.

What this module is for: the step that follows the backward pass. Every
gradient of a step is computed first (:func:`bp_manual.network.loss_and_grads`)
and only then are the weights changed, all at once, so layer ``l``'s gradient
never sees layer ``l + 1``'s new weights (the seed gets this ordering right).

The params are a list of dicts of arrays, one dict per layer, under any keys:
the dense network's ``[{"W", "b"}, ...]``, or a
:class:`bp_manual.layers.Sequential`'s (``{"w", "b"}`` for ``conv2d``,
``{"gamma", "beta"}`` for the norms, ``{"E"}``, ``{"Wx", "Wh", "b"}``, and ``{}``
for a layer without parameters). The rules, for each array ``p`` with gradient
``g`` and learning rate ``lr`` (the conventions of optax, which the tests hold
these rules to, step by step):

====================  ==========================================================
plain SGD             ``p <- p - lr * g``
momentum              ``v <- g + beta * v``;  ``p <- p - lr * v``  (``v_0 = 0``)
Nesterov momentum     ``v <- g + beta * v``;  ``p <- p - lr * (g + beta * v)``
Adam                  ``m <- (1 - b1) g + b1 m``;  ``s <- (1 - b2) g**2 + b2 s``;
                      ``t <- t + 1``;  ``m_hat = m / (1 - b1**t)``;
                      ``s_hat = s / (1 - b2**t)``;
                      ``p <- p - lr * m_hat / (sqrt(s_hat) + eps)``
L2 weight decay       ``g <- g + weight_decay * p`` before any of the above, for
                      the weights only: the arrays under a key of :data:`DECAYED`
                      (``W``, ``w``, ``E``, ``Wx``, ``Wh``); biases ``b``, the
                      norms' ``gamma`` and ``beta`` and any other key are not
                      decayed. This is the gradient of ``weight_decay/2 *
                      sum ||p||^2`` over the decayed arrays added to the loss,
                      optax's ``chain(add_decayed_weights(wd, mask), ...)``
====================  ==========================================================

An :class:`Optimizer` is a pair of pure functions, ``init(params) -> state``
and ``update(params, grads, state) -> (new_params, new_state)``, like an optax
``GradientTransformation``; the state is a tuple of params-shaped lists and
counters and is never modified in place.

Every rule refuses a step whose new params would hold NaN or inf with
:class:`DivergedError` instead of returning them: divergence (usually a
learning rate too large for the problem) surfaces at the step where it
happens, naming the layer, and the caller's params are untouched because
nothing is modified in place.

What it is not for: computing gradients (:mod:`bp_manual.network`) or the
training loop (:mod:`bp_manual.train`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from bp_manual.initializers import Array, Params, ParamsLike
from bp_manual.scalars import real_in
from bp_manual.validation import check_like_params, check_lr, check_params_list, check_update_args

#: The keys whose arrays L2 weight decay acts on: the weights that multiply an input (``W`` of the dense
#: network and ``linear``, ``w`` of ``conv2d``, ``Wx`` and ``Wh`` of ``rnn`` and ``lstm``) and the embedding
#: table ``E``. Never decayed: biases ``b``, the norms' ``gamma`` and ``beta`` (decaying them pulls the
#: normalised output towards 0 instead of limiting a weight), and any key not listed here.
DECAYED = frozenset({"W", "w", "E", "Wx", "Wh"})


class DivergedError(FloatingPointError):
    """A step produced NaN or inf; the params it started from are unchanged.

    Attributes:
        where: what became non-finite, e.g. ``"W2 (layer 2)"`` or ``"the loss"``.
        lr: the learning rate of the step.
        step: the step number when the caller knows it (``MLP.step``, ``fit``), else None.
    """

    def __init__(self, where: str, lr: float, step: int | None = None) -> None:
        self.where, self.lr, self.step = where, lr, step
        at = f"step {step}: " if step is not None else ""
        super().__init__(
            f"{at}{where} became non-finite (NaN or inf) with lr={lr!r}; training diverged, most "
            "likely because the learning rate is too large. The params were left as they were."
        )

    def at_step(self, step: int) -> DivergedError:
        """The same error, with the step number the caller knows."""
        return DivergedError(self.where, self.lr, step)


def check_update(new_params: ParamsLike, lr: float) -> None:
    """Raise :class:`DivergedError` if any array of ``new_params`` holds NaN or inf.

    One pass per array: ``np.isfinite(value).all()`` (measured here faster than
    the sum it replaced, 18 against 35 us for 256x784 float32, and it cannot
    overflow). A BLAS dot product ``v . v`` is an exact test too and writes no
    temporary, but BLAS runs it on several threads from about 10,000 elements,
    and on a loaded machine one such call took 2.4 ms instead of 5 us
    (``docs/performance.md``, "Tried, measured and left out").
    """
    for l, layer in enumerate(new_params, start=1):
        for key, value in layer.items():
            if not np.isfinite(value).all():
                raise DivergedError(f"{key}{l} (layer {l})", lr)


def sgd_step(params: ParamsLike, grads: ParamsLike, lr: float) -> Params:
    """Gradient descent: ``p <- p - lr * g`` for every array (``W <- W - lr * dW``, ``b <- b - lr * db``).

    Args:
        params: a list of dicts of arrays, e.g. ``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``.
        grads: the same structure and shapes, e.g. from ``loss_and_grads``.
        lr: the learning rate, a finite number > 0.

    Returns:
        New params in the params' dtype (a Python float ``lr`` does not promote
        float32). ``params`` and ``grads`` are left untouched.

    Raises:
        TypeError / ValueError: bad ``params`` (structure, dtype, NaN or inf),
            ``grads`` not like ``params``, or a bad ``lr``; the message names it.
        DivergedError: the new params would hold NaN or inf.
    """
    lr = check_update_args(params, grads, lr)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by check_update
        return sgd_update_prepared(params, grads, lr)


def sgd_update_prepared(params: ParamsLike, grads: ParamsLike, lr: float, *, reuse_grads: bool = False) -> Params:
    """``sgd_step`` on arguments already checked (the training loop's own gradients).

    ``W - lr * dW`` is computed as ``step = lr * dW`` then ``W - step`` written
    into ``step``'s memory: the same two roundings as the expression, one new
    array instead of two. ``reuse_grads=True`` (a training step's own, fresh
    gradients, never the caller's) writes into the gradient arrays themselves,
    so the update allocates nothing. Arrays of another library (JAX) get the
    plain expression ``p - lr * g``. Raises :class:`DivergedError` like
    ``sgd_step`` (:func:`check_update`).

    The caller holds ``np.errstate(over="ignore", invalid="ignore")`` (as
    ``sgd_step``, ``Optimizer.update_prepared`` and the training step do), so
    that an overflow on the way to a divergence is reported by the error
    alone, not also by a NumPy warning; this function does not open its own
    (one per step is enough, and each costs about 1 us).
    """
    new: Params = []
    for p, g in zip(params, grads, strict=True):
        layer: dict[str, Array] = {}
        for key in p:
            if not isinstance(g[key], np.ndarray):  # another array library's arrays: the plain expression
                layer[key] = p[key] - lr * g[key]
                continue
            step = np.multiply(g[key], lr, out=g[key] if reuse_grads else None)
            layer[key] = np.subtract(p[key], step, out=step)
        new.append(layer)
    check_update(new, lr)
    return new


# --- the kernels: one per rule, on already-checked arguments ---------------------------------


def zeros_like(params: ParamsLike) -> Params:
    """Zeros shaped like ``params``, in their dtype (the starting velocity and moments)."""
    return [{key: np.zeros_like(arr) for key, arr in layer.items()} for layer in params]


def decayed_grads(params: ParamsLike, grads: ParamsLike, weight_decay: float) -> Params:
    """L2 weight decay: ``g <- g + weight_decay * p`` for the keys of :data:`DECAYED`, other keys unchanged.

    ``dW <- dW + weight_decay * W``, ``db`` unchanged, for the dense network. Shapes as ``params``.
    """
    if weight_decay == 0.0:
        return [dict(g) for g in grads]
    return [
        {key: g[key] + weight_decay * p[key] if key in DECAYED else g[key] for key in g}
        for p, g in zip(params, grads, strict=True)
    ]


def momentum_step(
    params: ParamsLike, grads: ParamsLike, velocity: ParamsLike, lr: float, beta: float, nesterov: bool
) -> tuple[Params, Params]:
    """One heavy-ball (or Nesterov) step; returns ``(new_params, new_velocity)``.

    ``v <- g + beta * v``; classical: ``p <- p - lr * v``; Nesterov:
    ``p <- p - lr * (g + beta * v)`` with the new ``v``. All arguments are
    params-shaped lists of dicts of arrays in one dtype; none is modified.
    """
    new_params: Params = []
    new_velocity: Params = []
    for p, g, v in zip(params, grads, velocity, strict=True):
        v_new: dict[str, Array] = {key: g[key] + beta * v[key] for key in p}
        step = {key: g[key] + beta * v_new[key] for key in p} if nesterov else v_new
        new_params.append({key: p[key] - lr * step[key] for key in p})
        new_velocity.append(v_new)
    return new_params, new_velocity


def adam_step(
    params: ParamsLike,
    grads: ParamsLike,
    m: ParamsLike,
    s: ParamsLike,
    t: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
) -> tuple[Params, Params, Params]:
    """One Adam step (Kingma & Ba, Algorithm 1); returns ``(new_params, new_m, new_s)``.

    ``t`` is the number of this step, counting from 1 (it sets the bias
    corrections ``1 - b1**t`` and ``1 - b2**t``). Shapes as ``params``; nothing
    is modified.
    """
    c1 = 1.0 - b1**t
    c2 = 1.0 - b2**t
    new_params: Params = []
    new_m: Params = []
    new_s: Params = []
    for p, g, m_l, s_l in zip(params, grads, m, s, strict=True):
        m_new: dict[str, Array] = {key: (1 - b1) * g[key] + b1 * m_l[key] for key in p}
        s_new: dict[str, Array] = {key: (1 - b2) * (g[key] * g[key]) + b2 * s_l[key] for key in p}
        new_params.append({key: p[key] - lr * ((m_new[key] / c1) / (np.sqrt(s_new[key] / c2) + eps)) for key in p})
        new_m.append(m_new)
        new_s.append(s_new)
    return new_params, new_m, new_s


# --- optimisers: init and update as a pair of pure functions ---------------------------------


class SGDState(NamedTuple):
    """Plain SGD keeps no state; ``step`` is the number of steps taken."""

    step: int = 0


class MomentumState(NamedTuple):
    """``velocity``: params-shaped ``v`` (zeros at the start); ``step``: steps taken."""

    velocity: Params
    step: int = 0


class AdamState(NamedTuple):
    """``m``, ``s``: params-shaped first and second moments; ``step``: steps taken (``t``)."""

    m: Params
    s: Params
    step: int = 0


OptState = SGDState | MomentumState | AdamState


@dataclass(frozen=True)
class Optimizer:
    """An update rule with its hyper-parameters; build one with :func:`sgd`, :func:`momentum` or :func:`adam`.

    Attributes:
        name: ``"sgd"``, ``"momentum"``, ``"nesterov"`` or ``"adam"``.
        lr: the learning rate.
        weight_decay: L2 coefficient on the weights, the keys of :data:`DECAYED` (0 for none).
        hyper: the rule's other hyper-parameters (``beta``; ``b1``, ``b2``, ``eps``).
    """

    name: str
    lr: float
    weight_decay: float = 0.0
    hyper: tuple[tuple[str, float], ...] = ()

    def init(self, params: ParamsLike) -> OptState:
        """The starting state for ``params`` (zeros shaped like them, in their dtype)."""
        if self.name == "sgd":
            return SGDState()
        if self.name in ("momentum", "nesterov"):
            return MomentumState(zeros_like(params))
        return AdamState(zeros_like(params), zeros_like(params))

    def update(self, params: ParamsLike, grads: ParamsLike, state: OptState) -> tuple[Params, OptState]:
        """One step: ``(params, grads, state) -> (new_params, new_state)``; nothing is modified.

        Args:
            params: a list of dicts of arrays under any keys (``[{"W": (n_l, n_{l-1}), "b": (n_l,)}, ...]``
                for the dense network; ``{}`` for a layer without parameters), all float32 or all float64.
            grads: shaped like ``params``.
            state: from :meth:`init` or a previous :meth:`update` of this optimiser.

        Raises:
            ValueError / TypeError: bad ``params``, ``grads`` not shaped like
                ``params``, or a state of another optimiser.
            DivergedError: the new params would hold NaN or inf.
        """
        dtype = check_params_list(params)
        check_like_params(params, grads, "grads", dtype)
        check_lr(self.lr)
        return self.update_prepared(params, grads, state, dtype)

    def update_prepared(
        self, params: ParamsLike, grads: ParamsLike, state: OptState, dtype: np.dtype[Any]
    ) -> tuple[Params, OptState]:
        """:meth:`update` with ``params`` and ``grads`` already checked (the training loop's own)."""
        h = dict(self.hyper)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by check_update
            g = decayed_grads(params, grads, self.weight_decay)  # dW + wd * W may overflow too
            if self.name == "sgd":
                if not isinstance(state, SGDState):
                    raise TypeError(f"state must be an SGDState for sgd, got {type(state).__name__}")
                return sgd_update_prepared(params, g, self.lr), SGDState(state.step + 1)
            if self.name in ("momentum", "nesterov"):
                if not isinstance(state, MomentumState):
                    raise TypeError(f"state must be a MomentumState for {self.name}, got {type(state).__name__}")
                check_like_params(params, state.velocity, "state.velocity", dtype)
                nesterov = self.name == "nesterov"
                new, velocity = momentum_step(params, g, state.velocity, self.lr, h["beta"], nesterov)
                check_update(new, self.lr)
                return new, MomentumState(velocity, state.step + 1)
            if not isinstance(state, AdamState):
                raise TypeError(f"state must be an AdamState for adam, got {type(state).__name__}")
            check_like_params(params, state.m, "state.m", dtype)
            check_like_params(params, state.s, "state.s", dtype)
            t = state.step + 1
            new, m, s = adam_step(params, g, state.m, state.s, t, self.lr, h["b1"], h["b2"], h["eps"])
            check_update(new, self.lr)
            return new, AdamState(m, s, t)


def sgd(lr: float = 0.1, *, weight_decay: float = 0.0) -> Optimizer:
    """Plain SGD (``optax.sgd(lr)``), optionally with L2 weight decay on the weights (:data:`DECAYED`)."""
    return Optimizer("sgd", check_lr(lr), real_in("weight_decay", weight_decay, 0.0, np.inf))


def momentum(lr: float = 0.1, beta: float = 0.9, *, nesterov: bool = False, weight_decay: float = 0.0) -> Optimizer:
    """SGD with momentum ``beta`` in [0, 1) (``optax.sgd(lr, momentum=beta, nesterov=nesterov)``)."""
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
    return Optimizer(
        "nesterov" if nesterov else "momentum",
        check_lr(lr),
        real_in("weight_decay", weight_decay, 0.0, np.inf),
        (("beta", real_in("beta", beta, 0.0, 1.0)),),
    )


def nesterov(lr: float = 0.1, beta: float = 0.9, *, weight_decay: float = 0.0) -> Optimizer:
    """Nesterov momentum: :func:`momentum` with ``nesterov=True``."""
    return momentum(lr, beta, nesterov=True, weight_decay=weight_decay)


def adam(
    lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, *, weight_decay: float = 0.0
) -> Optimizer:
    """Adam (``optax.adam(lr, b1, b2, eps)``); ``b1, b2`` in [0, 1), ``eps`` > 0."""
    return Optimizer(
        "adam",
        check_lr(lr),
        real_in("weight_decay", weight_decay, 0.0, np.inf),
        (
            ("b1", real_in("b1", b1, 0.0, 1.0)),
            ("b2", real_in("b2", b2, 0.0, 1.0)),
            ("eps", real_in("eps", eps, 0.0, np.inf, low_open=True)),
        ),
    )


#: Optimiser factories by name, for the command line and the estimators.
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adam": adam,
}


def make_optimizer(name: str, lr: float, **kwargs: Any) -> Optimizer:
    """``OPTIMIZERS[name](lr, **kwargs)``, or ``ValueError`` naming the valid names."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name, got {type(name).__name__}")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](lr, **kwargs)
