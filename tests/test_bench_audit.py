"""``benchmarks/bench_audit.py`` times both checkers on the same backward pass, and writes only its own table.

The comparison with ``torch.autograd.gradcheck`` is meaningful only if the
``torch.autograd.Function`` it checks computes exactly what the auditor checks:
the library's NumPy forward and the backward under test, nothing added. So the
wrapper's gradients are held to the NumPy backward bit for bit, for the right
backward and for the wrong one. The inputs are held to the issue's shapes, the
floor's break-even to its definition, and the table writer to its markers.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import bp_manual.layers

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cases_have_the_issues_shapes() -> None:
    bench = _load("bench_audit")
    shapes = {layer: {k: v.shape for k, v in bench.case(layer)[0].items()} for layer in bench.LAYERS}
    assert shapes["conv2d"] == {"x": (2, 3, 8, 8), "w": (4, 3, 3, 3), "b": (4,)}
    assert bench.case("conv2d")[1] == {"padding": 1}
    assert shapes["batch_norm"] == {"x": (16, 32), "gamma": (32,), "beta": (32,)}
    N, T, D, H = 2, 5, 4, 6
    lstm = {"x": (N, T, D), "h0": (N, H), "c0": (N, H), "Wx": (4 * H, D), "Wh": (4 * H, H), "b": (4 * H,)}
    assert shapes["lstm"] == lstm
    assert shapes["attention"] == {"q": (2, 6, 8), "k": (2, 6, 8), "v": (2, 6, 8)}


@pytest.mark.parametrize("layer", ["conv2d", "batch_norm", "lstm", "attention"])
def test_the_torch_function_is_the_numpy_pair(layer: str) -> None:
    """Through the wrapper, torch's gradient for a random ``dout`` is the NumPy backward's, bit for bit.

    Both the library's backward and the catalog entry used as the wrong one: gradcheck then
    differentiates exactly the function the auditor audits (same forward output, same gradients).
    """
    torch = pytest.importorskip("torch")
    bench = _load("bench_audit")
    inputs, config = bench.case(layer)
    forward = getattr(bp_manual.layers, f"{layer}_forward")
    entry = bench.catalog_entry(*bench.LAYERS[layer])
    args = list(inputs.values())
    out, _ = forward(*args, **config)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    for backward in (getattr(bp_manual.layers, f"{layer}_backward"), entry.backward):
        tensors = [torch.tensor(v, requires_grad=True) for v in args]
        got = bench.torch_function(forward, backward, config).apply(*tensors)
        assert np.array_equal(got.detach().numpy(), out)
        grads = torch.autograd.grad(got, tensors, torch.tensor(dout))
        want = backward(dout, forward(*args, **config)[1])
        for g, w in zip(grads, want, strict=True):
            assert np.array_equal(g.numpy(), w)


def test_floor_break_even() -> None:
    """At the reported forward time ``F*`` the two checkers' costs ``n (F + own work)`` are equal."""
    bench = _load("bench_audit")
    n_a, n_g, g_fwd = 1300, 800, 650
    a, g = 1e-4, 3e-4  # own work per call
    F = 2e-4  # the forward's time, the same inside both
    warm = {"audit": n_a * (F + a), "gradcheck": n_g * (F + g)}
    inside = {"audit": (n_a, 2, n_a * F), "gradcheck": (g_fwd, n_g - g_fwd, n_g * F)}
    line = bench._floor("lstm", "right", warm, inside)
    cross = (n_g * g - n_a * a) / (n_a - n_g)
    assert math.isclose(n_a * (cross + a), n_g * (cross + g), rel_tol=1e-12)
    assert f"under about {cross * 1e3:.2f} ms" in line
    assert f"{n_a} times" in line and f"{n_g} times" in line


def test_write_table_replaces_only_its_own_table(tmp_path: Path) -> None:
    common = _load("common")
    path = tmp_path / "performance.md"
    a_start, a_end = common.markers("bench_audit")
    s_start, s_end = common.markers("bench_step")
    path.write_text(f"intro\n{s_start}\nstep table\n{s_end}\nmiddle\n{a_start}\nold\n{a_end}\nend\n", encoding="utf-8")
    common.write_table(path, "new", "bench_audit")
    assert path.read_text(encoding="utf-8") == (
        f"intro\n{s_start}\nstep table\n{s_end}\nmiddle\n{a_start}\nnew\n{a_end}\nend\n"
    )


def test_write_table_refuses_a_file_without_its_markers(tmp_path: Path) -> None:
    """A table written into an existing file without its markers would replace the whole file (it once wiped
    docs/performance.md): refused, the file unchanged; a new file gets the table alone."""
    common = _load("common")
    path = tmp_path / "performance.md"
    path.write_text("intro\nother tables\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        common.write_table(path, "new", "bench_audit")
    assert path.read_text(encoding="utf-8") == "intro\nother tables\n"
    common.write_table(tmp_path / "new.md", "table", "bench_audit")
    assert (tmp_path / "new.md").read_text(encoding="utf-8") == "table"
