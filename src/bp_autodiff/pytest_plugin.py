"""The pytest plugin: a ``bp_audit`` fixture, and ``--bp-report PATH`` writing every audit of the session as JSON.

What this module is for: registered through the ``pytest11`` entry point when
the package is installed, so any test suite gets

- the fixture ``bp_audit``: ``bp_audit.gradients(grad_fn, spec, params, X, Y)``
  audits and asserts as :func:`bp_autodiff.testing.assert_gradients` does
  (the failure message is the audit report);
- the option ``--bp-report PATH``: one JSON document for the whole session
  with every audit made through ``bp_autodiff.testing`` or the fixture (the
  test, the subject, the verdict, the findings, the worst errors), in the
  schema documented in ``docs/testing-your-suite.md`` (``"schema":
  "bp-report"``, ``"version": 1``). Under pytest-xdist (``-n 2``) each worker
  hands its records to the controller, which writes one merged document.

What it is not for: changing or slowing a run that does not use it: this
module imports only pytest and the standard library at import time (the
auditor and JAX are imported when the fixture is first used), and records
nothing unless ``--bp-report`` is given.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: The report's schema name and version (``docs/testing-your-suite.md``).
SCHEMA = "bp-report"
VERSION = 1

_RECORDS = pytest.StashKey[list[dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--bp-report PATH``."""
    group = parser.getgroup("bp", "gradient audits (bp_autodiff)")
    group.addoption(
        "--bp-report",
        metavar="PATH",
        default=None,
        help="write every gradient audit of the session to PATH as one JSON document (schema bp-report, version 1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check ``--bp-report``'s directory before any test runs, so a typo does not lose a whole session's work."""
    path = config.getoption("--bp-report", default=None)
    config.stash[_RECORDS] = []
    if path is not None and not hasattr(config, "workerinput"):
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise pytest.UsageError(f"--bp-report: the directory {parent} does not exist")


def summary(report: Any, test: str) -> dict[str, Any]:
    """One audit as a record of the ``bp-report`` document (``docs/testing-your-suite.md``)."""
    worst: dict[str, dict[str, float | None]] = {}
    for c in report.comparisons:
        if isinstance(c.fraction, float) and not math.isnan(c.fraction):
            entry = worst.setdefault(c.param, {})
            entry[c.witness] = c.fraction if math.isfinite(c.fraction) else None
    full = report.to_dict()
    return {
        "test": test,
        "subject": report.subject,
        "mode": report.mode,
        "verdict": "pass" if report.ok else "fail",
        "findings": full["findings"],
        "warnings": full["warnings"],
        "worst_fraction_of_tolerance": worst,
        "report": full,
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """With ``--bp-report``, record every audit made while the test runs."""
    if item.config.getoption("--bp-report", default=None) is None:
        return (yield)
    from bp_autodiff import testing

    records = item.config.stash[_RECORDS]
    with testing.recording(lambda report: records.append(summary(report, item.nodeid))):
        return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the document (on a pytest-xdist worker: hand the records to the controller instead)."""
    config = session.config
    path = config.getoption("--bp-report", default=None)
    if path is None:
        return
    records = config.stash[_RECORDS]
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["bp_report_records"] = json.dumps(records)
        return
    document = {
        "schema": SCHEMA,
        "version": VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "audits": sorted(records, key=lambda r: r["test"]),
    }
    Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Under pytest-xdist: the controller collects a worker's records."""
    text = getattr(node, "workeroutput", {}).get("bp_report_records")
    if text:
        node.config.stash[_RECORDS].extend(json.loads(text))


class Auditor:
    """What the ``bp_audit`` fixture gives: the ``bp_autodiff.testing`` assertions, one method each."""

    def gradients(self, grad_fn: Callable[..., Any], spec: Any, params: Any, X: Any, Y: Any, **options: Any) -> Any:
        """:func:`bp_autodiff.testing.assert_gradients`: audit, record, raise ``AssertionError`` with the report."""
        from bp_autodiff.testing import assert_gradients

        return assert_gradients(grad_fn, spec, params, X, Y, **options)


@pytest.fixture
def bp_audit() -> Auditor:
    """Audits that assert and are recorded in ``--bp-report`` (see :class:`Auditor`)."""
    return Auditor()
