"""The module paths of the flat layout before 0.2, kept importable with a ``DeprecationWarning``.

What this module is for: code written against the old layout
(``from bp_autodiff.tolerance import close``, ``bp_autodiff.scan.sgd_epoch``)
keeps working: importing an old path gives a stand-in module whose attributes
are those of the module's new home (:data:`MOVED`), and warns once with that
home's name. The stand-in holds nothing of its own, so there is still one
implementation of everything.

What it is not for: new code, which imports from the new homes. The old
``bp_autodiff.audit`` *module* is not kept: that name is the function
:func:`bp_autodiff.audit` (its module is :mod:`bp_autodiff.auditor`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence

#: old module path -> new module path
MOVED: dict[str, str] = {
    "bp_autodiff.grads": "bp_autodiff.witness.grads",
    "bp_autodiff.network": "bp_autodiff.witness.network",
    "bp_autodiff.bucketed": "bp_autodiff.witness.bucketed",
    "bp_autodiff.jitcache": "bp_autodiff.witness.jitcache",
    "bp_autodiff.tolerance": "bp_autodiff.auditor.tolerance",
    "bp_autodiff.check": "bp_autodiff.auditor.check",
    "bp_autodiff.lockstep": "bp_autodiff.auditor.lockstep",
    "bp_autodiff.explain": "bp_autodiff.auditor.trace",
    "bp_autodiff.scan": "bp_autodiff.jitted.scan",
    "bp_autodiff.audit_command": "bp_autodiff.cli.audit",
    "bp_autodiff.cli_args": "bp_autodiff.cli.args",
    "bp_autodiff.demo": "bp_autodiff.cli.demo",
    "bp_autodiff.train_cli": "bp_autodiff.cli.train",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as a stand-in that forwards every attribute to the new module."""

    def __init__(self, target: str) -> None:
        self.target = target

    def exec_module(self, module: types.ModuleType) -> None:
        target = importlib.import_module(self.target)
        warnings.warn(
            f"{module.__name__} moved to {self.target}; import it from there", DeprecationWarning, stacklevel=2
        )
        module.__doc__ = f"Moved to :mod:`{self.target}` (this stand-in forwards to it)."
        module.__dict__["__getattr__"] = lambda name: getattr(target, name)
        module.__dict__["__dir__"] = lambda: dir(target)


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old module paths of :data:`MOVED` (installed on ``sys.meta_path`` by ``bp_autodiff``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        return None if new is None else importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put :class:`MovedModuleFinder` on ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
