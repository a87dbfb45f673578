"""`--debug-dir`: the intermediate pictures of preprocessing, so a user can see why a
reading failed. For each input, in reading order of the steps:

    NNNN-name.1-gray.png     the picture as analysed (grayscale, reduced)
    NNNN-name.2-ink.png      ink strength after polarity and illumination flattening
    NNNN-name.3-blobs.png    ink blobs: chosen (white), set aside (grey)
    NNNN-name.4-found.png    the analysed picture with the chosen digit(s) boxed
    NNNN-name.5-input.png    the 28x28 input(s) the model saw, enlarged 8x
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..files.atomic import atomic_path
from .classifier import NumberReading
from .photo import analyse, choose_digit, crop_blobs, reduce
from .preprocess import is_mnist_like, model_input
from .sidecar import PreprocessSettings

ENLARGE = 8


def _write(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"OpenCV could not encode {path.name}")


def _enlarged(inputs: list[np.ndarray], settings: PreprocessSettings) -> np.ndarray:
    tiles = [np.clip(x / settings.scale, 0, 255).astype(np.uint8) for x in inputs]
    strip = np.hstack([np.pad(t, 1, constant_values=128) for t in tiles])
    return cv2.resize(strip, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_NEAREST)


def write_debug(
    gray: np.ndarray,
    settings: PreprocessSettings,
    folder: Path,
    name: str,
    *,
    number: NumberReading | None = None,
) -> None:
    """Write the pictures listed in the module doc for one input into `folder`; `number` is
    the reading of a `--number` input (its digits' boxes and inputs are shown)."""
    stem = Path(folder) / name
    reduced = reduce(gray)
    _write(stem.with_name(f"{name}.1-gray.png"), reduced)
    if is_mnist_like(gray, settings) and number is None:  # passed through unchanged
        _write(stem.with_name(f"{name}.5-input.png"), _enlarged([gray * settings.scale], settings))
        return
    analysed = analyse(gray)
    if analysed is None:
        return
    _write(stem.with_name(f"{name}.2-ink.png"), analysed.ink)
    if number is not None:
        boxes = [digit.box for digit in number.digits]
        inputs = [digit.inputs for digit in number.digits if digit.inputs is not None]
        chosen = {b.index for b in analysed.blobs if not b.touches_border}
    else:
        blobs = choose_digit(analysed.blobs, analysed.ink.shape) if analysed.blobs else []
        chosen = {b.index for b in blobs}
        if blobs:
            found = crop_blobs(analysed, blobs)
            boxes = [found.box] if found else []
            inputs = [model_input(found.crop, settings)] if found else []
        else:
            boxes, inputs = [], []
    shown = np.zeros(analysed.labels.shape, np.uint8)
    shown[np.isin(analysed.labels, [b.index for b in analysed.blobs])] = 110
    shown[np.isin(analysed.labels, list(chosen))] = 255
    _write(stem.with_name(f"{name}.3-blobs.png"), shown)
    boxed = cv2.cvtColor(reduced, cv2.COLOR_GRAY2BGR)
    fx, fy = analysed.scale
    for x, y, w, h in boxes:
        top_left = (round(x / fx), round(y / fy))
        bottom_right = (round((x + w) / fx), round((y + h) / fy))
        cv2.rectangle(boxed, top_left, bottom_right, (0, 0, 255), 2)
    _write(stem.with_name(f"{name}.4-found.png"), boxed)
    if inputs:
        _write(stem.with_name(f"{name}.5-input.png"), _enlarged(inputs, settings))
