"""bp_manual: backpropagation derived by hand, in NumPy only.

Importing this package never imports JAX (a test checks it). Conventions,
shared with :mod:`bp_autodiff`:

- ``W`` of layer ``l`` is ``(n_out, n_in)``; ``b`` is ``(n_out,)``, absent when
  ``bias=False``; params is a list with one ``{"W", "b"}`` dict per layer.
- ``X`` is ``(n_samples, n_in)`` (a 1-D ``X`` is one sample); ``Y`` is
  ``(n_samples, n_out)``, or integer labels ``(n_samples,)`` for ``cross_entropy``.
- ``Z = X @ W.T + b``; losses are batch means; float64 by default, float32 on
  request; results keep the params' dtype.

Start with :func:`loss_and_grads` (:mod:`bp_manual.network`) and
``docs/derivation.md``.
"""

from bp_manual.activations import HIDDEN
from bp_manual.bpnetwork import BPNetwork
from bp_manual.initializers import (
    INITIALIZERS,
    Params,
    ParamsLike,
    init_params,
    normal,
    variance_scaling,
)
from bp_manual.losses import LOSSES, OUTPUTS, VALID_PAIRS
from bp_manual.mlp import MLP
from bp_manual.network import (
    backward,
    forward,
    loss,
    loss_and_grads,
    loss_grads_and_deltas,
    predict,
)
from bp_manual.optim import OPTIMIZERS, DivergedError, Optimizer, adam, momentum, nesterov, sgd, sgd_step
from bp_manual.spec import NetworkSpec
from bp_manual.train import History, fit, train_step

__all__ = [
    "HIDDEN",
    "INITIALIZERS",
    "LOSSES",
    "MLP",
    "OPTIMIZERS",
    "OUTPUTS",
    "VALID_PAIRS",
    "BPNetwork",
    "DivergedError",
    "History",
    "NetworkSpec",
    "Optimizer",
    "Params",
    "ParamsLike",
    "adam",
    "backward",
    "fit",
    "forward",
    "init_params",
    "loss",
    "loss_and_grads",
    "loss_grads_and_deltas",
    "momentum",
    "nesterov",
    "normal",
    "predict",
    "sgd",
    "sgd_step",
    "train_step",
    "variance_scaling",
]
__version__ = "0.1.0"
