"""The settings and shapes where backward passes go wrong, tried one after another by :func:`bp_autodiff.audit_vjp`.

What this module is for: a check at one setting misses mistakes that hide
there. In issue 14's course repositories, 12 of 16 wrong layer backward passes
passed their course's own check: a max pool that writes instead of adding is
right for non-overlapping windows (2x2, stride 2), a convolution that crops its
padding with ``[p:-p]`` is right for every padding but 0, a forgotten dilation
is right at stride 1. So after the audit at the settings given, the auditor
varies them, in every combination (at most :data:`MAX_CASES`):

=====================================  ===================================================
``stride``                             1, 2, 3
``pad``, ``padding``                   0, 1, 2
``kernel_size``; ``pool_height`` and   2, 3; (2, 2), (3, 3), (2, 3): overlapping, exact and
``pool_width`` (together)              gapped windows with the strides, a non-square window
``p``                                  0.25, 0.5
``eps``                                1e-5, 0.5 (a large ``eps`` makes its term count)
``causal``                             False, True
``slope``                              0.01, 0.2
=====================================  ===================================================

The keys are looked for in ``config``, in the settings dicts among the inputs
(a course's ``conv_param``, ``pool_param``), among the inputs themselves (a
number named ``p``), and, for a library layer, in its forward's keyword
arguments. Then, at the settings given, shapes: batch 1 (every array input
sharing the first input's leading axis cut to one), a non-square input (the
first input's last axis one longer, new values), sequence length 1 (axis 1
of the inputs sharing the first input's ``(N, T)`` cut to one). New values
are drawn from a seeded Generator in the given dtypes; integer and boolean
inputs of a reshaped input's shape are drawn again within their given range.

Each case is judged by finite differences alone (JAX compiles again for
every new shape, one to two seconds each), first along random directions only
(eight forward evaluations per input); a case that fails is audited again
entry by entry, for the diagnosis, with the layer's catalog still naming a
matching mistake. A setting the forward does not accept (it raises, and so does the reference
if there is one) is ``skipped``; a setting where it fails is a
:class:`~bp_autodiff.auditor.report.SweepCase` with verdict ``FAIL``, and its
findings join the report with their ``setting``.

What it is not for: random search over all shapes (the property tests do
that), or settings the menu does not name.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from bp_autodiff.auditor.report import AuditReport, SweepCase
from bp_autodiff.auditor.vjp_check import check
from bp_autodiff.auditor.vjp_contract import Options, Slot, Subject, fresh

#: The values tried per setting key (module docstring).
MENU: dict[str, tuple[Any, ...]] = {
    "stride": (1, 2, 3),
    "pad": (0, 1, 2),
    "padding": (0, 1, 2),
    "kernel_size": (2, 3),
    "p": (0.25, 0.5),
    "eps": (1e-5, 0.5),
    "causal": (False, True),
    "slope": (0.01, 0.2),
}
#: Window pairs tried together for a course's ``pool_height``/``pool_width``.
WINDOWS = ((2, 2), (3, 3), (2, 3))
#: The most settings tried beyond the ones given.
MAX_CASES = 12
#: Where a setting lives: ``("config", key)``, ``("dict", slot index, key)`` or ``("slot", slot index)``.
Place = tuple[Any, ...]


def _places(slots: Sequence[Slot], config: Mapping[str, Any], layer_keys: Mapping[str, Any]) -> list[tuple[Place, Any]]:
    """Every setting the menu knows, where it is, and its value now (a library forward's default if not given)."""
    found: list[tuple[Place, Any]] = [(("config", k), v) for k, v in config.items() if k in MENU]
    found += [(("config", k), v) for k, v in layer_keys.items() if k in MENU and k not in config]
    for i, s in enumerate(slots):
        if isinstance(s.value, Mapping):
            keys = list(s.value)
            found += [(("dict", i, k), s.value[k]) for k in keys if k in MENU]
            if "pool_height" in keys and "pool_width" in keys:
                found.append((("dict", i, "window"), (s.value["pool_height"], s.value["pool_width"])))
        elif s.role == "setting" and s.name in MENU and isinstance(s.value, int | float):
            found.append((("slot", i), s.value))
    return found


def _apply(
    slots: Sequence[Slot], config: Mapping[str, Any], changes: Mapping[Place, Any]
) -> tuple[list[Slot], dict[str, Any]]:
    new_slots = [Slot(s.name, fresh(s.value), s.role) for s in slots]
    new_config = dict(config)
    for place, value in changes.items():
        if place[0] == "config":
            new_config[place[1]] = value
        elif place[0] == "slot":
            new_slots[place[1]] = dataclasses.replace(new_slots[place[1]], value=value)
        elif place[2] == "window":
            new_slots[place[1]].value.update(pool_height=value[0], pool_width=value[1])
        else:
            new_slots[place[1]].value[place[2]] = value
    return new_slots, new_config


def _label(slots: Sequence[Slot], config: Mapping[str, Any], changed: Sequence[Place]) -> str:
    parts = []
    dicts = sorted({p[1] for p in changed if p[0] == "dict"})
    parts += [f"{slots[i].name}={slots[i].value!r}" for i in dicts]
    parts += [f"{slots[p[1]].name}={slots[p[1]].value!r}" for p in changed if p[0] == "slot"]
    parts += [f"{p[1]}={config[p[1]]!r}" for p in changed if p[0] == "config"]
    return ", ".join(parts)


def setting_cases(
    slots: Sequence[Slot], config: Mapping[str, Any], layer_keys: Mapping[str, Any]
) -> list[tuple[str, list[Slot], dict[str, Any]]]:
    """``[(label, slots, config)]``: the combinations of the menu's values, the given one left out."""
    places = _places(slots, config, layer_keys)
    menus = [
        WINDOWS if place[-1] == "window" else MENU[slots[place[1]].name if place[0] == "slot" else place[-1]]
        for place, _ in places
    ]
    skip = {("dict", p[1], k) for p, _ in places if p[-1] == "window" for k in ("pool_height", "pool_width")}
    cases = []
    for combo in itertools.product(*menus):
        changes = {place: value for (place, now), value in zip(places, combo, strict=True) if place not in skip}
        if all(value == now for (place, now), value in zip(places, combo, strict=True) if place not in skip):
            continue
        new_slots, new_config = _apply(slots, config, changes)
        cases.append((_label(new_slots, new_config, list(changes)), new_slots, new_config))
        if len(cases) >= MAX_CASES:
            break
    return cases


def _redraw(s: Slot, shape: tuple[int, ...], rng: np.random.Generator) -> Slot:
    v = s.value
    if s.role == "float":
        return Slot(s.name, rng.standard_normal(shape).astype(v.dtype), s.role)
    if v.dtype == bool:
        return Slot(s.name, rng.random(shape) < float(np.mean(v)) if v.size else np.zeros(shape, bool), s.role)
    low, high = (int(v.min()), int(v.max())) if v.size else (0, 0)
    return Slot(s.name, rng.integers(low, high + 1, size=shape).astype(v.dtype), s.role)


def shape_cases(slots: Sequence[Slot], rng: np.random.Generator) -> list[tuple[str, list[Slot]]]:
    """``[(label, slots)]``: batch 1, a non-square input, sequence length 1 (module docstring), where they apply."""
    first = next(s for s in slots if s.role == "float").value
    arrays = [s.role != "setting" for s in slots]
    cases = []
    if first.ndim >= 2 and first.shape[0] > 1:
        cut = [
            s.value[:1] if a and s.value.ndim and s.value.shape[0] == first.shape[0] else s.value
            for s, a in zip(slots, arrays, strict=True)
        ]
        cases.append(("batch 1", [Slot(s.name, v, s.role) for s, v in zip(slots, cut, strict=True)]))
    if first.ndim == 4 and first.shape[-1] == first.shape[-2]:
        shape = (*first.shape[:-1], first.shape[-1] + 1)
        new = [
            _redraw(s, shape, rng) if a and s.value.shape == first.shape else s
            for s, a in zip(slots, arrays, strict=True)
        ]
        cases.append((f"non-square input {shape}", new))
    if first.ndim == 3 and first.shape[1] > 1:
        nt = first.shape[:2]
        cut = [
            s.value[:, :1] if a and s.value.ndim >= 2 and s.value.shape[:2] == nt else s.value
            for s, a in zip(slots, arrays, strict=True)
        ]
        cases.append(("sequence length 1", [Slot(s.name, v, s.role) for s, v in zip(slots, cut, strict=True)]))
    return cases


def _layer_keys(forward: Callable[..., Any] | None) -> dict[str, Any]:
    """The keyword settings of a library forward with their defaults (a ``stride`` of None: the window's size)."""
    if forward is None:
        return {}
    params = inspect.signature(forward).parameters.values()
    return {p.name: p.default for p in params if p.default is not p.empty}


def run_sweep(
    report: AuditReport,
    subject: Subject,
    slots: Sequence[Slot],
    config: Mapping[str, Any],
    options: Options,
    layer: str | None,
) -> None:
    """Audit ``subject`` at every case of :func:`setting_cases` and :func:`shape_cases`; record them in ``report``."""
    rng = np.random.default_rng([options.seed, 4])
    keys = _layer_keys(subject.library_forward) if layer else {}
    cases = setting_cases(slots, config, keys)
    cases += [(label, s, dict(config)) for label, s in shape_cases(slots, rng)]
    quick = Options(options.seed, 1, options.directions, options.budget)
    full = Options(options.seed, options.fd_max_entries, options.directions, options.budget)
    fd_only = dataclasses.replace(subject, reference=None)
    for label, new_slots, new_config in cases:
        sub = check(fd_only, new_slots, new_config, quick)
        refused = [f for f in sub.findings if f.param == "forward" and f.kind in ("raises", "shape")]
        if refused and not _reference_runs(subject, new_slots, new_config):
            report.sweep.append(SweepCase(label, "skipped", note=refused[0].detail))
            continue
        if sub.findings:
            sub = check(fd_only, new_slots, new_config, full)
        kinds = tuple(dict.fromkeys(f.kind for f in sub.findings))
        note = f"{sub.findings[0].param}: {sub.findings[0].kind}" if sub.findings else ""
        report.sweep.append(SweepCase(label, "FAIL" if sub.findings else "pass", kinds, note))
        report.findings += [dataclasses.replace(f, setting=label) for f in sub.findings]


def _reference_runs(subject: Subject, slots: Sequence[Slot], config: Mapping[str, Any]) -> bool:
    """Does the reference (or the library forward) accept these inputs and settings?"""
    for fn in (subject.library_forward, subject.reference):
        if fn is None:
            continue
        try:
            fn(*[fresh(s.value) for s in slots], **config)
            return True
        except Exception:  # it does not: the setting does not apply
            return False
    return False
