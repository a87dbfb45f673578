"""Fuzz the image loader: any bytes -> `load_gray` -> `preprocess_gray` (and `preprocess_number`).

Every input must give a uint8 (H, W) image and then a 28x28 model input in [0, 1] or a
NoDigit, or an InputError naming the file. Any other exception, or a crash, is a bug.
Pillow's Python parts (the format plugins parse headers in Python) and edge-digits are
instrumented for coverage.

    .venv/bin/python fuzz/fuzz_image.py -max_total_time=60
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris
import numpy as np

with atheris.instrument_imports():
    from PIL import Image

    Image.init()  # import every format plugin now, so that they are instrumented too
    from edge_digits.runtime.core.number import preprocess_number
    from edge_digits.runtime.core.preprocess import NoDigit, load_gray, preprocess_gray
    from edge_digits.runtime.errors import EdgeDigitsWarning, InputError

from common import fuzz, image_seeds

# Small, so that each run is fast; the limit itself is tested in tests/test_hostile.py.
MAX_PIXELS = 1_000_000
INPUT = Path(tempfile.mkdtemp(prefix="edge-digits-fuzz-")) / "input"


def test_one_input(data: bytes) -> None:
    INPUT.write_bytes(data)
    try:
        gray = load_gray(INPUT, MAX_PIXELS)
    except InputError as error:
        message = str(error)
        assert message.startswith(f"{INPUT}: ") and "\n" not in message, message
        return
    assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.size > 0, (gray.dtype, gray.shape)
    out = preprocess_gray(gray)
    if not isinstance(out, NoDigit):
        check_model_input(out)
    if gray.size <= 250_000:  # `classify --number`: rows of digits
        for row in preprocess_number(gray):
            for group in row:
                for reading in group:
                    for digit, _ in reading:
                        check_model_input(digit)


def check_model_input(out: np.ndarray) -> None:
    assert out.shape == (28, 28) and out.dtype == np.float32, (out.shape, out.dtype)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


if __name__ == "__main__":
    os.environ.pop("EDGE_DIGITS_MAX_PIXELS", None)
    # A warning from edge-digits' own code (numpy overflow...) would reach the user's terminal.
    warnings.filterwarnings("error", module=r"edge_digits\.")
    warnings.simplefilter("ignore", EdgeDigitsWarning)  # "corrupt EXIF...; read anyway"
    fuzz("image", test_one_input, image_seeds())
    sys.exit(0)
