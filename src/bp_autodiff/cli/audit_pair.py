"""``bp audit MODULE:FORWARD,BACKWARD`` and ``bp audit --layer NAME``: a forward/backward pair from the command line.

What this module is for: the pair mode of ``bp audit`` (:mod:`bp_autodiff.cli.audit`
parses the arguments and dispatches): reading ``--input`` and ``--config``,
drawing the inputs from a seeded ``numpy.random.Generator``, running
:func:`bp_autodiff.audit_vjp` and printing its report. The pair is in the layer
contract, ``forward(*inputs, **config) -> (out, cache)`` and
``backward(dout, cache) -> tuple of gradients``.

- ``--input NAME=SPEC`` (repeated, in the order of ``forward``'s positional
  inputs): ``x=2,3,8,8`` is a standard normal float array of that shape (in
  ``--dtype``); ``indices=int:5:3,4`` an integer array of shape ``(3, 4)`` with
  values in ``[0, 5)``; ``mask=bool:3,4`` a boolean array with each entry True
  with probability 1/2. The arrays are drawn in the order given, from
  ``numpy.random.default_rng(--seed)``.
- ``--config KEY=VALUE`` (repeated): a keyword setting of ``forward``; the value
  is read as an int (``2``), a float (``0.5``, ``1e-5``), a bool (``true``,
  ``false``), ``none``, or else kept as a string (``max``).
- ``--layer NAME``: audit against the library layer ``NAME`` (its JAX twin is the
  reference, its catalog of classic mistakes names a match). Without a target,
  the library's own pair of that layer is audited (a self-check), on the
  ``--input`` shapes or, where none are given, on the layer's default geometry
  (:data:`bp_autodiff.layer_geometries.DEFAULTS`: small shapes, a batch and a channel
  or feature axis of more than one, windows that do not overlap), its inputs
  built by :func:`bp_autodiff.layer_builder.build_case` from
  ``numpy.random.default_rng(--seed)``, off kinks and ties.

What it is not for: the computation (all of it is in :mod:`bp_autodiff.auditor`).
The auditor and the input builder (which import JAX) are imported where a pair
is built or audited, not with this module (see :mod:`bp_autodiff.cli.audit`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.cli.args import usage_error
from bp_autodiff.layer_geometries import DEFAULTS, LAYERS


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        what = f"the shape must be comma-separated integers like 2,3,8,8, got {text!r}"
        raise argparse.ArgumentTypeError(what) from None
    if min(shape) < 1:
        raise argparse.ArgumentTypeError(f"the shape must hold integers >= 1, got {text!r}")
    return shape


def input_spec(text: str) -> tuple[str, str, int, tuple[int, ...]]:
    """``--input``: ``"x=2,3"`` -> ``("x", "float", 0, (2, 3))``; ``"i=int:5:3,4"`` -> ``("i", "int", 5, (3, 4))``;
    ``"m=bool:3"`` -> ``("m", "bool", 0, (3,))``.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse names ``--input``).
    """
    name, sep, rest = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=SHAPE like x=2,3,8,8 (or NAME=int:HIGH:SHAPE), got {text!r}")
    kind, high = "float", 0
    if rest.startswith("int:"):
        kind, (high_text, _, rest) = "int", rest[4:].partition(":")
        try:
            high = int(high_text)
        except ValueError:
            high = 0
        if high < 1:
            raise argparse.ArgumentTypeError(f"int:HIGH:SHAPE needs an integer HIGH >= 1, got {text!r}")
    elif rest.startswith("bool:"):
        kind, rest = "bool", rest[5:]
    return name, kind, high, _shape(rest)


def config_value(text: str) -> tuple[str, Any]:
    """``--config``: ``"stride=2"`` -> ``("stride", 2)``; floats, ``true``/``false``, ``none``; else a string.

    Raises:
        argparse.ArgumentTypeError: no ``=``, a key that is not a Python name, or a NaN or infinite number.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE like stride=2, got {text!r}")
    words: dict[str, Any] = {"true": True, "false": False, "none": None}
    if value.lower() in words:
        return key, words[value.lower()]
    for kind in (int, float):
        try:
            number = kind(value)
        except ValueError:
            continue
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"{key}: must be a finite number, got {value!r}")
        return key, number
    return key, value


def draw_inputs(specs: list[tuple[str, str, int, tuple[int, ...]]], dtype: str, seed: int) -> dict[str, Any]:
    """The inputs of ``specs`` (:func:`input_spec`), in order, from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name, kind, high, shape in specs:
        if kind == "int":
            out[name] = rng.integers(0, high, shape)
        elif kind == "bool":
            out[name] = rng.random(shape) < 0.5
        else:
            out[name] = rng.standard_normal(shape).astype(dtype)
    return out


def pair_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser, library: bool
) -> tuple[list[tuple[str, str, int, tuple[int, ...]]], dict[str, Any]]:
    """The input specs and settings of the options, checked before any work.

    ``library``: no target was given, so the library layer ``--layer`` is audited;
    without ``--input`` the specs are empty and :func:`run_pair` builds the inputs
    at the layer's :data:`~bp_autodiff.layer_geometries.DEFAULTS` (whose settings
    apply unless ``--config`` is given). Exits with a usage error for an ``--input``
    or ``--config`` given twice, a pair with no ``--input``, a ``--layer`` not in
    the library, or default inputs that ``--config`` leaves unbuildable (dropout without ``p``).
    """
    from bp_autodiff.layer_builder import build_case  # imports JAX: only when a pair is audited

    if args.layer is not None and args.layer not in LAYERS:
        names = ", ".join(sorted(LAYERS))
        usage_error(parser, "--layer", f"unknown layer {args.layer!r}; expected one of {names}")
    specs, settings = list(args.inputs or []), list(args.config or [])
    if not specs and not library:
        usage_error(parser, "--input", "a forward/backward pair needs its inputs, e.g. --input x=2,3,8,8")
    for flag, names_given in (("--input", [s[0] for s in specs]), ("--config", [k for k, _ in settings])):
        twice = sorted({n for n in names_given if names_given.count(n) > 1})
        if twice:
            usage_error(parser, flag, f"{twice[0]!r} is given more than once")
    if not specs:  # the library layer at its default geometry
        shapes, config = DEFAULTS[args.layer]
        settings = settings or list(config.items())
        try:
            build_case(args.layer, np.random.default_rng(0), shapes, dict(settings))
        except ValueError as error:
            usage_error(parser, "--config", str(error).removeprefix("config: "))
    return specs, dict(settings)


def run_pair(
    args: argparse.Namespace,
    specs: list[tuple[str, str, int, tuple[int, ...]]],
    settings: dict[str, Any],
    pair: tuple[Callable[..., Any], Callable[..., Any]] | None,
) -> AuditReport:
    """Audit ``pair`` (None: the library layer ``--layer``) on the inputs of ``specs`` (:func:`pair_options`;
    none: the library layer's default inputs, built by :func:`bp_autodiff.layer_builder.build_case`)."""
    from bp_autodiff.auditor import audit_vjp  # imports JAX: only when a pair is audited
    from bp_autodiff.layer_builder import build_case

    if specs:
        inputs = draw_inputs(specs, args.dtype, args.seed)
    else:
        dtype = np.dtype(args.dtype).type
        shapes = DEFAULTS[args.layer][0]
        inputs = build_case(args.layer, np.random.default_rng(args.seed), shapes, settings, dtype).inputs
    forward, backward = pair if pair is not None else (None, None)
    return audit_vjp(
        forward,
        backward,
        inputs,
        config=settings,
        layer=args.layer,
        sweep=True if args.sweep else None,
        seed=args.seed,
        name=args.target or f"bp_manual.layers:{args.layer}",
    )
