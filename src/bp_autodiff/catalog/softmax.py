"""Classic wrong backward passes of ``softmax``, ``log_softmax`` and ``cross_entropy``.

What this module is for: the mistakes people make deriving the backward of
the softmax family (:mod:`bp_manual.layers.softmax`), each a readable backward
``(dout, cache) -> tuple`` with its mistake marked ``# MISTAKE``, registered in
:data:`MISTAKES` for teaching, for the auditor's diagnosis and for the test that
the layer's property test catches every one of them. Each uses the correct
layer's cache and kernels, so only the mistake is written out.

What it is not for: correct code (:mod:`bp_manual.layers.softmax`).
"""

from __future__ import annotations

from typing import Any

from bp_autodiff.catalog.layer_mistake import LayerMistake
from bp_manual import losses
from bp_manual.namespace import namespace


def softmax_diagonal_only(dout: Any, cache: Any) -> tuple[Any]:
    """Mistake: only the diagonal of softmax's Jacobian, ``dx = dout * s * (1 - s)``.

    ``ds_i/dx_i = s_i (1 - s_i)`` is right, but every ``s_i`` also depends on
    every other ``x_j`` (``ds_i/dx_j = -s_i s_j``) through the shared
    denominator; treating softmax as element-wise like the sigmoid drops those
    terms. Right only for an upstream gradient that is constant along ``axis``.
    """
    s, _ = cache
    return (dout * s * (1.0 - s),)  # MISTAKE: should be s * (dout - sum(dout * s, axis))


def softmax_summed_over_everything(dout: Any, cache: Any) -> tuple[Any]:
    """Mistake: ``sum(dout * s)`` taken over the whole array, not along ``axis``.

    The ``np.sum`` without ``axis=..., keepdims=True`` of a derivation done for one
    vector: every row gets the sum of all rows. Hides when there is one slice
    (a single vector); shows with a batch.
    """
    s, _ = cache
    return (s * (dout - (dout * s).sum()),)  # MISTAKE: should be .sum(axis=axis, keepdims=True)


def log_softmax_normaliser_as_constant(dout: Any, cache: Any) -> tuple[Any]:
    """Mistake: ``log softmax(x) = x - logsumexp(x)`` differentiated as if ``logsumexp`` were a constant.

    The maximum subtracted for stability is a constant (its derivative cancels);
    the whole ``log sum exp`` is not: it depends on every ``x_j``, which gives the
    ``- s_j sum(dout)`` term.
    """
    return (dout,)  # MISTAKE: should be dout - exp(y) * sum(dout, axis)


def log_softmax_upstream_sum_dropped(dout: Any, cache: Any) -> tuple[Any]:
    """Mistake: ``dx = dout - softmax(x)``, cross-entropy's ``softmax - onehot`` pattern copied.

    Right only when ``sum(dout) = 1`` along ``axis`` (the factor is left out);
    under a negative log-likelihood ``dout = -onehot / N`` sums to ``-1/N``.
    """
    y, _ = cache
    return (dout - namespace(y).exp(y),)  # MISTAKE: the softmax should be multiplied by sum(dout, axis)


def cross_entropy_summed_not_averaged(dout: Any, cache: Any) -> tuple[Any, None]:
    """Mistake: ``dlogits = dout * (softmax - Y)``, the ``1/N`` of the mean left out.

    The loss is the mean over the batch (PyTorch's default), so the gradient is
    ``N`` times too large. Expected finding: ``scale`` with factor ``N``; hides at ``N = 1``.
    """
    logits, Y = cache
    return dout * (losses.softmax(logits) - Y), None  # MISTAKE: should be divided by N


def cross_entropy_ignores_upstream(dout: Any, cache: Any) -> tuple[Any, None]:
    """Mistake: ``dlogits = (softmax - Y) / N``, the gradient of the loss alone, ``dout`` not multiplied in.

    Right only when the loss is the last node (``dout = 1``); wrong as soon as
    the loss is weighted or summed with another.
    """
    logits, Y = cache
    return losses.output_delta(losses.softmax(logits), Y), None  # MISTAKE: should be dout * (...)


def cross_entropy_labels_forgotten(dout: Any, cache: Any) -> tuple[Any, None]:
    """Mistake: ``dlogits = dout * softmax / N``, the ``- onehot(labels)`` of ``softmax - Y`` forgotten.

    The derivative of ``log sum exp`` kept, that of ``-logits[label]`` lost.
    """
    logits, _ = cache
    return dout * losses.softmax(logits) / logits.shape[0], None  # MISTAKE: should be softmax - Y


#: The classic mistakes of the softmax family, by name. Each shows at any
#: shape the property tests draw with a batch of several rows, ``K >= 2``.
MISTAKES: dict[str, LayerMistake] = {
    "softmax_diagonal_only": LayerMistake("softmax", softmax_diagonal_only, "layer_mistake", ("x",)),
    "softmax_summed_over_everything": LayerMistake("softmax", softmax_summed_over_everything, "layer_mistake", ("x",)),
    "log_softmax_normaliser_as_constant": LayerMistake(
        "log_softmax", log_softmax_normaliser_as_constant, "layer_mistake", ("x",)
    ),
    "log_softmax_upstream_sum_dropped": LayerMistake(
        "log_softmax", log_softmax_upstream_sum_dropped, "layer_mistake", ("x",)
    ),
    "cross_entropy_summed_not_averaged": LayerMistake(
        "cross_entropy", cross_entropy_summed_not_averaged, "scale", ("logits",)
    ),
    "cross_entropy_ignores_upstream": LayerMistake(
        "cross_entropy", cross_entropy_ignores_upstream, "ignores_upstream", ("logits",)
    ),
    "cross_entropy_labels_forgotten": LayerMistake(
        "cross_entropy", cross_entropy_labels_forgotten, "layer_mistake", ("logits",)
    ),
}
