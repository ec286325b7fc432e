"""The table of :mod:`bp_manual.layers.explain`: each layer's forward and backward equations with named shapes.

What this module is for: the data ``bp explain --layer`` prints, one
:class:`LayerTable` per layer of :mod:`bp_manual.layers`, the equations in the
letters the code uses, each array written ``$name(d1, d2)`` (its shape in
named dimensions). Recurrent layers are written for one step ``t``; their
backward runs ``t = T-1 .. 0`` with carries starting at 0.

What it is not for: rendering (:mod:`bp_manual.layers.explain`) or computing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerTable:
    """One layer's entry: what the equations are written in, and the equations.

    Attributes:
        title: the layer in words.
        module: where its pair lives.
        dims: each base dimension's meaning, and an example size (``--dims`` overrides).
        derived: ``(symbol, formula in words, function of the sizes)`` for the dimensions computed from others.
        forward, backward: ``"$lhs(...) = rhs with $terms(...)"`` (or ``<-`` for a carry), in order.
        notes: lines printed after the equations (the traps, the layouts).
    """

    title: str
    module: str
    dims: Mapping[str, tuple[str, int]]
    forward: tuple[str, ...]
    backward: tuple[str, ...]
    derived: tuple[tuple[str, str, Callable[[Mapping[str, int]], int]], ...] = ()
    notes: tuple[str, ...] = field(default=())


def _elementwise(title: str, forward: str, derivative: str, note: str) -> LayerTable:
    return LayerTable(
        title,
        "bp_manual.layers.activations",
        {"N": ("rows (any leading shape)", 4), "D": ("features", 3)},
        (f"$out(N, D) = {forward}",),
        (f"$dx(N, D) = $dout(N, D) * {derivative}",),
        notes=(note,),
    )


_CONV_DIMS = {
    "N": ("images", 2),
    "C": ("input channels", 3),
    "H": ("rows", 7),
    "W": ("columns", 6),
    "F": ("filters", 4),
    "KH": ("kernel rows", 3),
    "KW": ("kernel columns", 2),
    "stride": ("step between windows", 2),
    "padding": ("zeros on each side", 1),
}
_POOL_DIMS = {"N": ("images", 2), "C": ("channels", 3), "H": ("rows", 7), "W": ("columns", 6)}
_POOL_DIMS |= {"k": ("window side (kernel_size)", 3), "s": ("stride (default k)", 2)}
_POOL_OUT = (
    ("OH", "(H - k) // s + 1", lambda d: (d["H"] - d["k"]) // d["s"] + 1),
    ("OW", "(W - k) // s + 1", lambda d: (d["W"] - d["k"]) // d["s"] + 1),
    ("k*k", "k * k", lambda d: d["k"] * d["k"]),
)
_NORM_BACKWARD = (
    "$dbeta(D) = $dout(N, D).sum(axis=0)",
    "$dgamma(D) = ($dout(N, D) * $xhat(N, D)).sum(axis=0)",
    "$dxhat(N, D) = $dout(N, D) * $gamma(D)",
)
_RNN_DIMS = {"N": ("sequences", 2), "T": ("steps", 5), "D": ("input features", 3), "H": ("hidden units", 4)}
_NT = ("N*T", "N * T", lambda d: d["N"] * d["T"])
_RNN_SUMS = (
    "$dx(N, T, D) = $da(N, T, G) @ $Wx(G, D)",
    "$dWx(G, D) = $da2.T(G, N*T) @ $x2(N*T, D)",
    "$dWh(G, H) = $da2.T(G, N*T) @ $h_prev2(N*T, H)",
    "$db(G) = $da2(N*T, G).sum(axis=0)",
)

#: Every layer of :mod:`bp_manual.layers`, by name.
TABLE: dict[str, LayerTable] = {
    "linear": LayerTable(
        "affine map (F.linear)",
        "bp_manual.layers.linear",
        {"N": ("rows (any leading shape)", 4), "D_in": ("input features", 3), "D_out": ("output features", 2)},
        ("$out(N, D_out) = $x(N, D_in) @ $W.T(D_in, D_out) + $b(D_out)",),
        (
            "$dx(N, D_in) = $dout(N, D_out) @ $W(D_out, D_in)",
            "$dW(D_out, D_in) = $dout.T(D_out, N) @ $x(N, D_in)",
            "$db(D_out) = $dout(N, D_out).sum(axis=0)",
        ),
        notes=("W is shared by every row: dW and db sum over all of them (over every leading axis of x)",),
    ),
    "relu": _elementwise("rectifier", "max($x(N, D), 0)", "($x(N, D) > 0)", "relu'(0) is taken as 0"),
    "leaky_relu": _elementwise(
        "leaky rectifier (slope 0.01 unless given)",
        "where($x(N, D) > 0, $x(N, D), slope * $x(N, D))",
        "where($x(N, D) > 0, 1, slope)",
        "slope is a setting, not a parameter: it has no gradient",
    ),
    "sigmoid": _elementwise(
        "logistic sigmoid",
        "1 / (1 + exp(-$x(N, D)))",
        "$out(N, D) * (1 - $out(N, D))",
        "sigmoid' is written from the output; sigmoid(x) * (1 - x) is the classic slip",
    ),
    "tanh": _elementwise(
        "hyperbolic tangent", "tanh($x(N, D))", "(1 - $out(N, D)**2)", "tanh' is written from the output"
    ),
    "softplus": _elementwise(
        "softplus", "log(1 + exp($x(N, D)))", "sigmoid($x(N, D))", "the derivative of softplus is the sigmoid"
    ),
    "gelu": _elementwise(
        "GELU, tanh form",
        "0.5 * $x(N, D) * (1 + tanh(sqrt(2/pi) * ($x(N, D) + 0.044715 * $x(N, D)**3)))",
        "$gelu'(x)(N, D)",
        "gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t**2) sqrt(2/pi) (1 + 3 * 0.044715 x**2), t = tanh(...)",
    ),
    "softmax": LayerTable(
        "softmax along an axis (here the last)",
        "bp_manual.layers.softmax",
        {"N": ("rows", 4), "K": ("entries normalised over", 3)},
        ("$s(N, K) = exp($x(N, K) - max) / sum(exp($x(N, K) - max), axis=-1)",),
        ("$dx(N, K) = $s(N, K) * ($dout(N, K) - sum($dout(N, K) * $s(N, K), axis=-1))",),
        notes=("the full Jacobian, not its diagonal s * (1 - s)",),
    ),
    "log_softmax": LayerTable(
        "log-softmax along an axis (here the last)",
        "bp_manual.layers.softmax",
        {"N": ("rows", 4), "K": ("entries normalised over", 3)},
        ("$y(N, K) = $x(N, K) - logsumexp($x(N, K), axis=-1)",),
        ("$dx(N, K) = $dout(N, K) - exp($y(N, K)) * sum($dout(N, K), axis=-1)",),
    ),
    "cross_entropy": LayerTable(
        "mean cross-entropy on integer labels (F.cross_entropy)",
        "bp_manual.layers.softmax",
        {"N": ("rows", 4), "K": ("classes", 3)},
        (
            "$Y(N, K) = onehot($labels(N), K)",
            "$L() = -sum($Y(N, K) * log_softmax($logits(N, K))) / N",
        ),
        ("$dlogits(N, K) = $dout() * (softmax($logits(N, K)) - $Y(N, K)) / N",),
        notes=("the 1/N of the mean is in dlogits; labels get no gradient",),
    ),
    "conv2d": LayerTable(
        "2-D convolution (cross-correlation, F.conv2d)",
        "bp_manual.layers.conv",
        _CONV_DIMS,
        (
            "$x_pad(N, C, Hp, Wp) = pad($x(N, C, H, W), padding)",
            "$cols(C, KH, KW, N, OH, OW) = windows($x_pad(N, C, Hp, Wp), stride)",
            "$out(N, F, OH, OW) = tensordot($w(F, C, KH, KW), $cols(C, KH, KW, N, OH, OW)) + $b(F)",
        ),
        (
            "$db(F) = $dout(N, F, OH, OW).sum(axis=(0, 2, 3))",
            "$dw(F, C, KH, KW) = tensordot($dout(N, F, OH, OW), $cols(C, KH, KW, N, OH, OW))",
            "$dout_dilated(N, F, Hd, Wd) = dilate($dout(N, F, OH, OW), stride)",
            "$w_flipped(C, F, KH, KW) = flip($w(F, C, KH, KW).transpose(1, 0, 2, 3))",
            "$dx_pad(N, C, Hp, Wp) = full_correlation($dout_dilated(N, F, Hd, Wd), $w_flipped(C, F, KH, KW))",
            "$dx(N, C, H, W) = $dx_pad(N, C, Hp, Wp)[:, :, padding : padding + H, padding : padding + W]",
        ),
        (
            ("Hp", "H + 2 padding", lambda d: d["H"] + 2 * d["padding"]),
            ("Wp", "W + 2 padding", lambda d: d["W"] + 2 * d["padding"]),
            ("OH", "(Hp - KH) // stride + 1", lambda d: (d["H"] + 2 * d["padding"] - d["KH"]) // d["stride"] + 1),
            ("OW", "(Wp - KW) // stride + 1", lambda d: (d["W"] + 2 * d["padding"] - d["KW"]) // d["stride"] + 1),
            (
                "Hd",
                "stride (OH - 1) + 1",
                lambda d: d["stride"] * ((d["H"] + 2 * d["padding"] - d["KH"]) // d["stride"]) + 1,
            ),
            (
                "Wd",
                "stride (OW - 1) + 1",
                lambda d: d["stride"] * ((d["W"] + 2 * d["padding"] - d["KW"]) // d["stride"]) + 1,
            ),
        ),
        (
            "cols[c, i, j, n, oh, ow] = x_pad[n, c, stride*oh + i, stride*ow + j]",
            "dx is the FULL correlation of dout with the FLIPPED kernel (channels swapped), then cropped",
        ),
    ),
    "max_pool2d": LayerTable(
        "max pooling (F.max_pool2d)",
        "bp_manual.layers.pool",
        _POOL_DIMS,
        (
            "$cols(C, k*k, N, OH, OW) = windows($x(N, C, H, W), s)",
            "$out(N, C, OH, OW) = $cols(C, k*k, N, OH, OW).max(axis=1).transpose(1, 0, 2, 3)",
            "$argmax(C, N, OH, OW) = $cols(C, k*k, N, OH, OW).argmax(axis=1)",
        ),
        (
            "$dcols(C, k*k, N, OH, OW) = where(position == $argmax(C, N, OH, OW), $dout(N, C, OH, OW), 0)",
            "$dx(N, C, H, W) = add_windows($dcols(C, k*k, N, OH, OW), s)",
        ),
        _POOL_OUT,
        ("add_windows ADDS (+=) where windows overlap (s < k); writing (=) keeps only the last window's share",),
    ),
    "avg_pool2d": LayerTable(
        "average pooling (F.avg_pool2d)",
        "bp_manual.layers.pool",
        _POOL_DIMS,
        (
            "$cols(C, k, k, N, OH, OW) = windows($x(N, C, H, W), s)",
            "$out(N, C, OH, OW) = $cols(C, k, k, N, OH, OW).sum(axis=(1, 2)).transpose(1, 0, 2, 3) / k**2",
        ),
        (
            "$dcols(C, k, k, N, OH, OW) = broadcast($dout(N, C, OH, OW).transpose(1, 0, 2, 3) / k**2)",
            "$dx(N, C, H, W) = add_windows($dcols(C, k, k, N, OH, OW), s)",
        ),
        _POOL_OUT,
        ("every element of a window gets 1/k**2 of its dout; shared elements add the shares of all their windows",),
    ),
    "batch_norm": LayerTable(
        "batch normalisation, batch statistics (x (N, D); for (N, C, H, W) per channel over N, H, W)",
        "bp_manual.layers.norm",
        {"N": ("samples", 5), "D": ("features", 3)},
        (
            "$mu(1, D) = $x(N, D).mean(axis=0)",
            "$var(1, D) = (($x(N, D) - $mu(1, D))**2).mean(axis=0)",
            "$inv_std(1, D) = 1 / sqrt($var(1, D) + eps)",
            "$xhat(N, D) = ($x(N, D) - $mu(1, D)) * $inv_std(1, D)",
            "$out(N, D) = $gamma(D) * $xhat(N, D) + $beta(D)",
        ),
        (
            *_NORM_BACKWARD,
            "$dx(N, D) = $inv_std(1, D) * ($dxhat(N, D) - $dxhat(N, D).mean(axis=0) "
            "- $xhat(N, D) * ($dxhat(N, D) * $xhat(N, D)).mean(axis=0))",
        ),
        notes=(
            "dx has three terms, the three paths from x to the loss: through xhat, through mu, through var",
            "dxhat = dout * gamma: with gamma = 1 a missing gamma goes unseen",
        ),
    ),
    "layer_norm": LayerTable(
        "layer normalisation over the last axis (F.layer_norm)",
        "bp_manual.layers.norm",
        {"N": ("rows (any leading shape)", 4), "D": ("features normalised over", 3)},
        (
            "$mu(N, 1) = $x(N, D).mean(axis=-1)",
            "$var(N, 1) = (($x(N, D) - $mu(N, 1))**2).mean(axis=-1)",
            "$inv_std(N, 1) = 1 / sqrt($var(N, 1) + eps)",
            "$xhat(N, D) = ($x(N, D) - $mu(N, 1)) * $inv_std(N, 1)",
            "$out(N, D) = $gamma(D) * $xhat(N, D) + $beta(D)",
        ),
        (
            *_NORM_BACKWARD,
            "$dx(N, D) = $inv_std(N, 1) * ($dxhat(N, D) - $dxhat(N, D).mean(axis=-1) "
            "- $xhat(N, D) * ($dxhat(N, D) * $xhat(N, D)).mean(axis=-1))",
        ),
        notes=("the means of dx run over each row's own D entries; dgamma and dbeta sum over the rows",),
    ),
    "dropout": LayerTable(
        "inverted dropout, the mask an input",
        "bp_manual.layers.dropout",
        {"N": ("rows (any shape)", 4), "D": ("features", 3)},
        ("$out(N, D) = $x(N, D) * $mask(N, D) / (1 - p)",),
        ("$dx(N, D) = $dout(N, D) * $mask(N, D) / (1 - p)",),
        notes=("the backward uses the forward's mask: a new mask per call fails every gradient check",),
    ),
    "embedding": LayerTable(
        "embedding lookup (F.embedding)",
        "bp_manual.layers.embedding",
        {"N": ("sequences (any shape of indices)", 2), "T": ("positions", 5), "V": ("rows of E", 7), "D": ("dims", 3)},
        ("$out(N, T, D) = $E(V, D)[$indices(N, T)]",),
        ("$dE(V, D) = scatter_add(zeros(V, D), $indices(N, T), $dout(N, T, D))",),
        notes=("repeated indices ADD (np.add.at); dE[indices] += dout is buffered and loses repeats",),
    ),
    "rnn": LayerTable(
        "tanh RNN over a sequence, every hidden state returned",
        "bp_manual.layers.recurrent",
        _RNN_DIMS,
        (
            "$a_t(N, H) = $x_t(N, D) @ $Wx.T(D, H) + $h_prev(N, H) @ $Wh.T(H, H) + $b(H)",
            "$h_t(N, H) = tanh($a_t(N, H))",
            "$h(N, T, H) = stack of $h_t(N, H) over t",
        ),
        (
            "$dh_t(N, H) = $dout_t(N, H) + $dh_next(N, H)",
            "$da_t(N, H) = $dh_t(N, H) * (1 - $h_t(N, H)**2)",
            "$dh_next(N, H) <- $da_t(N, H) @ $Wh(H, H)",
            *_RNN_SUMS,
            "$dh0(N, H) = $dh_next(N, H) after step 0",
        ),
        (_NT, ("G", "H (one gate)", lambda d: d["H"])),
        ("the time carry: dh_t adds dh_next, the gradient arriving from step t+1; dout_t alone is the classic slip",),
    ),
    "lstm": LayerTable(
        "LSTM, gates i, f, g, o (torch.nn.LSTM), every hidden state returned",
        "bp_manual.layers.recurrent",
        _RNN_DIMS,
        (
            "$a_t(N, 4H) = $x_t(N, D) @ $Wx.T(D, 4H) + $h_prev(N, H) @ $Wh.T(H, 4H) + $b(4H)",
            "$i(N, H) = sigmoid($a_t(N, 4H)[:, :H])",
            "$f(N, H) = sigmoid($a_t(N, 4H)[:, H : 2H])",
            "$g(N, H) = tanh($a_t(N, 4H)[:, 2H : 3H])",
            "$o(N, H) = sigmoid($a_t(N, 4H)[:, 3H:])",
            "$c_t(N, H) = $f(N, H) * $c_prev(N, H) + $i(N, H) * $g(N, H)",
            "$h_t(N, H) = $o(N, H) * tanh($c_t(N, H))",
        ),
        (
            "$dh_t(N, H) = $dout_t(N, H) + $dh_next(N, H)",
            "$dc(N, H) = $dc_next(N, H) + $dh_t(N, H) * $o(N, H) * (1 - tanh($c_t(N, H))**2)",
            "$da_t(N, 4H) = [dc g i(1-i), dc c_prev f(1-f), dc i (1-g**2), dh_t tanh(c_t) o(1-o)]",
            "$dc_next(N, H) <- $dc(N, H) * $f(N, H)",
            "$dh_next(N, H) <- $da_t(N, 4H) @ $Wh(4H, H)",
            *_RNN_SUMS,
            "$dh0(N, H) = $dh_next(N, H) after step 0",
            "$dc0(N, H) = $dc_next(N, H) after step 0",
        ),
        (_NT, ("4H", "4 H (four gates)", lambda d: 4 * d["H"]), ("G", "4H", lambda d: 4 * d["H"])),
        ("two carries: dh_next through h_{t+1} and dc_next through c_{t+1} = f * c_t + ...",),
    ),
    "attention": LayerTable(
        "scaled dot-product attention (F.scaled_dot_product_attention)",
        "bp_manual.layers.attention",
        {
            "N": ("batch", 2),
            "T": ("queries", 4),
            "S": ("keys", 5),
            "d": ("query/key width", 3),
            "d_v": ("value width", 6),
        },
        (
            "$scores(N, T, S) = $q(N, T, d) @ $k.T(N, d, S) / sqrt(d)",
            "$P(N, T, S) = softmax($scores(N, T, S), axis=-1)",
            "$out(N, T, d_v) = $P(N, T, S) @ $v(N, S, d_v)",
        ),
        (
            "$dv(N, S, d_v) = $P.T(N, S, T) @ $dout(N, T, d_v)",
            "$dP(N, T, S) = $dout(N, T, d_v) @ $v.T(N, d_v, S)",
            "$dscores(N, T, S) = $P(N, T, S) * ($dP(N, T, S) - sum($dP(N, T, S) * $P(N, T, S), axis=-1))",
            "$dq(N, T, d) = $dscores(N, T, S) @ $k(N, S, d) / sqrt(d)",
            "$dk(N, S, d) = $dscores.T(N, S, T) @ $q(N, T, d) / sqrt(d)",
        ),
        notes=(
            "causal: scores above the diagonal are -inf, so P and dscores are exactly 0 there",
            "the 1/sqrt(d) of the forward appears in both dq and dk",
        ),
    ),
    "flatten": LayerTable(
        "flatten (torch.flatten, start_dim=1)",
        "bp_manual.layers.flatten",
        {"N": ("images", 2), "C": ("channels", 3), "H": ("rows", 4), "W": ("columns", 5)},
        ("$out(N, C*H*W) = $x(N, C, H, W).reshape(N, C*H*W)",),
        ("$dx(N, C, H, W) = $dout(N, C*H*W).reshape(N, C, H, W)",),
        (("C*H*W", "C * H * W", lambda d: d["C"] * d["H"] * d["W"]),),
        ("unflatten in the forward's (row-major, channels-first) order; channels last puts gradients on other pixels",),
    ),
}
