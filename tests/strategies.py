"""The test suite's strategies are the exported ones (:mod:`bp_autodiff.strategies`): one builder, not two.

Kept as a module so test files import ``from strategies import ...`` as they always have.
"""

from bp_autodiff.strategies import (
    COVERING,
    DTYPES,
    HIDDEN_NAMES,
    INIT_NAMES,
    INITS,
    LOSS_NAMES,
    Problem,
    examples,
    kinks_are_clear,
    problems,
    specs,
)

__all__ = [
    "COVERING",
    "DTYPES",
    "HIDDEN_NAMES",
    "INITS",
    "INIT_NAMES",
    "LOSS_NAMES",
    "Problem",
    "examples",
    "kinks_are_clear",
    "problems",
    "specs",
]
