"""The initialisation lessons as an experiment, layer by layer (the engine of ``bp init-stats``).

What this module is for: reproducing, by numbers, why the scale of the initial
weights matters (the seed's discussion, Glorot & Bengio 2010, He et al. 2015).
A deep square network (``depth`` hidden layers of ``width`` units, then a
linear read-out of ``width`` units and the ``mse`` loss against ``Y ~ N(0, 1)``)
is run forward and backward once on ``X ~ N(0, 1)`` with
:func:`bp_manual.network.forward` and :func:`bp_manual.network.loss_grads_and_deltas`,
and for every hidden layer ``l`` it reports:

- the forward statistics: mean and standard deviation of ``A_l`` and the
  standard deviation of ``Z_l`` (over the batch and the units);
- ``saturated``: the fraction of entries where ``f'(Z_l)`` is below a tenth of
  its peak (tanh: ``|A| > 0.949``; ReLU: ``Z <= 0``), units through which
  almost no gradient flows back;
- the backward statistics: the standard deviation of ``delta_l = dL/dZ_l`` and
  of ``dW_l``.

What it is not for: training, or statements about one particular data set.
No bias (``bias=False``), so the weights alone set the scale. NumPy only;
matplotlib is imported only by :func:`plot`. The command is
``bp_autodiff.cli.init_stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bp_manual.activations import HIDDEN
from bp_manual.initializers import INITIALIZERS, Initializer, as_generator, init_params, normal
from bp_manual.network import forward, loss_grads_and_deltas
from bp_manual.scalars import positive_int
from bp_manual.spec import NetworkSpec

#: The schemes compared by default: the two classic fixed scales, Glorot's,
#: He's, and the seed's ``N(0, 1/fan_out)``.
DEFAULT_INITS = "normal:0.01,normal:1.0,xavier_normal,he_normal,seed"
#: ``saturated`` counts entries with ``f'(Z) < SATURATION * max f'``.
SATURATION = 0.1


@dataclass(frozen=True)
class LayerStats:
    """Statistics of hidden layer ``l`` over the batch and the units (population std).

    Attributes:
        layer: ``l``, 1 for the first hidden layer.
        mean_A, std_A: mean and standard deviation of ``A_l`` ``(N, width)``.
        std_Z: standard deviation of ``Z_l``.
        saturated: fraction of entries with ``f'(Z_l) < 0.1 * max f'``.
        std_delta: standard deviation of ``delta_l = dL/dZ_l`` ``(N, width)``.
        std_dW: standard deviation of ``dW_l`` ``(width, width)``.
    """

    layer: int
    mean_A: float  # noqa: N815 (the derivation's letters)
    std_A: float  # noqa: N815 (the derivation's letters)
    std_Z: float  # noqa: N815 (the derivation's letters)
    saturated: float
    std_delta: float
    std_dW: float  # noqa: N815 (the derivation's letters)


@dataclass(frozen=True)
class InitStats:
    """One scheme's per-layer statistics; ``layers[l - 1]`` is hidden layer ``l``.

    ``seed`` is the integer seed used, or -1 when a ``numpy.random.Generator`` was passed.
    """

    init: str
    activation: str
    depth: int
    width: int
    batch: int
    seed: int
    layers: tuple[LayerStats, ...]

    def column(self, name: str) -> np.ndarray:
        """One statistic over the layers, e.g. ``column("std_A")``, shape ``(depth,)``."""
        return np.array([getattr(s, name) for s in self.layers])


def parse_inits(text: str) -> list[tuple[str, Initializer]]:
    """``"normal:0.01,xavier_normal,..."`` -> ``[(label, initializer), ...]``.

    Each item is a name in ``bp_manual.INITIALIZERS`` or ``normal:STD`` (a plain
    ``N(0, STD**2)``).

    Raises:
        ValueError: an empty list, an unknown name or a bad ``STD`` (the
            message starts with ``text: `` and lists the valid names).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text: must be a comma-separated list of init schemes, got {text!r}")
    out: list[tuple[str, Initializer]] = []
    for item in (part.strip() for part in text.split(",")):
        if item.startswith("normal:"):
            try:
                out.append((f"normal({float(item[7:])!r})", normal(float(item[7:]))))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"text: {item!r}: normal:STD needs a finite STD > 0 ({exc})") from None
        elif item in INITIALIZERS:
            out.append((item, INITIALIZERS[item]))
        else:
            raise ValueError(f"text: unknown scheme {item!r}; expected normal:STD or one of {sorted(INITIALIZERS)}")
    return out


def _peak_derivative(activation: str) -> float:
    act = HIDDEN[activation]
    z = np.linspace(-5.0, 5.0, 1001)
    return float(np.max(act.derivative(z, act.f(z))))


def init_stats(
    init: str | Initializer,
    *,
    depth: int = 10,
    width: int = 256,
    activation: str = "tanh",
    batch: int = 512,
    seed: int | np.random.Generator = 0,
    label: str | None = None,
) -> InitStats:
    """Run the deep network once forward and backward and collect per-layer statistics.

    Args:
        init: a name in ``bp_manual.INITIALIZERS`` or an initializer callable.
        depth: number of hidden layers (>= 1); the network has ``depth + 1``
            weight layers, all ``(width, width)``.
        width: units per layer (and inputs, and read-out units).
        activation: hidden activation, a name in ``bp_manual.HIDDEN``.
        batch: samples ``N``; ``X ~ N(0, 1)`` of shape ``(N, width)``.
        seed: weights first, then ``X``, then ``Y`` come from one Generator.
        label: the name shown for ``init`` (default: its name).

    Returns:
        :class:`InitStats` with ``depth`` :class:`LayerStats` (float64 throughout).

    Raises:
        TypeError / ValueError: a bad argument, named.
    """
    depth, width, batch = (positive_int(k, v) for k, v in (("depth", depth), ("width", width), ("batch", batch)))
    spec = NetworkSpec((width,) * (depth + 2), hidden=activation, output="identity", loss="mse", bias=False)
    rng = as_generator(seed)
    params = init_params(spec, init, rng)
    X = rng.normal(0.0, 1.0, (batch, width))
    Y = rng.normal(0.0, 1.0, (batch, width))
    _, cache = forward(spec, params, X)
    _, grads, deltas = loss_grads_and_deltas(spec, params, X, Y)
    act = HIDDEN[activation]
    threshold = SATURATION * _peak_derivative(activation)
    layers = []
    for l in range(1, depth + 1):
        c = cache[l - 1]
        layers.append(
            LayerStats(
                layer=l,
                mean_A=float(np.mean(c.A)),
                std_A=float(np.std(c.A)),
                std_Z=float(np.std(c.Z)),
                saturated=float(np.mean(act.derivative(c.Z, c.A) < threshold)),
                std_delta=float(np.std(deltas[l - 1])),
                std_dW=float(np.std(grads[l - 1]["W"])),
            )
        )
    name = label if label is not None else (init if isinstance(init, str) else getattr(init, "__name__", repr(init)))
    return InitStats(name, activation, depth, width, batch, int(seed) if isinstance(seed, int) else -1, tuple(layers))


def compare(
    inits: Sequence[tuple[str, Initializer]] | str = DEFAULT_INITS,
    *,
    depth: int = 10,
    width: int = 256,
    activation: str = "tanh",
    batch: int = 512,
    seed: int = 0,
) -> list[InitStats]:
    """:func:`init_stats` for each scheme, every one from the same ``seed``."""
    pairs = parse_inits(inits) if isinstance(inits, str) else list(inits)
    return [
        init_stats(init, depth=depth, width=width, activation=activation, batch=batch, seed=seed, label=label)
        for label, init in pairs
    ]


def render(results: Sequence[InitStats]) -> str:
    """The table: one row per scheme and layer."""
    if not results:
        return "(no results)"
    r0 = results[0]
    lines = [
        f"init-stats: {r0.depth} hidden layers x {r0.width} units, {r0.activation}, batch {r0.batch}, "
        f"seed {r0.seed}; X ~ N(0, 1); no bias; linear read-out, mse against Y ~ N(0, 1)",
        "forward: mean, std of A_l and std of Z_l; saturated: fraction with f'(Z_l) < 0.1 max f'; "
        "backward: std of delta_l = dL/dZ_l and of dW_l",
        f"{'init':<16} {'layer':>5} {'mean(A)':>10} {'std(A)':>10} {'std(Z)':>10} {'saturated':>9} "
        f"{'std(delta)':>10} {'std(dW)':>10}",
    ]
    for r in results:
        for s in r.layers:
            lines.append(
                f"{r.init:<16} {s.layer:>5} {s.mean_A:>10.2e} {s.std_A:>10.3e} {s.std_Z:>10.3e} "
                f"{s.saturated:>9.3f} {s.std_delta:>10.3e} {s.std_dW:>10.3e}"
            )
    return "\n".join(lines)


def legend_labels(results: Sequence[InitStats]) -> list[str]:
    """One legend label per scheme; a scheme whose statistics equal an earlier one's says so.

    Two schemes can draw the very same weights (``seed``, ``N(0, 1/fan_out)``,
    and ``xavier_normal``, ``N(0, 2/(fan_in + fan_out))``, on square layers,
    from the same seed), and then the later curve hides the earlier one:
    the label ``"seed (= xavier_normal)"`` says why only one is seen.
    """
    labels = []
    for i, r in enumerate(results):
        same = next((e for e in results[:i] if _same_statistics(e, r)), None)
        labels.append(f"{r.init} (= {same.init})" if same is not None else r.init)
    return labels


def _same_statistics(a: InitStats, b: InitStats) -> bool:
    columns = ("std_A", "saturated", "std_delta")
    return a.depth == b.depth and all(np.array_equal(a.column(c), b.column(c)) for c in columns)


def plot(results: Sequence[InitStats], path: str | Path) -> Path:
    """Write the figure, a PNG at exactly ``path``: std of ``A_l``, saturated fraction and std of ``delta_l`` per layer.

    Needs matplotlib (``pip install matplotlib``); uses the Agg backend, so no
    screen is needed. Curves that coincide are drawn in varied styles and
    named in the legend (:func:`legend_labels`). Returns the path written.

    Raises:
        ValueError: ``results`` is empty.
        ImportError: matplotlib is not installed (the message says how to get it).
        OSError: ``path`` cannot be written.
    """
    if not results:
        raise ValueError("results is empty: nothing to plot")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib, which is not installed: pip install matplotlib") from exc

    path = Path(path)
    r0 = results[0]
    labels = legend_labels(results)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=80)
    panels = (
        ("std_A", "forward: std of A_l", True),
        ("saturated", "fraction saturated (f' < 0.1 max f')", False),
        ("std_delta", "backward: std of delta_l = dL/dZ_l", True),
    )
    for ax, (column, title, log) in zip(axes, panels, strict=True):
        for i, (r, label) in enumerate(zip(results, labels, strict=True)):
            # varied styles, later curves thinner with hollow markers, so curves that coincide stay visible
            style = dict(
                linestyle=("-", "--", "-.", ":")[i % 4],
                marker="os^vD"[i % 5],
                markersize=6 - 0.8 * (i % 5),
                linewidth=2.2 - 0.3 * (i % 5),
                markerfacecolor="none" if i % 2 else None,
            )
            ax.plot(range(1, r.depth + 1), r.column(column), label=label, **style)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("hidden layer l")
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"{r0.depth} layers x {r0.width} units, {r0.activation}, batch {r0.batch}, seed {r0.seed}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, format="png")  # at exactly path, whatever its suffix
    plt.close(fig)
    return path
