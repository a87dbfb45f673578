"""`Trace`: what one preprocessing run did, recorded as it happens, for `--debug-dir`.

    trace = Trace()
    inputs = preprocess_gray(gray, settings, trace=trace)   # or Classifier.read_number(gray, trace=trace)
    trace.inputs                                            # exactly what the model was given

`preprocess_gray`, `preprocess_number` and `Classifier.read_number` (and the steps they call:
`photo.analyse`, `photo.find_digit`, `number.find_number`) fill in a trace when one is passed;
by default none is, and nothing is recorded. `debug.write_debug` only draws a trace: it never
runs a step itself, so the pictures show the run that gave the answer, not a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A rectangle in pixels: x, y (top left), width, height. The one definition: photo, number and
# the camera (live/watch.py) import it.
Box = tuple[int, int, int, int]


@dataclass
class Trace:
    """One preprocessing run. A field stays empty (None, []) when the run never got there:
    a picture without ink has no ink map, a refused mark has no model input.

    Fields:
        gray: the picture as analysed: uint8, reduced to `photo.WORK_SIDE` at most; an
            MNIST-like input as it was passed through.
        scale: picture pixels per analysed pixel, (x, y).
        passed_through: the input was already model-ready (MNIST-like): no analysis.
        ink: uint8 ink strength (0 paper, 255 full ink) at the analysed size.
        labels: int32 ink-blob label per analysed pixel (0: none).
        kept: labels of the blobs the digit(s) were made of.
        set_aside: labels of the other blobs (page edges, stray marks, specks beside rows);
            specks and ruled lines dropped before that are in neither.
        boxes: the mark(s) found, in the picture's pixels, in reading order; for a number,
            the digits of the reading chosen.
        inputs: the model input(s) produced, one per box, float32 (size, size); empty when
            the mark found was refused (too flat, too small) or nothing was found.
        reason: why there is no answer (NoDigit's reason, "no digits found").
    """

    gray: np.ndarray | None = None
    scale: tuple[float, float] = (1.0, 1.0)
    passed_through: bool = False
    ink: np.ndarray | None = None
    labels: np.ndarray | None = None
    kept: list[int] = field(default_factory=list)
    set_aside: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    inputs: list[np.ndarray] = field(default_factory=list)
    reason: str | None = None
