"""Hypothesis profiles and the session summary of observed errors.

Profiles (choose with ``HYPOTHESIS_PROFILE=...``):

- ``ci`` (default): the everyday suite, sized to finish in well under three
  minutes on a 2-core machine.
- ``thorough``: ten times the examples of ``ci`` for every property.

Both set ``deadline=None``: the first call for each new shape compiles a JAX
function (about 0.15 s), which hypothesis's default 200 ms deadline would
report as a flaky timing failure.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tolerances import COUNTS, WORST

CI_EXAMPLES = 100
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=10 * CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the worst error observed for each comparison, and as a fraction of its tolerance."""
    if not WORST:
        return
    tr = terminalreporter
    tr.section("worst observed errors (max|a - b| / max|b| per array; fraction of tolerance)")
    for key in sorted(WORST):
        rel, fraction, what = WORST[key]
        tr.write_line(f"{key:<34} {rel:.2e}  ({fraction:.3f} of tol)  over {COUNTS[key]} arrays; at {what}")
