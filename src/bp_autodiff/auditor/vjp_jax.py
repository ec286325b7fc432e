"""The JAX witness for any backward pass: ``jax.vjp`` of a reference function, compiled once per setting.

What this module is for: :func:`jax_vjp`, the gradients of ``L = sum(out * dout)``
by ``jax.vjp`` of a JAX function with the audited forward's inputs and settings
(``reference=`` or a layer's twin), in float64, for :func:`bp_autodiff.audit_vjp`.
Settings (dicts, numbers) are static: :func:`freeze` makes them hashable, so one
executable serves every call with the same reference, settings and shapes.
The allowance of the comparison is derived in :mod:`bp_autodiff.auditor.vjp_witness`.

What it is not for: the network's witness (:mod:`bp_autodiff.witness.grads`), or
differentiating a NumPy function (finite differences do that).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from bp_autodiff.auditor.vjp_contract import Slot
from bp_autodiff.witness.jitcache import bounded_jit

Array = NDArray[np.float64]


def freeze(value: Any) -> Any:
    """A hashable stand-in for a setting (dicts, lists and tuples by their items); TypeError when there is none."""
    if isinstance(value, Mapping):
        return ("__dict__", tuple((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("__list__" if isinstance(value, list) else "__tuple__", tuple(freeze(v) for v in value))
    if isinstance(value, np.generic):
        return value.item()
    hash(value)
    return value


def thaw(value: Any) -> Any:
    """The setting :func:`freeze` stood in for."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("__dict__", "__list__", "__tuple__"):
        if value[0] == "__dict__":
            return {k: thaw(v) for k, v in value[1]}
        items = [thaw(v) for v in value[1]]
        return items if value[0] == "__list__" else tuple(items)
    return value


def _vjp_impl(
    reference: Callable[..., Any],
    layout: tuple[tuple[str, str, Any], ...],
    config: Any,
    floats: tuple[jax.Array, ...],
    ints: tuple[jax.Array, ...],
    douts: tuple[jax.Array, ...],
) -> tuple[list[jax.Array], tuple[jax.Array, ...]]:
    """``(float outputs, gradients)``: ``jax.vjp`` of ``reference`` at the inputs laid out by ``layout``."""
    ints_left = iter(ints)
    fixed = [next(ints_left) if role == "int" else (thaw(v) if role == "setting" else None) for _, role, v in layout]

    def f(*xs: jax.Array) -> Any:
        it = iter(xs)
        args = [next(it) if role == "float" else fixed[i] for i, (_, role, _) in enumerate(layout)]
        return reference(*args, **thaw(config))

    out, pullback = jax.vjp(f, *floats)
    pieces = list(out) if isinstance(out, tuple | list) else [out]
    is_float = [jnp.issubdtype(jnp.asarray(p).dtype, jnp.floating) for p in pieces]
    it = iter(douts)
    cotangents = [
        jnp.asarray(next(it), dtype=jnp.asarray(p).dtype) if fl else np.zeros(jnp.shape(p), dtype=jax.dtypes.float0)
        for p, fl in zip(pieces, is_float, strict=True)
    ]
    cotangent = type(out)(cotangents) if isinstance(out, tuple | list) else cotangents[0]
    return [p for p, fl in zip(pieces, is_float, strict=True) if fl], pullback(cotangent)


#: XLA's algebraic simplifier aborts the whole process (a failed ``Check``, not an exception) on the VJP of
#: ``lax.conv_general_dilated`` at some geometries (``x (2, 2, 1, 4)``, ``w (1, 2, 3, 2)``, stride 2, padding 1,
#: found by the property test of the auditor, jax 0.10.2); the witness is compiled without that pass.
COMPILER_OPTIONS = {"xla_disable_hlo_passes": "algsimp"}
_vjp_compiled = bounded_jit(_vjp_impl, static_argnums=(0, 1, 2), compiler_options=COMPILER_OPTIONS)


def jax_vjp(
    reference: Callable[..., Any], slots: Sequence[Slot], config: Mapping[str, Any], douts: Sequence[Array]
) -> tuple[list[Array], dict[str, Array]]:
    """``(outs, grads)`` of ``reference`` by ``jax.vjp`` in float64: the float outputs and one gradient per float input.

    ``reference(*inputs, **config)`` returns ``out`` as the audited forward does
    (one array or a tuple); integer inputs and settings are passed as they are,
    not differentiated. Runs under ``jax.enable_x64(True)`` (thread-local; float32
    inputs widen exactly), compiled once per (reference, settings, shapes) when
    the settings are hashable (:func:`freeze`), else traced afresh. Raises
    whatever ``reference`` raises.
    """
    names = [s.name for s in slots if s.role == "float"]
    with jax.enable_x64(True):
        floats = tuple(jnp.asarray(s.value, dtype=jnp.float64) for s in slots if s.role == "float")
        ints = tuple(jnp.asarray(s.value) for s in slots if s.role == "int")
        cts = tuple(jnp.asarray(d, dtype=jnp.float64) for d in douts)
        try:
            layout = tuple((s.name, s.role, freeze(s.value) if s.role == "setting" else None) for s in slots)
            frozen = freeze(dict(config))
            hash((reference, layout, frozen))
        except TypeError:  # an unhashable setting: traced afresh, not compiled
            raw = tuple((s.name, s.role, s.value if s.role == "setting" else None) for s in slots)
            once = jax.jit(
                functools.partial(_vjp_impl, reference, raw, dict(config)), compiler_options=COMPILER_OPTIONS
            )
            outs, grads = once(floats, ints, cts)
        else:
            outs, grads = _vjp_compiled(reference, layout, frozen, floats, ints, cts)
        return [np.asarray(o, dtype=np.float64) for o in outs], {
            n: np.asarray(g, dtype=np.float64) for n, g in zip(names, grads, strict=True)
        }
