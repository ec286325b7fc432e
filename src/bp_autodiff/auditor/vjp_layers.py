"""``layer="batch_norm"``: a layer of the library by name, for :func:`bp_autodiff.audit_vjp`.

What this module is for: from a layer's name, its hand-derived pair
(``bp_manual.layers.<family>.<name>_forward``/``_backward``), its JAX twin
(``bp_autodiff.witness.layers.<family>.<name>``, the reference) and the classic
wrong backward passes of its catalog (``bp_autodiff.catalog.<family>.MISTAKES``,
the entries whose ``layer`` is that name: the dictionary of ``layer_mistake``).

Layering. The catalog imports the auditor (``docs/architecture.md``), so this
module reads a catalog module only when a layer is asked for, by name
(``importlib``), never at import time; the catalog stays data to the auditor.
(``bp_autodiff.auditor.adapters.from_layer`` resolves the pair and the twin too;
the two are to be merged.)

What it is not for: layers outside the library, or chains of layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The layer families: ``bp_manual.layers.<family>``, ``bp_autodiff.witness.layers.<family>``,
#: ``bp_autodiff.catalog.<family>``.
FAMILIES = (
    "activations",
    "attention",
    "conv",
    "dropout",
    "embedding",
    "linear",
    "norm",
    "pool",
    "recurrent",
    "softmax",
)


@dataclass(frozen=True)
class LibraryLayer:
    """A layer of the library: its pair, its JAX twin and its catalog entries.

    Attributes:
        name: ``"conv2d"``; ``family``: ``"conv"``.
        forward, backward: the hand-derived pair.
        twin: the JAX twin ``(*inputs, **config) -> out``.
        mistakes: catalog entry name -> ``LayerMistake`` (``.backward``, ``.kind``, ``.config``).
    """

    name: str
    family: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    twin: Callable[..., Any]
    mistakes: Mapping[str, Any] = field(default_factory=dict)


def layer_names() -> list[str]:
    """Every layer name of the library, sorted (``["attention", "avg_pool2d", ...]``)."""
    names = []
    for family in FAMILIES:
        module = importlib.import_module(f"bp_manual.layers.{family}")
        twins = importlib.import_module(f"bp_autodiff.witness.layers.{family}")
        pairs = [n.removesuffix("_forward") for n in dir(module) if n.endswith("_forward")]
        names += [n for n in pairs if hasattr(module, f"{n}_backward") and hasattr(twins, n)]
    return sorted(names)


def resolve(name: object) -> LibraryLayer:
    """The library layer called ``name``.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: no layer of that name (the message lists them).
    """
    if not isinstance(name, str):
        raise TypeError(f"layer must be a layer name (a string), got {type(name).__name__}")
    for family in FAMILIES:
        manual = importlib.import_module(f"bp_manual.layers.{family}")
        twins = importlib.import_module(f"bp_autodiff.witness.layers.{family}")
        forward = getattr(manual, f"{name}_forward", None)
        if forward is None or not hasattr(manual, f"{name}_backward") or not hasattr(twins, name):
            continue
        twin = getattr(twins, name)
        catalog = importlib.import_module(f"bp_autodiff.catalog.{family}")
        mistakes = {k: v for k, v in getattr(catalog, "MISTAKES", {}).items() if v.layer == name}
        return LibraryLayer(name, family, forward, getattr(manual, f"{name}_backward"), twin, mistakes)
    raise ValueError(f"unknown layer {name!r}; expected one of {layer_names()}")
