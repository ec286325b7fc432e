"""docs/tutorial.md's broken ``my_backprop.py`` is the derivation with exactly one line broken.

Its commands, run as written in order with what they print held to what the
tutorial says, are in ``tests/test_docs_commands.py``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import bp_autodiff
import bp_manual
from tolerances import FLOAT64_RTOL, close

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
BROKEN = 'delta = delta @ params[l - 1]["W"]  # BUG: should be (delta @ W) * f_prime(below.Z, below.A)'
FIXED = 'delta = (delta @ params[l - 1]["W"]) * f_prime(below.Z, below.A)'


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL, flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return block


def _write_module(tmp_path: Path, source: str) -> ModuleType:
    """``source`` as the module ``my_backprop.py``, in a directory of its own: a second version written to the
    same path within the same second, with the same size, would be read from the first one's ``.pyc``
    (Python checks a cached file by the source's mtime in seconds and its size; tests/conftest.py)."""
    directory = tmp_path / f"version_{abs(hash(source))}"
    directory.mkdir()
    path = directory / "my_backprop.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"my_backprop_{abs(hash(source))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _problem(bias: bool = True):
    spec = bp_manual.NetworkSpec((4, 8, 3), hidden="tanh", output="identity", loss="mse", bias=bias)
    params = bp_manual.init_params(spec, "xavier_normal", seed=0)
    rng = np.random.default_rng(1)
    return spec, params, rng.normal(size=(5, 4)), rng.normal(size=(5, 3))


def _agreement(grad_fn, bias: bool = True) -> dict[str, bool]:
    spec, params, X, Y = _problem(bias)
    mine = grad_fn(spec, params, X, Y)[1]
    _, ref = bp_autodiff.loss_and_grads(spec, params, X, Y)
    return {
        f"{k}{l}": close(m[k], r[k], FLOAT64_RTOL)[0]
        for l, (m, r) in enumerate(zip(mine, ref, strict=True), 1)
        for k in r
    }


@pytest.mark.parametrize("bias", [True, False])
def test_the_broken_file_breaks_exactly_the_layers_the_tutorial_says(tmp_path: Path, bias: bool) -> None:
    source = _block("# file: my_backprop.py")
    assert source.count(BROKEN) == 1
    broken = _write_module(tmp_path, source)
    expected = {"W1": False, "b1": False, "W2": True, "b2": True}
    assert _agreement(broken.loss_and_grads, bias) == {k: v for k, v in expected.items() if bias or k[0] == "W"}
    fixed = _write_module(tmp_path, source.replace(BROKEN, FIXED))
    assert all(_agreement(fixed.loss_and_grads, bias).values())
