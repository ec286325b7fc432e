"""The adapters: a ``jax.custom_vjp``, a ``torch.autograd.Function`` and a library layer in the layer contract.

What is held: each adapter's ``backward`` returns what the user's rule computes
(a wrong rule stays wrong, bit for bit where the rule's arithmetic allows),
its ``reference`` differentiates the primal and never the rule, ``None`` stands
where there is no gradient, float32 stays float32, inputs are not written by
the adapter, and a subject it cannot wrap is refused with an error that names it.

The subject is mostly ``tanh``, whose true gradient ``dout * (1 - tanh(x)**2)``
is computed here in NumPy. Tolerance (:func:`assert_tanh_grad`): assume each
implementation of ``tanh`` (NumPy's libm; XLA's or PyTorch's) within 4 ulp of
the exact value, i.e. within ``8 u |y|`` (glibc documents 2 ulp; the margin is
for XLA's own rational approximation), so two of them differ by at most
``16 u |y|``. Then ``1 - y**2`` differs by at most ``2 |y| * 16 u |y| <= 32 u``
in absolute terms (``|y| <= 1``), plus a rounding of the square and of the
subtraction (``2 u``), and the product with ``dout`` adds ``u`` relative:
``|got - true| <= 35 u |dout|``; we allow ``40 u |dout|`` (the worst seen over
200 seeds is ``6 u |dout|``). The same 4 ulp assumption bounds ``sin`` and ``cos``.
Rules whose arithmetic is exact (returning ``g``, ``3 * g``, a scatter-add of
integer-valued floats) are compared with ``assert_array_equal``.

Torch tests skip cleanly without PyTorch (``pytest.importorskip`` in each);
the test for the ImportError without it runs everywhere.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bp_manual.layers
from bp_autodiff.auditor.adapters import (
    LAYER_INPUTS,
    TORCH_MISSING,
    from_custom_vjp,
    from_layer,
    from_torch_function,
    layer_inputs,
)
from tolerances import unit_roundoff

DTYPES = (np.float64, np.float32)


def tanh_case(dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``x`` in ``(-3, 3)`` and a non-uniform ``dout`` (never all ones), both ``(4, 5)``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-3, 3, (4, 5)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)


def true_tanh_grad(x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    return dout * (1 - np.tanh(x) ** 2)


def assert_tanh_grad(got: Any, x: np.ndarray, dout: np.ndarray) -> None:
    """``got`` is ``dout * (1 - tanh(x)**2)`` within ``40 u |dout|`` (module docstring), in ``x``'s dtype."""
    got = np.asarray(got)
    assert got.dtype == x.dtype and got.shape == x.shape
    bound = 40 * unit_roundoff(x.dtype) * np.abs(dout.astype(np.float64))
    err = np.abs(got.astype(np.float64) - true_tanh_grad(x.astype(np.float64), dout.astype(np.float64)))
    assert np.all(err <= bound), f"off by {np.max(err / bound):.2f} x the bound"


# ---------------------------------------------------------------- jax.custom_vjp


def jax_tanh(bwd: Any) -> Any:
    """A ``custom_vjp`` tanh whose ``fwd`` keeps ``y = tanh(x)`` and whose ``bwd`` is ``bwd(y, g)``."""

    @jax.custom_vjp
    def tanh(x: jax.Array) -> jax.Array:
        return jnp.tanh(x)

    def tanh_fwd(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        y = jnp.tanh(x)
        return y, y

    tanh.defvjp(tanh_fwd, lambda y, g: (bwd(y, g),))
    return tanh


JAX_RULES = {
    "right": lambda y, g: g * (1 - y**2),
    "forgets 1 - y**2": lambda y, g: g,
    "ignores dout": lambda y, g: 1 - y**2,
}


def vjp_of(fn: Any, x: np.ndarray, dout: np.ndarray) -> np.ndarray:
    with jax.enable_x64(True):
        _, pullback = jax.vjp(fn, jnp.asarray(x))
        return np.asarray(pullback(jnp.asarray(dout))[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("rule", sorted(JAX_RULES))
def test_custom_vjp_backward_is_the_rule_and_reference_the_primal(rule: str, dtype: Any) -> None:
    x, dout = tanh_case(dtype)
    f = jax_tanh(JAX_RULES[rule])
    forward, backward, reference = from_custom_vjp(f)
    out, cache = forward(x)
    assert out.dtype == dtype and np.all(np.abs(out - np.tanh(x)) <= 16 * unit_roundoff(dtype))
    (dx,) = backward(dout, cache)
    assert isinstance(dx, np.ndarray) and dx.dtype == dtype
    # The rule gets a cotangent of the output's dtype, as under JAX, whatever dtype dout has.
    np.testing.assert_array_equal(backward(dout.astype(np.float64), cache)[0], dx)
    assert backward(dout.astype(np.float64), cache)[0].dtype == dtype
    if rule == "right":
        assert_tanh_grad(dx, x, dout)
    elif rule == "forgets 1 - y**2":
        np.testing.assert_array_equal(dx, dout)  # bwd returns g itself
    else:
        np.testing.assert_array_equal(backward(3 * dout, cache)[0], dx)  # the same for any dout
        assert_tanh_grad(dx, x, np.ones_like(dout))
    # The reference is the primal: right whatever the rule; f itself runs the rule.
    assert_tanh_grad(vjp_of(reference, x, dout), x, dout)
    np.testing.assert_array_equal(vjp_of(f, x, dout), dx)


def test_custom_vjp_leaves_its_inputs_alone_and_takes_read_only_ones() -> None:
    x, dout = tanh_case(np.float64)
    x.setflags(write=False)
    dout.setflags(write=False)
    x0, d0 = x.copy(), dout.copy()
    forward, backward, _ = from_custom_vjp(jax_tanh(JAX_RULES["right"]))
    out, cache = forward(x)
    (dx,) = backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)
    assert out.flags.writeable and dx.flags.writeable  # fresh arrays, not views of JAX buffers


@jax.custom_vjp
def sin_cos(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.sin(x), jnp.cos(x)


sin_cos.defvjp(
    lambda x: ((jnp.sin(x), jnp.cos(x)), x),
    lambda x, g: (g[0] * jnp.cos(x) - g[1] * jnp.sin(x),),
)


def test_custom_vjp_with_two_outputs_takes_a_dout_per_output() -> None:
    x, d1 = tanh_case(np.float64, seed=1)
    d2 = np.flip(d1)
    forward, backward, _ = from_custom_vjp(sin_cos)
    (s, c), cache = forward(x)
    u = unit_roundoff(np.float64)
    assert np.all(np.abs(s - np.sin(x)) <= 16 * u) and np.all(np.abs(c - np.cos(x)) <= 16 * u)  # |sin|, |cos| <= 1
    (dx,) = backward((d1, d2), cache)
    # sin and cos within 16 u of NumPy's; two products and a difference add 3 u of each term: 19 u.
    np.testing.assert_allclose(
        dx, d1 * np.cos(x) - d2 * np.sin(x), rtol=0, atol=20 * u * np.max(np.abs(d1) + np.abs(d2))
    )
    with pytest.raises(ValueError, match="dout has shape"):
        backward((d1, d2[:2]), cache)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def power(x: jax.Array, k: int) -> jax.Array:
    return x**k


power.defvjp(lambda x, k: (x**k, x), lambda k, x, g: (g * k * x ** (k - 1),))


def test_nondiff_argnums_are_settings_with_no_gradient() -> None:
    """``bwd(k, res, g)`` as JAX calls it; ``None`` at ``k``; an array there is refused, naming it."""
    x = np.array([1.0, 2.0, -3.0])  # integers: x**2 and 3 * x**2 * g are exact
    dout = np.array([1.0, -2.0, 0.5])
    forward, backward, reference = from_custom_vjp(power)
    out, cache = forward(x, 3)
    np.testing.assert_array_equal(out, x**3)
    dx, dk = backward(dout, cache)
    assert dk is None
    np.testing.assert_array_equal(dx, 3 * x**2 * dout)
    with jax.enable_x64(True):
        np.testing.assert_array_equal(jax.vjp(lambda v: reference(v, 3), jnp.asarray(x))[1](dout)[0], dx)
    with pytest.raises(TypeError, match="nondiff_argnums"):
        forward(x, np.array(3))


def test_custom_vjp3_objects_are_read_too() -> None:
    """With JAX's ``jax_custom_vjp3`` option, ``@jax.custom_vjp`` builds another object (``f``, ``static_argnums``)."""
    jax.config.update("jax_custom_vjp3", True)
    try:
        f = jax_tanh(JAX_RULES["forgets 1 - y**2"])
        assert not isinstance(f, jax.custom_vjp)
        forward, backward, reference = from_custom_vjp(f)
    finally:
        jax.config.update("jax_custom_vjp3", False)
    x, dout = tanh_case(np.float64)
    np.testing.assert_array_equal(backward(dout, forward(x)[1])[0], dout)
    assert_tanh_grad(vjp_of(reference, x, dout), x, dout)


def test_what_from_custom_vjp_refuses() -> None:
    f = jax_tanh(JAX_RULES["right"])
    with pytest.raises(TypeError, match=r"decorated with @jax\.custom_vjp"):
        from_custom_vjp(jnp.tanh)
    with pytest.raises(TypeError, match=r"not jax\.jit\(f\) or a wrapper"):
        from_custom_vjp(jax.jit(f))
    with pytest.raises(TypeError, match="custom_jvp defines a JVP"):
        from_custom_vjp(jax.custom_jvp(jnp.tanh))
    with pytest.raises(ValueError, match="defvjp"):
        from_custom_vjp(jax.custom_vjp(jnp.tanh))
    g = jax.custom_vjp(jnp.tanh)
    g.defvjp(lambda x: (jnp.tanh(x), None), lambda r, ct: (ct,), symbolic_zeros=True)
    with pytest.raises(ValueError, match="symbolic_zeros"):
        from_custom_vjp(g)


@pytest.mark.parametrize(
    ("bwd", "got"),
    [(lambda y, g: g, r"an? \w+ of shape \(4, 5\)"), (lambda y, g: (g, g), "a tuple of 2")],
    ids=["an array", "two gradients"],
)
def test_a_bwd_of_the_wrong_structure_raises_as_jax_would(bwd: Any, got: str) -> None:
    @jax.custom_vjp
    def f(x: jax.Array) -> jax.Array:
        return jnp.tanh(x)

    f.defvjp(lambda x: (jnp.tanh(x), x), bwd)
    forward, backward, _ = from_custom_vjp(f)
    x, dout = tanh_case(np.float64)
    with pytest.raises(TypeError, match=r"one gradient per differentiable argument \(1\), got " + got):
        backward(dout, forward(x)[1])


# ---------------------------------------------------------------- torch.autograd.Function


def torch_tanh(torch: Any, bwd: Any) -> type:
    class Tanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            y = torch.tanh(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (y,) = ctx.saved_tensors
            return bwd(y, g)

    return Tanh


TORCH_RULES = {
    "right": lambda y, g: g * (1 - y**2),
    "ignores grad_output": lambda y, g: 1 - y**2,
    "three times": lambda y, g: 3 * g,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("rule", sorted(TORCH_RULES))
def test_torch_backward_is_the_rule(rule: str, dtype: Any) -> None:
    torch: Any = pytest.importorskip("torch")
    x, dout = tanh_case(dtype)
    x0 = x.copy()
    forward, backward = from_torch_function(torch_tanh(torch, TORCH_RULES[rule]))
    out, cache = forward(x)
    assert out.dtype == dtype and np.all(np.abs(out - np.tanh(x)) <= 16 * unit_roundoff(dtype))
    (dx,) = backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(backward(dout.astype(np.float64), cache)[0], dx)  # dout cast to out's dtype
    if rule == "right":
        assert_tanh_grad(dx, x, dout)
    elif rule == "three times":
        np.testing.assert_array_equal(dx, 3 * dout)
    else:
        np.testing.assert_array_equal(backward(-2 * dout, cache)[0], dx)  # the graph is kept; dout is ignored
        assert_tanh_grad(dx, x, np.ones_like(dout))
    np.testing.assert_array_equal(x, x0)


def test_torch_inputs_that_are_not_floats_get_none() -> None:
    """Integer indices and a Python float pass through; the rule's scatter-add comes back exactly."""
    torch: Any = pytest.importorskip("torch")

    class Gather(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, idx: Any, scale: float) -> Any:
            ctx.save_for_backward(idx)
            ctx.n, ctx.scale = x.shape[0], scale
            return x[idx] * scale

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (idx,) = ctx.saved_tensors
            dx = torch.zeros((ctx.n, *g.shape[1:]), dtype=g.dtype).index_add_(0, idx, g * ctx.scale)
            return dx, None, None

    x = np.arange(12.0).reshape(4, 3)
    idx = np.array([0, 2, 2, 3])  # row 2 twice: its gradient is the sum of two rows of dout
    dout = np.arange(12.0).reshape(4, 3) - 5  # integer-valued: every sum below is exact
    forward, backward = from_torch_function(Gather)
    out, cache = forward(x, idx, 0.5)
    np.testing.assert_array_equal(out, x[idx] * 0.5)
    dx, didx, dscale = backward(dout, cache)
    expected = np.zeros_like(x)
    np.add.at(expected, idx, dout * 0.5)
    np.testing.assert_array_equal(dx, expected)
    assert didx is None and dscale is None


def test_a_function_writing_into_its_input_shows_in_the_callers_array() -> None:
    """The tensors share the NumPy arrays' memory, so the auditor sees what a NumPy forward would do."""
    torch: Any = pytest.importorskip("torch")

    class Doubles(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            x.mul_(2)
            return x * 1

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return 2 * g

    forward, _ = from_torch_function(Doubles)
    x = np.array([1.0, 2.0])
    forward(x)
    np.testing.assert_array_equal(x, [2.0, 4.0])
    frozen = np.array([1.0, 2.0])
    frozen.setflags(write=False)  # copied, without PyTorch's warning about read-only arrays
    out, _ = forward(frozen)
    np.testing.assert_array_equal(frozen, [1.0, 2.0])
    np.testing.assert_array_equal(out, [2.0, 4.0])


def test_what_from_torch_function_refuses() -> None:
    torch: Any = pytest.importorskip("torch")
    cls = torch_tanh(torch, TORCH_RULES["right"])
    with pytest.warns(DeprecationWarning, match="should not be instantiated"):
        instance = cls()
    for bad in (torch.tanh, instance, torch.nn.Tanh):
        with pytest.raises(TypeError, match=r"torch\.autograd\.Function subclass"):
            from_torch_function(bad)
    forward, backward = from_torch_function(cls)
    x, dout = tanh_case(np.float64)
    _, cache = forward(x)
    with pytest.raises(ValueError, match=r"dout has shape \(5, 4\), the output has shape \(4, 5\)"):
        backward(dout.T, cache)


def test_a_torch_function_with_two_outputs_takes_a_dout_per_output() -> None:
    torch: Any = pytest.importorskip("torch")

    class SinCos(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return torch.sin(x), torch.cos(x)

        @staticmethod
        def backward(ctx: Any, g1: Any, g2: Any) -> Any:
            return g1 - g2  # MISTAKE: the local derivatives left out; exact arithmetic, as the rule does it

    forward, backward = from_torch_function(SinCos)
    x, d1 = tanh_case(np.float64, seed=2)
    d2 = np.flip(d1)
    (s, _), cache = forward(x)
    np.testing.assert_array_equal(s, torch.sin(torch.from_numpy(x)).numpy())
    (dx,) = backward((d1, d2), cache)
    np.testing.assert_array_equal(dx, d1 - d2)
    with pytest.raises(ValueError, match=r"one array per output \(2\), got 1"):
        backward((d1,), cache)
    with pytest.raises(ValueError, match=r"dout\[1\] has shape \(5,\), the output has shape \(4, 5\)"):
        backward((d1, d2[0]), cache)


def test_without_torch_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "bp-reference\[torch\]"') as info:
        from_torch_function(type)
    assert str(info.value) == TORCH_MISSING


def test_importing_the_auditor_imports_neither_torch_nor_matplotlib() -> None:
    code = (
        "import sys, bp_autodiff, bp_autodiff.auditor.adapters, bp_autodiff.auditor.plot\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- library layers


def test_every_library_layer_has_an_entry_matching_its_signatures() -> None:
    names = {n.removesuffix("_forward") for n in bp_manual.layers.__all__ if n.endswith("_forward")}
    assert set(LAYER_INPUTS) == names
    for name, entry in LAYER_INPUTS.items():
        forward, backward, reference = from_layer(name)
        assert forward is getattr(bp_manual.layers, f"{name}_forward")
        assert backward is getattr(bp_manual.layers, f"{name}_backward")
        assert reference.__module__ == f"bp_autodiff.witness.layers.{entry.family}" and reference.__name__ == name
        for fn in (forward, reference):
            assert tuple(inspect.signature(fn).parameters) == entry.inputs + entry.settings, (name, fn)
        assert set(entry.differentiable) <= set(entry.inputs)


def test_a_layer_and_its_reference_agree_and_none_marks_the_indices() -> None:
    """``embedding`` and ``linear`` on integer-valued floats, where every sum is exact in float64."""
    rng = np.random.default_rng(0)
    E = rng.integers(-4, 5, (5, 3)).astype(np.float64)
    idx = np.array([[0, 3], [3, 4]])  # 3 twice: its rows of dout add up
    forward, backward, reference = from_layer("embedding")
    assert layer_inputs("embedding").differentiable == ("E",)
    out, cache = forward(idx, E)
    dout = rng.integers(-4, 5, out.shape).astype(np.float64)
    didx, dE = backward(dout, cache)
    assert didx is None
    with jax.enable_x64(True):
        np.testing.assert_array_equal(jax.vjp(lambda e: reference(jnp.asarray(idx), e), E)[1](dout)[0], dE)

    x, W, b = (rng.integers(-4, 5, s).astype(np.float64) for s in ((2, 3), (4, 3), (4,)))
    forward, backward, reference = from_layer("linear")
    out, cache = forward(x, W, b)
    dout = rng.integers(-4, 5, out.shape).astype(np.float64)
    with jax.enable_x64(True):
        out_ref, pullback = jax.vjp(reference, x, W, b)
        np.testing.assert_array_equal(out, out_ref)
        for got, want in zip(backward(dout, cache), pullback(dout), strict=True):
            np.testing.assert_array_equal(got, want)


def test_unknown_layers_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown layer 'batchnorm'; expected one of \[.*'batch_norm'"):
        from_layer("batchnorm")
    with pytest.raises(TypeError, match="layer name"):
        layer_inputs(bp_manual.layers.relu_forward)  # type: ignore[arg-type]


# ---------------------------------------------------------------- audited through the adapters

AUDITED = {  # rule -> the finding kind audit_vjp gives it (None: no finding)
    "right": None,
    "forgets 1 - y**2": "mismatch",
    "ignores dout": "ignores_upstream",
}


@pytest.mark.parametrize("rule", sorted(AUDITED))
def test_a_custom_vjp_is_audited_through_its_adapter_against_its_own_primal(rule: str) -> None:
    from bp_autodiff import audit_vjp

    forward, backward, reference = from_custom_vjp(jax_tanh(JAX_RULES[rule]))
    x = np.random.default_rng(0).normal(size=(3, 4))
    report = audit_vjp(forward, backward, {"x": x}, reference=reference)
    kinds = {f.kind for f in report.findings}
    assert kinds == (set() if AUDITED[rule] is None else {AUDITED[rule]}), report.render()
    assert any(c.witness == "jax" for c in report.comparisons)  # the primal, differentiated by JAX, is a witness


@pytest.mark.parametrize("rule", ["right", "ignores grad_output", "three times"])
def test_a_torch_function_is_audited_through_its_adapter(rule: str) -> None:
    torch = pytest.importorskip("torch")
    from bp_autodiff import audit_vjp

    forward, backward = from_torch_function(torch_tanh(torch, TORCH_RULES[rule]))
    x = np.random.default_rng(1).normal(size=(3, 4))
    report = audit_vjp(forward, backward, {"x": x})
    # "three times" returns 3 g, not a multiple of the true g (1 - y**2): no factor fits, a mismatch
    expected = {"right": set(), "ignores grad_output": {"ignores_upstream"}, "three times": {"mismatch"}}[rule]
    assert {f.kind for f in report.findings} == expected, report.render()
