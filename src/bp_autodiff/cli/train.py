"""``bp train`` and ``bp predict``: train a network on real data, save it, use it.

What this module is for: the command line over :mod:`bp_manual.data`,
:mod:`bp_manual.optim`, :mod:`bp_manual.pretrain`, :mod:`bp_manual.train`,
:mod:`bp_manual.saving` and, for ``--backend jax|both``, :mod:`bp_autodiff`.
Progress goes to stderr, one line per epoch; the summary to stdout.

- ``bp train``: with no arguments, a 64-64-10 ReLU network on scikit-learn's
  digits (Xavier-uniform init, Adam, lr 3e-3, batches of 64, 30 epochs: the
  defaults the estimators use, chosen in ``benchmarks/choose_defaults.py``).
  The model is written (``--save``) before the figure (``--plot``); both
  paths, and matplotlib for the figure, are checked before training
  (:mod:`bp_autodiff.cli.outputs`). BLAS runs on one thread for the
  products of ordinary batches (``--threads``, :func:`bp_manual.train.blas_threads`).
- ``bp predict --model model.npz --input FILE``: one prediction per row of a
  CSV (features only) or an ``.npz`` holding ``X``; labels for a classifier,
  values for a regressor, to stdout.

What it is not for: library use (call the Python API), or tuning.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import bp_manual
from bp_autodiff.cli import blas
from bp_autodiff.cli.args import (
    Parser,
    layer_sizes,
    momentum,
    non_negative_float,
    non_negative_int,
    open_fraction,
    positive_float,
    positive_int,
    usage_error,
)
from bp_autodiff.cli.outputs import add_output_argument, add_requirement
from bp_autodiff.cli.train_models import MODELS, model_defaults, train_model
from bp_manual import data, readers, saving
from bp_manual.activations import HIDDEN
from bp_manual.initializers import INITIALIZERS, Params
from bp_manual.optim import OPTIMIZERS, Optimizer, make_optimizer
from bp_manual.pretrain import pretrain_layerwise

#: the default learning rate of each optimiser when ``--lr`` is not given
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adam": 3e-3}


def _metric(task: str, out: NDArray[Any], y: NDArray[Any]) -> float:
    """Accuracy (classification, ``out (N, n_classes)``, ``y (N,)``) or R^2 (regression, ``(N, n_out)``)."""
    if task == "classification":
        return float(np.mean(np.argmax(out, axis=1) == y))
    resid = float(np.sum((out - y) ** 2))
    total = float(np.sum((y - y.mean(axis=0)) ** 2))
    return 1.0 - resid / total if total > 0 else float("nan")


def _fit_sizes(sizes: tuple[int, ...], ds: data.Dataset, parser: argparse.ArgumentParser) -> tuple[int, ...]:
    """``sizes`` (already parsed by ``layer_sizes``) if its ends fit the dataset, else a usage error."""
    if sizes[0] != ds.n_in or sizes[-1] != ds.n_out:
        usage_error(
            parser,
            "--sizes",
            f"{','.join(map(str, sizes))} does not fit {ds.name}: it has {ds.n_in} inputs and needs "
            f"{ds.n_out} outputs (e.g. --sizes {ds.n_in},64,{ds.n_out})",
        )
    return sizes


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _plot(path: str, curves: dict[str, list[float]], metric_name: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(curves["train loss"]) + 1)
    ax_loss.plot(epochs, curves["train loss"], label="train (mean over the epoch's batches)")
    ax_loss.plot(epochs, curves["test loss"], label="test (after the epoch)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ax_metric.plot(epochs, curves["train metric"], label="train")
    ax_metric.plot(epochs, curves["test metric"], label="test")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(metric_name)
    ax_metric.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def optimizer(args: argparse.Namespace) -> Optimizer:
    """The update rule of ``--optimizer``, ``--lr`` (default :data:`DEFAULT_LR`), ``--momentum``, ``--weight-decay``."""
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    kwargs: dict[str, Any] = {"weight_decay": args.weight_decay}
    if args.optimizer in ("momentum", "nesterov"):
        kwargs["beta"] = args.momentum
    return make_optimizer(args.optimizer, lr, **kwargs)


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``bp train``; return the exit status."""
    kind = args.dataset.partition(":")[0]
    if args.task is not None and kind not in ("csv", "npz"):
        usage_error(parser, "--task", f"only for csv:FILE and npz:FILE; {args.dataset} has its own task")
    if args.dataset == "mnist":
        where = data.mnist_cache()
        print(f"bp train: MNIST from {where} (downloaded there on first use, checksums checked)", file=sys.stderr)
    try:
        ds = data.load_dataset(args.dataset, seed=args.seed, test_size=args.test_size, task=args.task)
    except (ValueError, TypeError) as exc:
        usage_error(parser, "--dataset", str(exc))
    sizes = _fit_sizes(args.sizes, ds, parser) if args.sizes else (ds.n_in, 64, ds.n_out)
    if args.pretrain_epochs > 0 and len(sizes) < 3:
        usage_error(parser, "--pretrain-epochs", "needs at least one hidden layer in --sizes")
    classify = ds.task == "classification"
    spec = bp_manual.NetworkSpec(
        sizes,
        hidden=args.hidden,
        output="softmax" if classify else "identity",
        loss="cross_entropy" if classify else "mse",
    )
    opt = optimizer(args)
    lr = opt.lr
    threads = blas.threads_for(args, sizes, args.batch_size)
    init = args.init
    rng = np.random.default_rng(args.seed)
    params = bp_manual.init_params(spec, init, seed=rng)
    metric_name = "accuracy" if classify else "R^2"
    log = sys.stderr
    what = ds.task
    if ds.classes is not None:
        what += f", {len(ds.classes)} classes"
    if args.task is None and kind in ("csv", "npz"):
        what += "; inferred from the targets, --task to choose"
    print(
        f"bp train: {ds.name} ({ds.X_train.shape[0]} train / {ds.X_test.shape[0]} test, {what}); "
        f"network {'-'.join(map(str, sizes))} {args.hidden}, init {init}; {opt.name} lr {lr:g}, "
        f"batch {args.batch_size}, {args.epochs} epochs, backend {args.backend}, seed {args.seed}, "
        f"{blas.describe(args, threads)}",
        file=log,
    )
    with blas.limited(threads):
        return _train(args, ds, spec, params, opt, rng, metric_name)


def _train(
    args: argparse.Namespace,
    ds: data.Dataset,
    spec: bp_manual.NetworkSpec,
    params: Params,
    opt: Optimizer,
    rng: np.random.Generator,
    metric_name: str,
) -> int:
    """Train, print the summary, write the model and then the figure; return the exit status."""
    log = sys.stderr
    sizes = spec.sizes
    t0 = time.perf_counter()
    if args.pretrain_epochs > 0:
        params, pre = pretrain_layerwise(
            spec, params, ds.X_train, epochs=args.pretrain_epochs, batch_size=args.batch_size, optimizer=opt, seed=rng
        )
        for l, h in enumerate(pre, start=1):
            print(f"pretrain layer {l}: reconstruction loss {h.loss[0]:.4g} -> {h.loss[-1]:.4g}", file=log)

    curves: dict[str, list[float]] = {"train loss": [], "test loss": [], "train metric": [], "test metric": []}

    def callback(epoch: int, loss: float, p: Params) -> None:
        test_out = bp_manual.predict(spec, p, ds.X_test)
        test_loss = float(bp_manual.loss(spec, p, ds.X_test, ds.y_test))
        curves["train loss"].append(loss)
        curves["test loss"].append(test_loss)
        curves["test metric"].append(_metric(ds.task, test_out, ds.y_test))
        if args.plot:
            curves["train metric"].append(_metric(ds.task, bp_manual.predict(spec, p, ds.X_train), ds.y_train))
        print(
            f"epoch {epoch:>3}/{args.epochs} {_bar(epoch, args.epochs)} loss {loss:.4f}  test loss {test_loss:.4f}  "
            f"test {metric_name} {curves['test metric'][-1]:.4f}  ({time.perf_counter() - t0:.2f} s)",
            file=log,
            flush=True,
        )

    fit_kwargs: dict[str, Any] = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": opt,
        "seed": rng,
        "callback": None if args.quiet else callback,
    }
    lockstep = None
    history = None
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, not warned
            if args.backend == "manual":
                params, history = bp_manual.fit(spec, params, ds.X_train, ds.y_train, **fit_kwargs)
            elif args.backend == "jax":
                import bp_autodiff

                params, history = bp_manual.fit(
                    spec, params, ds.X_train, ds.y_train, grads_fn=bp_autodiff.loss_and_grads, **fit_kwargs
                )
            else:
                from bp_autodiff.auditor.lockstep import fit_lockstep

                params, _, lockstep = fit_lockstep(spec, params, ds.X_train, ds.y_train, **fit_kwargs)
    except bp_manual.DivergedError as exc:
        print(f"bp train: {exc}", file=sys.stderr)
        return 1
    if history is not None and history.stop_reason not in (None, "callback"):
        print(f"bp train: training stopped at {history.stop_reason}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0

    train_out, test_out = bp_manual.predict(spec, params, ds.X_train), bp_manual.predict(spec, params, ds.X_test)
    net = "-".join(map(str, sizes))
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON object alone
    summary: dict[str, Any] = {"model": "mlp", "data": ds.name, "network": f"{net} {args.hidden}", "task": ds.task}
    print(f"\n{ds.name}: {net} {args.hidden}, {opt.name}, {args.epochs} epochs, backend {args.backend}", file=out)
    print(f"{'':6} {'loss':>8} {metric_name:>9}", file=out)
    for part, X, y, pred in (("train", ds.X_train, ds.y_train, train_out), ("test", ds.X_test, ds.y_test, test_out)):
        loss, metric = float(bp_manual.loss(spec, params, X, y)), _metric(ds.task, pred, y)
        summary |= {f"{part}_loss": loss, f"{part}_{'accuracy' if ds.task == 'classification' else 'r2'}": metric}
        print(f"{part:6} {loss:>8.4f} {metric:>9.4f}", file=out)
    parts = ["pre-training"] if args.pretrain_epochs else []
    parts += ["training", "no per-epoch evaluation" if args.quiet else "per-epoch evaluation"]
    print(f"wall time {wall:.3f} s ({', '.join(parts)})", file=out)
    if lockstep is not None:
        print(
            f"manual vs JAX in lockstep: largest parameter difference reached {lockstep.max_abs_diff[-1]:.3e} "
            f"(relative {lockstep.max_rel_diff[-1]:.3e}) over {len(lockstep.max_abs_diff)} epochs",
            file=out,
        )
    if args.save:  # the model first: a figure that fails must not lose it
        extras = {"x_mean": ds.x_mean, "x_scale": ds.x_scale}
        if ds.y_mean is not None and ds.y_scale is not None:
            extras |= {"y_mean": ds.y_mean, "y_scale": ds.y_scale}
        meta: dict[str, Any] = {"task": ds.task, "dataset": ds.name}
        if ds.classes is not None:
            meta["classes"] = ds.classes.tolist()
        saving.save(args.save, spec, params, meta=meta, extras=extras)
        print(f"model written to {args.save}", file=out)
    if args.plot:
        _plot(
            args.plot,
            curves,
            metric_name,
            f"bp train: {ds.name}, {'-'.join(map(str, sizes))} {args.hidden}, {opt.name}",
        )
        print(f"curves written to {args.plot}", file=out)
    if args.json:
        summary |= {"test_accuracy": summary.get("test_accuracy"), "epochs": args.epochs, "seed": args.seed}
        losses = history.loss if history is not None else lockstep.loss_manual if lockstep is not None else []
        summary |= {"train_seconds": wall, "loss_per_epoch": losses}
        print(json.dumps(summary))
    return 0


def _read_inputs(path: Path, n_in: int) -> NDArray[np.float64]:
    """Rows of features ``(N, n_in)`` from a CSV (a non-numeric first row is a header) or an ``.npz`` with ``X``."""
    if path.suffix == ".npz":
        arrays = readers.read_npz(path)
        if "X" not in arrays:
            raise ValueError(f"{path}: expected an array X, found {sorted(arrays)}")
        X = np.asarray(arrays["X"])
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{path}: X must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float64)
    else:
        rows = readers.read_csv_rows(path)
        X = np.array(rows, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"{path}: the model takes {n_in} features per row, the file has shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: contains NaN or inf")
    return X


def predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``bp predict``; return the exit status."""
    try:
        model = saving.load(args.model)
    except ValueError as exc:
        usage_error(parser, "--model", str(exc))
    try:
        X = _read_inputs(Path(args.input), model.spec.n_in)
    except ValueError as exc:
        usage_error(parser, "--input", str(exc))
    if "x_mean" in model.extras:
        X = (X - model.extras["x_mean"]) / model.extras["x_scale"]
    out = bp_manual.predict(model.spec, model.params, X)
    if model.meta.get("task") == "classification":
        classes = model.meta.get("classes", list(range(model.spec.n_out)))
        print("\n".join(str(label) for label in np.asarray(classes)[np.argmax(out, axis=1)]))
        return 0
    if "y_mean" in model.extras:
        out = out * model.extras["y_scale"] + model.extras["y_mean"]
    print("\n".join(",".join(f"{v:.17g}" for v in row) for row in out))
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add ``bp train`` and ``bp predict`` to the ``bp`` parser."""
    p = sub.add_parser(
        "train",
        help="train a network on digits, diabetes, MNIST, a CSV or an npz file",
        description="Train a network with the hand-derived gradients; progress on stderr, the summary on stdout.",
    )
    p.add_argument(
        "--model",
        default="mlp",
        choices=MODELS,
        help="mlp (default): a dense network; cnn: a small CNN on the digits as 1x8x8 images; "
        "rnn: a character RNN on the Zen of Python (docs/layers/models.md)",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="--model mlp: digits (default), diabetes, mnist (downloaded once into a per-user cache), mnist:DIR "
        "(the four IDX files), csv:FILE (target last; a first row with no number in it is a header) or npz:FILE",
    )
    add_requirement(p, "--dataset", "dataset", "pooch", lambda value: value == "mnist")
    p.add_argument(
        "--task",
        choices=data.TASKS,
        default=None,
        help="for csv: and npz: data: what the targets are (default: classification when they are integers, "
        "at most 100 distinct values, else regression)",
    )
    p.add_argument("--sizes", type=layer_sizes, help="layer widths n_in,hidden...,n_out (default n_in,64,n_out)")
    p.add_argument("--hidden", default="relu", choices=sorted(HIDDEN), help="hidden activation (default relu)")
    p.add_argument(
        "--init", default="xavier_uniform", choices=sorted(INITIALIZERS), help="init scheme (default xavier_uniform)"
    )
    p.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS), help="update rule (default adam)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default 3e-3 for adam, 0.1 otherwise)")
    p.add_argument("--momentum", type=momentum, default=0.9, help="beta of momentum/nesterov, in [0, 1) (default 0.9)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="L2 weight decay on W (default 0)")
    p.add_argument("--epochs", type=positive_int, help="epochs (default 30; 10 for --model rnn)")
    p.add_argument("--batch-size", type=positive_int, help="minibatch size (default 64; 32 for --model cnn and rnn)")
    p.add_argument(
        "--pretrain-epochs",
        type=non_negative_int,
        default=0,
        help="auto-encoder epochs per hidden layer (default 0)",
    )
    p.add_argument(
        "--test-size", type=open_fraction, default=0.25, help="held-out fraction (default 0.25; MNIST keeps its own)"
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the split, the init and the shuffles (default 0)"
    )
    p.add_argument(
        "--backend",
        default="manual",
        choices=["manual", "jax", "both"],
        help="gradients by hand, by JAX, or both in lockstep reporting their largest parameter difference",
    )
    blas.add_threads_argument(p)
    add_output_argument(
        p,
        "--plot",
        suffix=".png",
        needs="matplotlib",
        help="write the train/test curves to this .png (needs matplotlib)",
    )
    add_output_argument(p, "--save", suffix=".npz", help="write the trained model to this .npz")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines (and no per-epoch evaluation)")
    p.add_argument("--json", action="store_true", help="print one JSON object (test_accuracy, ...) to stdout")
    p.set_defaults(run=_run_train)

    q = sub.add_parser(
        "predict",
        help="predict with a model saved by bp train --save",
        description="One prediction per input row to stdout: a label for a classifier, values for a regressor.",
    )
    q.add_argument("--model", required=True, help="a model .npz written by bp train --save")
    q.add_argument(
        "--input",
        required=True,
        help="a CSV of feature rows (a first row with no number in it is a header), or an .npz holding X",
    )
    q.set_defaults(run=predict)


def _run_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.quiet and args.plot:
        usage_error(parser, "--plot", "needs the per-epoch evaluation that --quiet turns off")
    for name, value in model_defaults(args.model).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.model != "mlp":
        # Adam without --lr or --weight-decay: the model's own tuned default (bp_manual.models)
        default = args.optimizer == "adam" and args.lr is None and not args.weight_decay
        return train_model(args, parser, None if default else optimizer(args))
    return train(args, parser)
