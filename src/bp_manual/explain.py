"""The equations of backpropagation for one architecture, with the shape of every term.

What this module is for: teaching. :func:`equations` writes out, for a given
:class:`~bp_manual.spec.NetworkSpec`, the forward pass, the loss, the backward
pass, the gradients and the SGD update, in the seed's style (a shape beside
every intermediate) but for any depth and batch, e.g.::

    delta1 (N, 32) = (delta2 (N, 64) @ W2 (64, 32)) * sigmoid'(Z1) (N, 32)

The equations are one data structure (a tuple of :class:`Equation`); the text
(:func:`render`) and the JSON (:func:`to_dict`) are both made from it, so they
cannot disagree. Each :class:`Term` names the array it stands for
(``kind``/``layer``/``transposed``), so a test can hold every printed shape
against the arrays :func:`bp_manual.network.forward` and
:func:`bp_manual.network.backward` actually compute.

Notation (``docs/derivation.md``): layer ``l = 1..L``; ``A0 = X``; ``Zl``,
``Al`` ``(N, n_l)``; ``Wl`` ``(n_l, n_{l-1})``; ``bl`` ``(n_l,)``;
``deltal = dL/dZl``; ``dWl``, ``dbl`` the gradients; ``N`` the batch size,
symbolic unless given.

What it is not for: computing anything. It only reads the spec; the numbers
are in :mod:`bp_manual.network` (and ``bp explain --trace`` runs them). It
imports no NumPy.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from bp_manual.spec import NetworkSpec

#: A dimension: an integer width, or the batch size (``"N"`` when symbolic).
Dim = int | str
Shape = tuple[Dim, ...]

#: The phases, in the order they are printed.
PHASES = ("forward", "loss", "backward", "gradients", "update")

#: ``f'`` written the way ``bp_manual.activations`` computes it (from ``A`` where shorter).
#: ``{Z}`` and ``{A}`` are filled with the layer's terms.
DERIVATIVE_FORMULAS: dict[str, str] = {
    "identity": "1",
    "sigmoid": "{A} * (1 - {A})",
    "tanh": "1 - {A}**2",
    "relu": "({Z} > 0)",
    "leaky_relu": "where({Z} > 0, 1, 0.01)",
    "softplus": "sigmoid({Z})",
}

#: The loss written from the output layer's terms; ``{A}`` is ``A_L = Y_hat``,
#: ``{Z}`` is ``Z_L``, ``{Y}`` the targets.
LOSS_FORMULAS: dict[str, str] = {
    "mse": "sum(({A} - {Y})**2) / (2N)",
    "cross_entropy": "-sum({Y} * log_softmax({Z})) / N",
    "binary_cross_entropy": "sum({Y} * softplus(-{Z}) + (1 - {Y}) * softplus({Z})) / N",
}


@dataclass(frozen=True)
class Term:
    """One array in an equation, with its shape.

    Attributes:
        name: as printed, e.g. ``"W2"``, ``"W2.T"``, ``"sigmoid'(Z1)"``.
        kind: which array: ``"A"``, ``"Z"``, ``"W"``, ``"b"``, ``"delta"``,
            ``"dW"``, ``"db"``, ``"fprime"`` (``f'(Z_l)``), ``"Y"`` or ``"loss"``.
        layer: ``l`` (``0`` for ``A0 = X``; ``None`` for ``Y`` and the loss).
        shape: the shape of the array as printed (after the transpose, if any).
        transposed: True when the term is the array's transpose (``W2.T``).
    """

    name: str
    kind: str
    layer: int | None
    shape: Shape
    transposed: bool = False

    def text(self) -> str:
        """``"name (d1, d2)"``, the way the seed's comments write shapes."""
        return f"{self.name} {shape_text(self.shape)}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: name, kind, layer, shape (a list), transposed, text."""
        return {
            "name": self.name,
            "kind": self.kind,
            "layer": self.layer,
            "shape": list(self.shape),
            "transposed": self.transposed,
            "text": self.text(),
        }


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs``, where ``rhs`` is a template over ``terms``.

    Attributes:
        phase: one of ``PHASES``.
        lhs: the term being defined.
        rhs: a ``str.format`` template; ``{0}``, ``{1}``, ... are the terms.
        terms: the arrays on the right-hand side, in template order.
        op: ``"="`` (a definition) or ``"<-"`` (an update).
    """

    phase: str
    lhs: Term
    rhs: str
    terms: tuple[Term, ...]
    op: str = "="

    def text(self) -> str:
        """The equation as one line, every term followed by its shape."""
        return f"{self.lhs.text()} {self.op} " + self.rhs.format(*(t.text() for t in self.terms))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: phase, op, lhs, terms and the rendered text."""
        return {
            "phase": self.phase,
            "op": self.op,
            "lhs": self.lhs.to_dict(),
            "terms": [t.to_dict() for t in self.terms],
            "text": self.text(),
        }


def shape_text(shape: Shape) -> str:
    """``(N, 32)``, ``(32,)`` or ``()``, as Python prints a tuple."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _equation(phase: str, lhs: Term, template: str, op: str = "=", **named: Term) -> Equation:
    """An :class:`Equation` from a template with named fields (``{A}``, ``{Y}``, ...).

    Only the fields the template uses become terms, in the order they first
    appear, so the JSON lists exactly the terms the text prints.
    """
    order: list[str] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None and field not in order:
            order.append(field)
    positional = template.format(**{name: "{" + str(i) + "}" for i, name in enumerate(order)})
    return Equation(phase, lhs, positional, tuple(named[name] for name in order), op)


def _check_batch(batch: int | None) -> Dim:
    if batch is None:
        return "N"
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise TypeError(f"batch must be None or a positive int, got {type(batch).__name__}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return batch


def equations(spec: NetworkSpec, batch: int | None = None) -> tuple[Equation, ...]:
    """Every equation of one SGD step for ``spec``, with the shape of every term.

    Args:
        spec: the architecture.
        batch: the batch size ``N``, or ``None`` to print the symbol ``N``.

    Returns:
        The equations in ``PHASES`` order: forward (``Z_l``, ``A_l`` for
        ``l = 1..L``), loss, backward (``delta_L``, then ``f'(Z_l)`` and
        ``delta_l`` for ``l = L-1..1``), gradients (``dW_l``, ``db_l``), update.

    Raises:
        TypeError: ``spec`` is not a ``NetworkSpec`` or ``batch`` not an int.
        ValueError: ``batch < 1``.
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    N = _check_batch(batch)
    n = spec.sizes
    L = spec.n_layers

    def A(l: int) -> Term:
        return Term(f"A{l}", "A", l, (N, n[l]))

    def Z(l: int) -> Term:
        return Term(f"Z{l}", "Z", l, (N, n[l]))

    def W(l: int, transposed: bool = False) -> Term:
        if transposed:
            return Term(f"W{l}.T", "W", l, (n[l - 1], n[l]), transposed=True)
        return Term(f"W{l}", "W", l, (n[l], n[l - 1]))

    def b(l: int) -> Term:
        return Term(f"b{l}", "b", l, (n[l],))

    def delta(l: int, transposed: bool = False) -> Term:
        if transposed:
            return Term(f"delta{l}.T", "delta", l, (n[l], N), transposed=True)
        return Term(f"delta{l}", "delta", l, (N, n[l]))

    def fprime(l: int) -> Term:
        return Term(f"{spec.hidden}'(Z{l})", "fprime", l, (N, n[l]))

    Y = Term("Y", "Y", None, (N, n[L]))
    out: list[Equation] = [Equation("forward", A(0), "{0}", (Term("X", "A", 0, (N, n[0])),))]
    for l in range(1, L + 1):
        if spec.bias:
            out.append(Equation("forward", Z(l), "{0} @ {1} + {2}", (A(l - 1), W(l, True), b(l))))
        else:
            out.append(Equation("forward", Z(l), "{0} @ {1}", (A(l - 1), W(l, True))))
        act = spec.output if l == L else spec.hidden
        out.append(Equation("forward", A(l), act + "({0})", (Z(l),)))

    out.append(_equation("loss", Term("L", "loss", None, ()), LOSS_FORMULAS[spec.loss], A=A(L), Y=Y, Z=Z(L)))

    out.append(Equation("backward", delta(L), "({0} - {1}) / N", (A(L), Y)))
    for l in range(L - 1, 0, -1):
        out.append(_equation("backward", fprime(l), DERIVATIVE_FORMULAS[spec.hidden], Z=Z(l), A=A(l)))
        out.append(Equation("backward", delta(l), "({0} @ {1}) * {2}", (delta(l + 1), W(l + 1), fprime(l))))

    for l in range(1, L + 1):
        dW = Term(f"dW{l}", "dW", l, (n[l], n[l - 1]))
        out.append(Equation("gradients", dW, "{0} @ {1}", (delta(l, True), A(l - 1))))
        if spec.bias:
            db = Term(f"db{l}", "db", l, (n[l],))
            out.append(Equation("gradients", db, "{0}.sum(axis=0)", (delta(l),)))

    for l in range(1, L + 1):
        dW = Term(f"dW{l}", "dW", l, (n[l], n[l - 1]))
        out.append(Equation("update", W(l), "{0} - lr * {1}", (W(l), dW), op="<-"))
        if spec.bias:
            db = Term(f"db{l}", "db", l, (n[l],))
            out.append(Equation("update", b(l), "{0} - lr * {1}", (b(l), db), op="<-"))
    return tuple(out)


_HEADINGS = {
    "forward": "forward pass (Z = A_prev @ W.T + b, A = f(Z))",
    "loss": "loss (a batch mean)",
    "backward": "backward pass (delta_l = dL/dZ_l)",
    "gradients": "gradients (the 1/N of the mean is already in delta)",
    "update": "SGD update (after every gradient is computed)",
}


def render(spec: NetworkSpec, eqs: tuple[Equation, ...]) -> str:
    """The equations as text, one per line, under a heading per phase."""
    N = eqs[0].lhs.shape[0] if eqs else "N"
    bias = "with bias" if spec.bias else "no bias"
    batch = "batch size N" if N == "N" else f"batch size N = {N}"
    lines = [
        f"bp explain: sizes {'-'.join(map(str, spec.sizes))}, hidden {spec.hidden}, "
        f"output {spec.output}, loss {spec.loss}, {bias}, {batch}",
        "shapes: W_l is (n_l, n_{l-1}), samples are rows; @ is the matrix product, * element-wise",
    ]
    for phase in PHASES:
        heading = _HEADINGS[phase] if spec.bias else _HEADINGS[phase].replace(" + b,", ",")  # no b without a bias
        lines += ["", f"{heading}:"]
        lines += ["  " + e.text() for e in eqs if e.phase == phase]
    return "\n".join(lines)


def to_dict(spec: NetworkSpec, eqs: tuple[Equation, ...]) -> dict[str, object]:
    """JSON-ready: the spec and every equation (see :meth:`Equation.to_dict`)."""
    return {
        "spec": {
            "sizes": list(spec.sizes),
            "hidden": spec.hidden,
            "output": spec.output,
            "loss": spec.loss,
            "bias": spec.bias,
        },
        "batch": eqs[0].lhs.shape[0] if eqs else "N",
        "equations": [e.to_dict() for e in eqs],
    }
