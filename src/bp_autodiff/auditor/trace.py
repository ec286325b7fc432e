"""The trace behind ``bp explain --trace``: one step run by both sides, every intermediate side by side.

What this module is for: teaching. :func:`trace` runs one step on seeded
random data and keeps every intermediate (``Z_l``, ``A_l``, ``delta_l``,
``dW_l``, ``db_l`` and the loss) twice: from the hand derivation
(``bp_manual.forward``'s cache and ``bp_manual.loss_grads_and_deltas``) and
from JAX (:func:`bp_autodiff.witness.network.layers` and
:func:`bp_autodiff.loss_grads_and_deltas`), with their largest difference.

What it is not for: auditing someone else's backward pass (that is
:func:`bp_autodiff.audit`); the trace always runs ``bp_manual``. It runs in
float64 only, where the two sides must agree to rounding error
(``TRACE_RTOL``). The command is :mod:`bp_autodiff.cli.explain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff.witness import network
from bp_autodiff.witness.grads import loss_grads_and_deltas
from bp_manual.explain import shape_text
from bp_manual.initializers import INITIALIZERS
from bp_manual.problems import random_batch, random_params

Array = NDArray[np.floating]

#: The agreement bar in float64, the project's (``tests/tolerances.py`` derives
#: it: the rounding-error bound for the networks tested is about 3e-13, and a
#: wrong gradient misses it by orders of magnitude).
TRACE_RTOL = 1e-9
#: Batch size of a trace when ``--batch`` is not given.
TRACE_BATCH = 4
#: How many leading entries of each array the text shows.
HEAD = 3


@dataclass(frozen=True)
class TraceRow:
    """One intermediate computed by both sides.

    Attributes:
        name: ``"Z1"``, ``"A1"``, ``"loss"``, ``"delta2"``, ``"dW1"``, ``"db1"``, ...
        kind: ``"Z"``, ``"A"``, ``"loss"``, ``"delta"``, ``"dW"`` or ``"db"``.
        layer: ``l`` (``None`` for the loss).
        manual: the value from ``bp_manual`` (float64; the loss as a 0-d array).
        jax: the value from JAX, same shape and dtype.
    """

    name: str
    kind: str
    layer: int | None
    manual: Array
    jax: Array

    @property
    def max_abs_diff(self) -> float:
        """``max |manual - jax|`` over the array."""
        return float(np.max(np.abs(self.manual - self.jax), initial=0.0))

    @property
    def rel_diff(self) -> float:
        """``max |manual - jax| / max |jax|`` (0 when both are exactly 0, inf when only JAX's is)."""
        scale = float(np.max(np.abs(self.jax), initial=0.0))
        if scale == 0.0:
            return 0.0 if self.max_abs_diff == 0.0 else float("inf")
        return self.max_abs_diff / scale

    @property
    def ok(self) -> bool:
        """Same shape, finite, and ``rel_diff <= TRACE_RTOL``."""
        return (
            self.manual.shape == self.jax.shape
            and bool(np.all(np.isfinite(self.manual)) and np.all(np.isfinite(self.jax)))
            and self.rel_diff <= TRACE_RTOL
        )

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """JSON-ready; the arrays as nested lists only when ``full``."""
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "layer": self.layer,
            "shape": list(self.manual.shape),
            "max_abs_diff": self.max_abs_diff,
            "rel_diff": self.rel_diff,
            "ok": self.ok,
            "manual_head": self.manual.ravel()[:HEAD].tolist(),
            "jax_head": self.jax.ravel()[:HEAD].tolist(),
        }
        if full:
            d["manual"] = self.manual.tolist()
            d["jax"] = self.jax.tolist()
        return d


@dataclass(frozen=True)
class Trace:
    """One step of ``spec`` on seeded random data, from both sides.

    Attributes:
        spec: the architecture; ``batch``, ``init``, ``seed``: how the data and
            the params were drawn (``X ~ N(0, 1)``; ``Y ~ N(0, 1)`` for mse,
            random labels for cross_entropy, ``U(0, 1)`` for binary_cross_entropy).
        rows: forward (``Z_l``, ``A_l``), the loss, deltas (``L..1``), gradients
            (``dW_l``, ``db_l``), in the order of the equations.
    """

    spec: bp_manual.NetworkSpec
    batch: int
    init: str
    seed: int
    rows: tuple[TraceRow, ...]

    @property
    def ok(self) -> bool:
        """Every row agrees within ``TRACE_RTOL``."""
        return all(r.ok for r in self.rows)

    @property
    def worst(self) -> TraceRow:
        """The row with the largest relative difference."""
        return max(self.rows, key=lambda r: r.rel_diff)

    def render(self) -> str:
        """Side-by-side text table, one row per intermediate, and a verdict line."""
        s = self.spec
        lines = [
            f"trace: one step on seeded random data (N = {self.batch}, init {self.init}, seed {self.seed}, "
            f"float64), bp_manual vs JAX",
            f"{'term':<8} {'shape':<12} {'bp_manual (first values)':<36} {'JAX (first values)':<36} "
            f"{'max|diff|':>9} {'rel':>9}",
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<8} {shape_text(r.manual.shape):<12} {_head(r.manual):<36} {_head(r.jax):<36} "
                f"{r.max_abs_diff:>9.1e} {r.rel_diff:>9.1e}"
            )
        w = self.worst
        lines.append(
            f"largest relative difference {w.rel_diff:.1e} ({w.name}); "
            f"agree within {TRACE_RTOL:g}: {self.ok}  [{'-'.join(map(str, s.sizes))}, {s.hidden}, {s.output}+{s.loss}]"
        )
        return "\n".join(lines)

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """JSON-ready: settings, the tolerance, the verdict and every row."""
        return {
            "batch": self.batch,
            "init": self.init,
            "seed": self.seed,
            "dtype": "float64",
            "rtol": TRACE_RTOL,
            "ok": self.ok,
            "rows": [r.to_dict(full) for r in self.rows],
        }


#: JAX's forward pass with every intermediate, compiled once per (spec, shapes, dtype).
_layers = jax.jit(network.layers, static_argnums=0)


def _head(a: Array) -> str:
    flat = a.ravel()
    text = " ".join(f"{v:+.5g}" for v in flat[:HEAD])
    return text + (" ..." if flat.size > HEAD else "")


def trace(spec: bp_manual.NetworkSpec, batch: int = TRACE_BATCH, init: str = "xavier_normal", seed: int = 0) -> Trace:
    """Run one step of ``spec`` on seeded random data with both sides, in float64.

    Args:
        spec: the architecture.
        batch: ``N >= 1``, the number of samples.
        init: a name in ``bp_manual.INITIALIZERS`` (biases start at 0).
        seed: a non-negative int; params, then ``X``, then ``Y`` are drawn from
            ``numpy.random.default_rng(seed)``.

    Returns:
        A :class:`Trace` whose rows hold, for ``l = 1..L``, ``Z_l`` and ``A_l``
        ``(N, n_l)``, the loss ``()``, ``delta_l`` ``(N, n_l)``, ``dW_l``
        ``(n_l, n_{l-1})`` and ``db_l`` ``(n_l,)`` (with bias), all float64.

    Raises:
        TypeError / ValueError: a bad ``spec``, ``batch``, ``init`` or ``seed``.
    """
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise TypeError(f"batch must be an int, got {type(batch).__name__}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; expected one of {sorted(INITIALIZERS)}")
    rng = bp_manual.initializers.as_generator(seed)
    params = random_params(spec, rng, init, bias_std=None)
    X, Y = random_batch(spec, rng, batch, form="one_hot")

    _, cache = bp_manual.forward(spec, params, X)
    loss_m, grads_m, deltas_m = bp_manual.loss_grads_and_deltas(spec, params, X, Y)
    loss_j, grads_j, deltas_j = loss_grads_and_deltas(spec, params, X, Y)
    with jax.enable_x64(True):
        jparams = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in params]
        layers_j = [(np.asarray(Z), np.asarray(A)) for Z, A in _layers(spec, jparams, jnp.asarray(X))]

    L = spec.n_layers
    rows: list[TraceRow] = []
    for l in range(1, L + 1):
        rows.append(TraceRow(f"Z{l}", "Z", l, cache[l - 1].Z, layers_j[l - 1][0]))
        rows.append(TraceRow(f"A{l}", "A", l, cache[l - 1].A, layers_j[l - 1][1]))
    rows.append(TraceRow("loss", "loss", None, np.asarray(loss_m), np.asarray(loss_j)))
    for l in range(L, 0, -1):
        rows.append(TraceRow(f"delta{l}", "delta", l, deltas_m[l - 1], deltas_j[l - 1]))
    for l in range(1, L + 1):
        rows.append(TraceRow(f"dW{l}", "dW", l, grads_m[l - 1]["W"], grads_j[l - 1]["W"]))
        if spec.bias:
            rows.append(TraceRow(f"db{l}", "db", l, grads_m[l - 1]["b"], grads_j[l - 1]["b"]))
    return Trace(spec, batch, init, int(seed), tuple(rows))
