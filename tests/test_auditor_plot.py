"""The heatmaps of a wrong gradient: what each panel holds, what the written file shows, what is refused.

The transposition test reads the PNG back and samples the centre of every cell
of the expected and got panels (their positions come from the same figure,
whose layout is fixed, not fitted): the got panel's colours are the expected
panel's colours mirrored across the diagonal. Skipped without matplotlib,
except the test of the ImportError.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bp_autodiff.auditor.plot import (
    DPI,
    MATPLOTLIB_MISSING,
    ROW_WIDTH,
    as_matrix,
    comparison_figure,
    plot_arrays,
    plot_comparison,
)


def needs_matplotlib() -> Any:
    return pytest.importorskip("matplotlib")


def test_as_matrix_folds_the_leading_axes_into_rows() -> None:
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    M = as_matrix(a)
    assert M.shape == (24, 5) and M.dtype == np.float64
    f, c, i, j = 1, 2, 3, 4
    assert M[(f * 3 + c) * 4 + i, j] == a[f, c, i, j]
    assert as_matrix(np.float32(2.5)).shape == (1, 1)
    assert as_matrix(np.arange(7)).shape == (1, 7)
    np.testing.assert_array_equal(as_matrix(np.eye(3, dtype=bool)), np.eye(3))
    with pytest.raises(TypeError, match="complex128"):
        as_matrix(np.ones(3, dtype=complex))
    with pytest.raises(TypeError, match="numeric"):
        as_matrix(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"empty array \(shape \(0, 3\)\)"):
        as_matrix(np.ones((0, 3)))


def test_a_transposed_matrix_is_transposed_in_the_png(tmp_path: Path) -> None:
    matplotlib = needs_matplotlib()
    n = 6
    W = np.random.default_rng(1).permutation(n * n).reshape(n, n).astype(float)  # 36 distinct levels
    path = plot_comparison(W, W.T, tmp_path / "transposed.png", title="dW returned transposed")
    assert path == tmp_path / "transposed.png"
    img = matplotlib.image.imread(path)
    fig = comparison_figure({"": (W, W.T)}, title="dW returned transposed")
    width, height = fig.get_size_inches() * DPI
    assert img.shape[:2] == (round(height), round(width)) and round(width) == ROW_WIDTH * DPI

    def cells(ax: Any) -> np.ndarray:
        """The colour at the centre of each cell of a panel, read from the PNG (rows from the top)."""
        x0, y0, x1, y1 = ax.get_position().extents
        out = np.empty((n, n, 3))
        for i in range(n):
            for j in range(n):
                x = (x0 + (j + 0.5) / n * (x1 - x0)) * img.shape[1]
                y = (1 - (y1 - (i + 0.5) / n * (y1 - y0))) * img.shape[0]
                out[i, j] = img[int(y), int(x), :3]
        return out

    expected, got, diff = (cells(ax) for ax in fig.axes[:3])
    assert len({tuple(c) for c in expected.reshape(-1, 3)}) == n * n  # every level its own colour
    np.testing.assert_allclose(got, expected.transpose(1, 0, 2), atol=1 / 255)
    assert not np.allclose(got, expected, atol=1 / 255)
    centre = np.array(matplotlib.colormaps["RdBu_r"](0.5)[:3])
    np.testing.assert_allclose(diff[np.arange(n), np.arange(n)], np.tile(centre, (n, 1)), atol=2 / 255)
    off = ~np.eye(n, dtype=bool)  # red where got - expected = W.T - W > 0, blue where it is < 0
    np.testing.assert_array_equal((diff[..., 0] > diff[..., 2])[off], ((W.T - W) > 0)[off])


def test_plot_arrays_writes_one_row_per_array_each_panel_on_its_scale(tmp_path: Path) -> None:
    matplotlib = needs_matplotlib()
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 4))
    b = rng.standard_normal((3, 6))
    b_wrong = b.copy()
    b_wrong[1] *= -1  # one wrong row
    x = rng.standard_normal((2, 3, 4, 5))
    gx = x.copy()
    gx[1, 2, 0, 3] = np.nan
    pairs = {
        "W": (W, W.T),
        "b": (b, b_wrong),
        "x (N, C, H, W)": (x, gx),
        "V": (rng.standard_normal((3, 4)), rng.standard_normal((4, 3))),  # shapes differ: no difference drawn
    }
    path = plot_arrays(pairs, tmp_path / "report.png")
    assert path == tmp_path / "report.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < path.stat().st_size < 2_000_000
    fig = comparison_figure(pairs)
    assert matplotlib.image.imread(path).shape[:2] == tuple(round(v * DPI) for v in fig.get_size_inches()[::-1])

    for r, (expected, got) in enumerate(((W, W.T), (b, b_wrong))):
        e, g, d = (ax.images[0] for ax in fig.axes[3 * r : 3 * r + 3])
        np.testing.assert_array_equal(e.get_array(), expected)
        np.testing.assert_array_equal(g.get_array(), got)
        np.testing.assert_array_equal(d.get_array(), got - expected)
        lo, hi = min(expected.min(), got.min()), max(expected.max(), got.max())
        assert e.get_clim() == g.get_clim() == (lo, hi)  # one scale for both
        m = np.abs(got - expected).max()
        assert d.get_clim() == (-m, m) and d.get_cmap().name.startswith("RdBu_r")  # centred at 0
    stripe = fig.axes[5].images[0].get_array()
    assert np.flatnonzero(np.any(stripe != 0, axis=1)).tolist() == [1]
    assert fig.axes[6].images[0].get_array().shape == (24, 5)
    assert "(1 non-finite)" in fig.axes[7].get_title()
    assert not fig.axes[11].axison and "shapes differ" in fig.axes[11].texts[0].get_text()


@pytest.mark.parametrize(
    ("pairs", "error", "match"),
    [
        ({}, ValueError, "pairs is empty"),
        ([("W", (np.ones(2), np.ones(2)))], TypeError, "pairs must be a mapping"),
        ({1: (np.ones(2), np.ones(2))}, TypeError, "names must be str"),
        ({"W": np.ones(2)}, TypeError, r"pairs\['W'\] must be a pair"),
        ({"W": (np.ones(2), np.ones(2) * 1j)}, TypeError, r"got \(W\): expected a real numeric array"),
        ({"W": (np.ones((2, 0)), np.ones(2))}, ValueError, r"expected \(W\): cannot draw an empty array"),
    ],
)
def test_bad_pairs_are_refused_and_nothing_is_written(tmp_path: Path, pairs: Any, error: Any, match: str) -> None:
    needs_matplotlib()
    with pytest.raises(error, match=match):
        plot_arrays(pairs, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_bad_paths_and_titles_are_refused(tmp_path: Path) -> None:
    needs_matplotlib()
    a = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"path: the directory .* does not exist"):
        plot_comparison(a, a, tmp_path / "missing" / "x.png")
    with pytest.raises(ValueError, match="path: cannot write 'xyz' files"):
        plot_comparison(a, a, tmp_path / "x.xyz")
    with pytest.raises(TypeError, match="path must be a str or a path"):
        plot_comparison(a, a, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title must be a str"):
        plot_comparison(a, a, tmp_path / "x.png", title=3)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_without_matplotlib_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` of it now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "bp-reference\[plot\]"') as info:
        plot_comparison(np.ones(2), np.ones(2), tmp_path / "x.png")
    assert str(info.value) == MATPLOTLIB_MISSING
