"""Localisation in a chain: which step's backward introduces an error, and which steps only inherit it.

What this module is for: :func:`audit_chain`, for a model built as a chain of
forward/backward pairs in the layer contract (the form of CS231n and of
:mod:`bp_manual.layers`, the one :class:`bp_manual.layers.sequential.Sequential`
runs)::

    x_0 = x,        (x_i, cache_i) = forward_i(x_{i-1}, *params_i, **config_i)
    dx_n = dout,    (dx_{i-1}, *dparams_i) = backward_i(dx_i, cache_i)

It runs the chain forward, then the user's backwards from the last step to
the first, each given the ``dx`` the step above it returned (the last one a
random non-uniform ``dout`` from ``seed``, or the one given). Then it audits
every step's backward *in isolation*, with :func:`bp_autodiff.audit_vjp`: given
the upstream gradient the chain actually passed into that step, are its
``(dx, *dparams)`` what the correct vector-Jacobian product of that step's own
forward makes of it? The witness is float64 finite differences of that step
alone (``vjp_witness``), and also JAX's ``vjp`` of the layer's twin when the
step is a library layer (:class:`ChainStep` ``layer=``; then the layer's
catalog of classic mistakes names a matching mistake, kind ``layer_mistake``).

Each step gets one :class:`~bp_autodiff.auditor.report.Localisation`
(``where`` = the step's name), as :mod:`bp_autodiff.auditor.localise` does for
the dense network's deltas:

``introduced``  the step's outputs are wrong given its own inputs (its audit has
                findings; they become the report's findings, ``param``
                ``"<step>/<input>"``, ``layer`` the step's 1-based position,
                ``status="introduced"``, the kind from the ``audit_vjp`` diagnosis);
``inherited``   the step's backward is right given what it was passed, but what it
                was passed is wrong: a step above it introduced an error in the
                gradient it passes down (a finding on anything but a named
                parameter of that step);
``ok``          right, given a right upstream gradient.

Why the induction is enough: the upstream gradient of the last step is the
``dout`` itself, hence right; if every step above step ``i`` maps a right
upstream gradient to a right ``dx`` (its audit passes), step ``i``'s upstream
is right too. So step ``i``'s upstream is wrong exactly when some step above
it introduced an error in its ``dx`` (up to the tolerances of those audits,
which :mod:`bp_autodiff.auditor.vjp_witness` derives). Two errors that cancel
exactly are not told apart from none; a step whose ``dx`` is wrong only in
the parameters' gradients passes nothing wrong down.

When a step's backward raises, or returns a ``dx`` of the wrong shape, or NaN,
the steps below it get no usable upstream gradient: each is audited with a
random ``dout`` of its own instead, and is ``inherited`` when that passes.

What it is not for: branching graphs (a step has one input that carries a
gradient, ``x``), steps whose forward draws something random (pass a dropout
mask as a parameter), or the sweep over settings of ``audit_vjp`` (audit a
suspect layer alone with ``audit_vjp(layer=...)`` for that).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from bp_autodiff.auditor.report import AuditReport, Finding, Inconclusive, Localisation
from bp_autodiff.auditor.vjp import audit_vjp
from bp_autodiff.auditor.vjp_contract import call, raised


class ChainStep(NamedTuple):
    """One step of a chain.

    Fields:
        name: how the report names the step (unique in the chain; ``"relu2"``).
        forward: ``forward(x, *params, **config) -> (out, cache)``, ``out`` one array.
        backward: ``backward(dout, cache) -> (dx, *dparams)``, one gradient per input
            (``dx`` None where ``x`` holds integers, e.g. an embedding's indices).
        params: the parameters after ``x``: a mapping name -> array (the names appear in
            the report) or a sequence (named ``p0, p1, ...``); empty for none.
        layer: the name of a layer of :mod:`bp_manual.layers` whose forward ``forward`` is:
            its JAX twin becomes a second witness and its catalog names the mistake. None:
            finite differences alone.
        config: keyword settings for ``forward`` (``{"slope": 0.1}``).
    """

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    params: Mapping[str, Any] | Sequence[Any] = ()
    layer: str | None = None
    config: Mapping[str, Any] | None = None


def chain_of_sequential(model: Any, params: Sequence[Mapping[str, Any]]) -> list[ChainStep]:
    """The steps of a :class:`bp_manual.layers.sequential.Sequential` model, for :func:`audit_chain`.

    Step ``i`` (1-based) is named ``f"{layer}{i}"`` (``"linear1"``, ``"relu2"``), with the
    registered pair (:data:`bp_manual.layers.sequential.LAYERS`), its params dict from
    ``params`` (one per layer with parameters, as ``model.init`` returns) and its settings.
    Replace a step's ``backward`` (``steps[1] = steps[1]._replace(backward=mine)``) to audit
    your own backward inside the model.

    Raises:
        TypeError: ``model`` is not a ``Sequential``.
        ValueError: ``params`` of the wrong structure (not one dict per layer with parameters,
            holding that layer's names).
    """
    from bp_manual.layers.sequential import LAYERS, Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a bp_manual.layers.sequential.Sequential, got {type(model).__name__}")
    with_params = [name for name, _ in model.steps if LAYERS[name].params]
    if isinstance(params, str | bytes) or not isinstance(params, Sequence) or len(params) != len(with_params):
        raise ValueError(f"params must be a list of {len(with_params)} dicts (one per layer with parameters)")
    it = iter(params)
    steps = []
    for i, (name, config) in enumerate(model.steps):
        layer = LAYERS[name]
        p = next(it) if layer.params else {}
        if not isinstance(p, Mapping) or not set(layer.params) <= set(p):
            raise ValueError(f"params: the dict of steps[{i}] ({name}) must hold {list(layer.params)}")
        settings = {k: v for k, v in config.items() if k in layer.settings}
        values = {k: p[k] for k in layer.params}
        steps.append(ChainStep(f"{name}{i + 1}", layer.forward, layer.backward, values, name, settings))
    return steps


def _read_steps(steps: object) -> list[ChainStep]:
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise TypeError(f"steps must be a non-empty list of (name, forward, backward, params) steps, got {steps!r}")
    out = []
    for i, s in enumerate(steps):
        if not isinstance(s, tuple | list) or not 4 <= len(s) <= 6:
            raise TypeError(f"steps[{i}] must be (name, forward, backward, params[, layer[, config]]), got {s!r}")
        step = ChainStep(*s)
        if not isinstance(step.name, str) or not step.name:
            raise TypeError(f"steps[{i}]: the name must be a non-empty string, got {step.name!r}")
        if not callable(step.forward) or not callable(step.backward):
            raise TypeError(f"steps[{i}] ({step.name}): forward and backward must be callable")
        if isinstance(step.params, str | bytes) or not isinstance(step.params, Mapping | Sequence):
            raise TypeError(f"steps[{i}] ({step.name}): params must be a mapping or a sequence")
        if step.config is not None and not isinstance(step.config, Mapping):
            raise TypeError(f"steps[{i}] ({step.name}): config must be a mapping or None")
        out.append(step)
    names = [s.name for s in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"steps: the step names must be unique, repeated: {twice}")
    return out


def _inputs(step: ChainStep, x: Any) -> dict[str, Any]:
    """``x`` and the step's parameters by name, as :func:`audit_vjp` takes them."""
    params = step.params
    named = dict(params) if isinstance(params, Mapping) else {f"p{k}": v for k, v in enumerate(params)}
    if "x" in named:
        raise ValueError(f"steps ({step.name}): a parameter may not be called 'x' (the step's input)")
    return {"x": x, **named}


def _upstream(back: object, x: Any) -> tuple[Any, str | None]:
    """The ``dx`` a step's backward returned, or None and why it is not usable as the next ``dout``."""
    if not isinstance(back, tuple | list) or not back:
        return None, "its backward did not return a tuple (dx, *dparams)"
    dx = back[0]
    if dx is None:
        return None, "its backward returned no dx"
    try:
        arr = np.asarray(dx)
    except Exception:  # a user's object that NumPy cannot read
        return None, "its dx is not an array"
    if arr.shape != np.shape(x) or arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
        return None, f"its dx ({arr.dtype} {arr.shape}) is not a finite float array of x's shape {np.shape(x)}"
    return arr, None


def audit_chain(
    steps: Sequence[ChainStep | tuple[Any, ...]],
    x: Any,
    *,
    dout: Any = None,
    seed: int = 0,
    fd_max_entries: int = 256,
    directions: int = 2,
) -> AuditReport:
    """Audit each step's backward of a chain given what the chain passed it; say where errors start.

    Args:
        steps: :class:`ChainStep`\\ s, or tuples ``(name, forward, backward, params[, layer[,
            config]])`` in the same order; :func:`chain_of_sequential` makes them from a
            ``Sequential`` model.
        x: the first step's input, an array (float32/float64; integers for an embedding).
        dout: the upstream gradient of the last step's output (its shape); by default
            random normal from ``seed``, never uniform.
        seed: for ``dout`` and each step's audit (step ``i`` uses ``seed + i``).
        fd_max_entries, directions: as :func:`bp_autodiff.audit_vjp`, per step.

    Returns:
        An :class:`AuditReport` (mode ``"chain"``): ``localisation`` one entry per step
        (``ok``, ``introduced``, ``inherited``; the module docstring), ``findings`` those
        of the steps that introduce errors (``param`` ``"<step>/<input>"``, ``layer`` the
        step's 1-based position, ``status="introduced"``), ``comparisons``, ``warnings`` and
        ``inconclusive`` of every step's audit with their names prefixed likewise,
        ``inputs`` what each step was audited on, ``extra`` (``seconds``, ``forward_calls``).

    Raises:
        TypeError / ValueError: ``steps``, ``x``, ``dout`` or ``seed`` that do not fit (named);
            never because of what a step's forward or backward does (that is a finding).
    """
    start = time.perf_counter()
    chain = _read_steps(steps)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    subject = " -> ".join(s.name for s in chain)
    dtype = np.asarray(x).dtype.name if hasattr(x, "dtype") else type(x).__name__
    report = AuditReport(f"chain {subject}", "chain", None, dtype, 0, 0.0)

    # The forward, keeping each step's input and cache.
    xs: list[Any] = []
    caches: list[Any] = []
    out = x
    for i, step in enumerate(chain):
        xs.append(out)
        inputs = _inputs(step, out)
        result, exc = call(step.forward, *inputs.values(), **dict(step.config or {}))
        if exc is None and not (isinstance(result, tuple) and len(result) == 2):
            exc = TypeError(f"forward returned {type(result).__name__}, expected (out, cache)")
        if exc is not None:
            report.findings.append(_at(raised("forward", step.name, exc), step, i))
            report.localisation.append(Localisation(step.name, "introduced", "its forward fails"))
            report.warnings.append(f"the chain stops at {step.name}: the steps after it were not run")
            report.extra["seconds"] = time.perf_counter() - start
            return report
        out, cache = result
        caches.append(cache)
    if dout is None:
        rng = np.random.default_rng([seed, 4])
        top = np.asarray(rng.standard_normal(np.shape(out)), dtype=np.asarray(out).dtype)
    else:
        top = np.asarray(dout)
        if top.shape != np.shape(out):
            raise ValueError(f"dout: shape {top.shape} does not fit the last step's output {np.shape(out)}")

    # The user's backwards, last step first, each given what the step above returned.
    douts: list[tuple[Any, str | None]] = [(None, None)] * len(chain)
    upstream: tuple[Any, str | None] = (top, None)
    for i in range(len(chain) - 1, -1, -1):
        douts[i] = upstream
        if upstream[0] is None:
            continue
        back, exc = call(chain[i].backward, upstream[0].copy(), caches[i])
        if exc is not None:
            upstream = (None, f"{chain[i].name}'s backward raised {type(exc).__name__}")
        else:
            dx, why = _upstream(back, xs[i])
            upstream = (dx, None) if why is None else (None, f"{chain[i].name}: {why}")

    # Each step alone, given its own upstream gradient; the localisation by induction from the top.
    wrong_above: str | None = None  # the nearest step above that passes a wrong dx down
    subs: list[AuditReport | None] = [None] * len(chain)
    for i in range(len(chain) - 1, -1, -1):
        step = chain[i]
        given, why_not = douts[i]
        sub = audit_vjp(
            step.forward,
            step.backward,
            _inputs(step, xs[i]),
            config=step.config,
            layer=step.layer,
            sweep=False,
            dout=given,
            seed=seed + i,
            fd_max_entries=fd_max_entries,
            directions=directions,
            name=step.name,
        )
        subs[i] = sub
        own = {k for k in _inputs(step, xs[i]) if k != "x"}
        if sub.findings:
            kinds = ", ".join(sorted({f"{f.kind} on {f.param}" for f in sub.findings}))
            report.localisation.append(Localisation(step.name, "introduced", f"wrong given its own inputs: {kinds}"))
            if any(f.param not in own for f in sub.findings):
                wrong_above = step.name
        elif why_not is not None:
            detail = f"no usable upstream gradient ({why_not}); right for a random dout of its own"
            report.localisation.append(Localisation(step.name, "inherited", detail))
        elif wrong_above is not None:
            detail = f"right given the gradient it was passed, which is wrong from {wrong_above}"
            report.localisation.append(Localisation(step.name, "inherited", detail))
        else:
            report.localisation.append(Localisation(step.name, "ok", "right given a right upstream gradient"))
    report.localisation.reverse()
    for i, done in enumerate(subs):  # in the chain's order, first step first
        if done is not None:
            _merge(report, done, chain[i], i)
    report.extra["seconds"] = time.perf_counter() - start
    return report


def _at(f: Finding, step: ChainStep, i: int) -> Finding:
    """``f`` of step ``i``'s own audit as a finding of the chain."""
    return Finding(f"{step.name}/{f.param}", f.kind, f.detail, f.factor, i + 1, "introduced", f.setting)


def _merge(report: AuditReport, sub: AuditReport, step: ChainStep, i: int) -> None:
    """Step ``i``'s audit into the chain's report, its names prefixed with the step's."""
    report.rtol = max(report.rtol, sub.rtol)
    report.findings += [_at(f, step, i) for f in sub.findings]
    report.comparisons += [dataclasses.replace(c, param=f"{step.name}/{c.param}") for c in sub.comparisons]
    report.warnings += [f"{step.name}: {w}" for w in sub.warnings]
    report.inconclusive += [
        Inconclusive(f"{step.name}/{e.param}", e.index, e.witness, e.reason, e.one_sided) for e in sub.inconclusive
    ]
    report.inputs[step.name] = ", ".join(f"{k} {v}" for k, v in sub.inputs.items())
    report.extra["forward_calls"] = report.extra.get("forward_calls", 0.0) + sub.extra.get("forward_calls", 0.0)
