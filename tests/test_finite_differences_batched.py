"""The batched finite differences equal the one-evaluation-per-perturbation code they replaced.

``bp_autodiff.auditor.finite_differences`` evaluates the ``4 K`` perturbations of
every array in one batched forward pass (:func:`perturbed_losses`). The code it
replaced perturbed the parameter in place and ran ``bp_manual``'s forward pass
once per perturbation; that code is kept here, verbatim in its logic, as the
reference (:func:`reference_losses`, :func:`reference_witness`).

The bound on the losses. Both sides evaluate the loss of the same perturbed
network in float64. By the error model of :mod:`bp_autodiff.auditor.tolerance`
each evaluation is within ``kappa * n_ops * u * (1 + |L|)`` (``fd_rounding * h``)
of the exact loss of the network it evaluates. The two networks differ in one
entry by at most ``u |t + s|``: the reference stores ``fl(t + s)``, so it
moves the entry by ``fl(t + s) - t``, the batched code by exactly ``s`` (a
power of two times ``A``). Over that distance the loss changes by at most
``u (|t| + |s|) * G`` with ``G`` a bound on ``|dL/dp|`` near the point; we take
``G = 2 (|g| + |D| + 1)`` with ``g`` the gradient entry and ``D`` the largest
difference quotient of the stencil (the slope of the loss over the steps; for
these networks ``L''`` is at most of order 1e3, so ``|dL/dp|`` changes by less
than 0.02 over ``2h``). Hence::

    |L_batched - L_reference| <= 2 kappa n_ops u (1 + |L|) + u (|t| + 2h) G

The kink records (signs of every hidden pre-activation at every step) must be
the same exactly: a sign can differ only for a pre-activation within rounding
of 0, and the networks below put pre-activations either exactly on 0 (where
both sides compute an exact 0: a zero init without biases) or between 1e-7 and
1e-5 from it, a million times farther than rounding, inside the reach of the
steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import bp_manual
from bp_autodiff.auditor.compare import compare
from bp_autodiff.auditor.contract import flatten, param_names
from bp_autodiff.auditor.finite_differences import (
    STEPS,
    chosen_entries,
    fd_witness,
    kink_records,
    one_sided,
    perturbed_losses,
)
from bp_autodiff.auditor.report import Comparison, Inconclusive
from bp_autodiff.auditor.tolerance import FD_SAFETY, FD_STEP, allowance, fd_rounding, gradient_rtol, term_scales
from bp_manual.network import forward_prepared, loss_from_cache
from bp_manual.problems import random_batch, random_params, random_spec
from bp_manual.validation import prepare_batch

U64 = 2.0**-53


def reference_losses(spec, p64, X, Y, layer, key, entries):
    """The replaced code: for each entry and step, perturb in place, run the whole forward pass, restore."""
    kinked = bp_manual.HIDDEN[spec.hidden].kinked
    flat = p64[layer][key].reshape(-1)
    losses = np.empty((len(entries), len(STEPS)))
    signs = [np.empty((len(entries), len(STEPS), *c.Z.shape)) for c in forward_prepared(spec, p64, X)[1][layer:-1]]
    for j, k in enumerate(entries):
        t = flat[k]
        for s, step in enumerate(STEPS):
            flat[k] = t + step
            _, cache = forward_prepared(spec, p64, X)
            losses[j, s] = float(loss_from_cache(spec, cache, Y))
            for sign, c in zip(signs, cache[layer:-1], strict=True):
                sign[j, s] = np.sign(c.Z)
        flat[k] = t
    return losses, signs if kinked else []


def _side_is_clean(base, near, far):
    return not any(np.any(n != f) or np.any((b != 0) & (n != b)) for b, n, f in zip(base, near, far, strict=True))


def reference_witness(spec, params, X, Y, manual, jax_refs, rtol, max_entries, rng, scales):
    """``fd_witness`` as it was before the batching: one forward pass per perturbation."""
    p64 = [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    kinked = bp_manual.HIDDEN[spec.hidden].kinked

    def evaluate():
        _, cache = forward_prepared(spec, p64, X64)
        signs = [np.sign(c.Z) for c in cache[:-1]] if kinked else []
        return float(loss_from_cache(spec, cache, Y64)), signs

    base, base_signs = evaluate()
    noise = fd_rounding(spec.sizes, X.shape[0], base)
    h = FD_STEP
    out, kinks = [], []
    for i, key, name in param_names(spec):
        arr, m = p64[i][key], manual.get(name)
        chosen = chosen_entries(arr.size, max_entries, jax_refs[name], m, rng)
        m_flat = np.asarray(m, dtype=np.float64).reshape(-1)
        flat = arr.reshape(-1)
        estimate, truncation, rounding, keep = [], [], [], []
        for k in chosen:
            t = flat[k]
            vals, signs = {}, {}
            for step in (h, -h, 2 * h, -2 * h):
                flat[k] = t + step
                vals[step], signs[step] = evaluate()
            flat[k] = t
            index = tuple(int(x) for x in np.unravel_index(int(k), arr.shape))
            right_clean = not kinked or _side_is_clean(base_signs, signs[h], signs[2 * h])
            left_clean = not kinked or _side_is_clean(base_signs, signs[-h], signs[-2 * h])
            on_kink = kinked and any(
                np.any((b == 0) & ((p != 0) | (q != 0)))
                for b, p, q in zip(base_signs, signs[h], signs[-h], strict=True)
            )
            right = one_sided(base, vals[h], vals[2 * h], h)
            left = one_sided(base, vals[-h], vals[-2 * h], -h)
            if right_clean and left_clean and not on_kink:
                d1 = (vals[h] - vals[-h]) / (2 * h)
                d2 = (vals[2 * h] - vals[-2 * h]) / (4 * h)
                estimate.append(d1)
                truncation.append(abs(d2 - d1) / 3)
                rounding.append(noise)
            elif (right_clean or left_clean) and not on_kink:
                d, trunc = right if right_clean else left
                estimate.append(d)
                truncation.append(trunc)
                rounding.append(5 * noise)
            else:
                side = None
                for label, (d, trunc), clean in (("right", right, right_clean), ("left", left, left_clean)):
                    allowed = FD_SAFETY * (trunc + 5 * noise) + rtol * 2 * abs(d)
                    if clean and side is None and abs(m_flat[k] - d) <= allowed:
                        side = label
                reason = (
                    "a pre-activation lies exactly on the kink: the derivative there is a convention"
                    if on_kink
                    else f"the finite-difference steps (h = {h:.2g}, 2h) cross a kink on both sides"
                )
                kinks.append(Inconclusive(name, index, "fd", reason, side))
                continue
            keep.append((int(k), index))
        if not keep:
            out.append(Comparison(name, "fd", tuple(arr.shape), "pass", 0.0, 0.0, 0.0, checked=0))
            continue
        fd_values = np.array(estimate)
        size = max(float(np.max(np.abs(jax_refs[name]), initial=0.0)), scales.get(name, 0.0))
        allowed = FD_SAFETY * (np.array(truncation) + np.array(rounding)) + allowance(fd_values, rtol, size)
        idx = np.array([k for k, _ in keep])
        row = compare(name, "fd", m_flat[idx], fd_values, rtol, allowance=allowed, index_map=[i for _, i in keep])
        out.append(dataclasses.replace(row, shape=tuple(arr.shape)))
    return out, kinks


def _near_kinks(layer: dict[str, np.ndarray], X: np.ndarray, rng: np.random.Generator):
    """Unit ``r`` of layer 1 put at ``+-d1`` from its kink on sample 0 (by ``b[r]``) and at ``-+d2`` on
    sample 1 (by moving ``X[1]`` along ``W[r]``), ``d`` between 1e-7 and 1e-5, inside the reach ``2h`` of
    the steps: moving ``b[r]`` then crosses a kink on both sides, most other entries on one side."""
    W, b, X = layer["W"], layer["b"].copy(), X.copy()
    r = int(rng.integers(b.size))
    sign = rng.choice([-1.0, 1.0])
    b[r] -= (X[0] @ W[r] + b[r]) - sign * rng.uniform(1e-7, 1e-5)
    X[1] += (-sign * rng.uniform(1e-7, 1e-5) - (X[1] @ W[r] + b[r])) * W[r] / (W[r] @ W[r])
    return {**layer, "b": b}, X


def _problems() -> list[tuple[bp_manual.NetworkSpec, bp_manual.Params, np.ndarray, np.ndarray, str]]:
    """Random networks of every activation and loss (bp check's sizes), kinked ones placed near and on kinks."""
    rng = np.random.default_rng(20261130)
    out = []
    for hidden in sorted(bp_manual.HIDDEN):
        for loss in sorted(bp_manual.LOSSES):
            for variant in ("random", "near kinks", "on kinks"):
                kinked = bp_manual.HIDDEN[hidden].kinked
                if variant != "random" and not kinked:
                    continue
                spec = random_spec(rng, hidden, loss, max_layers=4, max_width=6)
                if variant != "random":  # at least one hidden layer to put a kink in
                    sizes = (*spec.sizes[:1], int(rng.integers(2, 6)), *spec.sizes[1:])[-5:]
                    spec = dataclasses.replace(spec, sizes=sizes, bias=variant == "near kinks")
                init = "zeros" if variant == "on kinks" else "he_normal"
                params = random_params(spec, rng, init, np.float64)
                n = int(rng.integers(2, 7))
                X, Y = random_batch(spec, rng, n, np.float64)
                if variant == "near kinks":
                    params[0], X = _near_kinks(params[0], X, rng)
                out.append((spec, params, X, Y, f"{variant} {spec.sizes} {hidden} {loss} bias={spec.bias} N={n}"))
    return out


PROBLEMS = _problems()


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p[-1] for p in PROBLEMS])
def test_batched_losses_and_kink_records_equal_one_forward_per_perturbation(problem) -> None:
    spec, params, X, Y, _ = problem
    X, Y = prepare_batch(spec, params, X, Y)
    _, cache = forward_prepared(spec, params, X)
    base = float(loss_from_cache(spec, cache, Y))
    _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
    rounding = 2 * fd_rounding(spec.sizes, X.shape[0], base) * FD_STEP  # 2 kappa n_ops u (1 + |L|)
    arrays = [(i, key, np.arange(params[i][key].size)) for i, key, _ in param_names(spec)]
    losses, signs = perturbed_losses(spec, params, cache, Y, arrays)  # every array in one stack, as fd_witness
    start = 0
    for i, key, name in param_names(spec):
        entries = np.arange(params[i][key].size)
        at = slice(start, start + entries.size)
        start += entries.size
        batched = losses[at]
        alone, alone_signs = perturbed_losses(spec, params, cache, Y, [(i, key, entries)])  # the array by itself
        assert np.all(np.abs(batched - alone) <= rounding), name
        p64 = [{k: np.array(v) for k, v in layer.items()} for layer in params]
        reference, ref_signs = reference_losses(spec, p64, X, Y, i, key, entries)
        t = np.abs(params[i][key].reshape(-1))[:, None]
        g = np.abs(grads[i][key].reshape(-1))[:, None]
        slope = np.max(np.abs(reference - base) / np.abs(STEPS), axis=1, keepdims=True)
        bound = rounding + U64 * (t + 2 * FD_STEP) * 2 * (g + slope + 1)
        assert np.all(np.abs(batched - reference) <= bound), (name, np.max(np.abs(batched - reference) / bound))
        # the layers from this array's up: the same signs in the stack, by itself and in the reference
        assert len(signs[i:]) == len(alone_signs[i:]) == len(ref_signs)
        for s, a, r in zip(signs[i:], alone_signs[i:], ref_signs, strict=True):
            assert np.array_equal(s[at], r) and np.array_equal(a, r), name
        assert all(s.shape[0] == 0 for s in alone_signs[:i])  # no entry of this array joins below its layer
    assert start == losses.shape[0]


def test_the_near_and_on_kink_problems_exercise_every_branch() -> None:
    """Not vacuous: among the problems some entries are one-sided, some cross on both sides, some are on a kink."""
    counts = np.zeros(3, int)  # one side clean, neither side clean, on the kink
    for spec, params, X, Y, _ in PROBLEMS:
        if not bp_manual.HIDDEN[spec.hidden].kinked:
            continue
        X, Y = prepare_batch(spec, params, X, Y)
        _, cache = forward_prepared(spec, params, X)
        base_signs = [np.sign(c.Z) for c in cache[:-1]]
        arrays = [(i, key, np.arange(params[i][key].size)) for i, key, _ in param_names(spec)]
        losses, signs = perturbed_losses(spec, params, cache, Y, arrays)
        right, left, on = kink_records(base_signs, signs, losses.shape[0])
        counts += [np.sum((right ^ left) & ~on), np.sum(~right & ~left & ~on), np.sum(on)]
    assert np.all(counts > 0), counts


@pytest.mark.parametrize("wrong", [False, True], ids=["correct", "wrong W"])
def test_batched_witness_gives_the_verdicts_and_inconclusive_entries_of_the_reference(wrong: bool) -> None:
    for spec, params, X, Y, where in PROBLEMS:
        X, Y = prepare_batch(spec, params, X, Y)
        _, grads = bp_manual.loss_and_grads(spec, params, X, Y)
        manual = flatten(spec, grads)
        if wrong:  # a derivation off by a factor 1.01 in one array: every checked entry of it must fail
            manual["W1"] = manual["W1"] * 1.01 + 1e-3
        refs = flatten(spec, grads)
        rtol = gradient_rtol(spec.sizes, X.shape[0], np.float64)
        scales = term_scales(spec, params, X, Y)
        args = (spec, params, X, Y, manual, refs, rtol, 8)
        new, new_kinks = fd_witness(*args, np.random.default_rng(7), scales)
        old, old_kinks = reference_witness(*args, np.random.default_rng(7), scales)
        assert new_kinks == old_kinks, where
        assert [(c.param, c.verdict, c.checked, c.shape) for c in new] == [
            (c.param, c.verdict, c.checked, c.shape) for c in old
        ], where
        if wrong and any(c.checked for c in new if c.param == "W1"):
            assert next(c.verdict for c in new if c.param == "W1") == "FAIL", where
