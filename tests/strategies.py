"""The test suite's strategies are the exported ones (:mod:`bp_autodiff.strategies`): one builder, not two.

Kept as a module so test files import ``from strategies import ...`` as they always have; it re-exports
``bp_autodiff.strategies.__all__`` and nothing else.
"""

from bp_autodiff.strategies import *  # noqa: F403
from bp_autodiff.strategies import __all__  # noqa: F401
