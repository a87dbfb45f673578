"""`--debug-dir`: the intermediate pictures of preprocessing, so a user can see why a
reading failed. For each input, in reading order of the steps:

    NNNN-name.1-gray.png     the picture as analysed (grayscale, reduced)
    NNNN-name.2-ink.png      ink strength after polarity and illumination flattening
    NNNN-name.3-blobs.png    ink blobs: chosen (white), set aside (grey)
    NNNN-name.4-found.png    the analysed picture with the chosen digit(s) boxed
    NNNN-name.5-input.png    the 28x28 input(s) the model saw, enlarged 8x

They are drawn from the `Trace` of the run that gave the answer, never by running a step
again; a picture is written only when the run got that far: an input passed through as
MNIST-like has no ink map, blobs or box, and no `5-input` is written when no input was
produced (no ink, or a mark refused as a dash or a speck: `label: null`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..files.atomic import atomic_path
from .sidecar import PreprocessSettings
from .trace import Trace

ENLARGE = 8
CHOSEN, SET_ASIDE = 255, 110  # grey levels of the blobs picture


def _write(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"OpenCV could not encode {path.name}")


def enlarged(inputs: list[np.ndarray], settings: PreprocessSettings) -> np.ndarray:
    """Model inputs side by side as uint8 pixels (0-255), each framed by 1 px of grey (128),
    enlarged ENLARGE times (nearest neighbour: each input pixel is an 8x8 square). Pixels
    are rounded, not truncated: `scale_pixels` of a tile gives back the input exactly."""
    tiles = [np.clip(np.rint(x / settings.scale), 0, 255).astype(np.uint8) for x in inputs]
    strip = np.hstack([np.pad(t, 1, constant_values=128) for t in tiles])
    return cv2.resize(strip, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_NEAREST)


def write_debug(trace: Trace, settings: PreprocessSettings, folder: Path, name: str) -> None:
    """Draw `trace` as the pictures listed in the module doc, `folder`/`name`.N-step.png,
    each only when the trace holds what it shows."""
    stem = Path(folder) / name
    if trace.gray is not None:
        _write(stem.with_name(f"{name}.1-gray.png"), trace.gray)
    if trace.ink is not None:
        _write(stem.with_name(f"{name}.2-ink.png"), trace.ink)
    if trace.labels is not None:
        shown = np.zeros(trace.labels.shape, np.uint8)
        shown[np.isin(trace.labels, trace.set_aside)] = SET_ASIDE
        shown[np.isin(trace.labels, trace.kept)] = CHOSEN
        _write(stem.with_name(f"{name}.3-blobs.png"), shown)
    if trace.gray is not None and trace.ink is not None:
        boxed = cv2.cvtColor(trace.gray, cv2.COLOR_GRAY2BGR)
        fx, fy = trace.scale
        for x, y, w, h in trace.boxes:
            top_left = (round(x / fx), round(y / fy))
            bottom_right = (round((x + w) / fx), round((y + h) / fy))
            cv2.rectangle(boxed, top_left, bottom_right, (0, 0, 255), 2)
        _write(stem.with_name(f"{name}.4-found.png"), boxed)
    if trace.inputs:
        _write(stem.with_name(f"{name}.5-input.png"), enlarged(trace.inputs, settings))
