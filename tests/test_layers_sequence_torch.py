"""The sequence layers equal PyTorch's on the same layout: forward and gradients.

``softmax``/``log_softmax`` equal ``F.softmax``/``F.log_softmax`` along ``dim=axis``;
``cross_entropy`` equals ``F.cross_entropy`` (mean over the batch); ``rnn`` and ``lstm``
equal ``torch.nn.RNN(nonlinearity="tanh")`` and ``torch.nn.LSTM`` with ``batch_first=True``
and the weights copied in (``weight_ih_l0 = Wx``, ``weight_hh_l0 = Wh``, ``bias_ih_l0 = b``,
``bias_hh_l0 = 0``: PyTorch's two biases only ever appear summed); ``attention`` equals
``F.scaled_dot_product_attention`` with its default scale ``1/sqrt(d)`` and
``is_causal=causal``, also for ``T != S``, where PyTorch aligns the mask at the top left
(``torch.ones(T, S).tril()``). Gradients come from ``torch.autograd`` with the same random
``dout``. The drawn cases and the derived tolerance are those of ``test_layers_sequence.py``
(the error model holds for any two evaluations of the same expression). The whole module
is skipped where PyTorch is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import examples
from test_layers_sequence import (
    DTYPES,
    Case,
    assert_matches,
    attention_cases,
    cross_entropy_cases,
    fixed_geometry_case,
    recurrent_cases,
    softmax_cases,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _leaf(a: np.ndarray) -> Any:
    return torch.tensor(a, requires_grad=a.dtype.kind == "f")


def _recurrent_module(case: Case) -> tuple[Any, dict[str, Any]]:
    """``torch.nn.RNN``/``LSTM`` with the case's weights copied in, and its weights by our names."""
    _, _, D = case.inputs["x"].shape
    H = case.inputs["h0"].shape[1]
    dtype = torch.float64 if case.dtype == np.float64 else torch.float32
    if case.layer == "rnn":
        module = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True, dtype=dtype)
    else:
        module = torch.nn.LSTM(D, H, batch_first=True, dtype=dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(case.inputs["Wx"]))
        module.weight_hh_l0.copy_(torch.from_numpy(case.inputs["Wh"]))
        module.bias_ih_l0.copy_(torch.from_numpy(case.inputs["b"]))
        module.bias_hh_l0.zero_()
    return module, {"Wx": module.weight_ih_l0, "Wh": module.weight_hh_l0, "b": module.bias_ih_l0}


def torch_reference(case: Case) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """PyTorch's forward of ``case`` and its gradients by ``torch.autograd`` at ``case.dout``."""
    leaves = {name: _leaf(a) for name, a in case.inputs.items() if name not in ("Wx", "Wh", "b")}
    if case.layer in ("softmax", "log_softmax"):
        fn = F.softmax if case.layer == "softmax" else F.log_softmax
        out = fn(leaves["x"], dim=case.config["axis"])
    elif case.layer == "cross_entropy":
        out = F.cross_entropy(leaves["logits"], leaves["labels"])
    elif case.layer == "attention":
        out = F.scaled_dot_product_attention(leaves["q"], leaves["k"], leaves["v"], is_causal=case.config["causal"])
    else:
        module, weights = _recurrent_module(case)
        leaves.update(weights)
        if case.layer == "rnn":
            out, _ = module(leaves["x"], leaves["h0"][None])
        else:
            out, _ = module(leaves["x"], (leaves["h0"][None], leaves["c0"][None]))
    out.backward(torch.from_numpy(np.asarray(case.dout)))
    grads = {name: t.grad.numpy() for name, t in leaves.items() if t.requires_grad}
    return out.detach().numpy(), grads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", ["softmax", "log_softmax", "cross_entropy", "rnn", "lstm", "attention"])
@settings(max_examples=examples(0.1))
@given(data=st.data())
def test_forward_and_gradients_equal_torch(layer: str, dtype: type, data: st.DataObject) -> None:
    if layer in ("softmax", "log_softmax"):
        case = data.draw(softmax_cases(layer, dtype))
    elif layer == "cross_entropy":
        case = data.draw(cross_entropy_cases(dtype))
    elif layer == "attention":
        case = data.draw(attention_cases(dtype))
    else:
        case = data.draw(recurrent_cases(layer, dtype))
    assert_matches(case, reference=torch_reference, key=" vs torch")


@pytest.mark.parametrize(("T", "S"), [(2, 5), (5, 2), (1, 4), (4, 1)])
def test_causal_attention_with_unequal_lengths_is_torchs_top_left_mask(T: int, S: int) -> None:
    """``is_causal`` with ``T != S``: query ``t`` sees keys ``s <= t`` (the mask aligned at the
    top left, not at the bottom right as in some other libraries); every query sees key 0."""
    geometry = ({"q": (2, T, 3), "k": (2, S, 3), "v": (2, S, 2)}, {"causal": True})
    case = fixed_geometry_case("attention", np.random.default_rng(T * 10 + S), geometry, np.float64)
    inputs = case.inputs
    assert_matches(case, reference=torch_reference, key=" vs torch")
    # the top-left mask by hand: the first query's output is the first value exactly
    out, _ = torch_reference(case)
    np.testing.assert_array_equal(out[:, 0], inputs["v"][:, 0])


def test_cross_entropy_refuses_what_torch_ignores() -> None:
    """PyTorch skips ``ignore_index=-100`` labels; this layer has no ``ignore_index`` and says so."""
    from bp_manual.layers import cross_entropy_forward

    logits, labels = np.zeros((2, 3)), np.array([0, -100])
    assert np.isfinite(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item())
    with pytest.raises(ValueError, match=r"^labels must lie in \[0, 3\), got -100 at index \(1,\)$"):
        cross_entropy_forward(logits, labels)
