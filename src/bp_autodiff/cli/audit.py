"""``bp audit MODULE:FUNCTION``: audit your own backward pass from the command line.

What this module is for: importing a user's function (``MODULE`` is imported
as Python would, with the current directory on the path, so ``my_bp:grads``
finds ``./my_bp.py``), building the network the options describe, running the
auditor (:mod:`bp_autodiff.auditor`) and printing its report. Exit status 0 when
nothing was found, 1 when something was, 2 for bad usage.

The function is audited as a gradient function
(``grad_fn(spec, params, X, Y) -> (loss, grads[, deltas])``) unless ``--as``
says ``step`` (``step_fn(spec, params, X, Y, lr) -> new params``) or
``forward`` (``predict_fn(spec, params, X) -> Y_hat``). For an entry of
:mod:`bp_autodiff.catalog` the right mode is chosen automatically, and when no
network option is given, the entry's example network (where its mistake
shows: e.g. 5-5-5 for ``layers_swapped``, one sample for the seed's code).

Given ``MODULE:FORWARD,BACKWARD`` (two names after the colon), or ``--layer NAME``
with no target, the pair mode of :mod:`bp_autodiff.cli.audit_pair` runs instead
(:func:`bp_autodiff.audit_vjp`). In either mode ``--plot report.png`` draws
each failing array as expected, got and their difference
(:func:`bp_autodiff.auditor.plot.plot_arrays` of ``report.arrays``).

What it is not for: the computation (all of it is in :mod:`bp_autodiff.auditor`).

The auditor's entry points and the catalog (which import JAX) are imported
where an audit runs, not with this module: ``bp`` registers every subcommand
at start-up, and the commands that audit nothing start without JAX.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import bp_manual
from bp_autodiff.auditor.contract import raised_at
from bp_autodiff.auditor.plot import plot_arrays
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.cli.args import (
    Parser,
    layer_sizes,
    non_negative_int,
    positive_float,
    positive_int,
    spec_from_args,
    usage_error,
)
from bp_autodiff.cli.audit_pair import config_value, input_spec, pair_options, run_pair
from bp_autodiff.cli.outputs import add_output_argument
from bp_manual import HIDDEN, INITIALIZERS, LOSSES


def _load_file(path: Path) -> ModuleType:
    """Import the Python file ``path`` as a module named after it (``./my_bp.py`` -> ``my_bp``)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # as an import would, so dataclasses and pickling find it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[path.stem]
        raise
    return module


def _where(exc: BaseException) -> str:
    """``SyntaxError: invalid syntax (my_bp.py, line 3)`` or ``NameError: ... (my_bp.py, line 7)``: one line."""
    text = exc.msg if isinstance(exc, SyntaxError) else str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{raised_at(exc)}"


def load_functions(target: str) -> list[Callable[..., Any]]:
    """``"module:f"`` -> ``[f]``; ``"module:forward,backward"`` -> ``[forward, backward]`` (one import).

    The module part is a module name, imported as Python would with the
    current directory first on the path, or, when it ends in ``.py`` or
    contains a path separator, a file imported from that path.

    Raises:
        ValueError: a one-line message for a malformed target, a module that
            cannot be found or fails while being imported (a syntax error, an
            exception at import time: with its file and line), a missing
            attribute, or an object that is not callable.
    """
    module_name, sep, attrs = target.rpartition(":")
    names = attrs.split(",")
    if not sep or not module_name or not all(names) or len(names) > 2:
        raise ValueError(
            "expected MODULE:FUNCTION, FILE.py:FUNCTION or MODULE:FORWARD,BACKWARD "
            f"(e.g. bp_autodiff.catalog:sign_flipped), got {target!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from_file = module_name.endswith(".py") or "/" in module_name or os.sep in module_name
    if from_file and not Path(module_name).is_file():
        raise ValueError(f"{module_name}: no such file")
    try:
        module = _load_file(Path(module_name)) if from_file else importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ValueError(f"cannot import module {module_name!r}: no module named {exc.name!r}") from None
        raise ValueError(f"cannot import {module_name}: {_where(exc)}") from None
    except Exception as exc:  # the user's module failed while being imported: say where, in one line
        raise ValueError(f"cannot import {module_name}: {_where(exc)}") from None
    found = []
    for attr in names:
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise ValueError(f"{module_name}:{attr} is not callable")
        found.append(obj)
    return found


def load_function(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` or ``"path/to/file.py:function"`` -> the function.

    Raises:
        ValueError: as :func:`load_functions`, and for a pair (``module:forward,backward``).
    """
    if "," in target.rpartition(":")[2]:
        raise ValueError(f"expected one function, got the pair {target!r}")
    return load_functions(target)[0]


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp audit`` to the ``bp`` parser."""
    p = sub.add_parser(
        "audit",
        help="audit your own backward pass (MODULE:FUNCTION or MODULE:FORWARD,BACKWARD) against JAX and finite "
        "differences",
        description=(
            "Audit a gradient function grad_fn(spec, params, X, Y) -> (loss, grads[, deltas]) on a random "
            "network and batch, against JAX and float64 finite differences; or, given MODULE:FORWARD,BACKWARD, "
            "a forward/backward pair in the layer contract (forward(*inputs, **config) -> (out, cache), "
            "backward(dout, cache) -> grads) on random inputs of the --input shapes. --layer NAME alone "
            "audits the library's own layer. Exit status 1 when it finds something."
        ),
    )
    p.add_argument(
        "target",
        metavar="MODULE:FUNCTION",
        nargs="?",
        default=None,
        help="e.g. my_backprop:loss_and_grads, ./my_backprop.py:loss_and_grads, or my_layer.py:conv_forward,"
        "conv_backward for a pair",
    )
    net = p.add_argument_group("network mode (MODULE:FUNCTION)")
    net.add_argument("--sizes", type=layer_sizes, default=None, help="layer sizes (default 4,8,3)")
    net.add_argument("--hidden", choices=sorted(HIDDEN), default=None, help="hidden activation (default tanh)")
    net.add_argument("--output", choices=("identity", "softmax", "sigmoid"), default=None, help="default: the loss's")
    net.add_argument("--loss", choices=sorted(LOSSES), default=None, help="default mse")
    net.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None, help="biases (default on)")
    net.add_argument("--init", choices=sorted(INITIALIZERS), default=None, help="default xavier_normal")
    net.add_argument("--batch", type=positive_int, default=None, help="number of samples N (default 5)")
    net.add_argument("--lr", type=positive_float, default=None, help="learning rate for --as step (default 0.5)")
    net.add_argument("--as", dest="mode", choices=("grad", "step", "forward"), default=None, help="default: grad")
    pair = p.add_argument_group("pair mode (MODULE:FORWARD,BACKWARD, or --layer NAME alone)")
    pair.add_argument(
        "--input",
        dest="inputs",
        action="append",
        type=input_spec,
        metavar="NAME=SHAPE",
        help="a positional input of forward, in order: x=2,3,8,8 (standard normal floats), "
        "indices=int:5:3,4 (integers in [0, 5)), mask=bool:3,4",
    )
    pair.add_argument(
        "--config",
        action="append",
        type=config_value,
        metavar="KEY=VALUE",
        help="a keyword setting of forward: stride=2, eps=1e-5, causal=true (int, float, bool, none, else a string)",
    )
    pair.add_argument("--layer", default=None, help="audit against the library layer NAME (its JAX twin and mistakes)")
    pair.add_argument("--sweep", action="store_true", help="also try the settings where backward passes go wrong")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed for the inputs (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_output_argument(
        p,
        "--plot",
        suffix=".png",
        needs="matplotlib",
        help="write expected, got and their difference as heatmaps, one row per failing array",
    )
    p.set_defaults(run=_run)


def _catalog_mode(fn: object) -> str | None:
    from bp_autodiff import catalog  # imports JAX: only when an audit runs (module docstring)

    for entry in catalog.CATALOG.values():
        if entry.function is fn:
            return entry.mode
    return None


_NETWORK_OPTIONS = ("sizes", "hidden", "output", "loss", "bias", "init", "batch", "lr")


def _fill_defaults(args: argparse.Namespace, fn: object) -> None:
    """Options left out take the defaults; for a catalog entry given no network option
    at all, its example network (``catalog.EXAMPLES``), where its mistake shows."""
    from bp_autodiff import catalog  # imports JAX: only when an audit runs (module docstring)

    name = next((n for n, e in catalog.CATALOG.items() if e.function is fn), None)
    if name is not None and all(getattr(args, o) is None for o in _NETWORK_OPTIONS):
        ex = catalog.EXAMPLES[name]
        s = ex.spec
        args.sizes, args.hidden, args.output, args.loss, args.bias = s.sizes, s.hidden, s.output, s.loss, s.bias
        args.init, args.batch, args.lr = ex.init, ex.batch, ex.lr
        print(f"bp audit: catalog entry {name!r} on its example network", file=sys.stderr)
    defaults = {"sizes": (4, 8, 3), "hidden": "tanh", "loss": "mse", "bias": True, "init": "xavier_normal"}
    for option, value in {**defaults, "batch": 5, "lr": 0.5}.items():
        if getattr(args, option) is None:
            setattr(args, option, value)


_PAIR_OPTIONS = {"inputs": "--input", "config": "--config", "layer": "--layer", "sweep": "--sweep"}
_NETWORK_FLAGS = {o: f"--{o}" for o in _NETWORK_OPTIONS} | {"mode": "--as"}


def _check_mode(args: argparse.Namespace, parser: argparse.ArgumentParser) -> bool:
    """True for the pair mode; a usage error for a flag of the other mode, or no target and no ``--layer``."""
    pair = args.target is None or "," in args.target.rpartition(":")[2]
    if args.target is None and args.layer is None:
        usage_error(parser, "MODULE:FUNCTION", "give a function to audit, or --layer NAME for a library layer")
    wrong = _NETWORK_FLAGS if pair else _PAIR_OPTIONS
    for dest, flag in wrong.items():
        if getattr(args, dest) not in (None, False):
            other = "a gradient function (MODULE:FUNCTION)" if pair else "a pair (MODULE:FORWARD,BACKWARD or --layer)"
            usage_error(parser, flag, f"applies to {other} only")
    return pair


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    pair_mode = _check_mode(args, parser)
    specs, settings = pair_options(args, parser, args.target is None) if pair_mode else ([], {})
    try:
        fns = load_functions(args.target) if args.target is not None else []
    except ValueError as exc:
        usage_error(parser, "MODULE:FUNCTION", str(exc))
    if pair_mode:
        report = run_pair(args, specs, settings, (fns[0], fns[1]) if fns else None)
    else:
        report = _run_network(args, parser, fns[0])
    if args.json:
        print(report.to_json())
    else:  # the time taken is in the JSON; the text is the same on every run
        report.extra.pop("seconds", None)
        print(report.render())
    if args.plot is not None:
        _plot(report, args.plot)
    return 0 if report.ok else 1


def _plot(report: AuditReport, path: str) -> None:
    """The heatmaps of the failing arrays (``report.arrays``) into ``path``; a line on stderr either way."""
    if not report.arrays:
        print(f"bp audit: --plot: no failing array to draw; {path} not written", file=sys.stderr)
        return
    plot_arrays(report.arrays, path)
    print(f"bp audit: heatmaps of {', '.join(report.arrays)} written to {path}", file=sys.stderr)


def _run_network(args: argparse.Namespace, parser: argparse.ArgumentParser, fn: Callable[..., Any]) -> AuditReport:
    from bp_autodiff.auditor import audit, audit_forward, audit_step  # import JAX: only here (module docstring)

    _fill_defaults(args, fn)
    spec = spec_from_args(args, parser)
    mode = args.mode or _catalog_mode(fn) or "grad"
    dtype = np.dtype(args.dtype).type
    rng = np.random.default_rng(args.seed)
    params = bp_manual.init_params(spec, args.init, rng, dtype)
    if spec.bias:  # non-zero biases, so that the bias path is tested
        params = [{**p, "b": rng.normal(0.0, 0.5, p["b"].shape).astype(dtype)} for p in params]
    X = rng.normal(0.0, 1.0, (args.batch, spec.n_in)).astype(dtype)
    if spec.loss == "mse":
        Y = rng.normal(0.0, 1.0, (args.batch, spec.n_out)).astype(dtype)
    elif spec.loss == "cross_entropy":
        Y = np.eye(spec.n_out, dtype=dtype)[rng.integers(0, spec.n_out, args.batch)]
    else:
        Y = rng.uniform(0.0, 1.0, (args.batch, spec.n_out)).astype(dtype)
    if mode == "step":
        return audit_step(spec, params, X, Y, args.lr, fn, name=args.target)
    if mode == "forward":
        return audit_forward(spec, params, X, fn, name=args.target)
    return audit(spec, params, X, Y, fn, name=args.target)
