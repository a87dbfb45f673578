"""Fuzz the model loader: any bytes as a `.tflite` -> `Classifier` -> `predict`.

Every input must give a working classifier whose scores are finite probabilities, or a
ModelError naming the file. Any other exception, or a crash (tflite-runtime 2.14 does not
verify flatbuffers: `runtime/core/flatbuffer.py` must refuse what would crash it), is a bug.
The interpreter is native and not instrumented; the checks in front of it are.

    .venv/bin/python fuzz/fuzz_model.py -max_total_time=60
    EDGE_DIGITS_BACKEND=tflite-runtime .venv-tflite214/bin/python fuzz/fuzz_model.py -max_total_time=60
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports():
    from edge_digits.runtime.core import interpreter as backend
    from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
    from edge_digits.runtime.errors import EdgeDigitsWarning, ModelError

from common import fuzz, model_seeds

# The runtime hides the interpreter's native chatter by redirecting file descriptor 2 while
# it loads a model; a native crash there would take libFuzzer's report with it. Keep fd 2.
backend.quiet_native_info = contextlib.nullcontext

MODEL = Path(tempfile.mkdtemp(prefix="edge-digits-fuzz-")) / "model.tflite"  # no sidecar
IMAGES = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)


def test_one_input(data: bytes) -> None:
    MODEL.write_bytes(data)
    try:
        classifier = Classifier(ClassifierOptions(model=MODEL, num_threads=1))
        scores = classifier.predict(IMAGES)
    except ModelError as error:
        message = str(error)
        assert message.startswith(f"{MODEL}: ") and "\n" not in message, message
        return
    assert scores.shape == (3, 10), scores.shape
    assert np.isfinite(scores).all() and (scores >= 0).all(), scores
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=0.06)


if __name__ == "__main__":
    # A warning from edge-digits' own code (numpy overflow...) would reach the user's terminal.
    warnings.filterwarnings("error", module=r"edge_digits\.")
    warnings.simplefilter("ignore", EdgeDigitsWarning)  # "no sidecar": expected here
    fuzz("model", test_one_input, model_seeds())
    sys.exit(0)
