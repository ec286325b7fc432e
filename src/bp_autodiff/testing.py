"""Assertions for other projects' test suites: the auditor's diagnosis as the failure message.

What this module is for: putting this project's checks into someone else's
tests in one line, under pytest or plain ``unittest``::

    from bp_autodiff.testing import assert_gradients, assert_vjp

    def test_my_backprop():
        assert_gradients(my_loss_and_grads, spec, params, X, Y)

    def test_my_layer():
        assert_vjp(my_forward, my_backward, {"x": x, "w": w}, layer="conv2d")

On failure the ``AssertionError``'s message is the audit report: each wrong
array, what its mistake resembles (``sign``, ``scale`` with its factor,
``transpose``, ...), the worst element and, when the function returns its
deltas, the layer that introduces the error. Every audit made through these
helpers is also handed to the recorders installed with :func:`recording`
(the pytest plugin, :mod:`bp_autodiff.pytest_plugin`, uses one to write
``--bp-report``).

What it is not for: the audit itself (:mod:`bp_autodiff.auditor`); tolerances
are the auditor's, derived in :mod:`bp_autodiff.auditor.tolerance`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bp_autodiff.auditor.gradients import GradFn, audit
from bp_autodiff.auditor.report import AuditReport
from bp_autodiff.auditor.vjp import audit_vjp
from bp_manual.initializers import ParamsLike
from bp_manual.spec import NetworkSpec

#: Called with every report an ``assert_*`` helper makes (see :func:`recording`).
Recorder = Callable[[AuditReport], None]

_recorders: list[Recorder] = []


@contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Within the ``with`` block, hand every report made by an ``assert_*`` helper to ``recorder``."""
    _recorders.append(recorder)
    try:
        yield
    finally:
        _recorders.remove(recorder)


def record(report: AuditReport) -> None:
    """Hand ``report`` to every installed recorder (the ``assert_*`` helpers call this)."""
    for recorder in list(_recorders):
        recorder(report)


def check(report: AuditReport) -> AuditReport:
    """Record ``report``; raise ``AssertionError`` with the rendered report unless it is ok; return it."""
    record(report)
    if not report.ok:
        raise AssertionError("\n" + report.render())
    return report


def assert_gradients(
    grad_fn: GradFn, spec: NetworkSpec, params: ParamsLike, X: object, Y: object, **options: Any
) -> AuditReport:
    """Assert that ``grad_fn`` computes the gradients of the network contract, as :func:`bp_autodiff.audit` judges.

    Args:
        grad_fn: ``grad_fn(spec, params, X, Y) -> (loss, grads)`` or ``(loss, grads, deltas)``
            (with deltas the message also says where the error is introduced).
        spec, params, X, Y: the problem (as for ``bp_manual.loss_and_grads``).
        **options: passed to :func:`bp_autodiff.audit` (``finite_differences``,
            ``fd_max_entries``, ``seed``, ``name``).

    Returns:
        The :class:`~bp_autodiff.auditor.report.AuditReport` when it is ok.

    Raises:
        AssertionError: the audit found something; the message is the report.
        TypeError / ValueError: ``spec``, ``params``, ``X``, ``Y`` or an option do not fit.
    """
    return check(audit(spec, params, X, Y, grad_fn, **options))


def assert_vjp(
    forward: Callable[..., Any] | None, backward: Callable[..., Any] | None, inputs: Any, **options: Any
) -> AuditReport:
    """Assert that ``backward`` is the vector-Jacobian product of ``forward``, as :func:`bp_autodiff.audit_vjp` judges.

    Args:
        forward: ``forward(*inputs, **config) -> (out, cache)`` (the layer contract).
        backward: ``backward(dout, cache) -> tuple`` with one gradient per input.
        inputs: a mapping name -> value (or a sequence, named ``x0, x1, ...``).
        **options: passed to :func:`bp_autodiff.audit_vjp` (``config``, ``reference``,
            ``layer``, ``sweep``, ``dout``, ``seed``, ...).

    Returns:
        The report when it is ok.

    Raises:
        AssertionError: the audit found something; the message is the report
            (each wrong input, the kind of mistake, the worst element, the
            failing settings of a sweep).
        TypeError / ValueError: ``inputs`` or an option does not fit.
    """
    return check(audit_vjp(forward, backward, inputs, **options))
