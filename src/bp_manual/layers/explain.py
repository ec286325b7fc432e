"""The equations of each layer's forward and backward pass, with the shape of every term: ``bp explain --layer``.

What this module is for: teaching. :data:`~bp_manual.layers.equations.TABLE`
holds, for every layer of :mod:`bp_manual.layers`, its forward and backward equations in the letters the
code uses, each array written ``$name(d1, d2)`` with its shape in named
dimensions; :func:`layer_equations` turns one entry into the same
:class:`~bp_manual.explain.Equation` records ``bp explain`` prints for the dense
network, with the dimensions left as symbols (``x (N, C, H, W)``) or, given
their sizes, as numbers (derived ones such as ``OH = (Hp - KH) // stride + 1``
computed). :func:`render` and :func:`to_dict` make the text and the JSON from
that one structure, so they cannot disagree, and a test holds every printed
shape against the arrays the layer computes.

Recurrent layers are written for one time step ``t`` (``x_t = x[:, t]``,
``h_prev = h_{t-1}``); the backward runs ``t = T-1 .. 0`` with the carries
``dh_next`` (and ``dc_next``) starting at 0.

What it is not for: computing anything (the numbers are in the layers' own
modules), or the dense network (:mod:`bp_manual.explain`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bp_manual.explain import Dim, Equation, Term
from bp_manual.layers.equations import TABLE, LayerTable

__all__ = ["TABLE", "TOKEN", "LayerTable", "layer_equations", "render", "sizes", "to_dict"]

#: ``$name(dims)``: an array in a table equation; ``name`` may end in ``.T`` or be ``f'(x)``.
TOKEN = re.compile(r"\$(?P<name>[A-Za-z_][\w.]*(?:'\(\w+\))?)\((?P<dims>[^()]*)\)")


def sizes(name: str, dims: Mapping[str, int] | None = None) -> dict[str, Dim]:
    """Every dimension of ``name``'s table: symbols (``dims=None``), or numbers: the layer's example sizes
    overridden by ``dims``, then the derived dimensions computed from them.

    Raises:
        ValueError: an unknown layer (the known ones listed) or dimension, a size below 1 (0 for ``padding``).
        TypeError: a size that is not an int.
    """
    if name not in TABLE:
        raise ValueError(f"unknown layer {name!r}; expected one of {sorted(TABLE)}")
    entry = TABLE[name]
    if dims is None:
        return {**{k: k for k in entry.dims}, **{s: s for s, _, _ in entry.derived}}
    unknown = sorted(set(dims) - set(entry.dims))
    if unknown:
        raise ValueError(f"{name} has no dimension {unknown}; its dimensions are {list(entry.dims)}")
    values = {k: example for k, (_, example) in entry.dims.items()} | dict(dims)
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"dimension {k} must be an int, got {type(v).__name__}")
        if v < (0 if k == "padding" else 1):
            raise ValueError(f"dimension {k} must be >= {0 if k == 'padding' else 1}, got {v}")
    out: dict[str, Dim] = dict(values)
    for symbol, _, rule in entry.derived:
        size = rule(values)
        if size < 1:
            raise ValueError(f"{name}: {symbol} = {size} with {values}; the window does not fit")
        out[symbol] = size
    return out


def _equation(phase: str, line: str, size: Mapping[str, Dim]) -> Equation:
    """A table line as an :class:`Equation`: its first ``$token`` the left-hand side, the rest terms in order."""

    def shape(dims: str) -> tuple[Dim, ...]:  # named dimensions, or a literal size (the 1 of keepdims)
        return tuple(int(d) if d.isdigit() else size[d] for d in (d.strip() for d in dims.split(",")) if d)

    terms = [Term(m["name"], m["name"], None, shape(m["dims"])) for m in TOKEN.finditer(line)]
    first = TOKEN.search(line)
    assert first is not None, line  # every table line starts with its left-hand side
    op = "<-" if " <- " in line else "="
    rest = line[first.end() :].split(f" {op} ", 1)[1]
    counter = iter(range(len(terms)))
    template = TOKEN.sub(lambda _: "{" + str(next(counter)) + "}", rest.replace("{", "{{").replace("}", "}}"))
    return Equation(phase, terms[0], template, tuple(terms[1:]), op)


def layer_equations(name: str, dims: Mapping[str, int] | None = None) -> tuple[Equation, ...]:
    """The forward then the backward equations of layer ``name``, shapes as :func:`sizes` gives them."""
    size = sizes(name, dims)
    entry = TABLE[name]
    return tuple(_equation("forward", e, size) for e in entry.forward) + tuple(
        _equation("backward", e, size) for e in entry.backward
    )


def render(name: str, dims: Mapping[str, int] | None = None) -> str:
    """The text of ``bp explain --layer name``: a header, the sizes, the equations under forward/backward, the notes."""
    entry, size = TABLE[name], sizes(name, dims)
    eqs = layer_equations(name, dims)
    if dims is None:
        dims_line = ", ".join(f"{k} {meaning}" for k, (meaning, _) in entry.dims.items())
    else:
        dims_line = ", ".join(f"{k} = {size[k]}" for k in entry.dims)
    lines = [f"bp explain --layer {name}: {entry.title} ({entry.module})", f"sizes: {dims_line}"]
    if entry.derived:
        shown = (f"{s} = {text}" + ("" if dims is None else f" = {size[s]}") for s, text, _ in entry.derived)
        lines.append("where: " + "; ".join(shown))
    for phase, heading in (("forward", "forward:"), ("backward", "backward (dout = dL/dout):")):
        lines += ["", heading]
        lines += ["  " + e.text() for e in eqs if e.phase == phase]
    if entry.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in entry.notes]
    return "\n".join(lines)


def to_dict(name: str, dims: Mapping[str, int] | None = None) -> dict[str, object]:
    """JSON-ready: the layer, its sizes (symbols or numbers), every equation (:meth:`Equation.to_dict`), the notes."""
    entry = TABLE[name]
    return {
        "layer": name,
        "title": entry.title,
        "module": entry.module,
        "sizes": sizes(name, dims),
        "derived": {s: text for s, text, _ in entry.derived},
        "equations": [e.to_dict() for e in layer_equations(name, dims)],
        "notes": list(entry.notes),
    }
