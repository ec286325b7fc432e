"""The JAX twin of :mod:`bp_manual.layers.conv`: ``conv2d`` through ``lax.conv_general_dilated``.

What this module is for: an independent forward pass of the 2-D convolution
(cross-correlation, PyTorch's layout), differentiated by ``jax.vjp`` to give
the gradients the hand derivation is held to.

What it is not for: calling :mod:`bp_manual` (never), or checking arguments
(the hand-written forward does that; this one trusts its caller).
"""

from __future__ import annotations

import jax
from jax import lax


def conv2d(x: jax.Array, w: jax.Array, b: jax.Array, stride: int = 1, padding: int = 0) -> jax.Array:
    """``out[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f,c,i,j] x_pad[n,c,stride*oh+i,stride*ow+j]``.

    ``x (N, C, H, W)``, ``w (F, C, KH, KW)``, ``b (F,)`` -> ``(N, F, OH, OW)``,
    ``OH = (H + 2 padding - KH) // stride + 1``. XLA's convolution is a
    cross-correlation, like ``torch.nn.functional.conv2d``; ``HIGHEST``
    precision so float32 is not computed in a reduced format on accelerators.
    """
    out = lax.conv_general_dilated(
        x,
        w,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=lax.Precision.HIGHEST,
    )
    return out + b[None, :, None, None]
