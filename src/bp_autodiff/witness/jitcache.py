"""``bounded_jit``: ``jax.jit`` with a cap on how many compiled shapes it keeps.

What this module is for: the witness compiles one executable per new
(spec, shapes, dtype), and property tests or an auditor run over thousands of
random shapes. Each XLA CPU executable holds about 20 memory mappings, and
Linux allows 65,530 per process (``vm.max_map_count``): after about 3,000
compiles the next one fails inside XLA with a segmentation fault (seen here in
the ``thorough`` profile). A ``bounded_jit`` function drops its compiled
executables when it has seen ``max_compiled`` distinct signatures, so the
count stays bounded; a dropped shape is simply compiled again if it returns.

What it is not for: anything beyond that cache policy; the function is traced
and compiled by ``jax.jit`` as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np

#: The default cap: a few hundred executables, far below the mapping limit.
MAX_COMPILED = 256


def _signature(args: tuple[Any, ...], static_argnums: tuple[int, ...]) -> Hashable:
    leaves, treedef = jax.tree.flatten([a for i, a in enumerate(args) if i not in static_argnums])
    statics = tuple(args[i] for i in static_argnums)
    shapes = tuple((np.shape(leaf), getattr(leaf, "dtype", type(leaf))) for leaf in leaves)
    return statics, treedef, shapes, bool(jax.config.read("jax_enable_x64"))


class bounded_jit:  # noqa: N801 (used like the function jax.jit)
    """``jax.jit(fun, static_argnums=..., **jit_options)`` that clears its cache after ``max_compiled`` signatures."""

    def __init__(
        self,
        fun: Callable[..., Any],
        static_argnums: tuple[int, ...] = (),
        max_compiled: int = MAX_COMPILED,
        **jit_options: Any,
    ) -> None:
        self._jitted = jax.jit(fun, static_argnums=static_argnums, **jit_options)
        self._static_argnums = static_argnums
        self._seen: set[Hashable] = set()
        self.max_compiled = max_compiled
        self.__wrapped__ = fun

    def __call__(self, *args: Any) -> Any:
        key = _signature(args, self._static_argnums)
        if key not in self._seen:
            if len(self._seen) >= self.max_compiled:
                self._jitted.clear_cache()  # type: ignore[attr-defined]  # public at runtime, not in the stubs
                self._seen.clear()
            self._seen.add(key)
        return self._jitted(*args)

    @property
    def n_compiled(self) -> int:
        """How many distinct signatures are currently compiled (at most ``max_compiled``)."""
        return len(self._seen)
