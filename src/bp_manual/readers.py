"""Readers of the file formats data sets come in: IDX (MNIST), numeric CSV, NumPy ``.npz``.

What this module is for: turning a file into arrays or rows, with every way it
can be wrong reported as a ``ValueError`` that names the file (and the line).
:mod:`bp_manual.data` builds data sets from what these return.

What it is not for: splitting, standardising or choosing targets (:mod:`bp_manual.data`).
"""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: IDX type codes (the third byte of the magic number) and their big-endian dtypes.
IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from exc


def read_idx(path: str | os.PathLike[str]) -> NDArray[Any]:
    """Read one IDX file (``.gz`` compressed or not) into an array.

    Format: a 4-byte magic number ``0x00 0x00 TYPE NDIM``, then ``NDIM``
    big-endian uint32 dimensions, then the data, big-endian, C order.

    Returns:
        An array of shape ``(d_1, ..., d_NDIM)`` in native byte order
        (``uint8`` for MNIST's images ``(N, 28, 28)`` and labels ``(N,)``).

    Raises:
        ValueError: naming the file, for a missing or unreadable file, a bad
            magic number, an unknown type code, or a size that does not match
            the dimensions (a truncated or padded file).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(raw)} bytes, the magic number needs 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number {raw[:4].hex()} does not start with 0000)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}; expected one of {codes}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX file {what}: dimensions {dims} of {dtype.name} need {expected} data bytes, found {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def read_csv_rows(path: str | os.PathLike[str]) -> list[list[float]]:
    """The numeric rows of a CSV file, all of one length; a header, if there is one, is skipped.

    The header rule: the first non-blank line is a header when *none* of its
    cells is a number (``x1,x2,label``); it must then name every column (no
    empty cell), and every data row must have as many cells as it does.
    Every other line is data, and every cell of a data row must be a number
    (as Python's ``float`` reads it): a missing value or a typo in any data
    row, the first one included, is an error naming its line and column,
    never a header, so no data row is ever dropped. Blank lines are skipped.

    Raises:
        ValueError: naming the file (and the line and column), for a missing
            or unreadable file, a non-numeric or empty cell in a data row, a
            header with an empty cell, rows of different lengths, or no data rows.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read as text ({exc})") from exc
    rows: list[list[float]] = []
    header: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        numeric = [_is_float(c) for c in cells]
        if not rows and header is None and not any(numeric):
            if "" in cells:
                column = cells.index("") + 1
                raise ValueError(
                    f"{path}: line {number}, column {column}: empty cell in the header "
                    "(a first row with no number in it is a header, and must name every column)"
                )
            header = cells
            continue
        if not all(numeric):
            column = numeric.index(False) + 1
            bad = cells[column - 1]
            what = "an empty cell" if bad == "" else f"{bad!r} is not a number"
            raise ValueError(f"{path}: line {number}, column {column}: {what}")
        width = len(header) if header is not None else len(rows[0]) if rows else len(cells)
        if len(cells) != width:
            first = "the header" if header is not None else "the first data row"
            raise ValueError(f"{path}: line {number} has {len(cells)} columns, {first} {width}")
        rows.append([float(c) for c in cells])
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return rows


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_npz(path: Path) -> dict[str, NDArray[Any]]:
    """Every array of an ``.npz`` archive, read with ``allow_pickle=False``; ``ValueError`` naming the file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
            if not head.startswith(b"PK") and head != b"\x93NUMPY":
                raise ValueError(f"{path}: not an .npz archive (it does not start with the zip signature 'PK')")
            fh.seek(0)
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError(f"{path}: a single .npy array, not an .npz archive of named arrays")
            with loaded as npz:
                return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not an .npz file") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
