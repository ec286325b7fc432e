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

What it is not for: the computation (all of it is in :mod:`bp_autodiff.auditor`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import bp_manual
from bp_autodiff import catalog
from bp_autodiff.auditor.forward import audit_forward
from bp_autodiff.auditor.gradients import audit
from bp_autodiff.auditor.step import audit_step
from bp_autodiff.cli.args import (
    Parser,
    layer_sizes,
    non_negative_int,
    positive_float,
    positive_int,
    spec_from_args,
    usage_error,
)
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
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or '?').name}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and "<frozen" not in f.filename]
    place = f" ({Path(user[-1].filename).name}, line {user[-1].lineno})" if user else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}{place}"


def load_function(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` or ``"path/to/file.py:function"`` -> the function.

    A module name is imported as Python would, with the current directory
    first on the path; a target whose module part ends in ``.py`` or contains
    a path separator is imported from that file.

    Raises:
        ValueError: a one-line message for a malformed target, a module that
            cannot be found or fails while being imported (a syntax error, an
            exception at import time: with its file and line), a missing
            attribute, or an object that is not callable.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"expected MODULE:FUNCTION or FILE.py:FUNCTION (e.g. bp_autodiff.catalog:sign_flipped), got {target!r}"
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
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{target} is not callable")
    return obj


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp audit`` to the ``bp`` parser."""
    p = sub.add_parser(
        "audit",
        help="audit your own backward pass (MODULE:FUNCTION) against JAX and finite differences",
        description=(
            "Audit a gradient function grad_fn(spec, params, X, Y) -> (loss, grads[, deltas]) on a random "
            "network and batch, against JAX and float64 finite differences. Exit status 1 when it finds something."
        ),
    )
    p.add_argument(
        "target", metavar="MODULE:FUNCTION", help="e.g. my_backprop:loss_and_grads or ./my_backprop.py:loss_and_grads"
    )
    p.add_argument("--sizes", type=layer_sizes, default=None, help="layer sizes (default 4,8,3)")
    p.add_argument("--hidden", choices=sorted(HIDDEN), default=None, help="hidden activation (default tanh)")
    p.add_argument("--output", choices=("identity", "softmax", "sigmoid"), default=None, help="default: the loss's")
    p.add_argument("--loss", choices=sorted(LOSSES), default=None, help="default mse")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None, help="biases (default on)")
    p.add_argument("--init", choices=sorted(INITIALIZERS), default=None, help="default xavier_normal")
    p.add_argument("--batch", type=positive_int, default=None, help="number of samples N (default 5)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate for --as step (default 0.5)")
    p.add_argument("--as", dest="mode", choices=("grad", "step", "forward"), default=None, help="default: grad")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed for weights and data (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_run)


def _catalog_mode(fn: object) -> str | None:
    for entry in catalog.CATALOG.values():
        if entry.function is fn:
            return entry.mode
    return None


_NETWORK_OPTIONS = ("sizes", "hidden", "output", "loss", "bias", "init", "batch", "lr")


def _fill_defaults(args: argparse.Namespace, fn: object) -> None:
    """Options left out take the defaults; for a catalog entry given no network option
    at all, its example network (``catalog.EXAMPLES``), where its mistake shows."""
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


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        fn = load_function(args.target)
    except ValueError as exc:
        usage_error(parser, "MODULE:FUNCTION", str(exc))
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
        report = audit_step(spec, params, X, Y, args.lr, fn, name=args.target)
    elif mode == "forward":
        report = audit_forward(spec, params, X, fn, name=args.target)
    else:
        report = audit(spec, params, X, Y, fn, name=args.target)
    print(report.to_json() if args.json else report.render())
    return 0 if report.ok else 1
