"""Time to a verdict: ``bp_autodiff.audit_vjp`` against ``torch.autograd.gradcheck`` on the same backward passes.

Run from the repository root (torch is needed here: it is the peer measured):

    .venv/bin/python benchmarks/bench_audit.py [--repeat 5] [--threads 1] [--layers conv2d,lstm]
        [--out docs/performance.md]

What it measures (issue 17, item 2). For each layer of :mod:`bp_manual.layers`
below, at the shapes of the issue, two backward passes: the library's own
(``right``) and one classic mistake of that family from
``bp_autodiff.catalog.<family>.MISTAKES`` (``wrong``). Both checkers look at
exactly the same NumPy code: ``audit_vjp`` calls ``<name>_forward`` and the
backward directly; for ``gradcheck`` they are wrapped in a
``torch.autograd.Function`` whose ``forward`` calls the NumPy forward on
``t.detach().numpy()`` and whose ``backward`` calls the NumPy backward. Both
must reach the right verdict (the script raises otherwise): gradcheck ``True``
/ ``False``; the auditor ``ok`` / a finding of the catalog entry's kind that
names it.

- ``conv2d``: ``x (2, 3, 8, 8)``, ``w (4, 3, 3, 3)``, ``b (4,)``, padding 1; wrong: ``dx_unflipped_kernel``.
- ``batch_norm``: ``x (16, 32)``, ``gamma``, ``beta (32,)``; wrong: ``gamma_left_out``.
- ``lstm``: ``N=2, T=5, D=4, H=6``; wrong: ``lstm_no_cell_carry``.
- ``attention``: ``N=2, T=S=6, d=dv=8``; wrong: ``attention_no_scale_in_backward`` (the 1/sqrt(d) scale).

Everything runs in one fresh worker process pinned to ``--threads`` CPUs
(BLAS, torch and XLA; ``benchmarks/common.py``), so the imports are timed cold.

Columns of the table:
- ``gradcheck``: ``torch.autograd.gradcheck(f, inputs, raise_exception=False)``, float64, its
  default mode (``fast_mode=False``: the full numerical and analytical Jacobians).
- ``audit``: ``audit_vjp(forward, backward, inputs, config=..., layer=name, sweep=False)``:
  finite differences, the JAX twin as the second witness, the diagnosis with the layer's
  catalog, at the one setting gradcheck checks. ``audit / gradcheck`` is the target (<= 1).
- ``audit + sweep``: the same call with ``layer=``'s default ``sweep=None`` (on): the auditor then
  also tries the settings and shapes where backward passes go wrong (``auditor/sweep.py``,
  the number of cases in brackets), which gradcheck never looks at; reported, not the target.
- warm times are medians over ``--repeat`` runs (the three checkers alternate, so a change
  in the machine's load hits them alike), after imports and first calls.
- ``first call``: the first run of each checker on that row, minus its warm median: for the
  auditor, JAX tracing and compiling the twin's VJP at these shapes (once per layer: the
  ``wrong`` row reuses the executable); for gradcheck, torch's own first-call costs.
- ``calls``: forward calls of one ``audit`` (its finite differences need 4 per input entry,
  ``x +- h`` and ``x +- 2h``, fewer for large inputs differenced along random directions)
  against gradcheck's forward + backward calls (2 per input entry, 2 per output entry).
- ``s inside the pair``: the seconds spent inside the NumPy forward (and, for gradcheck, the
  backward), median over the runs: the rest is each checker's own work.
- ``forward``: one call of the NumPy forward inside the audit (its seconds inside the pair over its calls).

Rows over the target get a line under the table with the floor that stops them: the
forward calls the finite differences need, the time spent inside them against gradcheck's
whole time, and the forward time under which the auditor would be the faster (:func:`_floor`).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/common.py, also when loaded from a path
from common import MALLOC, run_worker, write_table

NAME = "bench_audit"
#: layer -> (its catalog family, the catalog entry used as the wrong backward)
LAYERS = {
    "conv2d": ("conv", "dx_unflipped_kernel"),
    "batch_norm": ("norm", "gamma_left_out"),
    "lstm": ("recurrent", "lstm_no_cell_carry"),
    "attention": ("attention", "attention_no_scale_in_backward"),
}


def case(layer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(inputs, config)`` of ``layer`` at the issue's shapes, drawn from a seeded Generator (float64).

    None of these layers has a kink, so plain normal draws are valid points; the
    LSTM's weights are scaled by 0.5 so that its gates are not saturated.
    """
    import numpy as np

    rng = np.random.default_rng(17)

    def normal(*shape: int, scale: float = 1.0) -> Any:
        return scale * rng.standard_normal(shape)

    if layer == "conv2d":
        return {"x": normal(2, 3, 8, 8), "w": normal(4, 3, 3, 3), "b": normal(4)}, {"padding": 1}
    if layer == "batch_norm":
        return {"x": normal(16, 32), "gamma": normal(32), "beta": normal(32)}, {}
    if layer == "lstm":
        N, T, D, H = 2, 5, 4, 6
        weights = {"Wx": normal(4 * H, D, scale=0.5), "Wh": normal(4 * H, H, scale=0.5), "b": normal(4 * H)}
        return {"x": normal(N, T, D), "h0": normal(N, H), "c0": normal(N, H), **weights}, {}
    if layer == "attention":
        return {"q": normal(2, 6, 8), "k": normal(2, 6, 8), "v": normal(2, 6, 8)}, {}
    raise ValueError(f"unknown layer {layer!r}; expected one of {sorted(LAYERS)}")


class Counted:
    """A function that counts its calls and the time spent in them (the pair as both checkers see it)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def torch_function(forward: Callable[..., Any], backward: Callable[..., Any], config: dict[str, Any]) -> Any:
    """A ``torch.autograd.Function`` whose forward and backward are the NumPy pair (nothing else)."""
    import numpy as np
    import torch

    class Pair(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *tensors: Any) -> Any:
            out, cache = forward(*[t.detach().numpy() for t in tensors], **config)
            ctx.cache = cache
            return torch.from_numpy(np.asarray(out))

        @staticmethod
        def backward(ctx: Any, dout: Any) -> Any:
            grads = backward(dout.detach().numpy(), ctx.cache)
            return tuple(None if g is None else torch.from_numpy(np.asarray(g)) for g in grads)

    return Pair


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(layer: str, repeat: int) -> tuple[list[str], list[str]]:
    """The two rows of ``layer`` (right, wrong) and the floor lines of those over the target."""
    import bp_manual.layers

    entry = catalog_entry(*LAYERS[layer])
    lib_forward = getattr(bp_manual.layers, f"{layer}_forward")
    rows, floors = [], []
    for label, backward in (("right", getattr(bp_manual.layers, f"{layer}_backward")), ("wrong", entry.backward)):
        row, floor = measure_row(layer, label, Counted(lib_forward), Counted(backward), repeat)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
        if floor is not None:
            floors.append(floor)
    return rows, floors


def measure_row(layer: str, label: str, forward: Counted, backward: Counted, repeat: int) -> tuple[str, str | None]:
    """One row of the table and, when the auditor is the slower, its floor line (:func:`_floor`)."""
    import torch

    from bp_autodiff import audit_vjp

    family, entry_name = LAYERS[layer]
    inputs, config = case(layer)
    fn = torch_function(forward, backward, config).apply
    tensors = tuple(torch.tensor(v, requires_grad=True) for v in inputs.values())
    results: dict[str, Any] = {}
    checkers: dict[str, Callable[[], object]] = {
        "gradcheck": lambda: results.update(gradcheck=torch.autograd.gradcheck(fn, tensors, raise_exception=False)),
        "audit": lambda: results.update(
            audit=audit_vjp(forward, backward, inputs, config=config, layer=layer, sweep=False)
        ),
        "sweep": lambda: results.update(sweep=audit_vjp(forward, backward, inputs, config=config, layer=layer)),
    }
    first = {k: seconds(run) for k, run in checkers.items()}
    times: dict[str, list[float]] = {k: [] for k in checkers}
    calls: dict[str, tuple[int, int]] = {}  # per checker: calls of the forward, of the backward (one run)
    spent: dict[str, list[float]] = {k: [] for k in checkers}  # per run: seconds inside the pair
    for _ in range(repeat):
        for k, run in checkers.items():
            before = (forward.calls, backward.calls, forward.seconds + backward.seconds)
            times[k].append(seconds(run))
            calls[k] = (forward.calls - before[0], backward.calls - before[1])
            spent[k].append(forward.seconds + backward.seconds - before[2])
    warm = {k: statistics.median(v) for k, v in times.items()}
    inside = {k: (*calls[k], statistics.median(spent[k])) for k in ("audit", "gradcheck")}
    verdict = _verdict(results, label == "right", entry_name, catalog_entry(family, entry_name).kind)
    ratio = warm["audit"] / warm["gradcheck"]
    (a_fwd, _, a_in), (g_fwd, g_bwd, g_in) = inside["audit"], inside["gradcheck"]
    row = (
        f"| {layer} | {label} | {verdict} | {warm['gradcheck']:.3f} | {warm['audit']:.3f} | {ratio:.2f}x "
        f"| {warm['sweep']:.3f} ({len(results['sweep'].sweep)}) | {warm['sweep'] / warm['gradcheck']:.2f}x "
        f"| {first['audit'] - warm['audit']:+.2f} | {first['gradcheck'] - warm['gradcheck']:+.2f} "
        f"| {a_fwd} / {g_fwd} + {g_bwd} | {a_in:.3f} / {g_in:.3f} | {a_in / a_fwd * 1e3:.2f} ms |"
    )
    return row, (_floor(layer, label, warm, inside) if ratio > 1 else None)


def catalog_entry(family: str, entry_name: str) -> Any:
    """The catalog entry ``bp_autodiff.catalog.<family>.MISTAKES[entry_name]``."""
    import importlib

    return importlib.import_module(f"bp_autodiff.catalog.{family}").MISTAKES[entry_name]


def _floor(layer: str, label: str, warm: dict[str, float], inside: dict[str, tuple[int, int, float]]) -> str:
    """The line saying what stops a row: the forward calls the finite differences need, against gradcheck's.

    With ``a`` and ``g`` the checkers' own work per call of the pair (their time outside it over
    their calls), the auditor's ``n_a`` calls cost ``n_a (F + a)`` and gradcheck's ``n_g`` calls
    ``n_g (F + g)`` for a forward (and backward) of ``F``: equal at ``F* = (n_g g - n_a a) / (n_a - n_g)``.
    """
    (n_a, _, in_a), (g_fwd, g_bwd, in_g) = inside["audit"], inside["gradcheck"]
    n_g = g_fwd + g_bwd
    a = (warm["audit"] - in_a) / n_a
    g = (warm["gradcheck"] - in_g) / n_g
    cross = (n_g * g - n_a * a) / (n_a - n_g) if n_a > n_g else math.inf
    under = f"under about {cross * 1e3:.2f} ms" if cross > 0 else "of no length (its own work per call is the larger)"
    return (
        f"- {layer}, {label}: the finite differences call the forward {n_a} times (4 per input entry: "
        f"`x +- h`, `x +- 2h`), gradcheck calls the pair {n_g} times ({g_fwd} forward, 2 per input entry; "
        f"{g_bwd} backward, 2 per output entry). Inside the forward alone the auditor spent {in_a:.3f} s "
        f"({in_a / warm['gradcheck']:.2f}x gradcheck's whole {warm['gradcheck']:.3f} s); around each call it adds "
        f"{a * 1e3:.2f} ms, gradcheck {g * 1e3:.2f} ms. The auditor would be the faster for a forward {under}; "
        f"this one took {in_a / n_a * 1e3:.2f} ms per call inside the audit."
    )


def _verdict(results: dict[str, Any], right: bool, entry_name: str, kind: str) -> str:
    """Both checkers' verdicts, checked: raises RuntimeError when either is wrong."""
    if results["gradcheck"] is not right:
        raise RuntimeError(f"gradcheck returned {results['gradcheck']} for a {'right' if right else 'wrong'} backward")
    for key in ("audit", "sweep"):
        report = results[key]
        if right and not report.ok:
            raise RuntimeError(f"{key}: the auditor failed a right backward:\n{report}")
        named = [f for f in report.findings if f.kind == kind and repr(entry_name) in f.detail]
        if not right and (report.ok or not named):
            raise RuntimeError(f"{key}: the auditor did not name {entry_name!r}:\n{report}")
    if right:
        return "pass / True"
    finding = next(f for f in results["audit"].findings if repr(entry_name) in f.detail)
    return f"{finding.kind} on {finding.param} / False"


def worker(repeat: int, threads: int, layers: list[str]) -> str:
    """Every row, in this (pinned) process: a Markdown section."""
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    import numpy as np

    t1 = time.perf_counter()
    import torch

    t2 = time.perf_counter()
    import jax

    t3 = time.perf_counter()
    import bp_autodiff
    import bp_autodiff.catalog
    import bp_manual.layers  # noqa: F401 (timed here, used by measure)
    from bp_autodiff import audit_vjp

    t4 = time.perf_counter()
    torch.set_num_threads(threads)
    head = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), worker pinned to {threads} CPU(s); "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"jax {jax.__version__}. Medians of {repeat} runs; `{' '.join(f'{k}={v}' for k, v in MALLOC.items())}`.",
        "",
        f"Imports in the fresh worker: numpy {t1 - t0:.2f} s, torch {t2 - t1:.2f} s, jax {t3 - t2:.2f} s, "
        f"bp_autodiff with `audit_vjp` and bp_manual.layers (after jax) {t4 - t3:.2f} s.",
        "",
        f"Load average at start: {load_start[0]:.2f} (1 min), {load_start[1]:.2f} (5 min).",
        "",
        "| layer | backward | verdict (audit / gradcheck) | gradcheck (s) | audit (s) | audit / gradcheck "
        "| audit + sweep (s, cases) | sweep / gradcheck | audit first call (+s) | gradcheck first call (+s) "
        "| calls: audit / gradcheck fwd + bwd | s inside the pair: audit / gradcheck | forward |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows, floors = [], []
    for layer in layers:
        r, f = measure(layer, repeat)
        rows += r
        floors += f
    tail = ["", f"Load average at end: {os.getloadavg()[0]:.2f} (1 min)."]
    if floors:
        tail += ["", "Rows over the target, and the floor that stops them:", "", *floors]
    else:
        tail += ["", "Every row meets the target: the auditor no slower than gradcheck."]
    del bp_autodiff, audit_vjp
    return "\n".join(head + rows + tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per checker and row (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="CPUs the worker is pinned to (default 1)")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated subset of the layers")
    parser.add_argument("--out", help="also write the Markdown table to this file (between its markers)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    layers = args.layers.split(",")
    unknown = [x for x in layers if x not in LAYERS]
    if unknown or args.repeat < 1 or args.threads < 1:
        parser.error(f"--layers: expected some of {list(LAYERS)}" if unknown else "--repeat, --threads: >= 1")
    if args.worker:
        print(worker(args.repeat, args.threads, layers))
        return 0
    text = run_worker(__file__, ["--worker", *sys.argv[1:]], args.threads)
    print(text)
    if args.out:
        write_table(Path(args.out), text, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
