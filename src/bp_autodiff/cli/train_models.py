"""``bp train --model cnn|rnn``: the models of :mod:`bp_manual.models`, trained by the hand derivation.

What this module is for: the branch of ``bp train`` (:mod:`bp_autodiff.cli.train`)
for the chains of layers: its defaults, the options that do not apply to them
(refused, naming the flag), one progress line per epoch on stderr, and the
summary (or with ``--json`` one JSON object) on stdout.

- ``--model cnn``: :func:`bp_manual.models.train_digits_cnn`, a small CNN on
  scikit-learn's digits as ``1 x 8 x 8`` images, on ``bp train``'s split.
- ``--model rnn``: :func:`bp_manual.models.train_zen_rnn`, a character RNN
  learning the Zen of Python (``this.s``).

What it is not for: the training itself (:mod:`bp_manual.models`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bp_manual.initializers import Params
from bp_manual.models import TrainedModel, evaluate, train_digits_cnn, train_zen_rnn
from bp_manual.models import cnn as cnn_module
from bp_manual.models import rnn as rnn_module
from bp_manual.optim import Optimizer

#: ``bp train --model`` choices.
MODELS = ("mlp", "cnn", "rnn")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"dataset": "digits", "epochs": 30, "batch_size": 64},
    "cnn": {"epochs": cnn_module.EPOCHS, "batch_size": cnn_module.BATCH_SIZE},
    "rnn": {"epochs": rnn_module.EPOCHS, "batch_size": rnn_module.BATCH_SIZE},
}

#: The options of ``bp train`` for the dense network only, with the value meaning "not given".
_MLP_ONLY = {
    "sizes": None,
    "hidden": "relu",
    "init": "xavier_uniform",
    "pretrain_epochs": 0,
    "backend": "manual",
    "plot": None,
    "save": None,
}


def model_defaults(model: str) -> dict[str, Any]:
    """The defaults of ``--dataset``, ``--epochs`` and ``--batch-size`` for ``--model model``."""
    return dict(_DEFAULTS[model])


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors (``bp train: error: <flag>: <what>``) for options that do not apply to ``args.model``."""
    for name, unset in _MLP_ONLY.items():
        if getattr(args, name) != unset:
            parser.error(f"{_flag(name)}: applies to --model mlp only (--model {args.model} trains its own network)")
    if args.model == "cnn" and args.dataset not in (None, "digits"):
        parser.error(f"--dataset: --model cnn trains on the digits as 1x8x8 images, got {args.dataset!r}")
    if args.model == "rnn" and args.dataset is not None:
        parser.error("--dataset: --model rnn trains on the Zen of Python (this.s) and takes no --dataset")
    if args.model == "rnn" and args.test_size != 0.25:
        parser.error("--test-size: --model rnn learns the whole text and has no test split")


def train_model(args: argparse.Namespace, parser: argparse.ArgumentParser, optimizer: Optimizer | None) -> int:
    """Run ``bp train --model cnn|rnn`` with ``optimizer`` (``None``: the model's default); return the exit status."""
    _check(args, parser)
    log = sys.stderr
    t0 = time.perf_counter()
    what = "a CNN on the digits as 1x8x8 images" if args.model == "cnn" else "a character RNN on the Zen of Python"
    print(
        f"bp train: {what}; {args.epochs} epochs, batch {args.batch_size}, "
        f"{'adam (default lr), cosine decay' if optimizer is None else optimizer.name + ', cosine decay'}, "
        f"seed {args.seed}, gradients by the hand derivation",
        file=log,
    )
    test: dict[str, Any] = {}

    def callback(epoch: int, loss: float, params: Params) -> None:
        extra = ""
        if test:
            _, accuracy = evaluate(test["model"], params, test["x"], test["y"])
            extra = f"  test accuracy {accuracy:.4f}"
        print(
            f"epoch {epoch:>3}/{args.epochs} loss {loss:.4f}{extra}  ({time.perf_counter() - t0:.2f} s)",
            file=log,
            flush=True,
        )

    common: dict[str, Any] = {"seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size}
    common |= {"optimizer": optimizer, "callback": None if args.quiet else callback}
    if args.model == "cnn":
        if not args.quiet:
            from bp_manual.data import load_digits

            ds = load_digits(test_size=args.test_size, seed=args.seed)
            test |= {"model": cnn_module.digits_cnn(), "x": cnn_module.digits_images(ds)[1], "y": ds.y_test}
        result = train_digits_cnn(test_size=args.test_size, **common)
    else:
        result = train_zen_rnn(**common)
    if result.history.stop_reason not in (None, "callback"):
        print(f"bp train: training stopped at {result.history.stop_reason}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict()) if args.json else _summary(result))
    return 0


def _summary(result: TrainedModel) -> str:
    m = result.metrics
    head = f"\n{result.name} on {result.data}: {m['epochs']} epochs, seed {m['seed']}, by the hand derivation"
    if result.name == "cnn":
        rows = [f"{'':6} {'loss':>8} {'accuracy':>9}"]
        rows += [f"{part:6} {m[part + '_loss']:>8.4f} {m[part + '_accuracy']:>9.4f}" for part in ("train", "test")]
        body = "\n".join(rows)
    else:
        body = (
            f"loss {m['loss']:.4f} nats per character (baselines on the same characters: unigram entropy "
            f"{m['unigram_entropy']:.4f}, bigram entropy {m['bigram_entropy']:.4f}); "
            f"next-character accuracy {m['accuracy']:.4f} on the text it learned (no held-out text)"
        )
    return f"{head}\n{body}\nwall time {m['train_seconds']:.3f} s (training)"
