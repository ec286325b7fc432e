"""Adapters: backward passes written in other forms, turned into the layer contract the auditor reads.

What this module is for: the auditor (``audit_vjp``) reads a pair in the layer
contract of :mod:`bp_manual.layers`::

    forward(*inputs) -> (out, cache)        NumPy in, NumPy out
    backward(dout, cache) -> tuple          one gradient per input, None where there is none

People write backward passes in two other forms as well; each adapter wraps
one without changing what it computes:

- :func:`from_custom_vjp`: a ``jax.custom_vjp`` function. ``forward`` runs the
  user's ``fwd`` rule, ``backward`` the user's ``bwd`` rule; ``reference`` is
  the primal function with the rule removed, so that ``jax.vjp(reference,
  ...)`` differentiates the primal itself and never the rule under audit.
- :func:`from_torch_function`: a ``torch.autograd.Function`` subclass
  (PyTorch is optional; it is imported by this function only).
- :func:`from_layer`: a layer of :mod:`bp_manual.layers` by name, with its
  JAX twin from :mod:`bp_autodiff.witness.layers` as ``reference``;
  :func:`layer_inputs` says which of its inputs are differentiable.

A reference is a JAX function of JAX arrays, ``reference(*inputs,
**settings) -> out``; call it under ``jax.enable_x64(True)`` so that float64
inputs stay float64.

What it is not for: judging anything (the adapters never compare, and raise
only on a subject they cannot wrap, or on a call that breaks the rule's own
contract, as JAX or PyTorch would); the auditor turns whatever a wrapped rule
raises into a finding.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import bp_manual.layers

#: The message of the ImportError when PyTorch is missing.
TORCH_MISSING = 'from_torch_function needs PyTorch: pip install "bp-reference[torch]"'


class VjpPair(NamedTuple):
    """A ``jax.custom_vjp`` function as a pair in the layer contract, and its primal as the reference.

    Fields:
        forward: ``(*inputs) -> (out, cache)``; NumPy in, NumPy out (the
            user's ``fwd`` rule, run under ``jax.enable_x64(True)``).
        backward: ``(dout, cache) -> tuple``, one NumPy gradient (or ``None``)
            per input (the user's ``bwd`` rule).
        reference: the undecorated primal ``fun(*inputs) -> out`` (JAX arrays).
    """

    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[[Any, Any], tuple[Any, ...]]
    reference: Callable[..., Any]


class TorchPair(NamedTuple):
    """A ``torch.autograd.Function`` as a pair in the layer contract (fields as in :class:`VjpPair`)."""

    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[[Any, Any], tuple[Any, ...]]


class LayerPair(NamedTuple):
    """A library layer: its hand-derived pair and its JAX twin (fields as in :class:`VjpPair`).

    ``forward(*inputs, **settings)`` and ``reference(*inputs, **settings)``
    take the inputs and settings named by :func:`layer_inputs`.
    """

    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[[Any, Any], tuple[Any, ...]]
    reference: Callable[..., Any]


class LayerInputs(NamedTuple):
    """What a library layer takes.

    Fields:
        family: the module of :mod:`bp_manual.layers` (and of
            :mod:`bp_autodiff.witness.layers`) that holds it.
        inputs: the positional inputs of its forward, in order; its backward
            returns one gradient per entry.
        differentiable: the inputs that get a gradient (floating-point arrays);
            the others (integer indices, a boolean mask) get ``None``, and so
            does an optional input given as ``None`` (``linear``'s ``b``).
        settings: the keyword settings of its forward (never differentiated).
    """

    family: str
    inputs: tuple[str, ...]
    differentiable: tuple[str, ...]
    settings: tuple[str, ...] = ()


def _entries() -> dict[str, LayerInputs]:
    act = {n: LayerInputs("activations", ("x",), ("x",)) for n in ("relu", "sigmoid", "tanh", "softplus", "gelu")}
    return {
        **act,
        "leaky_relu": LayerInputs("activations", ("x",), ("x",), ("slope",)),
        "linear": LayerInputs("linear", ("x", "W", "b"), ("x", "W", "b")),
        "dropout": LayerInputs("dropout", ("x", "mask"), ("x",), ("p",)),
        "embedding": LayerInputs("embedding", ("indices", "E"), ("E",)),
        "softmax": LayerInputs("softmax", ("x",), ("x",), ("axis",)),
        "log_softmax": LayerInputs("softmax", ("x",), ("x",), ("axis",)),
        "cross_entropy": LayerInputs("softmax", ("logits", "labels"), ("logits",)),
        "conv2d": LayerInputs("conv", ("x", "w", "b"), ("x", "w", "b"), ("stride", "padding")),
        "max_pool2d": LayerInputs("pool", ("x",), ("x",), ("kernel_size", "stride")),
        "avg_pool2d": LayerInputs("pool", ("x",), ("x",), ("kernel_size", "stride")),
        "batch_norm": LayerInputs("norm", ("x", "gamma", "beta"), ("x", "gamma", "beta"), ("eps",)),
        "layer_norm": LayerInputs("norm", ("x", "gamma", "beta"), ("x", "gamma", "beta"), ("eps",)),
        "rnn": LayerInputs("recurrent", ("x", "h0", "Wx", "Wh", "b"), ("x", "h0", "Wx", "Wh", "b")),
        "lstm": LayerInputs("recurrent", ("x", "h0", "c0", "Wx", "Wh", "b"), ("x", "h0", "c0", "Wx", "Wh", "b")),
        "attention": LayerInputs("attention", ("q", "k", "v"), ("q", "k", "v"), ("causal",)),
        "flatten": LayerInputs("flatten", ("x",), ("x",), ("start_dim", "end_dim")),
    }


#: Every layer of :mod:`bp_manual.layers` by name (``<name>_forward``/``<name>_backward``), read-only.
LAYER_INPUTS: Mapping[str, LayerInputs] = MappingProxyType(_entries())


def layer_inputs(name: str) -> LayerInputs:
    """The inputs, differentiable inputs and settings of the library layer ``name`` (``"batch_norm"``).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: no layer has that name (the message lists the names).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a layer name (str), got {type(name).__name__}")
    if name not in LAYER_INPUTS:
        raise ValueError(f"unknown layer {name!r}; expected one of {sorted(LAYER_INPUTS)}")
    return LAYER_INPUTS[name]


def from_layer(name: str) -> LayerPair:
    """The library layer ``name``: ``bp_manual.layers.<name>_forward``/``_backward`` and its JAX twin.

    The twin ``bp_autodiff.witness.layers.<family>.<name>`` takes the same
    inputs and settings as the forward (see :func:`layer_inputs`) and returns
    its ``out``; ``jax.vjp`` of it is the reference gradient, computed from a
    second implementation of the forward, never from the hand derivation.

    Raises:
        TypeError, ValueError: as :func:`layer_inputs`.
    """
    family = layer_inputs(name).family
    twin = getattr(importlib.import_module(f"bp_autodiff.witness.layers.{family}"), name)
    forward = getattr(bp_manual.layers, f"{name}_forward")
    backward = getattr(bp_manual.layers, f"{name}_backward")
    return LayerPair(forward, backward, twin)


# ---------------------------------------------------------------- jax.custom_vjp


class _Rule(NamedTuple):
    """What a ``custom_vjp`` object stores: the primal, the two rules, the static argument positions."""

    fun: Callable[..., Any]
    fwd: Callable[..., Any]
    bwd: Callable[..., Any]
    nondiff: tuple[int, ...]


class _VjpCache(NamedTuple):
    residuals: Any
    static: tuple[Any, ...]  # the nondiff arguments, passed to bwd first (as JAX does)
    out_avals: Any  # the output's pytree with a jax.ShapeDtypeStruct per array leaf
    n_inputs: int


def _read_rule(f: object) -> _Rule:
    """The rule stored on ``f``: ``jax.custom_vjp`` keeps ``fun``, ``fwd``, ``bwd``, ``nondiff_argnums``,
    ``symbolic_zeros``; with the ``jax_custom_vjp3`` option it builds an object keeping ``f``, ``fwd``,
    ``bwd``, ``static_argnums``, ``symz`` (``jax/_src/custom_derivatives.py``, ``jax/_src/hijax.py``)."""
    if isinstance(f, jax.custom_vjp):
        fun, nondiff, symbolic = f.fun, f.nondiff_argnums, f.symbolic_zeros
    elif all(hasattr(f, a) for a in ("f", "fwd", "bwd", "static_argnums", "symz")):  # custom_vjp3
        fun, nondiff, symbolic = f.f, f.static_argnums, f.symz  # type: ignore[attr-defined]
    else:
        hint = " (a custom_jvp defines a JVP, not a VJP)" if isinstance(f, jax.custom_jvp) else ""
        raise TypeError(
            f"f must be a function decorated with @jax.custom_vjp, got {type(f).__name__}{hint}; "
            "pass the decorated function itself, not jax.jit(f) or a wrapper"
        )
    fwd, bwd = f.fwd, f.bwd  # type: ignore[attr-defined]
    if fwd is None or bwd is None:
        raise ValueError(f"f ({getattr(fun, '__name__', fun)}) has no VJP rule yet: call f.defvjp(fwd, bwd) first")
    if symbolic:
        raise ValueError("f's rule was defined with symbolic_zeros=True, which from_custom_vjp does not support")
    return _Rule(fun, fwd, bwd, tuple(sorted(int(i) for i in nondiff)))


def _to_jax(a: Any) -> Any:
    """A NumPy array (or scalar) as a JAX array of the same dtype; anything else as it is."""
    return jnp.asarray(a) if isinstance(a, np.ndarray | np.generic) else a


def _tree_to_numpy(tree: Any) -> Any:
    """Each array leaf of ``tree`` as a fresh, writable NumPy array (``None`` stays ``None``)."""
    return jax.tree_util.tree_map(lambda a: np.array(a) if isinstance(a, jax.Array | np.ndarray) else a, tree)


def _aval_of(a: Any) -> Any:
    return jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a))


def _cotangent(aval: jax.ShapeDtypeStruct, d: Any) -> jax.Array:
    """``d`` as the cotangent of an output of shape and dtype ``aval`` (``ValueError`` on another shape)."""
    if np.shape(d) != aval.shape:
        raise ValueError(f"dout has shape {np.shape(d)} where the output has shape {aval.shape}")
    return jnp.asarray(d, dtype=aval.dtype)


def from_custom_vjp(f: Callable[..., Any]) -> VjpPair:
    """Wrap a ``jax.custom_vjp`` function as ``(forward, backward, reference)``.

    ``forward(*inputs)`` converts NumPy arrays to JAX arrays of the same dtype
    (under ``jax.enable_x64(True)``, so float64 stays float64 and float32
    stays float32; other inputs are passed as they are), calls the user's
    ``fwd(*inputs) -> (out, residuals)`` and returns ``(out as NumPy, cache)``.
    ``backward(dout, cache)`` casts ``dout`` to the output's dtypes, calls the
    user's ``bwd`` and returns its gradients as NumPy arrays, one per input,
    ``None`` where the rule returns ``None`` (which JAX reads as a zero).
    ``reference`` is the undecorated primal ``fun``: ``jax.vjp(reference, *x)``
    differentiates the primal and never calls the rule.

    ``nondiff_argnums`` (and ``nondiff_argnames``) are supported as JAX
    defines them: those arguments are settings (a callable, an int, a shape),
    passed to ``fwd`` in place and to ``bwd`` first, ``bwd(*nondiff, res,
    g)``; ``backward`` returns ``None`` at their positions. Following JAX
    (``jep/4008-custom-vjp-update``), they must not be arrays: ``forward``
    raises ``TypeError`` naming ``nondiff_argnums`` for a NumPy or JAX array there.

    Raises:
        TypeError: ``f`` is not a ``jax.custom_vjp`` function (a ``custom_jvp``,
            a ``jax.jit`` of one, a plain function).
        ValueError: ``f`` has no rule yet (``defvjp`` not called), or its rule
            uses ``symbolic_zeros=True``.
        At call time ``backward`` raises ``TypeError`` when ``bwd`` returns
        anything but a tuple (or list) with one entry per differentiable
        argument, as JAX does; errors raised by the rules propagate.
    """
    rule = _read_rule(f)

    def forward(*inputs: Any) -> tuple[Any, _VjpCache]:
        for i in rule.nondiff:
            if i < len(inputs) and isinstance(inputs[i], np.ndarray | jax.Array):
                raise TypeError(
                    f"input {i} is a nondiff_argnums argument of the custom_vjp but an array; JAX requires "
                    "nondiff arguments to be non-array settings: make it a regular argument whose gradient is None"
                )
        with jax.enable_x64(True):
            args = tuple(a if i in rule.nondiff else _to_jax(a) for i, a in enumerate(inputs))
            result = rule.fwd(*args)
            if not (isinstance(result, tuple | list) and len(result) == 2):
                raise TypeError(f"the fwd rule must return a pair (out, residuals), got {type(result).__name__}")
            out, residuals = result
            out_avals = jax.tree_util.tree_map(_aval_of, out)
            static = tuple(args[i] for i in rule.nondiff if i < len(args))
            return _tree_to_numpy(out), _VjpCache(residuals, static, out_avals, len(args))

    def backward(dout: Any, cache: _VjpCache) -> tuple[Any, ...]:
        with jax.enable_x64(True):
            g = jax.tree_util.tree_map(_cotangent, cache.out_avals, dout)
            grads = rule.bwd(*cache.static, cache.residuals, g)
            n_diff = cache.n_inputs - len(cache.static)
            if not isinstance(grads, tuple | list) or len(grads) != n_diff:
                n = f" of {len(grads)}" if isinstance(grads, tuple | list) else f" of shape {np.shape(grads)}"
                got = f"a {type(grads).__name__}{n}"
                raise TypeError(
                    f"the bwd rule must return a tuple with one gradient per differentiable argument "
                    f"({n_diff}), got {got}"
                )
            diff = iter(grads)
            return tuple(None if i in rule.nondiff else _tree_to_numpy(next(diff)) for i in range(cache.n_inputs))

    return VjpPair(forward, backward, rule.fun)


# ---------------------------------------------------------------- torch.autograd.Function


class _TorchCache(NamedTuple):
    outputs: tuple[Any, ...]  # the Function's outputs, tensors still in the graph
    leaves: tuple[tuple[int, Any], ...]  # (input position, tensor with requires_grad)
    n_inputs: int
    single: bool  # the Function returned one tensor, not a tuple


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(TORCH_MISSING) from exc
    return torch


def _to_torch(torch: Any, a: Any) -> Any:
    """A NumPy array as a CPU tensor of its dtype, floating ones with ``requires_grad``; others as they are.

    A writable array in native byte order with non-negative strides is shared
    (``torch.from_numpy``), so an in-place change by the Function shows in
    the caller's array, as it would with a NumPy forward; any other array is copied.
    """
    if not isinstance(a, np.ndarray):
        return a
    shareable = a.flags.writeable and a.dtype.isnative and all(s >= 0 for s in a.strides)
    t = torch.from_numpy(a) if shareable else _tensor_copy(torch, a)
    return t.requires_grad_(True) if np.issubdtype(a.dtype, np.floating) else t


def _tensor_copy(torch: Any, a: np.ndarray) -> Any:
    """A tensor holding a copy of ``a`` (any strides, byte order or write flag)."""
    return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="), order="C", copy=True))


def _from_torch(torch: Any, x: Any) -> Any:
    return x.detach().cpu().numpy().copy() if isinstance(x, torch.Tensor) else x


def from_torch_function(fn_cls: type) -> TorchPair:
    """Wrap a ``torch.autograd.Function`` subclass as ``(forward, backward)``.

    ``forward(*inputs)`` turns NumPy arrays into CPU tensors of the same dtype
    (floating-point ones with ``requires_grad``; other inputs as they are), calls
    ``fn_cls.apply(*inputs)`` with autograd on, and returns ``(out as NumPy,
    cache)``; ``out`` is a tuple when the Function returns one. The cache holds
    the graph, so ``backward`` may be called several times on it.
    ``backward(dout, cache)`` computes ``torch.autograd.grad(outputs, inputs,
    dout)``, which calls the user's ``backward(ctx, *grad_outputs)``, and
    returns one NumPy gradient per input: ``None`` for an input that is not a
    floating-point array, and where the user's ``backward`` returns ``None``.
    This is the gradient PyTorch's autograd makes of the rule in training: the
    engine sums a gradient of a broadcastable shape down to the input's shape
    and casts it to the input's dtype, and raises on any other shape.

    Needs PyTorch, imported by this function only (``import bp_autodiff``
    never imports it).

    Raises:
        ImportError: PyTorch is not installed (the message names the
            ``bp-reference[torch]`` extra).
        TypeError: ``fn_cls`` is not a ``torch.autograd.Function`` subclass
            (an instance of one, a function, an ``nn.Module``).
        At call time ``backward`` raises ``ValueError`` when ``dout`` does not
        have one array per output of the output's shape; errors raised by the
        Function propagate.
    """
    torch = _import_torch()
    if not (isinstance(fn_cls, type) and issubclass(fn_cls, torch.autograd.Function)):
        what = f"an instance of {type(fn_cls).__name__}" if isinstance(fn_cls, torch.autograd.Function) else fn_cls
        raise TypeError(f"fn_cls must be a torch.autograd.Function subclass (the class itself), got {what!r}")

    def forward(*inputs: Any) -> tuple[Any, _TorchCache]:
        tensors = tuple(_to_torch(torch, a) for a in inputs)
        with torch.enable_grad():
            out = fn_cls.apply(*tensors)  # type: ignore[attr-defined]
        single = not isinstance(out, tuple | list)
        outputs = (out,) if single else tuple(out)
        leaves = tuple((i, t) for i, t in enumerate(tensors) if isinstance(t, torch.Tensor) and t.requires_grad)
        out_np = _from_torch(torch, out) if single else tuple(_from_torch(torch, o) for o in outputs)
        return out_np, _TorchCache(outputs, leaves, len(inputs), single)

    def backward(dout: Any, cache: _TorchCache) -> tuple[Any, ...]:
        douts = (dout,) if cache.single else tuple(dout)
        if len(douts) != len(cache.outputs):
            raise ValueError(f"dout must have one array per output ({len(cache.outputs)}), got {len(douts)}")
        outs, grad_outs = [], []
        for k, (o, d) in enumerate(zip(cache.outputs, douts, strict=True)):
            if not (isinstance(o, torch.Tensor) and o.requires_grad):
                continue  # an output autograd cannot differentiate (an integer, a non-tensor)
            d = np.asarray(d)
            if d.shape != tuple(o.shape):
                which = "dout" if cache.single else f"dout[{k}]"
                raise ValueError(f"{which} has shape {d.shape}, the output has shape {tuple(o.shape)}")
            outs.append(o)
            grad_outs.append(_tensor_copy(torch, d).to(o.dtype))
        grads: list[Any] = [None] * cache.n_inputs
        if outs and cache.leaves:
            found = torch.autograd.grad(
                outs, [t for _, t in cache.leaves], grad_outs, retain_graph=True, allow_unused=True
            )
            for (i, _), g in zip(cache.leaves, found, strict=True):
                grads[i] = _from_torch(torch, g)
        return tuple(grads)

    return TorchPair(forward, backward)
