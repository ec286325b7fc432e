"""A chain of library layers with one forward and one backward over the caches.

What this module is for: composing the pairs of :mod:`bp_manual.layers` into a
model, ``out = f_L(... f_2(f_1(x)))``, and backpropagating through it by the
chain rule alone: the forward runs each layer's forward and keeps its cache;
the backward runs each layer's backward in reverse order, passing the gradient
with respect to a layer's input down as the ``dout`` of the layer below::

    x_0 = x,   (x_l, cache_l) = forward_l(x_{l-1}, *params_l, **settings_l)
    dx_L = dout,   (dx_{l-1}, *dparams_l) = backward_l(dx_l, cache_l)

Nothing else is needed: each layer already knows its own local derivatives,
and the container never looks inside a cache.

The parameters are a pytree like the dense network's params list: a list with
one dict per layer *that has parameters*, in order, holding that layer's
arrays under the names of its forward's inputs (``{"W": ..., "b": ...}`` for
``linear``, ``{"w", "b"}`` for ``conv2d``, ``{"gamma", "beta"}`` for the norms,
``{"E"}`` for ``embedding``, ``{"Wx", "Wh", "b"}`` for ``rnn`` and ``lstm``);
layers without parameters (``relu``, the pools, ``flatten``) add no entry. So a
``linear, relu, linear`` model has params ``[{"W", "b"}, {"W", "b"}]``, exactly
the shape of a two-layer network's params, and :mod:`bp_manual.optim`'s update
rules and optimisers, which take any keys, apply to every model unchanged.
The gradients have the same structure. Fresh parameters are drawn from an
explicit Generator by each layer's ``init`` (:mod:`bp_manual.layers.inits`:
He for convolutions, Xavier for linear and recurrent weights).

Layers are found by name in :data:`LAYERS`, a registry that other modules
extend with :func:`register` (a :class:`Layer` records the pair, its parameter
names and its settings), so the container itself never changes when a layer is
added. A small CNN::

    Sequential([
        ("conv2d", {"in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1}),
        "relu",
        ("max_pool2d", {"kernel_size": 2}),
        "flatten",
        ("linear", {"in_features": 8 * 4 * 4, "out_features": 10}),
    ])

and a character model, whose ``(N, T, V)`` logits ``flatten`` turns into
``(N*T, V)`` rows for the labels ``y.reshape(-1)``::

    Sequential([
        ("embedding", {"num_embeddings": V, "embedding_dim": D}),
        ("rnn", {"input_size": D, "hidden_size": H}),
        ("linear", {"in_features": H, "out_features": V}),
        ("flatten", {"start_dim": 0, "end_dim": 1}),
    ])

What it is not for: layers with a per-call input other than ``x`` and their
parameters, such as dropout's mask (run such a layer between two containers,
or around one), losses other than ``cross_entropy``, and branching graphs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from bp_manual.initializers import Params, ParamsLike, as_dtype
from bp_manual.layers import activations, inits
from bp_manual.layers.checks import check_ndim, check_shape, index_array
from bp_manual.layers.conv import conv2d_backward, conv2d_forward
from bp_manual.layers.embedding import embedding_backward, embedding_forward
from bp_manual.layers.flatten import flatten_backward, flatten_forward
from bp_manual.layers.linear import linear_backward, linear_forward
from bp_manual.layers.norm import batch_norm_backward, batch_norm_forward, layer_norm_backward, layer_norm_forward
from bp_manual.layers.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from bp_manual.layers.recurrent import (
    lstm_zero_state_backward,
    lstm_zero_state_forward,
    rnn_zero_state_backward,
    rnn_zero_state_forward,
)
from bp_manual.layers.softmax import log_softmax_backward, log_softmax_forward, softmax_backward, softmax_forward
from bp_manual.losses import cross_entropy, output_delta, softmax
from bp_manual.namespace import namespace


class Layer(NamedTuple):
    """A registered layer: its pair, the names of its parameters and of its settings.

    Fields:
        forward: ``(x, *params, **settings) -> (out, cache)``, the layer's forward.
        backward: ``(dout, cache) -> (dx, *dparams)``, one gradient per input in order.
        params: the names of the forward's parameter inputs after ``x``, in order
            (``("W", "b")`` for ``linear``); the keys of the layer's params dict.
        settings: the forward's keyword settings that a step's config may give
            (``("slope",)`` for ``leaky_relu``).
        init: ``(rng, dtype, **sizes) -> {name: array}``, fresh parameters; its
            keyword-only arguments are the sizes a step's config gives (the
            ones without default are required). ``None`` for a layer without
            parameters.
    """

    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[[Any, Any], tuple[Any, ...]]
    params: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    init: Callable[..., dict[str, Any]] | None = None

    def required_settings(self) -> tuple[str, ...]:
        """The settings the forward has no default for (the pools' ``kernel_size``): a step's config must give them."""
        sig = inspect.signature(self.forward).parameters
        return tuple(k for k in self.settings if k in sig and sig[k].default is inspect.Parameter.empty)

    def init_keys(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(required, optional)``: the keyword-only arguments of :attr:`init`."""
        if self.init is None:
            return (), ()
        kw = [p for p in inspect.signature(self.init).parameters.values() if p.kind is p.KEYWORD_ONLY]
        return tuple(p.name for p in kw if p.default is p.empty), tuple(p.name for p in kw if p.default is not p.empty)


#: The layers a :class:`Sequential` can chain, by name; extend it with :func:`register`. Every layer of
#: the library whose forward takes one input ``x`` and its parameters: all but ``dropout`` (its mask is
#: a per-call input), ``attention`` (three inputs) and ``cross_entropy`` (the loss that
#: :meth:`Sequential.loss_and_grads` ends every chain with).
#: ``rnn`` and ``lstm`` start from the zero state and return every hidden state ``(N, T, H)``.
LAYERS: dict[str, Layer] = {
    "linear": Layer(linear_forward, linear_backward, ("W", "b"), init=inits.init_linear),
    "embedding": Layer(embedding_forward, embedding_backward, ("E",), init=inits.init_embedding),
    "relu": Layer(activations.relu_forward, activations.relu_backward),
    "leaky_relu": Layer(activations.leaky_relu_forward, activations.leaky_relu_backward, settings=("slope",)),
    "sigmoid": Layer(activations.sigmoid_forward, activations.sigmoid_backward),
    "tanh": Layer(activations.tanh_forward, activations.tanh_backward),
    "softplus": Layer(activations.softplus_forward, activations.softplus_backward),
    "gelu": Layer(activations.gelu_forward, activations.gelu_backward),
    "softmax": Layer(softmax_forward, softmax_backward, settings=("axis",)),
    "log_softmax": Layer(log_softmax_forward, log_softmax_backward, settings=("axis",)),
    "conv2d": Layer(conv2d_forward, conv2d_backward, ("w", "b"), ("stride", "padding"), inits.init_conv2d),
    "max_pool2d": Layer(max_pool2d_forward, max_pool2d_backward, settings=("kernel_size", "stride")),
    "avg_pool2d": Layer(avg_pool2d_forward, avg_pool2d_backward, settings=("kernel_size", "stride")),
    "batch_norm": Layer(batch_norm_forward, batch_norm_backward, ("gamma", "beta"), ("eps",), inits.init_norm),
    "layer_norm": Layer(layer_norm_forward, layer_norm_backward, ("gamma", "beta"), ("eps",), inits.init_norm),
    "flatten": Layer(flatten_forward, flatten_backward, settings=("start_dim", "end_dim")),
    "rnn": Layer(rnn_zero_state_forward, rnn_zero_state_backward, ("Wx", "Wh", "b"), init=inits.init_rnn),
    "lstm": Layer(lstm_zero_state_forward, lstm_zero_state_backward, ("Wx", "Wh", "b"), init=inits.init_lstm),
}


def register(name: str, layer: Layer) -> None:
    """Add ``layer`` to :data:`LAYERS` under ``name``; ``ValueError`` if the name is taken.

    A layer family's module calls this for each of its layers, e.g.
    ``register("conv2d", Layer(conv2d_forward, conv2d_backward, ("w", "b"), ("stride", "padding"), init_conv2d))``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a bp_manual.layers.sequential.Layer, got {type(layer).__name__}")
    if name in LAYERS:
        raise ValueError(f"a layer named {name!r} is already registered")
    LAYERS[name] = layer


Step = tuple[str, Mapping[str, Any]]


def _step(i: int, step: object) -> Step:
    """One step as ``(name, read-only config)``, checked against the registry."""
    if isinstance(step, str):
        step = (step, {})
    if not (isinstance(step, tuple | list) and len(step) == 2 and isinstance(step[1], Mapping)):
        raise TypeError(f"steps[{i}] must be a layer name or a (name, config dict) pair, got {step!r}")
    name, config = step
    if name not in LAYERS:
        raise ValueError(f"steps[{i}]: unknown layer {name!r}; registered: {sorted(LAYERS)}")
    layer = LAYERS[name]
    required, optional = layer.init_keys()
    unknown = sorted(set(config) - set(layer.settings) - set(required) - set(optional))
    if unknown:
        allowed = sorted({*layer.settings, *required, *optional})
        raise ValueError(f"steps[{i}] ({name}): unknown config {unknown}; {name} takes {allowed}")
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"steps[{i}] ({name}): config lacks {missing}, needed to initialise its parameters")
    missing = [k for k in layer.required_settings() if k not in config]
    if missing:
        raise ValueError(f"steps[{i}] ({name}): config lacks {missing}, a setting {name} has no default for")
    return name, MappingProxyType(dict(config))


def _reraise_at(i: int, name: str, e: Exception) -> Exception:
    """``e`` with ``steps[i] (name): `` in front of its message when it is a plain TypeError/ValueError."""
    if type(e) in (TypeError, ValueError):
        return type(e)(f"steps[{i}] ({name}): {e}")
    return e


@dataclass(frozen=True, init=False)
class Sequential:
    """A chain of registered layers; the description only: parameters live outside it.

    Build it from a list of steps (a sequence), each a layer name or a ``(name, config)`` pair,
    where ``config`` holds the layer's settings (passed to its forward) and the
    sizes its parameters are initialised with::

        model = Sequential([
            ("linear", {"in_features": 4, "out_features": 16}),
            "relu",
            ("linear", {"in_features": 16, "out_features": 3}),
        ])
        params = model.init(np.random.default_rng(0))
        loss, grads = model.loss_and_grads(params, x, y)

    Every method is a pure function of its arguments (nothing is stored in the
    model), written against the inputs' array namespace, so
    ``jax.jit(model.loss_and_grads)`` traces the hand derivation.

    Raises (at construction):
        TypeError: a step that is not a name or a ``(name, dict)`` pair.
        ValueError: an unknown layer name (the registered ones are listed), an
            unknown config key, a missing size.
    """

    steps: tuple[Step, ...]

    def __init__(self, steps: Sequence[Any]) -> None:
        if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
            raise TypeError(f"steps must be a list of layer names or (name, config) pairs, got {type(steps).__name__}")
        if not steps:
            raise ValueError("steps must name at least one layer")
        object.__setattr__(self, "steps", tuple(_step(i, s) for i, s in enumerate(steps)))

    def _with_params(self) -> list[int]:
        """The indices of the steps that have parameters (one params dict each, in order)."""
        return [i for i, (name, _) in enumerate(self.steps) if LAYERS[name].params]

    def init(self, rng: np.random.Generator, dtype: DTypeLike = np.float64) -> Params:
        """Fresh parameters: one dict per layer with parameters, drawn in order from ``rng``.

        Args:
            rng: a ``numpy.random.Generator``, advanced by the draws (the same
                seed gives bit-identical params).
            dtype: ``np.float32`` or ``np.float64`` (default).

        Raises:
            TypeError: ``rng`` is not a Generator (a seed or ``None`` included).
            TypeError / ValueError: a bad ``dtype`` or size, naming the step.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
            )
        dt = as_dtype(dtype)
        params: Params = []
        for i in self._with_params():
            name, config = self.steps[i]
            layer = LAYERS[name]
            assert layer.init is not None  # a layer with params has an init (Layer's contract)
            sizes = {k: v for k, v in config.items() if k not in layer.settings}
            try:
                params.append(layer.init(rng, dt, **sizes))
            except (TypeError, ValueError) as e:
                raise _reraise_at(i, name, e) from e
        return params

    def _check_params(self, params: object) -> None:
        with_params = self._with_params()
        if not isinstance(params, Sequence) or len(params) != len(with_params):
            got = f"{len(params)} dicts" if isinstance(params, Sequence) else type(params).__name__
            raise ValueError(
                f"params must be a list of {len(with_params)} dicts (one per layer with parameters), got {got}"
            )
        for k, (i, p) in enumerate(zip(with_params, params, strict=True)):
            name = self.steps[i][0]
            expected = set(LAYERS[name].params)
            if not isinstance(p, Mapping) or set(p) != expected:
                keys = sorted(p) if isinstance(p, Mapping) else type(p).__name__
                raise ValueError(f"params[{k}] (steps[{i}], {name}) must have keys {sorted(expected)}, got {keys}")

    def forward(self, params: ParamsLike, x: Any) -> tuple[Any, tuple[Any, ...]]:
        """Run every layer's forward in order; return ``(out, caches)`` with one cache per step.

        Args:
            params: one dict per layer with parameters, as :meth:`init` returns.
            x: the first layer's input (floats for ``linear``, integers for ``embedding``).

        Raises:
            ValueError: ``params`` of the wrong structure.
            TypeError / ValueError: a layer refused its input, the message
                prefixed with the step (``steps[2] (linear): x must have shape ...``).
        """
        self._check_params(params)
        it = iter(params)
        caches = []
        out = x
        for i, (name, config) in enumerate(self.steps):
            layer = LAYERS[name]
            p = next(it) if layer.params else {}
            settings = {k: v for k, v in config.items() if k in layer.settings}
            try:
                out, cache = layer.forward(out, *(p[k] for k in layer.params), **settings)
            except (TypeError, ValueError) as e:
                raise _reraise_at(i, name, e) from e
            caches.append(cache)
        return out, tuple(caches)

    def backward(self, dout: Any, caches: tuple[Any, ...]) -> tuple[Any, Params]:
        """The chain rule over the layers: ``(dx, grads)`` given ``dout = dL/dout``.

        Each layer's backward, last layer first, takes the gradient with
        respect to its output and returns the one with respect to its input,
        which is the ``dout`` of the layer below, and its parameters'
        gradients. ``dx`` is the gradient with respect to the model's input
        (``None`` when the first layer is ``embedding``: integers have none);
        ``grads`` has the structure of the params.

        Args:
            dout: the shape of the forward's ``out``.
            caches: the forward's caches.
        """
        if len(caches) != len(self.steps):
            raise ValueError(f"caches has {len(caches)} entries, the model has {len(self.steps)} steps")
        grads: Params = []
        for (name, _), cache in zip(reversed(self.steps), reversed(caches), strict=True):
            layer = LAYERS[name]
            dx, *dparams = layer.backward(dout, cache)
            if layer.params:
                grads.append(dict(zip(layer.params, dparams, strict=True)))
            dout = dx
        return dout, grads[::-1]

    def loss_and_grads(self, params: ParamsLike, x: Any, y: Any) -> tuple[Any, Params]:
        """The mean cross-entropy of the model's logits against labels, and its gradients by hand.

        ``L = -(1/N) sum_n log softmax(out_n)[y_n]`` (``F.cross_entropy``,
        mean over ``N``), with ``dL/dout = (softmax(out) - onehot(y)) / N``
        (:mod:`bp_manual.losses`) as the ``dout`` of :meth:`backward`.

        Args:
            params: as :meth:`init` returns.
            x: the model's input.
            y: integer class labels ``(N,)`` in ``[0, K)``.

        Returns:
            ``(loss, grads)``: a scalar of the logits' dtype and gradients shaped like ``params``.

        Raises:
            ValueError: the model's output is not ``(N, K)`` logits; ``y`` not
                ``(N,)``, or a label outside ``[0, K)``.
            TypeError: ``y`` not integers.
        """
        logits, caches = self.forward(params, x)
        if logits.ndim != 2:
            raise ValueError(f"the model's output must be (N, K) logits for cross_entropy, got {tuple(logits.shape)}")
        N, K = logits.shape
        y = index_array("y", y, K, "classes: the model's last axis")
        check_ndim("y", y, 1)
        check_shape("y", y, (N,), "one label per row of the model's output")
        Y = (y[:, None] == namespace(logits).arange(K)).astype(logits.dtype)
        _, grads = self.backward(output_delta(softmax(logits), Y), caches)
        return cross_entropy(logits, Y), grads
