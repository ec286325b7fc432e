"""``bp_autodiff.audit_vjp``'s sweep: course-style pairs audited as they stand, and caught where they go wrong.

The pairs are written the way course repositories write them (loops over output positions, a
``conv_param``/``pool_param`` settings dict as the last input, ``backward`` returning one gradient per array, or
a bare ``dx``), each with a mistake that its course's own check at one setting does not see: a convolution that
crops its padding with ``[p:-p]`` (right at padding 1), a max pool that writes each window's gradient instead of
adding it (right at 2x2 stride 2). The audit at the given setting passes; the sweep must name the setting where
the mistake shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import bp_autodiff
from bp_manual import layers

RNG = np.random.default_rng(20261201)


# ---------------------------------------------------------------- course-style pairs (CS231n's form)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]) -> tuple[Any, Any]:
    """A course's naive convolution: one window at a time, settings in ``conv_param``."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def _conv_backward(dout: np.ndarray, cache: Any, crop_with_negative_end: bool) -> tuple[Any, Any, Any]:
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dw += np.tensordot(dout[:, :, i, j], x_pad[:, :, rows, cols], axes=([0], [0]))
            dx_pad[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    if crop_with_negative_end:
        return dx_pad[:, :, pad:-pad, pad:-pad], dw, db  # wrong at pad = 0: the slice 0:-0 is empty
    return dx_pad[:, :, pad : pad + H, pad : pad + W], dw, db


def conv_backward(dout: np.ndarray, cache: Any) -> tuple[Any, Any, Any]:
    """The right backward: ``(dx, dw, db)``, no gradient for ``conv_param``."""
    return _conv_backward(dout, cache, crop_with_negative_end=False)


def conv_backward_cropped(dout: np.ndarray, cache: Any) -> tuple[Any, Any, Any]:
    """Right for every padding but 0, where it crops ``dx`` with ``[p:-p]``."""
    return _conv_backward(dout, cache, crop_with_negative_end=True)


def max_pool_forward(x: np.ndarray, pool_param: dict[str, int]) -> tuple[Any, Any]:
    """A course's naive max pool with ``pool_param = {"pool_height", "pool_width", "stride"}``."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s : i * s + ph, j * s : j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_writes(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Writes each window's gradient (``=``): right only where windows do not overlap. Returns a bare ``dx``."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s : i * s + ph, j * s : j * s + pw]
            is_max = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s : i * s + ph, j * s : j * s + pw] = is_max * dout[:, :, i, j][:, :, None, None]
    return dx


def _distinct(shape: tuple[int, ...]) -> np.ndarray:
    """Values at least ``4 / size`` apart (no ties): ranks moved by under a third of a rank, in ``[-2, 2]``."""
    n = int(np.prod(shape))
    return ((RNG.permutation(n) + RNG.uniform(-0.3, 0.3, n)) / n * 4 - 2).reshape(shape)


def _conv_inputs(pad: int = 1) -> dict[str, Any]:
    return {
        "x": RNG.standard_normal((1, 2, 4, 4)),
        "w": RNG.standard_normal((2, 2, 3, 3)),
        "b": RNG.standard_normal(2),
        "conv_param": {"stride": 1, "pad": pad},
    }


def test_a_course_conv_pair_is_audited_as_it_stands() -> None:
    report = bp_autodiff.audit_vjp(conv_forward, conv_backward, _conv_inputs())
    assert report.ok, str(report)
    assert {c.param for c in report.comparisons} == {"x", "w", "b"}  # conv_param passed through, no gradient
    assert "passed through" in report.inputs["conv_param"]
    assert report.sweep and all(c.verdict in ("pass", "skipped") for c in report.sweep), str(report)
    assert any("'pad': 0" in c.setting and c.verdict == "pass" for c in report.sweep)


def test_a_conv_cropping_with_a_negative_end_is_caught_at_padding_zero() -> None:
    inputs = _conv_inputs(pad=1)
    assert bp_autodiff.audit_vjp(conv_forward, conv_backward_cropped, inputs, sweep=False).ok  # right at pad 1
    report = bp_autodiff.audit_vjp(conv_forward, conv_backward_cropped, inputs)
    failing = [c for c in report.sweep if c.verdict == "FAIL"]
    assert failing and all("'pad': 0" in c.setting for c in failing), str(report)
    assert any(f.param == "x" and f.kind == "shape" and f.setting and "'pad': 0" in f.setting for f in report.findings)
    assert all(f.param == "x" for f in report.findings)


def test_a_max_pool_that_writes_instead_of_adding_is_caught_where_windows_overlap() -> None:
    inputs = {"x": _distinct((2, 2, 6, 6)), "pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2}}
    assert bp_autodiff.audit_vjp(max_pool_forward, max_pool_backward_writes, inputs, sweep=False).ok
    report = bp_autodiff.audit_vjp(max_pool_forward, max_pool_backward_writes, inputs)
    failing = [c.setting for c in report.sweep if c.verdict == "FAIL"]
    assert "pool_param={'pool_height': 2, 'pool_width': 2, 'stride': 1}" in failing, str(report)
    assert "pool_param={'pool_height': 3, 'pool_width': 3, 'stride': 2}" in failing
    passing = [c.setting for c in report.sweep if c.verdict == "pass"]
    assert "pool_param={'pool_height': 3, 'pool_width': 3, 'stride': 3}" in passing  # no overlap: right
    assert "lost_accumulation" in {f.kind for f in report.findings}, str(report)


def test_the_library_max_pool_catalog_entry_is_found_by_the_sweep_from_the_usual_setting() -> None:
    from bp_autodiff.catalog.pool import max_pool_overwrites

    x = _distinct((1, 2, 6, 6))
    report = bp_autodiff.audit_vjp(
        layers.max_pool2d_forward, max_pool_overwrites, {"x": x}, config={"kernel_size": 2}, layer="max_pool2d"
    )
    assert not [f for f in report.findings if f.setting is None]  # right at 2x2 stride 2
    kinds = {f.kind for f in report.findings if f.setting and "stride=1" in f.setting}
    assert kinds == {"lost_accumulation"}, str(report)
    assert any("max_pool_overwrites" in f.detail for f in report.findings)
