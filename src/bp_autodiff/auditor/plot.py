"""The picture of a wrong gradient: expected, got and their difference, side by side as heatmaps.

What this module is for: one row of three panels per failing array, so that
the shape of a mistake is seen at a glance (a transposed matrix shows as its
mirror image across the diagonal, one wrong row as one coloured stripe in the
difference, a flipped sign as the opposite colours):

- expected and got share one colour scale (``viridis``, limits the smallest
  and largest finite value of the two), so equal values have equal colours;
- the difference ``got - expected`` has a diverging scale (``RdBu_r``)
  centred at 0, symmetric about it: red where got is too large, blue where
  it is too small, white where they agree;
- a NaN or an infinity is drawn in a colour outside the scale (red in
  expected/got, black in the difference) and counted in the panel's title.

Arrays of any number of dimensions are drawn as matrices by :func:`as_matrix`:
the last axis is the columns, all leading axes are folded into the rows in
C order (for a ``(F, C, KH, KW)`` kernel, row ``(f * C + c) * KH + i``);
thin lines separate the blocks of the second-to-last axis.

:func:`comparison_figure` builds the figure; :func:`plot_comparison` (one
array) and :func:`plot_arrays` (several, one file) write it. matplotlib is
optional (``pip install "bp-reference[plot]"``): it is imported by these
functions only, which draw on a figure with its own Agg canvas, so no screen
is needed and matplotlib's global backend (``pyplot``) is left as it is.

What it is not for: deciding what failed (the report does), or drawing
arrays that agree (nothing stops it, but the difference panel is then blank).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The message of the ImportError when matplotlib is missing.
MATPLOTLIB_MISSING = 'the heatmaps need matplotlib: pip install "bp-reference[plot]"'

#: Inches: the width of a row of three panels, and the bounds of a row's height.
ROW_WIDTH, MIN_ROW_HEIGHT, MAX_ROW_HEIGHT = 12.0, 1.6, 4.0

#: Dots per inch of the figure (and of the file written).
DPI = 100

#: At most this many block separators are drawn in a panel (more would hide the values).
MAX_SEPARATORS = 64


def as_matrix(a: ArrayLike) -> NDArray[np.float64]:
    """``a`` as a 2-D float64 array: the last axis as columns, the leading axes folded into rows.

    Shapes: ``()`` -> ``(1, 1)``; ``(n,)`` -> ``(1, n)`` (one row);
    ``(m, n)`` unchanged; ``(d0, ..., dk)`` -> ``(d0 * ... * d(k-1), dk)`` in
    C order (``a.reshape(-1, a.shape[-1])``).

    Raises:
        TypeError: ``a`` is not numeric (bool, integer and floating dtypes are accepted).
        ValueError: ``a`` is empty.
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected a real numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"cannot draw an empty array (shape {arr.shape})")
    if arr.ndim < 2:
        return arr.astype(np.float64).reshape(1, -1)
    return arr.astype(np.float64).reshape(-1, arr.shape[-1])


def comparison_figure(pairs: Mapping[str, tuple[ArrayLike, ArrayLike]], *, title: str | None = None) -> Any:
    """A matplotlib ``Figure`` with one row of three heatmaps per array, ``{name: (expected, got)}`` in order.

    Row ``r`` holds the panels expected, got and ``got - expected`` of the
    ``r``-th array, titled with its name (an empty name gives plain titles);
    they are ``fig.axes[3 * r : 3 * r + 3]`` (the colour bars come after all
    panels). Arrays of any shape are drawn through :func:`as_matrix`.
    ``expected`` and ``got`` may differ in shape (a gradient returned
    transposed, or not summed over the batch): both are drawn, each folded by
    its own shape, and the third panel says that the shapes differ instead
    of drawing a difference. The figure has an Agg canvas, so
    ``fig.savefig`` works without a screen.

    Raises:
        ImportError: matplotlib is not installed (the message names the ``plot`` extra).
        TypeError: ``pairs`` is not a mapping, a name is not a string, a value
            is not a pair ``(expected, got)``, an array is not real and
            numeric, ``title`` is neither a string nor None.
        ValueError: ``pairs`` is empty, or an array is empty.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    if not isinstance(pairs, Mapping):
        raise TypeError(f"pairs must be a mapping name -> (expected, got), got {type(pairs).__name__}")
    if not pairs:
        raise ValueError("pairs is empty: nothing to draw")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    for name, pair in pairs.items():
        if not isinstance(name, str):
            raise TypeError(f"pairs: names must be str, got {type(name).__name__} ({name!r})")
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"pairs[{name!r}] must be a pair (expected, got), got {type(pair).__name__}")
        _matrices(name, *pair)  # every argument checked before anything is drawn
    fig = Figure(dpi=DPI)
    FigureCanvasAgg(fig)
    heights = [_row_height(p[0]) for p in pairs.values()]
    top, gap, bottom = (0.8 if title else 0.4), 0.8, 0.4  # inches: above, between and below the rows
    total = top + sum(heights) + gap * (len(heights) - 1) + bottom
    fig.set_size_inches(ROW_WIDTH, total)
    # Fixed margins rather than tight_layout, which draws the whole figure once more (half the time).
    gridspec = {"height_ratios": heights, "hspace": gap / np.mean(heights), "wspace": 0.45}
    axes = fig.subplots(len(pairs), 3, squeeze=False, gridspec_kw=gridspec)
    fig.subplots_adjust(left=0.07, right=0.94, top=1 - top / total, bottom=bottom / total)
    for row, (name, (expected, got)) in zip(axes, pairs.items(), strict=True):
        _row(fig, row, name, expected, got)
    if title:
        fig.suptitle(title, y=1 - 0.15 / total, va="top")
    return fig


def plot_comparison(
    expected: ArrayLike, got: ArrayLike, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Write one row of three heatmaps (expected, got, got - expected) for one array; return the path.

    The figure of :func:`comparison_figure` for ``{"": (expected, got)}``,
    with ``title`` above it. The format comes from the suffix of ``path``
    (PNG when it has none).

    Raises:
        ImportError, TypeError, ValueError: as :func:`comparison_figure`; also
            ``TypeError`` when ``path`` is not a path, ``ValueError`` when its
            directory does not exist or its suffix names a format matplotlib
            cannot write (checked before anything is drawn).
    """
    out, fmt = _output_path(path)
    fig = comparison_figure({"": (expected, got)}, title=title)
    fig.savefig(out, format=fmt, dpi=DPI)
    return out


def plot_arrays(pairs: Mapping[str, tuple[ArrayLike, ArrayLike]], path: str | os.PathLike[str]) -> Path:
    """Write one row of three heatmaps per array, ``{name: (expected, got)}`` in order, into one file.

    The figure of :func:`comparison_figure`; returns the path written.

    Raises:
        ImportError, TypeError, ValueError: as :func:`plot_comparison`.
    """
    out, fmt = _output_path(path)
    comparison_figure(pairs).savefig(out, format=fmt, dpi=DPI)
    return out


# ---------------------------------------------------------------- drawing


def _matplotlib() -> tuple[Any, Any]:
    """``(Figure, FigureCanvasAgg)``, or the ImportError that names the ``plot`` extra."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(MATPLOTLIB_MISSING) from exc
    return Figure, FigureCanvasAgg


def _output_path(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """The path and the format to write, checked before anything is drawn."""
    supported = _matplotlib()[1].get_supported_filetypes()
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    out = Path(path)
    if not out.parent.is_dir():
        raise ValueError(f"path: the directory {str(out.parent)!r} does not exist")
    fmt = out.suffix[1:].lower() or "png"
    if fmt not in supported:
        raise ValueError(f"path: cannot write {fmt!r} files; use one of {sorted(supported)}")
    return out, fmt


def _matrices(name: str, expected: ArrayLike, got: ArrayLike) -> tuple[Any, ...]:
    """``(E, G, shape_e, shape_g)``, the two arrays as matrices, the argument named in any error."""
    found = []
    for which, a in (("expected", expected), ("got", got)):
        try:
            found.append(as_matrix(a))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{which} ({name or 'the array'}): {exc}") from None
    return found[0], found[1], np.shape(expected), np.shape(got)


def _limits(*arrays: NDArray[np.float64]) -> tuple[float, float]:
    """Smallest and largest finite value of the arrays, widened when they are equal."""
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if finite.size == 0:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        half = abs(lo) / 2 or 1.0
        return lo - half, hi + half
    return lo, hi


def _panel(fig: Any, ax: Any, M: NDArray[np.float64], shape: tuple[int, ...], label: str, **style: Any) -> None:
    """One heatmap with its colour bar, block separators and a title counting non-finite entries."""
    from matplotlib.ticker import MaxNLocator

    image = ax.imshow(M, aspect="auto", interpolation="nearest", **style)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    bad = int(np.size(M) - np.count_nonzero(np.isfinite(M)))
    ax.set_title(label + (f" ({bad} non-finite)" if bad else ""), fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if len(shape) >= 3:
        block = shape[-2]
        n_blocks = M.shape[0] // block
        for k in range(1, min(n_blocks, MAX_SEPARATORS + 1)):
            ax.axhline(k * block - 0.5, color="0.6", linewidth=0.6)
    if len(shape) != 2:
        ax.set_ylabel(f"{shape} as {M.shape[0]} x {M.shape[1]}", fontsize=8)


def _row(fig: Any, axes: Any, name: str, expected: ArrayLike, got: ArrayLike) -> None:
    import matplotlib

    E, G, shape_e, shape_g = _matrices(name, expected, got)
    lo, hi = _limits(E, G)
    shared = {"cmap": matplotlib.colormaps["viridis"].with_extremes(bad="red"), "vmin": lo, "vmax": hi}
    prefix = f"{name}: " if name else ""
    _panel(fig, axes[0], E, shape_e, f"{prefix}expected", **shared)
    _panel(fig, axes[1], G, shape_g, f"{prefix}got", **shared)
    ax = axes[2]
    if shape_e != shape_g:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"shapes differ:\nexpected {shape_e}\ngot {shape_g}", ha="center", va="center")
        return
    with np.errstate(invalid="ignore", over="ignore"):
        D = G - E
    finite = np.abs(D[np.isfinite(D)])
    m = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    diverging = matplotlib.colormaps["RdBu_r"].with_extremes(bad="black")
    label = f"{prefix}got - expected, max |.| = {float(finite.max()) if finite.size else float('nan'):.3g}"
    _panel(fig, ax, D, shape_e, label, cmap=diverging, vmin=-m, vmax=m)


def _row_height(expected: ArrayLike) -> float:
    """Inches: the panels' height for the shape of ``expected`` (a square matrix, square panels), bounded."""
    rows, cols = as_matrix(expected).shape
    return float(np.clip(ROW_WIDTH / 3 * rows / cols, MIN_ROW_HEIGHT, MAX_ROW_HEIGHT))
