"""A character-level recurrent model that learns the Zen of Python (``this.s``), by the hand derivation.

What this module is for: the recurrent model of ``bp train --model rnn``: the
text (:func:`zen_of_python`, from Python's standard library), its windows
(:func:`char_windows`), the baselines (:func:`entropies`), the architecture
(:func:`zen_rnn`) and the seeded run (:func:`train_zen_rnn`)::

    indices (N, T) -> embedding, 16 dims   (N, T, 16)
                   -> rnn (or lstm), H = 64, from the zero state: every hidden state   (N, T, 64)
                   -> linear                (N, T, V)
                   -> flatten(0, 1)         (N*T, V)   -> cross-entropy against the next character

The task: at every position of a window of ``T = 32`` characters, predict the
next character. The loss is the mean cross-entropy, in nats per character,
over the text cut into consecutive windows of ``T`` (each window read from the
zero state). Two baselines, computed on exactly those predicted characters:
the *unigram entropy*, the smallest loss a predictor without context can have
(always the text's character frequencies), and the *bigram entropy*
``H(next | current)``, the smallest loss a predictor that sees only the
current character can have. A loss below the bigram entropy uses more than
one character of context: it has to come through the recurrence.

What it shows and what it does not: the text is 856 characters, all of them
used for training, so the model learns this text, not English: the loss is
measured on the text it was trained on (there is no held-out text, and
``test_accuracy`` is ``None``). What it shows is that the recurrence, trained
by backpropagation through time as derived in ``docs/layers/sequence.md``,
carries context over many steps.

What it is not for: text generation or language modelling beyond this toy.
"""

from __future__ import annotations

import ast
import codecs
import importlib.util
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bp_manual.initializers import as_generator
from bp_manual.layers.sequential import Sequential
from bp_manual.models.loop import blas_threads, cosine, evaluate, fit_model
from bp_manual.models.result import TrainedModel
from bp_manual.optim import Optimizer, adam
from bp_manual.scalars import nonnegative_int, positive_int
from bp_manual.train import Callback

#: The defaults of :func:`train_zen_rnn` (and of ``bp train --model rnn``).
EPOCHS, BATCH_SIZE, LR, WINDOW, STRIDE, HIDDEN, EMBEDDING = 10, 32, 1e-2, 32, 2, 64, 16
CELLS = ("rnn", "lstm")


def zen_of_python() -> str:
    """The Zen of Python, PEP 20: the rot13-encoded string ``s`` of the standard library's ``this`` module, decoded.

    Read from the module's source (``ast``), not by importing it: ``import this``
    prints the text. 856 characters, 45 distinct (Python 3.11).

    Raises:
        LookupError: the ``this`` module or its string ``s`` cannot be found.
    """
    spec = importlib.util.find_spec("this")
    if spec is None or spec.origin is None:
        raise LookupError("the standard library's module 'this' is not available")
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["s"]:
            return codecs.decode(ast.literal_eval(node.value), "rot_13")
    raise LookupError(f"{spec.origin} has no string s")


def char_windows(ids: NDArray[np.int64], window: int, stride: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(x, y)``, each ``(M, window)``: ``x[m] = ids[s : s + window]``, ``y[m] = ids[s + 1 : s + window + 1]``.

    ``s = m * stride`` for every start with a full window and its next
    character, ``M = (len(ids) - window - 1) // stride + 1``.

    Raises:
        ValueError: ``ids`` shorter than ``window + 1``.
    """
    window, stride = positive_int("window", window), positive_int("stride", stride)
    if len(ids) < window + 1:
        raise ValueError(f"ids must hold at least window + 1 = {window + 1} characters, got {len(ids)}")
    starts = np.arange(0, len(ids) - window, stride)
    w = ids[starts[:, None] + np.arange(window + 1)]
    return w[:, :-1], w[:, 1:]


def entropies(previous: NDArray[np.int64], targets: NDArray[np.int64]) -> tuple[float, float]:
    """``(unigram, bigram)`` entropies in nats of ``targets``, alone and given ``previous`` (same length).

    ``unigram = -mean log p(t)`` with ``p`` the frequencies of ``targets``;
    ``bigram = -mean log p(t | prev)`` with the pair frequencies. Each is the
    smallest mean cross-entropy any predictor of its kind (no context; the
    previous character only) can reach on these very pairs.
    """
    _, counts = np.unique(targets, return_counts=True)
    p = counts / counts.sum()
    unigram = float(-(p * np.log(p)).sum())
    pairs, pair_counts = np.unique(np.stack([previous, targets]), axis=1, return_counts=True)
    _, prev_index = np.unique(pairs[0], return_inverse=True)
    given = np.bincount(prev_index, weights=pair_counts)  # occurrences of each previous character
    bigram = float(-(pair_counts * np.log(pair_counts / given[prev_index])).sum() / pair_counts.sum())
    return unigram, bigram


def zen_rnn(vocabulary: int, cell: str = "rnn", hidden: int = HIDDEN, embedding_dim: int = EMBEDDING) -> Sequential:
    """The chain of the module docstring for ``vocabulary`` characters; ``cell`` ``"rnn"`` or ``"lstm"``."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {list(CELLS)}")
    V, H = positive_int("vocabulary", vocabulary), positive_int("hidden", hidden)
    D = positive_int("embedding_dim", embedding_dim)
    return Sequential(
        [
            ("embedding", {"num_embeddings": V, "embedding_dim": D}),
            (cell, {"input_size": D, "hidden_size": H}),
            ("linear", {"in_features": H, "out_features": V}),
            ("flatten", {"start_dim": 0, "end_dim": 1}),
        ]
    )


def train_zen_rnn(
    *,
    seed: int = 0,
    cell: str = "rnn",
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    optimizer: Optimizer | None = None,
    callback: Callback | None = None,
) -> TrainedModel:
    """Train :func:`zen_rnn` on the Zen of Python (module docstring); reproducible for a given ``seed``.

    Training windows of 32 characters start every 2 characters (412 of them);
    one Generator (``seed``) draws the init, then the shuffles. ``optimizer``:
    default ``adam(1e-2)``, decayed by :func:`cosine`.

    Returns:
        A :class:`TrainedModel` whose metrics hold ``loss`` and ``accuracy``
        (next-character cross-entropy in nats and accuracy over the text's
        consecutive windows), ``unigram_entropy`` and ``bigram_entropy`` (the
        baselines on the same characters), ``characters``, ``vocabulary``,
        ``cell``, ``epochs``, ``seed``, ``train_seconds``, and
        ``test_accuracy = None`` (no held-out text).
    """
    text = zen_of_python()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text], dtype=np.int64)
    x, y = char_windows(ids, WINDOW, STRIDE)
    x_eval, y_eval = char_windows(ids, WINDOW, WINDOW)  # consecutive windows: each character predicted once
    unigram, bigram = entropies(x_eval.reshape(-1), y_eval.reshape(-1))
    model = zen_rnn(len(chars), cell)
    rng = as_generator(nonnegative_int("seed", seed))
    params = model.init(rng)
    with blas_threads(1):  # small products: one BLAS thread is the fast choice (blas_threads)
        start = time.perf_counter()
        params, history = fit_model(
            model,
            params,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=adam(LR) if optimizer is None else optimizer,
            seed=rng,
            schedule=cosine,
            callback=callback,
        )
        seconds = time.perf_counter() - start
        loss, accuracy = evaluate(model, params, x_eval, y_eval)
    metrics = {
        "loss": loss,
        "accuracy": accuracy,
        "unigram_entropy": unigram,
        "bigram_entropy": bigram,
        "test_accuracy": None,
        "characters": len(text),
        "vocabulary": len(chars),
        "cell": cell,
        "epochs": len(history.loss),
        "seed": seed,
        "train_seconds": seconds,
    }
    return TrainedModel("rnn", "the Zen of Python (this.s), next character", model, params, history, metrics)
