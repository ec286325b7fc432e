"""``layer="batch_norm"``: a layer of the library by name, for :func:`bp_autodiff.audit_vjp`.

What this module is for: from a layer's name, its hand-derived pair
(``bp_manual.layers.<family>.<name>_forward``/``_backward``), its JAX twin
(``bp_autodiff.witness.layers.<family>.<name>``, the reference) and the classic
wrong backward passes of its catalog (``bp_autodiff.catalog.<family>.MISTAKES``,
the entries whose ``layer`` is that name: the dictionary of ``layer_mistake``).

Layering. The catalog imports the auditor (``docs/architecture.md``), so this
module reads a catalog module only when a layer is asked for, by name
(``importlib``), never at import time; the catalog stays data to the auditor.
The pair and the twin come from :func:`bp_autodiff.auditor.adapters.from_layer`
(one table of the library's layers, ``adapters.LAYER_INPUTS``).

What it is not for: layers outside the library, or chains of layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bp_autodiff.auditor.adapters import LAYER_INPUTS, from_layer


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
    return sorted(LAYER_INPUTS)


def resolve(name: object) -> LibraryLayer:
    """The library layer called ``name``: the pair and the twin from
    :func:`bp_autodiff.auditor.adapters.from_layer`, the mistakes from its family's catalog.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: no layer of that name (the message lists them).
    """
    if not isinstance(name, str):
        raise TypeError(f"layer must be a layer name (a string), got {type(name).__name__}")
    if name not in LAYER_INPUTS:
        raise ValueError(f"unknown layer {name!r}; expected one of {layer_names()}")
    family = LAYER_INPUTS[name].family
    pair = from_layer(name)
    catalog = importlib.import_module(f"bp_autodiff.catalog.{family}")
    mistakes = {k: v for k, v in getattr(catalog, "MISTAKES", {}).items() if v.layer == name}
    return LibraryLayer(name, family, pair.forward, pair.backward, pair.reference, mistakes)
