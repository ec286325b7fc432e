"""``bp_manual.models`` and ``bp train --model cnn|rnn``: the character RNN learns the Zen of Python far below its
baselines, both models by the hand derivation, seeded and reproducible; the numbers in ``docs/layers/models.md``
are those the commands print; the training loop's contract (errors, divergence, schedules, augmentation).

The CNN's run of ``bp train --model cnn --json`` (>= 98% on the digits' test split, the figure README.md and
docs/layers/models.md show) is held by ``tests/test_docs_commands.py``, which runs the README's command as written:
once per suite, not twice.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bp_autodiff import cli
from bp_manual import data, optim
from bp_manual.layers import Sequential
from bp_manual.models import (
    blas_threads,
    char_windows,
    cosine,
    digits_cnn,
    digits_images,
    entropies,
    evaluate,
    fit_model,
    shift_images,
    train_zen_rnn,
    zen_of_python,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "layers" / "models.md"


def _doc_number(label: str) -> float:
    """The number after ``label`` in the docs' result tables (``| label | 0.1234 |``)."""
    m = re.search(rf"\| {re.escape(label)} \| ([0-9.]+) \|", DOC.read_text(encoding="utf-8"))
    assert m, f"docs/layers/models.md has no row {label!r}"
    return float(m.group(1))


# --- the CNN -------------------------------------------------------------------------------------------


def test_a_seeded_run_is_reproducible_bit_for_bit() -> None:
    """One Generator draws the init, the shuffles and the shifts: the same seed gives the same params and
    losses (the runners' own path, ``fit_model`` with the augmentation, on 64 images to stay fast)."""
    ds = data.load_digits()
    x, y = digits_images(ds)[0][:64], ds.y_train[:64]

    def run(seed: int) -> tuple[Any, Any]:
        model = digits_cnn(channels=4)
        rng = np.random.default_rng(seed)
        params = model.init(rng)
        return fit_model(model, params, x, y, epochs=2, seed=rng, schedule=cosine, augment=shift_images)

    with blas_threads(1):  # as the runners do (small products; see bp_manual.models.loop.blas_threads)
        (a, ha), (b, hb), (c, _) = run(3), run(3), run(4)
    assert ha.loss == hb.loss
    assert all(p[k].tobytes() == q[k].tobytes() for p, q in zip(a, b, strict=True) for k in p)
    assert any(p[k].tobytes() != q[k].tobytes() for p, q in zip(a, c, strict=True) for k in p)


def test_digits_images_are_the_pixels_over_16_on_bp_trains_split() -> None:
    from sklearn.datasets import load_digits as sk_load_digits

    ds = data.load_digits()
    x_train, x_test = digits_images(ds)
    assert x_train.shape == (ds.X_train.shape[0], 1, 8, 8) and x_test.shape == (ds.X_test.shape[0], 1, 8, 8)
    X, _ = sk_load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))  # data.split's shuffle at seed 0
    np.testing.assert_array_equal(x_test.reshape(len(x_test), 64), X[order[: len(x_test)]] / 16.0)


def test_shift_images_translates_each_image_with_zeros_coming_in() -> None:
    x = np.arange(2 * 1 * 4 * 5, dtype=np.float64).reshape(2, 1, 4, 5) + 1.0
    rng = np.random.default_rng(0)
    shifted = shift_images(x, np.random.default_rng(0))
    offsets = rng.integers(0, 3, size=(2, 2)) - 1  # the same draws: the shift along rows, then columns
    for n, (dy, dx) in enumerate(offsets):
        expected = np.zeros((4, 5))
        for i in range(4):
            for j in range(5):
                if 0 <= i + dy < 4 and 0 <= j + dx < 5:
                    expected[i, j] = x[n, 0, i + dy, j + dx]
        np.testing.assert_array_equal(shifted[n, 0], expected)
    np.testing.assert_array_equal(shift_images(x, rng, max_shift=0), x)


# --- the recurrent model -------------------------------------------------------------------------------


def test_the_rnn_learns_the_zen_of_python_far_below_its_baselines_as_the_docs_say() -> None:
    """The loss ends at least 2 nats per character below the unigram entropy (3.104: no model without
    context does better on this text) and 1 nat below the bigram entropy (1.957: none that sees only the
    current character does), so the recurrence carries context; the docs show these numbers."""
    result = train_zen_rnn()
    m = result.metrics
    assert m["loss"] < m["unigram_entropy"] - 2.0, m
    assert m["loss"] < m["bigram_entropy"] - 1.0, m
    assert m["accuracy"] > 0.8 and m["test_accuracy"] is None
    for label, key, digits in (
        ("loss", "loss", 3),
        ("unigram entropy", "unigram_entropy", 3),
        ("bigram entropy", "bigram_entropy", 3),
        ("next-character accuracy", "accuracy", 3),
    ):
        assert _doc_number(label) == round(m[key], digits), (label, m[key])
    one, again = train_zen_rnn(epochs=1), train_zen_rnn(epochs=1)
    assert one.history.loss == again.history.loss and one.metrics["loss"] == again.metrics["loss"]  # seeded


def test_the_text_is_the_zen_of_python_as_the_this_module_prints_it() -> None:
    import importlib

    text = zen_of_python()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        this = importlib.import_module("this")
        importlib.reload(this)  # prints the text again if it was imported before
    assert text == codecs.decode(this.s, "rot_13") and printed.getvalue().endswith(text + "\n")
    assert text.startswith("The Zen of Python, by Tim Peters\n\nBeautiful is better than ugly.")


def test_entropies_on_a_sequence_worked_by_hand() -> None:
    """``a b a b a c``: targets ``b a b a c`` (b, a twice, c once): unigram ``-(2/5 ln 2/5 * 2 + 1/5 ln 1/5)``;
    after ``a`` come b, b, c (``ln`` of 2/3, 2/3, 1/3), after ``b`` always a (``ln 1``)."""
    ids = np.array([0, 1, 0, 1, 0, 2])
    unigram, bigram = entropies(ids[:-1], ids[1:])
    assert unigram == pytest.approx(-(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)), rel=1e-15)
    assert bigram == pytest.approx(-(2 * np.log(2 / 3) + np.log(1 / 3)) / 5, rel=1e-15)
    x, y = char_windows(np.arange(10), 4, 3)
    np.testing.assert_array_equal(x, [[0, 1, 2, 3], [3, 4, 5, 6]])
    np.testing.assert_array_equal(y, [[1, 2, 3, 4], [4, 5, 6, 7]])


# --- the command ---------------------------------------------------------------------------------------


def test_bp_train_json_for_the_rnn_and_the_dense_network(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--model", "rnn", "--epochs", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["model"] == "rnn" and "test_accuracy" in d and d["epochs"] == 1 and "epoch   1/1 loss" in err
    assert cli.main(["train", "--epochs", "2", "--json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "mlp" and 0.8 < d["test_accuracy"] <= 1.0 and len(d["loss_per_epoch"]) == 2
    assert cli.main(["train", "--dataset", "diabetes", "--epochs", "2", "--json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["test_accuracy"] is None and "test_r2" in d


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "cnn", "--sizes", "64,10"], "--sizes: applies to --model mlp only"),
        (["--model", "cnn", "--backend", "jax"], "--backend: applies to --model mlp only"),
        (["--model", "rnn", "--save", "m.npz"], "--save: applies to --model mlp only"),
        (["--model", "cnn", "--dataset", "diabetes"], "--dataset: --model cnn trains on the digits"),
        (["--model", "rnn", "--dataset", "digits"], "--dataset: --model rnn trains on the Zen of Python"),
        (["--model", "rnn", "--test-size", "0.5"], "--test-size: --model rnn learns the whole text"),
        (["--model", "gru"], "bp train: error: --model: invalid choice: 'gru'"),
    ],
)
def test_bp_train_refuses_options_that_do_not_apply(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --- the loop ------------------------------------------------------------------------------------------


def _tiny() -> tuple[Sequential, Any, np.ndarray, np.ndarray]:
    model = digits_cnn(channels=2)
    rng = np.random.default_rng(0)
    return model, model.init(rng), rng.normal(size=(10, 1, 8, 8)), rng.integers(0, 10, 10)


def test_fit_model_stops_at_a_diverging_step_and_keeps_the_params_before_it() -> None:
    model, params, x, y = _tiny()
    new, history = fit_model(model, params, x * 1e3, y, epochs=3, optimizer=optim.sgd(1e308), seed=0)
    assert history.stopped_early and "became non-finite" in str(history.stop_reason)
    assert all(np.isfinite(a).all() for p in new for a in p.values())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "cnn"}, TypeError, r"^model must be a bp_manual.layers.Sequential, got str$"),
        ({"y": np.zeros(3, dtype=int)}, ValueError, r"^x and y must be arrays with one sample per index"),
        ({"schedule": "step"}, ValueError, r"^unknown schedule 'step'; expected one of \['constant', 'cosine'\]$"),
        ({"epochs": 0}, ValueError, r"^epochs must be >= 1, got 0$"),
        ({"optimizer": "adam"}, TypeError, r"^optimizer must be a bp_manual.optim.Optimizer, got str$"),
    ],
)
def test_fit_model_refuses_bad_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    model, params, x, y = _tiny()
    args: dict[str, Any] = {"model": model, "params": params, "x": x, "y": y} | kwargs
    with pytest.raises(error, match=match):
        fit_model(args.pop("model"), args.pop("params"), args.pop("x"), args.pop("y"), **args)


def test_cosine_schedule_and_evaluate() -> None:
    assert cosine(0, 10) == 1.0 and cosine(5, 10) == pytest.approx(0.5) and 0 < cosine(9, 10) < 0.03
    model, params, x, y = _tiny()
    loss, accuracy = evaluate(model, params, x, y, batch_size=3)
    ref, _ = model.loss_and_grads(params, x, y)
    assert loss == pytest.approx(float(ref), rel=1e-14) and 0.0 <= accuracy <= 1.0
