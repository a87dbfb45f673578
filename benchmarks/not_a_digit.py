"""Not a digit: does the model refuse what is not a digit, and still read every digit right?

Every figure is measured at the model's own operating point (its sidecar's `min_score`; the
`EDGE_DIGITS_MIN_SCORE` variable is removed from the CLI's environment), through the path
`edge-digits classify` takes: `preprocess_gray` then `Classifier.classify_inputs`, or the CLI
itself. A preprocessing `NoDigit` counts as refused (the CLI answers label null for it).

1. Non-digits refused, per kind: the project's own negatives (`train/pictures.py`,
   `negative(kind, ...)` for each of `NEGATIVE_KINDS`, with seeds training never uses:
   `default_rng([20261201, k])`; crossed-out digits and pieces of digits are made from MNIST
   *test* digits; photographs and textures are cropped from the ones training holds out,
   `held_out=True`), and, for honesty, two kinds the training generator never makes: letters
   and symbols in Pillow's own bundled font (`ImageFont.load_default`, not a training font)
   drawn dark on paper photos, and hand-drawn letters made of a few wobbly, slanted polylines
   (A E F H K M N T V W X Y Z k h r u v w x y: nothing like O, I, l or 1). Every one counts
   towards the target; each kind also says how many reached the model as a lone thin
   straight stroke or a ring (`pictures.reads_as_digit`: a 1 or a 0 to any reader, which
   training does not teach as "not a digit") and how many of the others were refused.
2. Digits accepted and right (a null is wrong): (a) the MNIST test set as PNG files through
   `edge-digits classify --json FOLDER`; (b) real photos (`--realdigits`: files named
   `*label<d>*`, or a `labels.csv` of filename,label,kind, whose `multi-digit` pictures are
   read with `classify --number` and compared to the label string); (c) MNIST test digits
   rendered by synthetic.py (photo, paint, canvas, board); (d) rows of 3-6 digits
   (`synthetic.row`) read with `Classifier.read_number`, right when `text` is exactly the
   digits; (e) low-resolution digits (about 8 px tall, INTER_AREA, then enlarged 3-8x,
   bilinear or bicubic, lightly blurred, dark on light and light on dark), and for reference
   the seed tutorials' "plain resize" of the same pictures (straight to 28x28, inverted if
   light, `predict` without our preprocessing); (f) `edge-digits camera` on the example video.
3. The trade-off: for thresholds 0.00-0.99 on the top digit's probability (the `min_score`
   rule: accepted when the none class does not win and the digit scores at least the
   threshold; a NoDigit is always refused), digits accepted and right (MNIST test, rendered
   and low-resolution) against non-digits refused, from probabilities predicted once.
4. Scores: ECE (15 bins) on the MNIST test set with the model as shipped, scored by
   `evaluate` as `convert` scores it; how many distinct top scores it gives (as printed, 6
   decimals) and the share of the most common one.
5. Targets, each with its measured value and whether it is met. Latency is measured by
   benchmarks/latency.py; a `Classifier.predict` batch-1 p50 is recorded here as an indication.

    .venv/bin/python benchmarks/not_a_digit.py [--model M] [--quick] [--realdigits DIR] [--out DIR]
                                               [--workers N]

Writes not_a_digit.json, not_a_digit.png (the trade-off) and not_a_digit_refused.png (non-digits
refused and wrongly accepted, as the model saw them) to --out (benchmarks/results; with
--quick runs/bench/quick-results). Needs the `train` extra (the negatives are train's).
A few minutes on 2 cores; --quick well under one.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from edge_digits.runtime import Classifier, ClassifierOptions, Prediction
from edge_digits.runtime.core.evaluate import evaluate
from edge_digits.runtime.core.preprocess import NoDigit, model_input, pil_to_gray, preprocess_gray
from edge_digits.runtime.core.sidecar import PreprocessSettings
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from edge_digits.train import pictures
from environment import RESULTS, ROOT, header, percentiles, python_command, write_result

try:
    from edge_digits.runtime.core.evaluate import expected_calibration_error
except ImportError:  # an older runtime: the standard definition, as evaluate.py states it

    def expected_calibration_error(
        probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
    ) -> float:
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == labels
        which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
        return float(
            sum(
                abs(correct[which == b].mean() - confidence[which == b].mean())
                * np.mean(which == b)
                for b in range(bins)
                if (which == b).any()
            )
        )


SEED = 20261201  # never a training seed (training uses its --seed and --seed + 1000)
CHUNK = 50  # pictures per seeded chunk
QUICK_RESULTS = ROOT / "runs" / "bench" / "quick-results"
BIN = Path(sys.executable).parent
VIDEO = ROOT / "examples" / "camera_7_2_1.avi"
DEFAULT_REAL = ROOT / "examples" / "real"
CAMERA_EXPECTED = [7, 2, 1]
THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)  # 0.00 .. 0.99
ECE_BINS = 15
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
RENDERERS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "photo": synthetic.photo,
    "paint": synthetic.paint,
    "canvas": synthetic.canvas,
    "board": synthetic.board,
}
OWN_KINDS = tuple(pictures.NEGATIVE_KINDS)
UNSEEN_KINDS = ("pillow_font", "hand_letters")  # never made by the training generator

# Letters and symbols that are digits in all but name are not negatives (as train/pictures.py).
LOOKALIKES = set(getattr(pictures, "LOOKALIKES", "OoDQIlij|!/\\()[]{}1"))
# Pillow's bundled font (Aileron) draws these; its other symbols are an empty box.
FONT_GLYPHS = "".join(
    c
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#%&@$?*+=<>~^±"
    if c not in LOOKALIKES
)
# Hand-drawn letters: strokes in a unit box (x right, y down; lower case from y = 0.35).
HAND_LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.62), (0.78, 0.62)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.75, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.48), (0.75, 0.48)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.6)], [(0.3, 0.42), (1, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.6), (0.95, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "Z": [[(0, 0), (1, 0), (0, 1), (1, 1)]],
    "k": [[(0, 0), (0, 1)], [(0.8, 0.4), (0, 0.75)], [(0.3, 0.62), (0.9, 1)]],
    "h": [
        [(0, 0), (0, 1)],
        [(0, 0.62), (0.15, 0.45), (0.45, 0.38), (0.72, 0.47), (0.8, 0.68), (0.8, 1)],
    ],
    "r": [[(0, 0.35), (0, 1)], [(0, 0.62), (0.2, 0.42), (0.5, 0.35), (0.8, 0.4)]],
    "u": [
        [(0, 0.35), (0, 0.8), (0.15, 0.96), (0.45, 1), (0.72, 0.9), (0.85, 0.7)],
        [(0.85, 0.35), (0.85, 1)],
    ],
    "v": [[(0, 0.35), (0.5, 1), (1, 0.35)]],
    "w": [[(0, 0.35), (0.25, 1), (0.5, 0.55), (0.75, 1), (1, 0.35)]],
    "x": [[(0, 0.35), (1, 1)], [(1, 0.35), (0, 1)]],
    "y": [[(0, 0.35), (0.5, 0.8)], [(1, 0.35), (0.25, 1.3)]],
}


@dataclass(frozen=True)
class Counts:
    negatives: int  # per kind
    mnist: int
    rendered: int  # per renderer
    rows: int
    lowres: int


FULL = Counts(negatives=300, mnist=10_000, rendered=500, rows=300, lowres=1000)
QUICK = Counts(negatives=60, mnist=1000, rendered=100, rows=60, lowres=200)


# -- scores at one threshold or many ---------------------------------------------------------


@dataclass
class Scored:
    """What the classifier answered for a set of inputs, with every probability kept, so that
    any threshold can be applied afterwards without predicting again."""

    predictions: list[Prediction]
    digits: np.ndarray  # (N, 10) the digits' probabilities (0 where no input reached the model)
    none: np.ndarray  # (N,) the not-a-digit class's probability (0 for a model without one)
    no_digit: np.ndarray  # (N,) preprocessing found no digit (the model was not asked)

    @property
    def top(self) -> np.ndarray:
        return np.where(self.no_digit, -1.0, self.digits.max(axis=1))

    @property
    def best(self) -> np.ndarray:
        return self.digits.argmax(axis=1)

    @property
    def none_wins(self) -> np.ndarray:
        return ~self.no_digit & (self.none > self.top)

    def accepted(self, threshold: float) -> np.ndarray:
        """The classifier's rule with `threshold` as min_score (see Classifier._prediction)."""
        return ~self.no_digit & ~self.none_wins & (self.top >= threshold)

    def labels(self) -> list[int | None]:
        return [p.label for p in self.predictions]


def score(classifier: Classifier, inputs: Sequence[np.ndarray | NoDigit]) -> Scored:
    """One call of `classify_inputs` (one prediction per input) with every digit's score."""
    predictions = classifier.classify_inputs(list(inputs), top_k=10)
    digits = np.zeros((len(predictions), 10), np.float64)
    none = np.zeros(len(predictions), np.float64)
    for row, prediction in enumerate(predictions):
        for label, probability in prediction.top_k:
            digits[row, label] = probability
        none[row] = prediction.none_score or 0.0
    no_digit = np.array([not p.scored for p in predictions], bool)
    return Scored(predictions, digits, none, no_digit)


def concat(parts: Sequence[Scored]) -> Scored:
    return Scored(
        [p for part in parts for p in part.predictions],
        np.concatenate([part.digits for part in parts]),
        np.concatenate([part.none for part in parts]),
        np.concatenate([part.no_digit for part in parts]),
    )


def relative(path: Path) -> str:
    """A path as the record shows it: relative to the repository (../ for a sibling folder)."""
    return os.path.relpath(path, ROOT) if path.is_absolute() else str(path)


def share(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0


# -- pictures: paper, board, and the two kinds of negative training never makes --------------


def _trim(ink: np.ndarray, threshold: float = 0.1) -> np.ndarray | None:
    rows = np.flatnonzero(ink.max(axis=1) > threshold)
    cols = np.flatnonzero(ink.max(axis=0) > threshold)
    if rows.size < 2 or cols.size < 2:
        return None
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _lighting(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A gradient across the page and a soft shadow, as in synthetic.py (grayscale)."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1.0 - rng.uniform(0.05, 0.3) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    shadow = np.zeros(shape, np.float32)
    axes = (int(width * rng.uniform(0.2, 0.5)), int(height * rng.uniform(0.2, 0.4)))
    centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
    cv2.ellipse(shadow, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(width, height) / 15)
    return light * (1.0 - rng.uniform(0.05, 0.3) * shadow)


def _camera(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, sensor noise and JPEG compression: a phone photo's defects."""
    page = cv2.GaussianBlur(page.astype(np.float32), (0, 0), rng.uniform(0.3, 1.2))
    page = page + rng.normal(0, rng.uniform(1, 6), page.shape)
    picture = np.clip(page, 0, 255).astype(np.uint8)
    quality = int(rng.integers(55, 93))
    _ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _place(ink: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """The ink scaled to `height` px, with a margin of a quarter to twice its height."""
    scale = height / ink.shape[0]
    width = max(2, round(ink.shape[1] * scale))
    ink = cv2.resize(ink, (width, height), interpolation=cv2.INTER_AREA)
    margins = [int(rng.integers(height // 4 + 3, 2 * height + 4)) for _ in range(4)]
    return cv2.copyMakeBorder(ink, *margins, cv2.BORDER_CONSTANT, value=0)


def paper_photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink (coverage in [0, 1]) as dark pen on unevenly lit paper, photographed."""
    ink = _place(ink, rng, int(rng.integers(28, 150)))
    paper, pen = rng.uniform(150, 245), rng.uniform(0, 80)
    page = paper - (paper - pen) * ink * rng.uniform(0.8, 1.0)
    return _camera(page * _lighting(page.shape, rng), rng)


def board_photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink as chalk or a light marker on a dark board, photographed."""
    ink = _place(ink, rng, int(rng.integers(40, 150)))
    board, chalk = rng.uniform(15, 80), rng.uniform(170, 250)
    return _camera(board + (chalk - board) * ink * rng.uniform(0.7, 1.0), rng)


@cache
def _default_font(size: int) -> Any:
    return ImageFont.load_default(size=size)


def pillow_font_letter(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A letter or symbol in Pillow's bundled font (no training font), dark on a paper photo."""
    glyph = str(rng.choice(list(FONT_GLYPHS)))
    font = _default_font(int(rng.choice([32, 48, 64, 96])))
    left, top, right, bottom = font.getbbox(glyph)
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), glyph, fill=255, font=font)
    ink = np.asarray(image, np.float32) / 255
    if rng.random() < 0.5:  # the page held at a slight angle
        pad = max(ink.shape) // 3
        ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        h, w = ink.shape
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-10, 10), 1.0)
        ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_LINEAR)
    trimmed = _trim(ink)
    assert trimmed is not None, f"Pillow's font drew nothing for {glyph!r}"
    return paper_photo(trimmed, rng), glyph


def hand_letter_ink(letter: str, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A letter drawn as a hand would: jittered corners, a wavering pen, slant, tilt, width."""
    aspect = rng.uniform(0.55, 1.05)
    slant = rng.uniform(-0.3, 0.3)
    angle = np.deg2rad(rng.uniform(-12, 12))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    thickness = int(rng.integers(2, 11))
    canvas = np.zeros((size, size), np.uint8)
    for stroke in HAND_LETTERS[letter]:
        corners = np.array(stroke, np.float64) + rng.normal(0, 0.035, (len(stroke), 2))
        # A smooth waver along the stroke: many short steps, a slow sine displacement.
        steps = [
            a + (b - a) * t
            for a, b in itertools.pairwise(corners)
            for t in np.linspace(0, 1, 12, endpoint=False)
        ] + [corners[-1]]
        points = np.array(steps)
        phase, amplitude = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0, 0.025, 2)
        along = np.linspace(0, rng.uniform(2, 5) * np.pi, len(points))
        points = points + amplitude * np.sin(along[:, None] + phase)
        x = (points[:, 0] - 0.5) * aspect + slant * (0.65 - points[:, 1])
        y = points[:, 1] - 0.65
        points = np.stack([x, y], 1) @ rotation.T
        pixels = np.round(size / 2 + points * size * 0.6).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pixels], False, 255, thickness, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def hand_letter(
    rng: np.random.Generator, settings: PreprocessSettings
) -> tuple[np.ndarray, str, str]:
    """A hand-drawn letter on paper (70%), on a board (15%), or as a 28x28 MNIST-format crop
    (15%, as datasets of letters and users' own crops come)."""
    letter = str(rng.choice(list(HAND_LETTERS)))
    ink = _trim(hand_letter_ink(letter, rng))
    assert ink is not None
    roll = rng.random()
    if roll < 0.7:
        return paper_photo(ink, rng), letter, "paper"
    if roll < 0.85:
        return board_photo(ink, rng), letter, "board"
    if rng.random() < 0.5:
        ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.3, 1.0))
    return model_input(ink / max(float(ink.max()), 1e-6), settings), letter, "28x28"


def low_res(digit: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """An MNIST digit captured about 8 px tall, then enlarged 3-8x and lightly blurred; dark
    on light paper or light on dark (returned: the picture, and whether ink is dark)."""
    ink = _trim(digit.astype(np.float32) / 255)
    assert ink is not None
    tall = int(rng.integers(7, 10))
    small = cv2.resize(
        ink, (max(2, round(ink.shape[1] * tall / ink.shape[0])), tall), interpolation=cv2.INTER_AREA
    )
    pad = int(rng.integers(3, 7))
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    dark_ink = bool(rng.random() < 0.5)
    if dark_ink:
        paper, pen = rng.uniform(160, 245), rng.uniform(0, 80)
    else:
        paper, pen = rng.uniform(0, 60), rng.uniform(180, 255)
    page = paper + (pen - paper) * small
    factor = rng.uniform(3, 8)
    size = (round(page.shape[1] * factor), round(page.shape[0] * factor))
    method = cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC
    page = cv2.resize(page.astype(np.float32), size, interpolation=method)
    page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.4, 1.2))
    page = page + rng.normal(0, rng.uniform(0, 3), page.shape)
    return np.clip(np.rint(page), 0, 255).astype(np.uint8), dark_ink


def plain_resize(picture: np.ndarray) -> np.ndarray:
    """The seed tutorials' way: grayscale, invert if light, resize to 28x28, / 255."""
    image = Image.fromarray(picture)
    if picture.mean() > 127:
        image = ImageOps.invert(image)
    return np.asarray(image.resize((28, 28)), np.float32) / 255.0


def thumbnail(picture: np.ndarray) -> np.ndarray:
    """A picture the model never saw (preprocessing found no digit), shrunk to 28x28 to show."""
    return cv2.resize(picture, (28, 28), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def gray_of(array: np.ndarray) -> np.ndarray:
    """An RGB(A) rendering as the runtime reads a file of it (alpha over white)."""
    return pil_to_gray(Image.fromarray(array))


# -- 1. non-digits ----------------------------------------------------------------------------


@dataclass
class Made:
    """Pictures of one kind, as the runtime's preprocessing turns them into model input."""

    kind: str
    inputs: list[np.ndarray | NoDigit] = field(default_factory=list)
    shown: list[np.ndarray] = field(default_factory=list)  # non-digits: what the model saw
    names: list[str] = field(default_factory=list)  # the glyph drawn (the unseen kinds)
    styles: list[str] = field(default_factory=list)  # paper, board, 28x28 (the unseen kinds)
    truth: list[int] = field(default_factory=list)  # digits: the labels
    pictures: list[np.ndarray] = field(default_factory=list)  # rows: read in the main process
    plain: list[np.ndarray] = field(default_factory=list)  # low-res: the plain resize inputs
    dark: list[bool] = field(default_factory=list)  # low-res: dark ink on light paper
    discarded: int = 0  # pictures the generator gave up on (None), drawn again

    def extend(self, other: Made) -> None:
        for name in ("inputs", "shown", "names", "styles", "truth", "pictures", "plain", "dark"):
            getattr(self, name).extend(getattr(other, name))
        self.discarded += other.discarded


@cache
def _mnist() -> Mnist:
    return load_mnist()


def _negatives(
    kind: str, rng: np.random.Generator, count: int, settings: PreprocessSettings
) -> Made:
    made = Made(kind)
    digits = _mnist().x_test  # crossed-out digits and pieces: from test digits, never trained on
    while len(made.inputs) < count:
        name, style = "", ""
        picture: np.ndarray | None
        if kind == "pillow_font":
            (picture, name), style = pillow_font_letter(rng), "paper"
        elif kind == "hand_letters":
            picture, name, style = hand_letter(rng, settings)
        else:
            picture = pictures.negative(kind, rng, digits, held_out=True)
        if picture is None:
            made.discarded += 1
            if made.discarded > 10 * count:
                raise RuntimeError(f"pictures.negative({kind!r}) keeps giving None")
            continue
        if picture.dtype != np.uint8:  # already a 28x28 model input (MNIST format)
            result: np.ndarray | NoDigit = picture.astype(np.float32)
        else:
            result = preprocess_gray(picture, settings)
        made.inputs.append(result)
        made.shown.append(thumbnail(picture) if isinstance(result, NoDigit) else result)
        made.names.append(name)
        made.styles.append(style)
    return made


def _digits(kind: str, rng: np.random.Generator, count: int, settings: PreprocessSettings) -> Made:
    mnist, made = _mnist(), Made(kind)
    for _ in range(count):
        if kind == "rows":
            picks = rng.integers(0, len(mnist.x_test), int(rng.integers(3, 7)))
            made.pictures.append(gray_of(synthetic.row(list(mnist.x_test[picks]), rng)))
            made.names.append("".join(str(int(d)) for d in mnist.y_test[picks]))
            continue
        pick = int(rng.integers(0, len(mnist.x_test)))
        digit = mnist.x_test[pick]
        made.truth.append(int(mnist.y_test[pick]))
        if kind == "lowres":
            picture, dark = low_res(digit, rng)
            made.plain.append(plain_resize(picture))
            made.dark.append(dark)
        else:
            picture = gray_of(RENDERERS[kind.removeprefix("rendered_")](digit, rng))
        made.inputs.append(preprocess_gray(picture, settings))
    return made


def _job(job: tuple[str, str, int, int, int, PreprocessSettings]) -> Made:
    """One chunk of pictures, seeded by (kind, chunk) alone: the same pictures whatever the
    number of workers, and a --quick run's pictures are the first of a full run's."""
    side, kind, stream, chunk, count, settings = job
    cv2.setNumThreads(1)
    rng = np.random.default_rng([SEED, stream, chunk])
    make = _negatives if side == "negative" else _digits
    return make(kind, rng, count, settings)


def make_all(
    plan: dict[str, tuple[str, int, int]], settings: PreprocessSettings, workers: int
) -> dict[str, Made]:
    """`plan`: kind -> (side, seed stream, count). Made in chunks of CHUNK on `workers`
    processes (started fresh: no interpreter or OpenCV threads inherited)."""
    jobs = [
        (side, kind, stream, chunk, min(CHUNK, count - start), settings)
        for kind, (side, stream, count) in plan.items()
        for chunk, start in enumerate(range(0, count, CHUNK))
    ]
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = list(pool.map(_job, jobs))
    else:
        done = [_job(job) for job in jobs]
    made = {kind: Made(kind) for kind in plan}
    for job, part in zip(jobs, done, strict=True):
        made[job[1]].extend(part)
    return made


def negative_summary(made: Made, scored: Scored, min_score: float) -> dict[str, Any]:
    accepted = scored.accepted(min_score)
    given = Counter(int(d) for d in scored.best[accepted])
    # Inputs that are a lone thin stroke or a ring: a 1 or a 0 to any reader, whatever the
    # picture was (training leaves such negatives out: pictures.reads_as_digit).
    lookalike = np.array(
        [
            not isinstance(inputs, NoDigit) and pictures.reads_as_digit(inputs) is not None
            for inputs in made.inputs
        ],
        bool,
    )
    summary: dict[str, Any] = {
        "pictures": len(made.inputs),
        "refused": share(~accepted),
        "refused_by_preprocessing": share(scored.no_digit),
        "refused_by_none_class": share(scored.none_wins),
        "refused_below_min_score": share(~accepted & ~scored.no_digit & ~scored.none_wins),
        "accepted_as": {str(d): n for d, n in sorted(given.items())},
        "read_as_1_or_0": share(lookalike),
        "refused_not_counting_1_or_0": share(~accepted[~lookalike]) if (~lookalike).any() else 1.0,
        "generator_gave_none": made.discarded,
    }
    if any(made.names):
        per: dict[str, list[int]] = {}
        for name, ok in zip(made.names, accepted, strict=True):
            per.setdefault(name, [0, 0])
            per[name][0] += 1
            per[name][1] += int(ok)
        worst = sorted(per.items(), key=lambda i: (-i[1][1] / i[1][0], -i[1][1], i[0]))
        summary["most_accepted"] = [
            {"glyph": name, "drawn": n, "accepted": a} for name, (n, a) in worst[:10] if a
        ]
    if any(made.styles):
        styles = np.array(made.styles)
        summary["refused_by_style"] = {
            style: share(~accepted[styles == style]) for style in sorted(set(made.styles))
        }
    return summary


# -- 2. digits --------------------------------------------------------------------------------


def edge_digits_command() -> list[str]:
    script = BIN / "edge-digits"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from edge_digits.runtime.cli import main; main()"]


def run_cli(args: list[str], model: Path | None, timeout: float = 900) -> list[dict[str, Any]]:
    """The CLI in a fresh process at the model's own operating point; its JSON lines."""
    env = {k: v for k, v in os.environ.items() if k != "EDGE_DIGITS_MIN_SCORE"}
    command = [*edge_digits_command(), *args, *(["--model", str(model)] if model else [])]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
    )
    if done.returncode not in (0, 1):  # 1: some file unreadable, reported in its record
        raise SystemExit(f"{' '.join(command[:3])}... exit {done.returncode}: {done.stderr[-400:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def digit_summary(scored: Scored, truth: np.ndarray, min_score: float) -> dict[str, Any]:
    accepted = scored.accepted(min_score)
    right = accepted & (scored.best == truth)
    return {
        "pictures": len(truth),
        "accepted_and_right": share(right),
        "wrong": share(accepted & ~right),
        "refused": share(~accepted),
        "refused_by_preprocessing": share(scored.no_digit),
        "refused_by_none_class": share(scored.none_wins),
        "refused_below_min_score": share(~accepted & ~scored.no_digit & ~scored.none_wins),
        # What the none class and min_score cost: the best digit right wherever one was read.
        "best_digit_right": share(~scored.no_digit & (scored.best == truth)),
    }


def mnist_cli(mnist: Mnist, count: int, model: Path | None) -> dict[str, Any]:
    """The test digits as PNG files, classified by `edge-digits classify --json FOLDER`."""
    folder = Path(tempfile.mkdtemp(prefix="edge-digits-not-a-digit-"))
    try:
        for index in range(count):
            Image.fromarray(mnist.x_test[index]).save(folder / f"{index:05d}.png")
        records = run_cli(["classify", "--json", str(folder)], model)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    labels: list[int | None] = [None] * count
    for record in records:
        labels[int(Path(record["path"]).stem)] = record.get("label")
    truth = mnist.y_test[:count]
    right = np.array([a == int(b) for a, b in zip(labels, truth, strict=True)])
    return {
        "how": "edge-digits classify --json FOLDER of 28x28 PNG files (null counts as wrong)",
        "pictures": count,
        "records": len(records),
        "accepted_and_right": share(right),
        "null": sum(label is None for label in labels),
        "labels": labels,
    }


def real_items(folder: Path) -> tuple[list[tuple[Path, str, str]], list[str]]:
    """(file, label, kind) of each labelled picture: from labels.csv (filename,label,kind),
    else from names `*label<d>*` (kind photo)."""
    notes: list[str] = []
    table = folder / "labels.csv"
    if table.exists():
        with table.open(newline="") as file:
            rows = list(csv.DictReader(file))
        items = []
        for row in rows:
            path = folder / row["filename"]
            if path.exists():
                items.append((path, str(row["label"]).strip(), row.get("kind") or "photo"))
            else:
                notes.append(f"{relative(path)}: listed in labels.csv, not found; skipped")
        return items, notes
    items = []
    for path in sorted(folder.iterdir()):
        found = re.search(r"label(\d)", path.name)
        if found and path.suffix.lower() in IMAGE_SUFFIXES:
            items.append((path, found.group(1), "photo"))
    return items, notes


def real_digits(folder: Path, model: Path | None) -> dict[str, Any]:
    if not folder.is_dir():
        return {"folder": relative(folder), "skipped": "no such folder", "files": []}
    items, notes = real_items(folder)
    photos = [item for item in items if item[2] != "multi-digit"]
    rows = [item for item in items if item[2] == "multi-digit"]
    read: dict[str, Any] = {}
    if photos:
        for record in run_cli(["classify", "--json", *(str(p) for p, _, _ in photos)], model):
            read[record["path"]] = record.get("label")
    if rows:
        args = ["classify", "--number", "--json", *(str(p) for p, _, _ in rows)]
        for record in run_cli(args, model):
            read[record["path"]] = record.get("text")
    files = []
    for path, label, kind in items:
        answer = read.get(str(path))
        files.append(
            {
                "file": path.name,
                "kind": kind,
                "label": label,
                "read": answer,
                "right": answer is not None and str(answer) == label,
            }
        )
    right = [f["right"] for f in files]
    return {
        "folder": relative(folder),
        "how": "edge-digits classify --json (multi-digit: --number, text must equal the label)",
        "pictures": len(files),
        "accepted_and_right": share(np.array(right)) if right else None,
        "wrong_files": [f for f in files if not f["right"]],
        "files": files,
        "notes": notes,
    }


def camera(model: Path | None) -> dict[str, Any]:
    records = run_cli(["camera", "--source", str(VIDEO)], model, timeout=300)
    labels = [r["label"] for r in records if r.get("label") is not None]
    return {
        "how": f"edge-digits camera --source {relative(VIDEO)} (JSON lines; non-null labels)",
        "readings": records,
        "labels": labels,
        "expected": CAMERA_EXPECTED,
        "right": labels == CAMERA_EXPECTED,
    }


# -- 3. the trade-off -------------------------------------------------------------------------


def sweep(
    digit_groups: dict[str, tuple[Scored, np.ndarray]], negative_groups: dict[str, Scored]
) -> dict[str, Any]:
    """Shares at each threshold, from the probabilities predicted once."""
    pooled = concat([s for s, _ in digit_groups.values()])
    truth = np.concatenate([t for _, t in digit_groups.values()])
    digits = dict(digit_groups, digits=(pooled, truth))
    curve: dict[str, Any] = {"thresholds": THRESHOLDS.tolist()}
    for name, (scored, labels) in digits.items():
        curve[f"{name}_right"] = [
            share(scored.accepted(t) & (scored.best == labels)) for t in THRESHOLDS
        ]
    for name, scored in negative_groups.items():
        curve[f"{name}_refused"] = [share(~scored.accepted(t)) for t in THRESHOLDS]
    return curve


def at(threshold: float, digits: tuple[Scored, np.ndarray], negatives: Scored) -> dict[str, float]:
    scored, labels = digits
    return {
        "threshold": threshold,
        "digits_right": share(scored.accepted(threshold) & (scored.best == labels)),
        "non_digits_refused": share(~negatives.accepted(threshold)),
    }


# -- pictures of the results ------------------------------------------------------------------


def plot_curve(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, point = record["curve"], record["operating_point"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    x_all = 100 * np.array(curve["non_digits_refused"])
    x_own = 100 * np.array(curve["own_kinds_refused"])
    y = 100 * np.array(curve["digits_right"])
    left.axvspan(95, 100.5, ymin=0, ymax=1, color="#e8f5e9", zorder=0)
    left.axhspan(99.5, 100.5, color="#e8f5e9", zorder=0)
    left.axvline(95, color="green", ls=":", lw=1)
    left.axhline(99.5, color="green", ls=":", lw=1)
    left.plot(x_all, y, "-", color="C0", label="all non-digits (own kinds + unseen kinds)")
    left.plot(x_own, y, "--", color="C0", alpha=0.6, label="own kinds only")
    for t in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99):
        i = int(np.argmin(np.abs(THRESHOLDS - t)))
        left.annotate(
            f"{t:g}", (x_all[i], y[i]), fontsize=7, xytext=(3, -9), textcoords="offset points"
        )
        left.plot(x_all[i], y[i], ".", color="C0")
    left.plot(
        100 * point["non_digits_refused"],
        100 * point["digits_right"],
        "o",
        color="C3",
        ms=9,
        label=f"operating point (min_score {point['threshold']:g})",
    )
    left.plot([95], [99.5], "*", color="green", ms=12, label="targets: 95% refused, 99.5% right")
    left.set_xlabel("non-digits refused (%)")
    left.set_ylabel("digits accepted and right (%): MNIST test + rendered + low-res")
    low = min(float(y.min()), 99.0)
    left.set_ylim(max(0.0, low - 1), 100.3)
    left.set_xlim(max(0.0, min(float(x_all.min()), float(x_own.min())) - 2), 100.5)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower left")
    left.set_title("the trade-off: threshold on the top digit's probability")

    for name, style in (
        ("digits_right", "-"),
        ("mnist_right", "--"),
        ("rendered_right", "-."),
        ("lowres_right", ":"),
    ):
        right.plot(THRESHOLDS, 100 * np.array(curve[name]), style, color="C0", label=name)
    for name, style in (("non_digits_refused", "-"), ("unseen_kinds_refused", ":")):
        right.plot(THRESHOLDS, 100 * np.array(curve[name]), style, color="C3", label=name)
    right.axvline(point["threshold"], color="grey", lw=1, label="operating point")
    right.set_xlabel("threshold (min_score)")
    right.set_ylabel("%")
    right.grid(alpha=0.3)
    right.legend(fontsize=8, loc="lower left")
    right.set_title(record["model"]["name"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pick(
    candidates: dict[str, list[int]], limit: int, rng: np.random.Generator
) -> list[tuple[str, int]]:
    """Up to `limit` (kind, index), taken in turn from each kind, in seeded order."""
    queues = {kind: list(rng.permutation(items)) for kind, items in candidates.items() if items}
    picked: list[tuple[str, int]] = []
    while queues and len(picked) < limit:
        for kind in list(queues):
            if len(picked) >= limit:
                break
            picked.append((kind, int(queues[kind].pop(0))))
            if not queues[kind]:
                del queues[kind]
    return picked


def plot_examples(
    made: dict[str, Made], scored: dict[str, Scored], min_score: float, path: Path
) -> dict[str, int]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng([SEED, 400])
    refused_by_model: dict[str, list[int]] = {}
    refused_early: dict[str, list[int]] = {}
    accepted: dict[str, list[int]] = {}
    for kind, scores in scored.items():
        ok = scores.accepted(min_score)
        refused_by_model[kind] = list(np.flatnonzero(~ok & ~scores.no_digit))
        refused_early[kind] = list(np.flatnonzero(scores.no_digit))
        accepted[kind] = list(np.flatnonzero(ok))
    refused = _pick(refused_by_model, 48, rng)
    refused += _pick(refused_early, 48 - len(refused), rng)  # the model refused fewer than 48
    wrong = _pick(accepted, 24, rng)
    columns = 12
    rows_refused = max(1, -(-len(refused) // columns))
    rows_wrong = max(1, -(-len(wrong) // columns))
    fig = plt.figure(figsize=(columns * 1.05, (rows_refused + rows_wrong) * 1.2 + 1.2))
    grid = fig.add_gridspec(rows_refused + rows_wrong, columns, hspace=0.55, wspace=0.1)

    def cell(row: int, column: int, kind: str, index: int, title: str, colour: str) -> None:
        axis = fig.add_subplot(grid[row, column])
        axis.imshow(made[kind].shown[index], cmap="gray", vmin=0, vmax=1)
        axis.set_title(title, fontsize=6, color=colour)
        axis.set_xticks([])
        axis.set_yticks([])

    for n, (kind, index) in enumerate(refused):
        early = bool(scored[kind].no_digit[index])
        title = f"{kind}\n(no digit found)" if early else kind
        cell(n // columns, n % columns, kind, index, title, "grey" if early else "black")
    for n, (kind, index) in enumerate(wrong):
        digit = int(scored[kind].best[index])
        top = float(scored[kind].top[index])
        cell(
            rows_refused + n // columns,
            n % columns,
            kind,
            index,
            f"{kind}\n-> {digit} ({top:.2f})",
            "C3",
        )
    fig.suptitle(
        f"non-digits: {len(refused)} refused (black: by the model; grey: preprocessing found no "
        f"digit, shown shrunk), then {len(wrong)} wrongly accepted (red: the digit given)",
        fontsize=9,
    )
    if not wrong:
        fig.text(0.5, 0.05, "no non-digit was accepted", ha="center", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"refused_shown": len(refused), "accepted_shown": len(wrong)}


# -- 4. scores and the run --------------------------------------------------------------------


def score_figures(classifier: Classifier, mnist: Mnist, count: int) -> dict[str, Any]:
    x, y = mnist.x_test[:count], mnist.y_test[:count]
    probabilities = evaluate(classifier.predict, x, y).scores
    top = probabilities[:, :10].max(axis=1)
    printed = np.round(top.astype(np.float64), 6)
    values, counts = np.unique(printed, return_counts=True)
    common = int(np.argmax(counts))
    return {
        "how": "evaluate(classifier.predict) on the MNIST test images, as convert scores",
        "images": count,
        "ece": expected_calibration_error(probabilities, y, ECE_BINS),
        "ece_bins": ECE_BINS,
        "distinct_top_scores": len(values),
        "distinct_top_scores_float32": len(np.unique(top)),
        "most_common_top_score": float(values[common]),
        "most_common_top_score_share": float(counts[common] / count),
    }


def latency_indication(model: Path | None, image: np.ndarray) -> dict[str, Any]:
    """`Classifier.predict` on one image, one thread (as benchmarks/latency.py): a hint only."""
    classifier = Classifier(ClassifierOptions(model=model, num_threads=1))
    batch = image[None, ..., None].astype(np.float32)
    for _ in range(100):
        classifier.predict(batch)
    seconds = []
    for _ in range(2000):
        start = time.perf_counter()
        classifier.predict(batch)
        seconds.append(time.perf_counter() - start)
    return {
        **percentiles(seconds),
        "threads": 1,
        "note": "Classifier.predict batch 1, one thread, 2,000 calls after 100, in this process "
        "on a possibly busy machine (see machine.load_average_1min): an indication only; "
        "benchmarks/latency.py is the reference for the 50 us target",
    }


def model_facts(classifier: Classifier) -> dict[str, Any]:
    sidecar = classifier.sidecar
    path = classifier.model_path
    facts: dict[str, Any] = {
        "file": relative(path),
        "name": path.name if path.parent.name != "models" else f"embedded {path.name}",
        "size_bytes": path.stat().st_size,
        "classes": classifier.classes,
        "labels": list(classifier.labels),
        "has_none_class": classifier.has_none,
        "min_score": classifier.min_score,
    }
    if sidecar is not None:
        facts.update(
            precision=sidecar.precision,
            architecture=sidecar.architecture,
            schema_version=sidecar.schema_version,
            model_sha256=sidecar.model_sha256,
            none_label=sidecar.none_label,
            output=sidecar.output,
            temperature=sidecar.temperature,
            calibration=sidecar.calibration,
        )
    return facts


def target(measured: Any, rule: str, goal: Any, **extra: Any) -> dict[str, Any]:
    """A target judged: None when there is nothing to judge (not measured)."""
    checks: dict[str, Callable[[Any, Any], bool]] = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "==": lambda a, b: a == b,
    }
    met = None if measured is None else bool(checks[rule](measured, goal))
    return {"measured": measured, "rule": rule, "target": goal, "met": met, **extra}


def jsonable(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def run(args: argparse.Namespace, echo: Callable[[str], None]) -> dict[str, Any]:
    counts = QUICK if args.quick else FULL
    classifier = Classifier(ClassifierOptions(model=args.model))
    settings, min_score = classifier.settings, classifier.min_score
    mnist = load_mnist()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.perf_counter() - clock, 2)
        echo(f"not_a_digit: {name} done in {seconds[name]:.1f} s")
        clock = time.perf_counter()

    # The pictures, made on `args.workers` processes; then classified here, kind by kind.
    kinds = OWN_KINDS + UNSEEN_KINDS
    plan = {kind: ("negative", index, counts.negatives) for index, kind in enumerate(kinds)}
    plan.update(
        {
            f"rendered_{name}": ("digit", 100 + index, counts.rendered)
            for index, name in enumerate(RENDERERS)
        }
    )
    plan.update(rows=("digit", 200, counts.rows), lowres=("digit", 300, counts.lowres))
    assert len(plan) == len(kinds) + len(RENDERERS) + 2, "two kinds of picture share a name"
    made = make_all(plan, settings, args.workers)
    lap("making pictures")

    # 1. Non-digits, per kind.
    scored_neg = {kind: score(classifier, made[kind].inputs) for kind in kinds}
    negatives = {kind: negative_summary(made[kind], scored_neg[kind], min_score) for kind in kinds}
    own = concat([scored_neg[k] for k in OWN_KINDS])
    unseen = concat([scored_neg[k] for k in UNSEEN_KINDS])
    every = concat([own, unseen])
    lap("non-digits")

    # 2. Digits. (a) MNIST test through the CLI, and in this process for the curve.
    mnist_result = mnist_cli(mnist, counts.mnist, args.model)
    mnist_truth = mnist.y_test[: counts.mnist].astype(np.int64)
    mnist_scored = score(
        classifier, [preprocess_gray(x, settings) for x in mnist.x_test[: counts.mnist]]
    )
    cli_labels = mnist_result.pop("labels")
    mnist_result["in_process"] = digit_summary(mnist_scored, mnist_truth, min_score)
    mnist_result["cli_agrees_with_in_process"] = share(
        np.array([a == b for a, b in zip(cli_labels, mnist_scored.labels(), strict=True)])
    )
    lap("MNIST test")
    # (b) Real photos.
    real = real_digits(args.realdigits, args.model)
    lap("real photos")
    # (c) Rendered MNIST test digits.
    rendered: dict[str, Any] = {}
    rendered_parts = []
    for name in RENDERERS:
        part = score(classifier, made[f"rendered_{name}"].inputs)
        truth = np.array(made[f"rendered_{name}"].truth)
        rendered[name] = digit_summary(part, truth, min_score)
        rendered_parts.append(part)
    rendered_scored = concat(rendered_parts)
    rendered_labels = np.concatenate([made[f"rendered_{name}"].truth for name in RENDERERS])
    rendered["all"] = digit_summary(rendered_scored, rendered_labels, min_score)
    # (d) Rows of digits.
    exact, misread = [], []
    for gray, want in zip(made["rows"].pictures, made["rows"].names, strict=True):
        text = classifier.read_number(gray).text
        exact.append(text == want)
        if text != want and len(misread) < 20:
            misread.append({"digits": want, "read": text})
    rows = {
        "how": "synthetic.row of 3-6 MNIST test digits, Classifier.read_number; text must match",
        "pictures": counts.rows,
        "exact": share(np.array(exact)),
        "first_misreadings": misread,
    }
    # (e) Low resolution, ours and the plain resize.
    low = made["lowres"]
    lowres_truth, dark = np.array(low.truth), np.array(low.dark)
    lowres_scored = score(classifier, low.inputs)
    plain = score(classifier, low.plain)
    lowres = {
        "how": "MNIST test digits about 8 px tall (INTER_AREA), enlarged 3-8x (bilinear or "
        "bicubic), blurred (sigma 0.4-1.2), noise; half dark on light, half light on dark",
        **digit_summary(lowres_scored, lowres_truth, min_score),
        "dark_on_light": digit_summary(
            concat_rows(lowres_scored, dark), lowres_truth[dark], min_score
        )["accepted_and_right"],
        "light_on_dark": digit_summary(
            concat_rows(lowres_scored, ~dark), lowres_truth[~dark], min_score
        )["accepted_and_right"],
        "plain_resize": {
            "how": "PIL grayscale, inverted if light, resize((28, 28)), / 255, predict: the "
            "seed tutorials' way, without edge-digits' preprocessing (reference only)",
            **digit_summary(plain, lowres_truth, min_score),
            "top_digit_right_ignoring_refusals": share(plain.best == lowres_truth),
        },
    }
    lap("rendered, rows, low resolution")
    # (f) The camera video.
    video = camera(args.model)
    lap("camera")

    # 3. The trade-off, from the probabilities predicted above.
    digit_groups = {
        "mnist": (mnist_scored, mnist_truth),
        "rendered": (rendered_scored, rendered_labels),
        "lowres": (lowres_scored, lowres_truth),
    }
    pooled = (
        concat([s for s, _ in digit_groups.values()]),
        np.concatenate([t for _, t in digit_groups.values()]),
    )
    curve = sweep(
        digit_groups,
        {"non_digits": every, "own_kinds": own, "unseen_kinds": unseen},
    )
    point = at(min_score, pooled, every)
    point["own_kinds_refused"] = share(~own.accepted(min_score))
    # The sweep's rule must be the classifier's own: at its operating point they agree.
    answers = own.labels() + unseen.labels() + mnist_scored.labels()
    swept = np.concatenate([every.accepted(min_score), mnist_scored.accepted(min_score)])
    agree = bool(np.array_equal(swept, np.array([a is not None for a in answers])))
    both = [
        float(t)
        for t, r, n in zip(
            THRESHOLDS, curve["digits_right"], curve["non_digits_refused"], strict=True
        )
        if r >= 0.995 and n >= 0.95
    ]

    # 4. Scores; 5. targets.
    scores = score_figures(classifier, mnist, counts.mnist)
    latency = latency_indication(args.model, preprocess_gray(mnist.x_test[0], settings))
    lap("scores and latency")
    facts = model_facts(classifier)
    int8 = facts.get("precision") == "int8"
    refused_all = share(~every.accepted(min_score))
    targets = {
        "non_digits_refused": target(
            refused_all, ">=", 0.95, over="all non-digit kinds, own and unseen, equal counts"
        ),
        "mnist_test": target(mnist_result["accepted_and_right"], ">=", 0.995),
        "realdigits": target(real.get("accepted_and_right"), ">=", 0.98, folder=real["folder"]),
        "rows_exact": target(rows["exact"], ">=", 0.95),
        "low_res": target(lowres["accepted_and_right"], ">=", 0.92),
        "camera_7_2_1": target(video["labels"], "==", CAMERA_EXPECTED),
        "int8_file_bytes": target(
            facts["size_bytes"] if int8 else None,
            "<=",
            100_000,
            note="100 KB = 100,000 bytes"
            + ("" if int8 else f"; the model is {facts.get('precision')}, not int8"),
        ),
        "ece": target(scores["ece"], "<=", 0.01, bins=ECE_BINS),
        "distinct_top_scores": target(scores["distinct_top_scores"], ">", 100),
    }
    lap("trade-off")

    arguments = [
        *(["--model", relative(args.model)] if args.model else []),
        *(["--quick"] if args.quick else []),
        *(["--realdigits", relative(args.realdigits)] if args.realdigits != DEFAULT_REAL else []),
    ]
    record = header("not_a_digit", python_command("not_a_digit.py", *arguments), quick=args.quick)
    record.update(
        seed=SEED,
        counts=counts.__dict__,
        model=facts,
        rule="accepted when preprocessing found a digit, the none class does not win (its "
        "probability is not above the top digit's) and the top digit's probability >= "
        "min_score; anything else is refused (label null)",
        targets=targets,
        operating_point=point,
        thresholds_meeting_both_targets=both,
        sweep_agrees_with_classifier=agree,
        non_digits={
            "kinds": negatives,
            "own_kinds": list(OWN_KINDS),
            "unseen_kinds": list(UNSEEN_KINDS),
            "refused_all": refused_all,
            "refused_own_kinds": share(~own.accepted(min_score)),
            "refused_unseen_kinds": share(~unseen.accepted(min_score)),
            "refused_all_not_counting_1_or_0": float(
                np.mean([row["refused_not_counting_1_or_0"] for row in negatives.values()])
            ),
            "note": "own kinds: train/pictures.py negative() with seeds [20261201, k] (crossed "
            "and piece from MNIST test digits); unseen kinds: Pillow's bundled font on paper "
            "photos, and hand-drawn polyline letters, neither made by the training generator",
        },
        digits={
            "mnist_test": mnist_result,
            "realdigits": real,
            "rendered": rendered,
            "rows": rows,
            "low_res": lowres,
            "camera": video,
        },
        scores=scores,
        latency_indication=latency,
        curve=curve,
        seconds=seconds,
    )
    record["_made"], record["_scored"] = made, scored_neg  # for the pictures; not written
    return record


def concat_rows(scored: Scored, mask: np.ndarray) -> Scored:
    return Scored(
        [p for p, keep in zip(scored.predictions, mask, strict=True) if keep],
        scored.digits[mask],
        scored.none[mask],
        scored.no_digit[mask],
    )


def show(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.2%}" if value <= 1 else f"{value:,.0f}"
        return str(value)

    console = Console()
    kinds = Table(title=f"non-digits refused at min_score {record['model']['min_score']:g}")
    kinds.add_column("kind", no_wrap=True)
    for column in (
        "pictures",
        "refused",
        "no digit found",
        "none class won",
        "< min_score",
        "a 1 or 0 to a reader",
        "refused, the others",
    ):
        kinds.add_column(column, justify="right")
    for kind, row in record["non_digits"]["kinds"].items():
        unseen = " (unseen)" if kind in UNSEEN_KINDS else ""
        kinds.add_row(
            kind + unseen,
            str(row["pictures"]),
            f"{row['refused']:.1%}",
            f"{row['refused_by_preprocessing']:.1%}",
            f"{row['refused_by_none_class']:.1%}",
            f"{row['refused_below_min_score']:.1%}",
            f"{row['read_as_1_or_0']:.1%}",
            f"{row['refused_not_counting_1_or_0']:.1%}",
        )
    console.print(kinds)
    table = Table(title=f"targets: {record['model']['name']}")
    for column in ("target", "measured", "goal", "met"):
        table.add_column(column)
    for name, item in record["targets"].items():
        met = item["met"]
        mark = "[green]yes[/]" if met else ("[red]no[/]" if met is False else "n/a")
        goal = item["target"]
        shown = fmt(goal) if not isinstance(goal, list) else str(goal)
        measured = "n/a" if item["measured"] is None else fmt(item["measured"])
        table.add_row(name, measured, f"{item['rule']} {shown}", mark)
    console.print(table)
    low = record["digits"]["low_res"]
    latency = record["latency_indication"]
    console.print(
        f"low-res: ours {low['accepted_and_right']:.1%}, plain resize "
        f"{low['plain_resize']['accepted_and_right']:.1%}; predict batch-1 p50 "
        f"{latency['p50_us']:.0f} us (indication; benchmarks/latency.py is the reference); "
        f"thresholds meeting both trade-off targets: "
        f"{record['thresholds_meeting_both_targets'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a .tflite model (default: the embedded one)")
    parser.add_argument("--quick", action="store_true", help="fewer pictures of each kind")
    parser.add_argument(
        "--realdigits", type=Path, default=DEFAULT_REAL, help="real photos (default: examples/real)"
    )
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, len(os.sched_getaffinity(0))),
        help="processes making the pictures (default: 2 at most); the pictures do not depend on it",
    )
    args = parser.parse_args()
    if args.model is not None:
        args.model = args.model.resolve()
    args.realdigits = args.realdigits.resolve()
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    start = time.perf_counter()
    record = run(args, echo=lambda line: print(line, file=sys.stderr, flush=True))
    made, scored = record.pop("_made"), record.pop("_scored")
    out.mkdir(parents=True, exist_ok=True)
    record["pictures"] = plot_examples(
        made, scored, record["model"]["min_score"], out / "not_a_digit_refused.png"
    )
    plot_curve(record, out / "not_a_digit.png")
    record["seconds"]["total"] = round(time.perf_counter() - start, 1)
    path = write_result(jsonable(record), out)
    show(record)
    print(f"wrote {path}, {out / 'not_a_digit.png'}, {out / 'not_a_digit_refused.png'}")


if __name__ == "__main__":
    main()
