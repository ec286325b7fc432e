"""Data sets for training: the bundled defaults and readers for the user's own files.

What this module is for: getting a data set into the shapes the network takes
(``X (N, n_in)`` float64, samples as rows; labels ``(N,)`` int64 or targets
``(N, n_out)`` float64), split into train and test on a fixed, seeded split,
with the inputs standardised by statistics of the training split only.

- :func:`load_digits`, :func:`load_diabetes`: scikit-learn's bundled data (no
  download; scikit-learn is imported inside these functions only).
- :func:`load_mnist`: the IDX format MNIST ships in, ``.gz`` or not, with the
  magic number, the dimensions and the size checked; :func:`fetch_mnist`
  downloads the four files once into a per-user cache, checksums verified
  (pooch, imported inside that function only). :mod:`bp_manual.readers`
  reads IDX, CSV and ``.npz`` files; ``read_idx``, ``read_csv_rows`` and
  ``read_npz`` are re-exported here.
- :func:`load_csv`, :func:`load_npz`: numeric CSV (target in one column) and
  NumPy ``.npz`` (arrays ``X`` and ``y``, or ``X_train``/``y_train``/``X_test``/``y_test``).
- :func:`load_dataset`: one of the above by a name such as ``"digits"``,
  ``"mnist"``, ``"mnist:DIR"``, ``"csv:FILE"`` or ``"npz:FILE"`` (the ``bp train --dataset`` syntax).

A file that cannot be read gets a ``ValueError`` naming the file and what is
wrong with it.

What it is not for: augmentation, streaming data sets larger than memory, or
any training.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bp_manual.mnist import MNIST_SHA256, MNIST_URL, fetch_mnist, mnist_cache, read_checksums
from bp_manual.readers import read_csv_rows, read_idx, read_npz

__all__ = [
    "BUILT_IN_TASKS",
    "MNIST_SHA256",
    "MNIST_URL",
    "TASKS",
    "Dataset",
    "fetch_mnist",
    "from_parts",
    "load_csv",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_mnist",
    "load_npz",
    "mnist_cache",
    "read_checksums",
    "read_csv_rows",
    "read_idx",
    "read_npz",
    "split",
    "standardisation",
]

Array = NDArray[np.floating]

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Dataset:
    """A train/test split, ready for the network.

    Attributes:
        name: where it came from (``"digits"``, a file name, ...).
        task: ``"classification"`` (``y`` int64 labels ``0..n_classes-1``) or
            ``"regression"`` (``y`` float64 ``(N, n_out)``).
        X_train, X_test: ``(N_train, n_in)``, ``(N_test, n_in)`` float64, standardised.
        y_train, y_test: labels ``(N,)`` int64, or targets ``(N, n_out)`` float64.
        x_mean, x_scale: ``(n_in,)``, the training split's mean and standard
            deviation (1 where it is 0) that were used: ``X = (raw - x_mean) / x_scale``.
        classes: the original class labels, ``classes[y]`` (classification), else ``None``.
        y_mean, y_scale: ``(n_out,)`` for regression targets standardised the
            same way (``None`` when targets are left as they are).
    """

    name: str
    task: str
    X_train: Array
    y_train: NDArray[Any]
    X_test: Array
    y_test: NDArray[Any]
    x_mean: Array
    x_scale: Array
    classes: NDArray[Any] | None = None
    y_mean: Array | None = None
    y_scale: Array | None = None

    @property
    def n_in(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[1])

    @property
    def n_out(self) -> int:
        """Output units the network needs: the number of classes, or target columns."""
        if self.task == "classification":
            assert self.classes is not None
            return len(self.classes)
        return int(self.y_train.shape[1])


def standardisation(X: Array) -> tuple[Array, Array]:
    """``(mean, scale)`` of each column of ``X (N, n)``: the mean and the standard deviation, 1 where it is 0."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _check_test_size(test_size: object) -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a number in (0, 1), got {type(test_size).__name__}")
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
    return float(test_size)


def split(
    X: NDArray[Any],
    y: NDArray[Any],
    *,
    task: str,
    name: str,
    test_size: float = 0.25,
    seed: int = 0,
    standardise_targets: bool = True,
) -> Dataset:
    """Shuffle with ``numpy.random.default_rng(seed)``, split, and standardise.

    Args:
        X: ``(N, n_in)`` numeric, finite.
        y: ``(N,)`` class labels of any type (classification) or ``(N,)``/``(N, n_out)`` numbers (regression).
        task: ``"classification"`` or ``"regression"``.
        name: recorded in the result (and in error messages).
        test_size: fraction of samples held out, in (0, 1); at least one sample on each side.
        seed: the split's seed.
        standardise_targets: regression only: also standardise ``y`` with the
            training split's statistics (``y_mean``, ``y_scale`` kept).

    Returns:
        A :class:`Dataset`; ``X`` is standardised with the training split's
        mean and standard deviation, which the test split shares.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    test_size = _check_test_size(test_size)
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: X must be a 2-D numeric array, got shape {X.shape}, dtype {X.dtype}")
    X = X.astype(np.float64)
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: X has {X.shape[0]} samples but y has shape {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: X contains NaN or inf")
    n = X.shape[0]
    n_test = round(n * test_size)
    if n_test < 1 or n - n_test < 1:
        raise ValueError(f"{name}: {n} samples cannot be split with test_size {test_size}")
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[n_test:], order[:n_test]
    return from_parts(name, task, X[train], y[train], X[test], y[test], standardise_targets=standardise_targets)


def from_parts(
    name: str,
    task: str,
    X_train: NDArray[Any],
    y_train: NDArray[Any],
    X_test: NDArray[Any],
    y_test: NDArray[Any],
    *,
    standardise_targets: bool = True,
) -> Dataset:
    """A :class:`Dataset` from a split already made: standardise with the training part's statistics.

    Shapes as in :func:`split`; class labels of both parts are coded together
    (``classes`` sorted, ``y`` the index into it).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    X_train, X_test = np.asarray(X_train, dtype=np.float64), np.asarray(X_test, dtype=np.float64)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    for label, X_, y_ in (("train", X_train, y_train), ("test", X_test, y_test)):
        if X_.ndim != 2 or X_.shape[1] != X_train.shape[1]:
            raise ValueError(f"{name}: {label} inputs must be 2-D with {X_train.shape[1]} columns, got {X_.shape}")
        if y_.shape[0] != X_.shape[0]:
            raise ValueError(f"{name}: {label} part has {X_.shape[0]} inputs but {y_.shape[0]} targets")
        if not np.all(np.isfinite(X_)):
            raise ValueError(f"{name}: {label} inputs contain NaN or inf")
    x_mean, x_scale = standardisation(X_train)
    X_tr, X_te = (X_train - x_mean) / x_scale, (X_test - x_mean) / x_scale
    if task == "classification":
        if y_train.ndim != 1 or y_test.ndim != 1:
            raise ValueError(f"{name}: class labels must be 1-D, got shapes {y_train.shape}, {y_test.shape}")
        classes, codes = np.unique(np.concatenate([y_train, y_test]), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{name}: classification needs at least 2 classes, found {len(classes)}")
        codes = codes.astype(np.int64)
        n = len(y_train)
        return Dataset(name, task, X_tr, codes[:n], X_te, codes[n:], x_mean, x_scale, classes=classes)
    if y_train.dtype.kind not in "biuf" or y_test.dtype.kind not in "biuf":
        raise ValueError(f"{name}: regression targets must be numeric, got dtype {y_train.dtype}")
    Y_tr = y_train.astype(np.float64).reshape(len(y_train), -1)
    Y_te = y_test.astype(np.float64).reshape(len(y_test), -1)
    if Y_tr.shape[1] != Y_te.shape[1]:
        raise ValueError(f"{name}: train targets have {Y_tr.shape[1]} columns, test targets {Y_te.shape[1]}")
    if not (np.all(np.isfinite(Y_tr)) and np.all(np.isfinite(Y_te))):
        raise ValueError(f"{name}: targets contain NaN or inf")
    if not standardise_targets:
        return Dataset(name, task, X_tr, Y_tr, X_te, Y_te, x_mean, x_scale)
    y_mean, y_scale = standardisation(Y_tr)
    return Dataset(
        name,
        task,
        X_tr,
        (Y_tr - y_mean) / y_scale,
        X_te,
        (Y_te - y_mean) / y_scale,
        x_mean,
        x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
    )


def load_digits(*, test_size: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1797 samples, 64 features, 10 classes), split and standardised."""
    from sklearn.datasets import load_digits as sk_load_digits

    X, y = sk_load_digits(return_X_y=True)
    return split(X, y, task="classification", name="digits", test_size=test_size, seed=seed)


def load_diabetes(*, test_size: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's diabetes regression (442 samples, 10 features, 1 target), split and standardised.

    The target (disease progression, 25..346) is standardised too, with the
    training split's mean and standard deviation; R^2 does not change.
    """
    from sklearn.datasets import load_diabetes as sk_load_diabetes

    X, y = sk_load_diabetes(return_X_y=True)
    return split(X, y, task="regression", name="diabetes", test_size=test_size, seed=seed)


# --- IDX (MNIST) ------------------------------------------------------------------------------


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    alt = stem.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for candidate in (directory / alt, directory / f"{alt}.gz"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{directory}: no {stem} or {stem}.gz in this directory (MNIST's IDX files)")


def load_mnist(directory: str | os.PathLike[str], *, limit: int | None = None) -> Dataset:
    """MNIST from its four IDX files in ``directory`` (``.gz`` or not).

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. The images
    ``(N, rows, cols)`` become rows ``(N, rows * cols)`` of pixels / 255,
    standardised with the training set's statistics; the official train/test
    split is kept. ``limit`` keeps the first ``limit`` samples of each (for
    quick runs).

    Raises:
        ValueError: naming the file, for a missing or malformed file, or image
            and label counts that disagree.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory (expected one holding MNIST's IDX files)")
    parts = {}
    for split_name in ("train", "t10k"):
        img_path = _find(directory, f"{split_name}-images-idx3-ubyte")
        lab_path = _find(directory, f"{split_name}-labels-idx1-ubyte")
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3:
            raise ValueError(f"{img_path}: expected 3 dimensions (N, rows, cols), got {images.shape}")
        if labels.ndim != 1:
            raise ValueError(f"{lab_path}: expected 1 dimension (N,), got {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{img_path}: {images.shape[0]} images but {lab_path.name} has {labels.shape[0]} labels")
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        parts[split_name] = (images.reshape(images.shape[0], -1) / 255.0, labels.astype(np.int64))
    (X_tr, y_tr), (X_te, y_te) = parts["train"], parts["t10k"]
    return from_parts(f"mnist:{directory}", "classification", X_tr, y_tr, X_te, y_te)


# --- CSV and npz ------------------------------------------------------------------------------


def _infer_task(y: NDArray[Any], task: str | None) -> str:
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
        return task
    integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    return "classification" if y.ndim == 1 and integral and len(np.unique(y)) <= 100 else "regression"


def load_csv(
    path: str | os.PathLike[str],
    *,
    target: int = -1,
    task: str | None = None,
    test_size: float = 0.25,
    seed: int = 0,
) -> Dataset:
    """A numeric CSV file: one sample per row, the target in column ``target`` (default: the last).

    A first row in which no cell is a number is a header and skipped; any
    other non-numeric cell is an error (:func:`bp_manual.readers.read_csv_rows`).
    The task is ``"classification"`` when the target column holds integers (at
    most 100 distinct values), else ``"regression"``, unless ``task`` says
    otherwise (integer-valued regression targets need ``task="regression"``).

    Raises:
        ValueError: naming the file and the line, for a missing file, a
            non-numeric cell (with its column), rows of different lengths, or fewer than 2 columns.
    """
    path = Path(path)
    rows = read_csv_rows(path)
    width = len(rows[0])
    if width < 2:
        raise ValueError(f"{path}: needs at least 2 columns (features and a target), found {width}")
    data = np.array(rows)
    if not -width <= target < width:
        raise ValueError(f"target column {target} is out of range for {path} with {width} columns")
    t = target % width
    X, y = np.delete(data, t, axis=1), data[:, t]
    task = _infer_task(y, task)
    if task == "classification":
        y = y.astype(np.int64)
    return split(X, y, task=task, name=str(path), test_size=test_size, seed=seed)


def load_npz(
    path: str | os.PathLike[str], *, task: str | None = None, test_size: float = 0.25, seed: int = 0
) -> Dataset:
    """A NumPy ``.npz`` file, read with ``allow_pickle=False``.

    It holds either ``X (N, n_in)`` and ``y`` (split here, seeded), or
    ``X_train``, ``y_train``, ``X_test``, ``y_test`` (the file's own split;
    standardised with the training part's statistics). The task is inferred
    from ``y`` as for :func:`load_csv` unless given.

    Raises:
        ValueError: naming the file, for a missing, unreadable or non-npz
            file, missing arrays, or arrays of the wrong shape or type.
    """
    path = Path(path)
    arrays = read_npz(path)
    name = str(path)
    if {"X_train", "y_train", "X_test", "y_test"} <= arrays.keys():
        for key in ("X_train", "X_test"):
            if arrays[key].ndim != 2 or arrays[key].dtype.kind not in "biuf":
                raise ValueError(
                    f"{path}: {key} must be a 2-D numeric array, got {arrays[key].shape} {arrays[key].dtype}"
                )
        y_all = np.concatenate([arrays["y_train"], arrays["y_test"]])
        task = _infer_task(y_all, task)
        return from_parts(name, task, arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"])
    if {"X", "y"} <= arrays.keys():
        y = arrays["y"]
        return split(arrays["X"], y, task=_infer_task(y, task), name=name, test_size=test_size, seed=seed)
    raise ValueError(f"{path}: expected arrays X and y, or X_train, y_train, X_test, y_test; found {sorted(arrays)}")


#: the task of each bundled data set
BUILT_IN_TASKS = {"digits": "classification", "diabetes": "regression", "mnist": "classification"}


def load_dataset(name: str, *, seed: int = 0, test_size: float = 0.25, task: str | None = None) -> Dataset:
    """A data set by name: ``digits``, ``diabetes``, ``mnist`` (downloaded once, :func:`fetch_mnist`),
    ``mnist:DIR``, ``csv:FILE`` or ``npz:FILE``.

    ``task`` (``"classification"`` or ``"regression"``) says what a CSV's or
    an npz's targets are, instead of inferring it (:func:`load_csv`); the
    bundled data sets have their own task.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: an unknown name or task, a task that does not fit a
            bundled data set, or anything :func:`load_csv`, :func:`load_npz`,
            :func:`load_mnist` or :func:`fetch_mnist` refuses.
        ImportError: ``mnist`` without pooch installed.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset must be a string, got {type(name).__name__}")
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    kind, sep, where = name.partition(":")
    if task is not None and kind in BUILT_IN_TASKS and task != BUILT_IN_TASKS[kind]:
        raise ValueError(f"task {task!r} does not fit {kind}, a {BUILT_IN_TASKS[kind]} data set")
    if name == "digits":
        return load_digits(test_size=test_size, seed=seed)
    if name == "diabetes":
        return load_diabetes(test_size=test_size, seed=seed)
    if name == "mnist":
        return load_mnist(fetch_mnist())
    if sep and where:
        if kind == "mnist":
            return load_mnist(where)
        if kind == "csv":
            return load_csv(where, task=task, test_size=test_size, seed=seed)
        if kind == "npz":
            return load_npz(where, task=task, test_size=test_size, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; expected digits, diabetes, mnist, mnist:DIR, csv:FILE or npz:FILE")
