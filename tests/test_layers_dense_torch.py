"""The dense layers against PyTorch: each forward equals its ``torch.nn.functional`` counterpart on
the same layout, and each backward equals ``torch.autograd``'s gradients for the same ``dout``.

Skipped as a whole where PyTorch is not installed. The cases and the comparison (derived tolerances,
the same budgets as against JAX) are those of ``tests/test_layers_dense.py``; see its docstring.
Dropout: PyTorch draws its own mask, so the mask is read off its output (``out != 0``, with
``x`` nonzero everywhere), and our forward and backward are run with that mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from test_layers_dense import DTYPES, LAYERS, Case, compare, dropout_case, fixed_case

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: The PyTorch function each layer equals, called on tensors in the layer's input order.
TORCH: dict[str, Callable[..., Any]] = {
    "linear": F.linear,
    "relu": F.relu,
    "leaky_relu": lambda x, slope: F.leaky_relu(x, negative_slope=slope),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,  # beta = 1, threshold = 20: the cases keep |x| < 20
    "gelu": lambda x: F.gelu(x, approximate="tanh"),
    "embedding": F.embedding,
}


def _torch_case(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """PyTorch's output and ``torch.autograd`` gradients for the case's differentiable inputs."""
    spec = LAYERS[case.layer]
    tensors = [
        None if a is None else torch.tensor(a, requires_grad=n in spec.differentiable)
        for n, a in zip(spec.inputs, case.inputs, strict=True)
    ]
    out = TORCH[case.layer](*tensors, **case.config)
    out.backward(torch.tensor(case.dout))
    grads = {n: t.grad.numpy() for n, t in zip(spec.inputs, tensors, strict=True) if t is not None and t.requires_grad}
    return out.detach().numpy(), grads


def _assert_equal_to_torch(case: Case, ours: tuple[Any, ...], theirs: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    out, grads = ours
    t_out, t_grads = theirs
    v = compare(case, "out", out, t_out)
    assert v.ok and out.dtype == t_out.dtype, f"{case.describe()}: forward off by {v.rel:.3e} ({v.fraction:.2f} x tol)"
    for name, g in zip(LAYERS[case.layer].inputs, grads, strict=True):
        if name in t_grads:
            v = compare(case, name, g, t_grads[name])
            assert v.ok, f"{case.describe()}: d{name} off by {v.rel:.3e} ({v.fraction:.2f} x tolerance)"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layer", sorted(TORCH))
def test_forward_and_gradients_equal_torch(layer: str, dtype: Any, seed: int) -> None:
    case = fixed_case(layer, dtype, {"slope": 0.1 * (seed + 1)} if layer == "leaky_relu" else None, seed=seed)
    spec = LAYERS[layer]
    out, cache = spec.forward(*case.inputs, **case.config)
    _assert_equal_to_torch(case, (out, spec.backward(case.dout, cache)), _torch_case(case))


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_dropout_equals_torch_with_its_mask(p: float, dtype: Any) -> None:
    case = dropout_case(np.random.default_rng(0), (8, 16), p, dtype, 1.0)  # 128 units: some kept at p = 0.9
    x = case.inputs[0]
    assert np.all(x != 0)  # so that out != 0 is exactly PyTorch's mask
    xt = torch.tensor(x, requires_grad=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        out_t = F.dropout(xt, p, training=True)
    out_t.backward(torch.tensor(case.dout))
    mask = out_t.detach().numpy() != 0
    assert 0 < mask.sum() <= mask.size
    case = case._replace(inputs=(x, mask))
    out, cache = LAYERS["dropout"].forward(x, mask, p)
    grads = LAYERS["dropout"].backward(case.dout, cache)
    _assert_equal_to_torch(case, (out, grads), (out_t.detach().numpy(), {"x": xt.grad.numpy()}))
