"""edge-digits runtime: classify handwritten digits with a TFLite interpreter only.

Never imports TensorFlow, Keras, `edge_digits.train` or `edge_digits.convert`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edge-digits")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from .classifier import Classifier, ClassifierOptions, Prediction
from .errors import EdgeDigitsError

__all__ = ["Classifier", "ClassifierOptions", "EdgeDigitsError", "Prediction", "__version__"]
