"""Models built from :mod:`bp_manual.layers` and trained by the hand derivation alone (NumPy only).

What this package is for: the training loop of a :class:`bp_manual.layers.Sequential`
(:mod:`bp_manual.models.loop`), and the two models the ``bp train`` command
runs besides the dense network:

- :func:`train_digits_cnn` (``bp train --model cnn``): a small CNN on
  scikit-learn's digits as ``1 x 8 x 8`` images (:mod:`bp_manual.models.cnn`);
- :func:`train_zen_rnn` (``bp train --model rnn``): a character RNN on the Zen
  of Python from the standard library (:mod:`bp_manual.models.rnn`).

What it is not for: the dense network (:mod:`bp_manual.train`, :class:`bp_manual.MLP`),
or importing JAX.
"""

from bp_manual.models.cnn import digits_cnn, digits_images, shift_images, train_digits_cnn
from bp_manual.models.loop import SCHEDULES, blas_threads, constant, cosine, evaluate, fit_model
from bp_manual.models.result import TrainedModel
from bp_manual.models.rnn import char_windows, entropies, train_zen_rnn, zen_of_python, zen_rnn

__all__ = [
    "SCHEDULES",
    "TrainedModel",
    "blas_threads",
    "char_windows",
    "constant",
    "cosine",
    "digits_cnn",
    "digits_images",
    "entropies",
    "evaluate",
    "fit_model",
    "shift_images",
    "train_digits_cnn",
    "train_zen_rnn",
    "zen_of_python",
    "zen_rnn",
]
