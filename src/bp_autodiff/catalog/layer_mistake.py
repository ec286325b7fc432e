"""The record of one classic wrong backward pass of a layer of :mod:`bp_manual.layers`.

What this module is for: the one type every layer family's ``MISTAKES``
registry holds (``bp_autodiff.catalog.<family>.MISTAKES``), so the tests, the
teaching commands and the auditor's dictionary of diagnoses read them alike.

What it is not for: the mistakes themselves (one module per layer family).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class LayerMistake(NamedTuple):
    """One classic wrong backward pass of a library layer.

    Fields:
        layer: the layer's name in :mod:`bp_manual.layers` (``"max_pool2d"``); its
            forward is ``bp_manual.layers.<layer>_forward``.
        backward: ``(dout, cache) -> tuple of gradients``, the layer's backward
            with one mistake, marked ``# MISTAKE`` in its source.
        kind: the finding kind the auditor should give (``"lost_accumulation"``,
            ``"layer_mistake"``, ``"scale"``, ...).
        wrong: names of the inputs whose gradient the mistake changes.
        config: the layer settings at which the mistake shows (a mistake may hide
            at some settings, as ``=`` for ``+=`` hides in non-overlapping pools).
    """

    layer: str
    backward: Callable[..., Any]
    kind: str
    wrong: tuple[str, ...]
    config: dict[str, Any] = {}  # noqa: RUF012 (read-only default, never mutated)
