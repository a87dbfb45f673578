"""edge-digits runtime: classify handwritten digits with a TFLite interpreter only.

Never imports TensorFlow, Keras, `edge_digits.train` or `edge_digits.convert`.

The public names are loaded on first use, so that importing a submodule (the CLI, to print
`--help` or to report that numpy cannot be loaded) does not load numpy and the classifier.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.classifier import Classifier, ClassifierOptions, Prediction
    from .errors import EdgeDigitsError

_LAZY = {
    "Classifier": ".core.classifier",
    "ClassifierOptions": ".core.classifier",
    "Prediction": ".core.classifier",
    "EdgeDigitsError": ".errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    # importlib.metadata costs ~30 ms at start-up; only `--version` and sidecars need it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("edge-digits")
        except PackageNotFoundError:  # a source tree that is not installed
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Classifier", "ClassifierOptions", "EdgeDigitsError", "Prediction", "__version__"]
