"""The finite-difference stencil of ``audit_vjp``, written for speed, gives the plain version's numbers bit for bit.

:func:`bp_autodiff.auditor.vjp_witness.stencil` keeps its four differences in one array and restricts
``dout`` to the touched outputs once (``benchmarks/bench_audit.py`` measures the auditor against
``torch.autograd.gradcheck``). :func:`plain_stencil` below is the version it replaced, written the
direct way: four separate arrays, every restriction formed again. Every field of the two results,
the forward calls made, and the failures at a step must agree exactly, on functions whose outputs
are all touched, only partly touched (masked copies of odd lengths), sitting on a kink, failing or
turning non-finite at a step, and changing shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bp_autodiff.auditor.finite_differences import one_sided
from bp_autodiff.auditor.tolerance import FD_SAFETY
from bp_autodiff.auditor.vjp_contract import make_slots
from bp_autodiff.auditor.vjp_witness import (
    U64,
    Evaluator,
    ForwardFailedError,
    Stencil,
    elementwise,
    stencil,
    steps,
)


def plain_stencil(
    ev: Evaluator, name: str, direction: np.ndarray, h: float, base: np.ndarray, dout: np.ndarray, e: float
) -> Stencil:
    """The stencil as it was written before (four arrays, each restriction formed again)."""
    x = ev.base[name]
    diffs = {}
    for t in (1, -1, 2, -2):
        out = ev.outs(name, x + t * h * direction)
        if out.shape != base.shape or not np.all(np.isfinite(out)):
            raise ForwardFailedError(f"the output changed its shape or became non-finite at a step of {t} h")
        diffs[t] = out - base
    touched = (diffs[1] != 0) | (diffs[-1] != 0) | (diffs[2] != 0) | (diffs[-2] != 0)
    weight = np.abs(dout[touched])
    n = int(np.count_nonzero(touched))
    eps = 2 * e * float(np.sum(weight)) + n * U64 * float(np.sum(weight * np.abs(diffs[2][touched])))
    L = {t: float(np.dot(dout[touched], d[touched])) for t, d in diffs.items()}
    d1 = (L[1] - L[-1]) / (2 * h)
    d2 = (L[2] - L[-2]) / (4 * h)
    right, trunc_r = one_sided(0.0, L[1], L[2], h)
    left, trunc_l = one_sided(0.0, L[-1], L[-2], -h)
    side_rounding = 2.5 * eps / h
    kinked = abs(right - left) > trunc_r + trunc_l + FD_SAFETY * 2 * side_rounding
    asymmetric = abs(trunc_r - trunc_l) > 0.5 * (trunc_r + trunc_l) + FD_SAFETY * 2 * side_rounding
    error = FD_SAFETY * (abs(d2 - d1) / 3 + eps / h)
    side_error = FD_SAFETY * (max(trunc_r, trunc_l) + side_rounding)
    column = (diffs[1] - diffs[-1]) / (2 * h)
    return Stencil(d1, error, left, right, side_error, kinked, column, asymmetric)


def _smooth(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    return np.tanh(W @ x.reshape(-1)) * 1e3, None  # every output touched; large values, so rounding counts


def _banded(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    flat = x.reshape(-1)
    return (np.sin(flat[:-2] * flat[2:]), W[:3, :3] @ flat[:3]), None  # each entry touches 1-4 of 2 outputs


def _kinked(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    return np.abs(x) + np.maximum(x, 0.0) * W[0, 0], None


def _edge(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    with np.errstate(all="ignore"):
        return np.log(x + 1.0) * W[0, 0], None  # x = -1 + 1e-9: non-finite at the left steps


def _raises_right(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    if np.any(x > 0.5 + 1e-12):
        raise ValueError("outside the domain")
    return x**3, None


def _grows(x: np.ndarray, W: np.ndarray) -> tuple[Any, None]:
    return (x if x.flat[0] <= 0.25 else np.append(x, 1.0)), None  # the output changes shape at the first step


FUNCTIONS: dict[str, Callable[..., tuple[Any, None]]] = {
    "smooth": _smooth,
    "banded": _banded,
    "kinked": _kinked,
    "edge": _edge,
    "raises_right": _raises_right,
    "grows": _grows,
}


def _point(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    x = rng.standard_normal(size)
    if name == "kinked":
        x[:3] = (0.0, 1e-7, -3e-6)  # on the kink, and within a step of it
    if name == "edge":
        x = np.abs(x)
        x[0] = -1.0 + 1e-9  # log(x + 1) is finite here, not one step to the left
    if name == "raises_right":
        x = rng.uniform(-0.4, 0.4, size)
        x[1] = 0.5
    if name == "grows":
        x[0] = 0.25
    return x


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("size", [3, 8, 33])
def test_stencil_is_the_plain_stencil_bit_for_bit(name: str, size: int) -> None:
    rng = np.random.default_rng([size, len(name)])
    x = _point(name, rng, size)
    W = rng.standard_normal((max(size, 3), size))
    slots = make_slots({"x": x, "W": W})
    fast = Evaluator(FUNCTIONS[name], slots, {}, {"x": x, "W": W})
    plain = Evaluator(FUNCTIONS[name], slots, {}, {"x": x, "W": W})
    base = fast.outs()
    assert np.array_equal(base, plain.outs())
    dout = rng.standard_normal(base.size)
    e = 3e-14 * float(np.max(np.abs(base)))
    hs = steps(x)
    directions = [np.eye(size)[i] for i in range(size)] + [rng.choice((-1.0, 1.0), size) * hs / hs.max()]
    outcomes = []
    for d in directions:
        h = float(hs[int(np.argmax(d))]) if np.count_nonzero(d) == 1 else float(hs.max())
        results: list[Stencil | str] = []
        for ev, fn in ((fast, stencil), (plain, plain_stencil)):
            try:
                results.append(fn(ev, "x", d, h, base, dout, e))
            except ForwardFailedError as exc:
                results.append(str(exc))
        got, want = results
        assert fast.calls == plain.calls
        if isinstance(want, str):
            assert got == want
            outcomes.append("failed")
            continue
        assert isinstance(got, Stencil)
        for field in ("central", "error", "left", "right", "side_error", "kinked", "asymmetric"):
            assert getattr(got, field) == getattr(want, field), field  # == on floats: bit for bit (no NaN here)
        assert got.column.tobytes() == want.column.tobytes()
        outcomes.append("kinked" if want.kinked else "smooth")
    expected = {"kinked": "kinked", "edge": "failed", "raises_right": "failed", "grows": "failed"}
    if name in expected:
        assert expected[name] in outcomes  # each special case is reached, not only the smooth path


def test_single_and_joined_outputs_are_fresh_arrays() -> None:
    """``Evaluator.outs`` returns a copy even for one float64 output (a forward may reuse its buffer)."""
    buffer = np.zeros(3)

    def reuses(x: np.ndarray) -> tuple[np.ndarray, None]:
        buffer[:] = x
        return buffer, None

    x = np.array([1.0, 2.0, 3.0])
    ev = Evaluator(reuses, make_slots({"x": x}), {}, {"x": x})
    first = ev.outs()
    ev.outs("x", x + 1.0)
    assert np.array_equal(first, x)
    result = elementwise(ev, "x", first, np.ones(3), 0.0, range(3), keep_columns=True)
    assert np.array_equal(result.value, np.ones(3))
