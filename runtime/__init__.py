"""edge-digits runtime: classify handwritten digits with a TFLite interpreter only.

Never imports TensorFlow, Keras, `edge_digits.train` or `edge_digits.convert`.
"""

from __future__ import annotations

from typing import Any

from .classifier import Classifier, ClassifierOptions, Prediction
from .errors import EdgeDigitsError


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~30 ms at start-up; only `--version` and sidecars need it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("edge-digits")
        except PackageNotFoundError:  # a source tree that is not installed
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Classifier", "ClassifierOptions", "EdgeDigitsError", "Prediction", "__version__"]
