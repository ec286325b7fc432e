"""The entry point for any backward pass: :func:`audit_vjp` holds a forward/backward pair against its witnesses.

What this module is for: ``audit_vjp(forward, backward, inputs, **options) ->
AuditReport`` for a pair in the layer contract (the form of CS231n and of
:mod:`bp_manual.layers`)::

    forward(*inputs, **config) -> (out, cache)
    backward(dout, cache) -> tuple with one gradient per input (None where there is none)

The steps live in their own modules; this one checks the options, resolves
``layer=`` and runs the sweep:

- :mod:`~bp_autodiff.auditor.vjp_contract`: which inputs are differentiated, and how
  many gradients ``backward`` may return (one per input; one per input up to the
  last float array, so a course's trailing ``conv_param`` needs none; or one per
  float array);
- :mod:`~bp_autodiff.auditor.vjp_check`: the audit at one setting (contracts,
  comparisons, kinks, vacuity);
- :mod:`~bp_autodiff.auditor.vjp_witness`: float64 central finite differences of
  ``L = sum(out * dout)`` with a random non-uniform ``dout``, with the derivation
  of every allowance; :mod:`~bp_autodiff.auditor.vjp_jax`: JAX's ``vjp`` of a
  reference; :mod:`~bp_autodiff.auditor.vjp_compare`: the comparison rows;
- :mod:`~bp_autodiff.auditor.vjp_diagnosis`: the kinds of mistake;
- :mod:`~bp_autodiff.auditor.sweep`: the settings where backward passes go wrong;
- :mod:`~bp_autodiff.auditor.vjp_layers`: ``layer=`` by name.

Findings (:data:`~bp_autodiff.auditor.report.VJP_KINDS`), ``param`` the input's name:

``nondeterministic``  (``forward``) two calls on the same inputs differ: pass the mask or key as an input
``modifies_inputs``   forward or backward changed an input (or ``dout``) in place
``raises``            forward or backward raised (``shape`` when the message speaks of shapes)
``shape``             a gradient of the wrong shape, the wrong number of gradients, an unreadable ``out``
``missing``           ``None`` for a floating-point input; ``dtype``: a gradient of another dtype
``forward``           (``out``) the forward differs from the JAX reference's: not the same function
``nonfinite``         NaN or inf
the diagnosis         ``layer_mistake``, ``zero``, ``ignores_upstream``, ``sign``, ``scale``,
                      ``transpose``, ``swapped``, ``diagonal_only``, ``lost_accumulation``,
                      ``unreduced``, ``mismatch`` (:mod:`~bp_autodiff.auditor.vjp_diagnosis`)

Entries whose finite-difference stencil crosses a kink or a tie (ReLU at 0, a
max-pool tie, ``abs``) are inconclusive (``report.inconclusive``), left out of
the verdict and never a finding alone.

What it is not for: the dense network's contract (:func:`bp_autodiff.audit`),
chains of layers, or higher derivatives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from bp_autodiff.auditor.contract import function_name
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.auditor.sweep import run_sweep
from bp_autodiff.auditor.vjp_check import check
from bp_autodiff.auditor.vjp_contract import Options, Subject, make_slots
from bp_autodiff.auditor.vjp_layers import resolve


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def audit_vjp(
    forward: Callable[..., Any] | None,
    backward: Callable[..., Any] | None,
    inputs: Mapping[str, Any] | list[Any] | tuple[Any, ...],
    *,
    config: Mapping[str, Any] | None = None,
    reference: Callable[..., Any] | bool | None = None,
    layer: str | None = None,
    sweep: bool | None = None,
    dout: Any = None,
    seed: int = 0,
    fd_max_entries: int = 256,
    directions: int = 2,
    name: str | None = None,
) -> AuditReport:
    """Audit ``backward`` against float64 finite differences of ``forward`` (and JAX, given a reference).

    Args:
        forward: ``forward(*inputs, **config) -> (out, cache)``; ``out`` an array or a tuple
            of arrays. None with ``layer=``: the library's own.
        backward: ``backward(dout, cache) -> tuple`` of gradients (module docstring for how
            many); None with ``layer=``: the library's own.
        inputs: a mapping name -> value (names appear in the report) or a list/tuple
            (named ``x0, x1, ...``). Float arrays (float32/float64) are differentiated;
            integer and boolean arrays and anything else (a settings dict, a number,
            None) are passed through as given.
        config: keyword settings for ``forward`` (and the reference).
        reference: a JAX function ``reference(*inputs, **config) -> out`` computing the
            same ``out``; its ``jax.vjp`` becomes a second witness. ``False``: no JAX
            witness, not even a layer's twin (finite differences alone).
        layer: a layer of :mod:`bp_manual.layers` by name (``"batch_norm"``): its JAX twin
            is the reference unless one is given, and its catalog of classic mistakes
            names a matching mistake (``layer_mistake`` or the entry's kind).
        sweep: also try the settings and shapes where backward passes go wrong
            (:mod:`bp_autodiff.auditor.sweep`); by default on with ``layer=`` or when an
            input is a settings dict.
        dout: the upstream gradient to use (the shape of ``out``); by default random
            normal from ``seed``, never uniform.
        seed: for ``dout``, the random directions and the sweep's inputs.
        fd_max_entries: inputs with at most this many entries are differenced entry by
            entry; larger ones along ``directions`` random signed directions.
        name: how the report names the pair (default: ``backward``'s qualified name).

    Returns:
        An :class:`AuditReport` (mode ``"vjp"``): ``ok``, ``findings`` (``param`` = the
        input's name, ``kind``), ``warnings``, ``inconclusive``, ``comparisons``,
        ``sweep`` (the settings tried), ``extra`` (``forward_calls``, ``seconds``).

    Raises:
        TypeError / ValueError: an argument of the auditor's own that does not fit (named);
            never because of what ``forward`` or ``backward`` do.
    """
    start = time.perf_counter()
    slots = make_slots(inputs)
    if config is not None and not (isinstance(config, Mapping) and all(isinstance(k, str) for k in config)):
        raise TypeError(f"config must be a mapping of setting names to values, got {type(config).__name__}")
    settings = dict(config or {})
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    options = Options(seed, _positive_int("fd_max_entries", fd_max_entries), _positive_int("directions", directions))
    options = Options(options.seed, options.fd_max_entries, options.directions, dout=dout)
    library = resolve(layer) if layer is not None else None
    forward = forward if forward is not None else (library.forward if library else None)
    backward = backward if backward is not None else (library.backward if library else None)
    for label, fn in (("forward", forward), ("backward", backward)):
        if not callable(fn):
            raise TypeError(f"{label} must be callable (or None with layer=), got {type(fn).__name__}")
    if reference is not None and reference is not False and not callable(reference):
        raise TypeError(f"reference must be a JAX function (or False), got {type(reference).__name__}")
    twin = library.twin if library else None
    witness = None if reference is False else (reference if reference is not None else twin)
    if sweep is not None and not isinstance(sweep, bool):
        raise TypeError(f"sweep must be True, False or None, got {type(sweep).__name__}")
    subject = Subject(
        forward,  # type: ignore[arg-type]
        backward,  # type: ignore[arg-type]
        name or function_name(backward),
        witness,
        library.mistakes if library else {},
        library.forward if library else None,
    )
    report = check(subject, slots, settings, options)
    if sweep or (sweep is None and (library is not None or any(isinstance(s.value, Mapping) for s in slots))):
        run_sweep(report, subject, slots, settings, options, library.name if library else None)
    report.extra["seconds"] = time.perf_counter() - start
    return report
