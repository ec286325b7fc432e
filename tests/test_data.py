"""Data sets: the bundled splits, the IDX reader, CSV and npz, and the errors for bad files."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bp_manual import data, readers
from strategies import examples


def test_importing_bp_manual_data_does_not_import_sklearn() -> None:
    code = "import sys, bp_manual.data\nassert 'sklearn' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_digits_split_is_seeded_and_standardised_with_training_statistics_only() -> None:
    from sklearn.datasets import load_digits

    raw, labels = load_digits(return_X_y=True)
    d = data.load_digits(seed=0)
    assert d.task == "classification" and d.n_in == 64 and d.n_out == 10
    assert d.X_train.shape == (1348, 64) and d.X_test.shape == (449, 64)
    assert d.y_train.dtype == np.int64 and list(d.classes) == list(range(10))  # type: ignore[arg-type]
    order = np.random.default_rng(0).permutation(len(raw))
    train, test = order[449:], order[:449]
    np.testing.assert_array_equal(d.y_test, labels[test])
    # statistics from the training rows only, applied to both parts
    np.testing.assert_allclose(d.x_mean, raw[train].mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.X_test * d.x_scale + d.x_mean, raw[test], rtol=0, atol=1e-12)
    varying = raw[train].std(axis=0) > 0
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=0)[varying], 1.0, rtol=1e-12)
    assert np.all(d.x_scale[~varying] == 1.0)  # constant pixels: left at scale 1, not divided by 0
    # reproducible, and a different seed gives a different split
    again = data.load_digits(seed=0)
    assert again.X_train.tobytes() == d.X_train.tobytes()
    assert data.load_digits(seed=1).y_test.tobytes() != d.y_test.tobytes()


def test_diabetes_is_regression_with_standardised_targets() -> None:
    d = data.load_diabetes()
    assert d.task == "regression" and d.X_train.shape == (332, 10) and d.y_train.shape == (332, 1)
    assert d.y_mean is not None and d.y_scale is not None
    np.testing.assert_allclose(d.y_train.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.y_train.std(), 1.0, rtol=1e-12)
    assert d.n_out == 1


# --- IDX ------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, *, type_code: int | None = None) -> Path:
    """An IDX file written independently of the reader: header by hand, data big-endian."""
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    code = codes[array.dtype.type] if type_code is None else type_code
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


@settings(max_examples=examples(0.2))
@given(
    dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    gz=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_read_idx_round_trips_every_type(tmp_path_factory, dtype, shape, gz, seed) -> None:
    rng = np.random.default_rng(seed)
    array = (rng.normal(size=shape) * 100).astype(dtype)
    path = write_idx(tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx"), array)
    out = readers.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == tuple(shape)
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "magic number 01000801 does not start with 0000"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated IDX header"),
        (
            b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02",
            r"truncated: dimensions \(3,\) of uint8 need 3 data bytes, found 2",
        ),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "has trailing bytes"),
    ],
)
def test_read_idx_refuses_bad_files_naming_them(tmp_path: Path, payload: bytes, match: str) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match) as info:
        readers.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_refuses_missing_and_corrupt_gzip(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.idx: no such file"):
        readers.read_idx(tmp_path / "nope.idx")
    bad = tmp_path / "x.idx.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"x.idx.gz: cannot be read"):
        readers.read_idx(bad)


def _mnist_dir(tmp_path: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> Path:
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    for name, n in (("train", n_train), ("t10k", n_test)):
        write_idx(tmp_path / f"{name}-images-idx3-ubyte{ext}", rng.integers(0, 256, size=(n, 3, 4), dtype=np.uint8))
        write_idx(tmp_path / f"{name}-labels-idx1-ubyte{ext}", (np.arange(n) % 3).astype(np.uint8))
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_idx_files(tmp_path: Path, gz: bool) -> None:
    d = data.load_mnist(_mnist_dir(tmp_path, gz=gz))
    assert d.X_train.shape == (6, 12) and d.X_test.shape == (4, 12)
    assert list(d.y_train) == [0, 1, 2, 0, 1, 2] and d.n_out == 3
    images = readers.read_idx(next(tmp_path.glob("train-images*"))).reshape(6, 12) / 255.0
    np.testing.assert_allclose(d.X_train * d.x_scale + d.x_mean, images, atol=1e-12)


def test_load_mnist_refuses_mismatched_and_missing_files(tmp_path: Path) -> None:
    _mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"4 images but t10k-labels-idx1-ubyte\.gz has 5 labels"):
        data.load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte\.gz"):
        data.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        data.load_mnist(tmp_path / "missing")


# --- CSV and npz ----------------------------------------------------------------------------


def test_load_csv_with_header_infers_the_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    path = tmp_path / "c.csv"
    labels = np.arange(20) % 2
    path.write_text("a,b,c,label\n" + "\n".join(",".join(map(str, [*x, y])) for x, y in zip(X, labels, strict=True)))
    d = data.load_csv(path)
    assert d.task == "classification" and d.n_in == 3 and d.n_out == 2 and len(d.y_test) == 5
    d = data.load_csv(path, task="regression")
    assert d.task == "regression"
    d = data.load_csv(path, target=0)
    assert d.task == "regression" and d.n_in == 3


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2,3\n4,x,6\n", "line 2, column 2: 'x' is not a number"),
        ("1,,3\n4,5,6\n", "line 1, column 2: an empty cell"),  # a first data row with a gap is no header
        ("1,2x,3\n4,5,6\n", "line 1, column 2: '2x' is not a number"),
        ("a,,c\n4,5,6\n", "line 1, column 2: empty cell in the header"),
        ("a,b,c\n4,5\n", "line 2 has 2 columns, the header 3"),
        ("1,2,3\n4,5\n", "line 2 has 2 columns, the first data row 3"),
        ("a,b\n", "no data rows"),
        ("1\n2\n", "needs at least 2 columns"),
    ],
)
def test_load_csv_refuses_bad_files_naming_them(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        data.load_csv(path)
    assert str(path) in str(info.value)


def test_load_npz_both_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.normal(size=40)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    d = data.load_npz(tmp_path / "a.npz")
    assert d.task == "regression" and d.X_train.shape == (30, 4) and d.y_train.shape == (30, 1)
    labels = np.arange(40) % 4
    np.savez(tmp_path / "b.npz", X_train=X[:32], y_train=labels[:32], X_test=X[32:], y_test=labels[32:])
    d = data.load_npz(tmp_path / "b.npz")
    assert d.task == "classification" and d.X_test.shape == (8, 4) and list(d.y_test) == list(labels[32:])
    np.testing.assert_allclose(d.x_mean, X[:32].mean(axis=0))


def test_load_npz_refuses_bad_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "keys.npz", A=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"keys.npz: expected arrays X and y.*found \['A'\]"):
        data.load_npz(tmp_path / "keys.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}], dtype=object), y=np.ones(1))
    with pytest.raises(ValueError, match=r"obj\.npz: not a readable \.npz file.*pickle"):
        data.load_npz(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 but not really")
    with pytest.raises(ValueError, match=r"junk\.npz"):
        data.load_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    (tmp_path / "text.npz").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"text\.npz: not an \.npz archive \(it does not start with the zip signature"):
        data.load_npz(tmp_path / "text.npz")
    with pytest.raises(ValueError, match=r"a single \.npy array"):
        data.load_npz(tmp_path / "one.npy")
    with pytest.raises(ValueError, match=r"none\.npz: no such file"):
        data.load_npz(tmp_path / "none.npz")


def test_load_dataset_names() -> None:
    assert data.load_dataset("digits").name == "digits"
    with pytest.raises(ValueError, match="unknown dataset 'iris'"):
        data.load_dataset("iris")
    with pytest.raises(ValueError, match="test_size must lie in"):
        data.load_dataset("diabetes", test_size=1.0)
