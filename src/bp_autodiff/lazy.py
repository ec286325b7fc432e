"""A package's public names imported on first use (PEP 562).

What this module is for: the one ``__getattr__``/``__dir__`` pair of the
packages whose names must not cost an import: ``bp_autodiff`` (the pytest
plugin, loaded in every session of a project that has this package installed,
must not import JAX) and ``bp_autodiff.auditor`` (``bp`` commands that audit
nothing start without JAX). A name is imported from its module the first time
it is read, then kept in the package like an ordinary attribute.

What it is not for: anything else; a module that needs its names at once imports them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any


def attributes(
    package: str, names: Mapping[str, str], submodules: Collection[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps each public name to the module that defines it,
    ``submodules`` are reachable as attributes (``package.submodule``) without an import first.

    Raises (from ``__getattr__``): ``AttributeError`` for any other name, as for an ordinary module.
    """

    def get(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def names_and_submodules() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names, *submodules})

    return get, names_and_submodules
