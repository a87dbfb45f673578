"""Pictures made at training time: what is not a digit, and digits as real pictures show them.

The default model answers "not a digit" (an 11th class, `none`) because it has seen, while
training, the things a camera pointed at a whiteboard, a form or a meter sees besides digits.
Every picture here is generated from a seed, nothing is fetched: the fonts are matplotlib's
(DejaVu: Bitstream Vera licence; STIX: SIL Open Font License; Computer Modern: the BaKoMa
licence, all free to use and redistribute; LastResort and DejaVu Sans Display, which draw
placeholder boxes, are not used), the photographs scikit-image's sample data (a BSD
package; each picture used is, as its function's docstring in `skimage.data` says, CC0,
public domain, or of "no known copyright restrictions" (coins, immunohistochemistry);
checkerboard and colorwheel are test patterns) and matplotlib's `grace_hopper.jpg` (public
domain). The training data of the default model changes if this module does: the cache of
pictures is keyed by its sha256.

Negatives (`NEGATIVE_KINDS`):

- ``letter``: a letter or symbol from a font (regular, bold, italic, serif, mono, Computer
  Modern), often redrawn as a hand would: skeleton, pen width, wobble, slant;
- ``scribble``: a pen wandering with many turns, loops, zig-zags, hatching, stars, crosses;
- ``crossed``: a digit crossed out with strokes or scribbled over;
- ``piece``: part of a digit (cut along a random line), not a whole one, nor a straight
  stroke or a closed loop (a 1 or a 0 in its own right);
- ``texture``: paper grain, fabric, wood, noise, brick, grass, gravel;
- ``photo``: a crop of an ordinary photograph;
- ``blank``: blank paper with shadows, folds, specks and grain.

Positives (`POSITIVE_KINDS`), MNIST training digits drawn as real pictures show them:

- ``euro1``: European 1s (a flag at the top, sometimes a foot) and crossed 7s;
- ``lowres``: a digit captured about 8 px tall, then enlarged and blurred;
- ``chalk``: chalk on a board: broken, grainy strokes, light on dark;
- ``photo``: dark ink on lit, shadowed paper, blurred and JPEG-compressed;
- ``thin``: a digit redrawn with a fine pen (its skeleton, 2-6 px wide at 84 px tall), as a
  ballpoint or a pencil draws it;
- ``font``: a digit from the same fonts as the letters, drawn as the letters are (often
  re-penned, wobbled, slanted): printed and carefully written digits, and the reason
  "drawn from a font" cannot mean "not a digit". Not an MNIST digit: its label is the one
  the MNIST digit it replaces had, so the classes keep their shares.

Each picture is then turned into model input by the runtime's own preprocessing
(`preprocess_gray`), exactly as `edge-digits classify` would; a picture in which it finds no
digit (a blank page, a dash) is dropped: the runtime answers "no digit" for it before any
model is asked. A negative whose input is a lone straight stroke or a ring is dropped too
(`reads_as_digit`): whatever it was, the model is shown a 1 or a 0. Some are drawn as
MNIST-format 28x28 inputs (light on black, fitted to the 20 px box), as datasets of letters
(EMNIST) and users' own crops are.
"""

from __future__ import annotations

import glob
import multiprocessing
import string
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from edge_digits.runtime.core.preprocess import NoDigit, model_input, preprocess_gray
from edge_digits.runtime.core.sidecar import PreprocessSettings
from PIL import Image, ImageDraw, ImageFont
from skimage.morphology import skeletonize  # the train extra; imported here, not in a worker

Rng = np.random.Generator
Picture = np.ndarray  # uint8 grayscale (H, W)

NONE_LABEL = 10  # the class index of "not a digit"
RIGHT = np.array([1.0, 0.0])  # a unit step to the right, (x, y)
# Letters and symbols that are digits in all but name (O and 0, l and 1, a slash and an MNIST
# 1, b and 6, g and q and 9) are not negatives: no reader tells them apart from the digit alone.
LOOKALIKES = set("OoDQIlij|!/\\()[]{}1bgq")
GLYPHS = "".join(
    c
    for c in string.ascii_letters + "#%&@$?*+=<>~^§¶€£¥±×÷∞√∑πλµΩ✓✗★☺→←↑↓"  # noqa: RUF001
    if c not in LOOKALIKES
)


# -- ink maps: float32 coverage in [0, 1], 0 = paper ------------------------------------------


@cache
def _fonts() -> tuple[str, ...]:
    import matplotlib

    found = sorted(glob.glob(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "*.ttf")))
    # STIX's size-variant and non-Unicode faces hold only large delimiters and oddities;
    # LastResort and DejaVu Sans Display draw a placeholder box (a 0 to a reader) for letters.
    skip = ("STIXSiz", "STIXNonUni", "cmex", "LastResort", "DejaVuSansDisplay")
    return tuple(f for f in found if not any(name in f for name in skip))


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _glyph(rng: Rng, text: str, fonts: tuple[str, ...] | None = None) -> np.ndarray | None:
    font = _font(str(rng.choice(fonts or _fonts())), int(rng.choice([40, 48, 56, 64])))
    left, top, right, bottom = font.getbbox(text)
    if right - left < 4 or bottom - top < 4:
        return None  # a glyph this font does not have draws as nothing or a sliver
    image = Image.new("L", (right - left + 16, bottom - top + 16), 0)
    ImageDraw.Draw(image).text((8 - left, 8 - top), text, fill=255, font=font)
    ink = np.asarray(image, np.float32) / 255
    return ink if ink.max() > 0.5 else None


def _pen(mask: np.ndarray, rng: Rng, width: float) -> np.ndarray:
    """Redraw a shape's skeleton with a round pen `width` px wide: font glyph -> hand stroke."""
    skeleton = skeletonize(mask > 0.5).astype(np.uint8)
    radius = max(1, round(width / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return cv2.GaussianBlur(cv2.dilate(skeleton, kernel).astype(np.float32), (0, 0), 0.7)


def _warp(ink: np.ndarray, rng: Rng, wobble: float, slant: float, angle: float) -> np.ndarray:
    """Elastic wobble (a smooth random displacement), slant (shear) and rotation."""
    h, w = ink.shape
    pad = max(h, w) // 3
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    h, w = ink.shape
    if wobble > 0:  # a coarse random field, smoothly enlarged: cheap and smooth
        field = rng.normal(0, 1, (2, 5, 5)).astype(np.float32)
        dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
        scale = wobble * max(h, w) / max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        ink = cv2.remap(ink, xs + dx * scale, ys + dy * scale, cv2.INTER_LINEAR)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[0, 1] += slant
    matrix[0, 2] -= slant * h / 2
    return cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_LINEAR)


def _trim(ink: np.ndarray, threshold: float = 0.1) -> np.ndarray | None:
    rows, cols = (
        np.flatnonzero(ink.max(axis=1) > threshold),
        np.flatnonzero(ink.max(axis=0) > threshold),
    )
    if rows.size < 3 or cols.size < 3:
        return None
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _handlike(ink: np.ndarray, rng: Rng) -> np.ndarray:
    """Font shape -> as a hand might draw it: sometimes re-penned, wobbled, slanted, tilted."""
    if rng.random() < 0.6:
        ink = _pen(ink, rng, rng.uniform(2, 0.16 * max(ink.shape)))
    return _warp(ink, rng, rng.uniform(0, 0.04), rng.uniform(-0.35, 0.35), rng.uniform(-15, 15))


def _polyline(points: np.ndarray, size: int, width: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    pts = np.round(points).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], False, 255, max(1, width), cv2.LINE_AA)
    return canvas.astype(np.float32) / 255


def _smooth_path(rng: Rng, size: int, count: int, turn: float) -> np.ndarray:
    """A pen wandering with momentum: `count` segments, turning up to `turn` radians each."""
    heading, step = rng.uniform(0, 2 * np.pi), size / rng.uniform(6, 14)
    point = rng.uniform(size * 0.3, size * 0.7, 2)
    points = [point.copy()]
    for _ in range(count * 4):
        heading += rng.normal(0, turn / 2)
        point = np.clip(
            point + step / 4 * np.array([np.cos(heading), np.sin(heading)]), 4, size - 4
        )
        points.append(point.copy())
    return np.array(points)


def _scribble_ink(rng: Rng) -> np.ndarray:
    size = 96
    width = int(rng.integers(2, 9))
    style = rng.choice(["wander", "zigzag", "spiral", "hatch", "star", "cross", "wave"])
    if style == "wander":
        ink = _polyline(
            _smooth_path(rng, size, int(rng.integers(12, 30)), rng.uniform(0.8, 2.0)), size, width
        )
    elif style == "zigzag":
        n = int(rng.integers(4, 12))
        xs = (
            np.linspace(10, size - 10, n) if rng.random() < 0.5 else np.tile([15, size - 15], n)[:n]
        )
        ys = (
            np.tile([15, size - 15], n)[:n]
            if len(xs) and xs[0] == 10
            else np.linspace(10, size - 10, n)
        )
        points = np.stack([xs, ys], 1) + rng.normal(0, 4, (n, 2))
        ink = _polyline(points, size, width)
    elif style == "spiral":  # two turns at least: one and a half read as a 6, a 9 or an @
        t = np.linspace(0, rng.uniform(4, 8) * np.pi, 240)
        r = np.linspace(4, size * 0.45, t.size) * rng.uniform(0.6, 1.0)
        centre = size / 2 + rng.normal(0, 3, 2)
        points = np.stack(
            [centre[0] + r * np.cos(t), centre[1] + r * np.sin(t) * rng.uniform(0.5, 1)], 1
        )
        ink = _polyline(points, size, width)
    elif style == "hatch":
        ink = np.zeros((size, size), np.float32)
        angle = rng.uniform(0, np.pi)
        for offset in np.linspace(-size * 0.4, size * 0.4, int(rng.integers(4, 10))):
            direction = np.array([np.cos(angle), np.sin(angle)])
            normal = np.array([-direction[1], direction[0]])
            centre = size / 2 + normal * offset
            ends = np.array([centre - direction * size * 0.4, centre + direction * size * 0.4])
            ink = np.maximum(ink, _polyline(ends + rng.normal(0, 2, (2, 2)), size, width))
    elif style == "star":
        k = int(rng.choice([5, 7, 9]))
        t = np.arange(k + 1) * (2 * np.pi * (k // 2) / k)
        points = (
            size / 2
            + size * 0.4 * np.stack([np.cos(t), np.sin(t)], 1)
            + rng.normal(0, 2, (k + 1, 2))
        )
        ink = _polyline(points, size, width)
    elif style == "cross":
        a, b = rng.uniform(8, 25, 2), rng.uniform(size - 25, size - 8, 2)
        ink = np.maximum(
            _polyline(np.array([a, b]), size, width),
            _polyline(np.array([[a[0], b[1]], [b[0], a[1]]]), size, width),
        )
        if rng.random() < 0.5:  # a box around it, or a second cross: hash-like marks
            ink = np.maximum(
                ink,
                _polyline(
                    np.array(
                        [[a[0], a[1]], [b[0], a[1]], [b[0], b[1]], [a[0], b[1]], [a[0], a[1]]]
                    ),
                    size,
                    width,
                ),
            )
    else:  # wave: a wavy line, several periods
        xs = np.linspace(8, size - 8, 120)
        periods = rng.uniform(2, 5)
        ys = size / 2 + size * rng.uniform(0.1, 0.3) * np.sin(xs / size * 2 * np.pi * periods)
        ink = _polyline(np.stack([xs, ys], 1), size, width)
    return _warp(ink, rng, rng.uniform(0, 0.02), rng.uniform(-0.2, 0.2), rng.uniform(0, 360))


def _digit_ink(digit: np.ndarray) -> np.ndarray:
    return (
        cv2.resize(digit, (84, 84), interpolation=cv2.INTER_CUBIC).astype(np.float32).clip(0, 255)
        / 255
    )


def _crossed_ink(rng: Rng, digit: np.ndarray) -> np.ndarray:
    ink = _digit_ink(digit)
    size, width = ink.shape[0], int(rng.integers(3, 8))
    if rng.random() < 0.5:
        over = _scribble_ink(rng)
        over = cv2.resize(over, (size, size))
    else:  # two or three strokes across the whole digit (one bar across a 7 is a crossed 7)
        over = np.zeros_like(ink)
        for _ in range(int(rng.integers(2, 4))):
            a = np.array([rng.uniform(0, 20), rng.uniform(10, size - 10)])
            b = np.array([rng.uniform(size - 20, size), rng.uniform(10, size - 10)])
            over = np.maximum(over, _polyline(np.array([a, b]), size, width))
        if rng.random() < 0.5:
            over = cv2.warpAffine(
                over,
                cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-60, 60), 1),
                (size, size),
            )
    return np.maximum(ink, over)


def _is_stroke(ink: np.ndarray) -> bool:
    """A straight stroke, however broad: its skeleton spreads along one axis only (the
    second principal axis under 0.25 of the first), as a 1's does."""
    ys, xs = np.nonzero(skeletonize(ink > 0.3))
    if xs.size < 3:
        return True
    spread = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))
    return bool(np.sqrt(max(spread[0], 0.0) / max(spread[1], 1e-9)) < 0.25)


def _has_loop(ink: np.ndarray) -> bool:
    """Whether the ink closes around a hole (at least 2% of its box): an 8's upper loop,
    a 9's or a 6's, alone, is a 0."""
    mask = cv2.morphologyEx(  # closed a little: a loop the cut grazes is still a loop
        (ink > 0.3).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)
    )
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return False
    ys, xs = np.nonzero(mask)
    box = float((np.ptp(xs) + 1) * (np.ptp(ys) + 1))
    return any(
        parent >= 0 and cv2.contourArea(contour) >= 0.02 * box
        for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True)
    )


def _piece_ink(rng: Rng, digit: np.ndarray) -> np.ndarray | None:
    """Part of a digit: what lies on one side of a random line near its middle (25-60% of its
    ink), so a segmenter's half-digit or a digit cut by the frame edge is not a digit. A piece
    that is itself a digit is not kept: a straight stroke (any piece of a 1, a 7's or a 4's
    stem) reads as a 1, a closed loop (an 8's, a 9's) as a 0."""
    ink = _digit_ink(digit)
    total = float(ink.sum())
    ys, xs = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]].astype(np.float32)
    for _ in range(10):
        angle = rng.uniform(0, 2 * np.pi)
        centre = np.array([ink.shape[1], ink.shape[0]]) / 2 + rng.normal(0, 6, 2)
        side = (xs - centre[0]) * np.cos(angle) + (ys - centre[1]) * np.sin(angle) > 0
        piece = ink * side
        if (
            0.25 <= piece.sum() / max(total, 1e-6) <= 0.6
            and not _is_stroke(piece)
            and not _has_loop(piece)
        ):
            return piece
    return None


def reads_as_digit(inputs: np.ndarray) -> str | None:
    """ "1" when a model input (28x28, ink in [0, 1]) is one lone, straight, thin stroke, "0"
    when it is one ring (a single closed line around a hole, at least 30% of the shape it
    encloses, which is nearly convex): whatever picture it came from (a fabric's stripe, a
    photo's edge, a letter's box), any reader sees that digit in it, and a model taught to
    call it "not a digit" refuses real 1s and 0s drawn with a fine pen."""
    mask = (cv2.resize(inputs.astype(np.float32), (84, 84)) > 0.3).astype(np.uint8)
    if cv2.connectedComponents(mask)[0] != 2:  # the background and one piece of ink
        return None
    skeleton = skeletonize(mask > 0)
    length = int(skeleton.sum())
    if length >= 3 and _is_stroke(skeleton.astype(np.float32)) and mask.sum() <= 0.35 * length**2:
        return "1"  # straight, and its mean width (area / length) at most 0.35 of its length
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = [c for c, h in zip(contours, hierarchy[0], strict=True) if h[3] < 0]
    holes = [c for c, h in zip(contours, hierarchy[0], strict=True) if h[3] >= 0]
    if len(outer) == 1 and len(holes) == 1:
        enclosed = cv2.contourArea(outer[0])
        if cv2.contourArea(holes[0]) >= 0.3 * enclosed and enclosed >= 0.85 * cv2.contourArea(
            cv2.convexHull(outer[0])
        ):
            return "0"
    return None


# -- whole pictures ----------------------------------------------------------------------------


def _lighting(shape: tuple[int, int], rng: Rng, strength: float = 0.35) -> np.ndarray:
    """Uneven light: a gradient across the page and a soft shadow (made at 1/8 size: light
    varies slowly, and blurring full-size pictures would cost most of the time)."""
    full_height, full_width = shape
    height, width = max(4, full_height // 8), max(4, full_width // 8)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1.0 - rng.uniform(0.05, strength) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    shadow = np.zeros((height, width), np.float32)
    axes = (int(width * rng.uniform(0.2, 0.6)), int(height * rng.uniform(0.2, 0.5)))
    cv2.ellipse(
        shadow,
        (int(rng.uniform(0, width)), int(rng.uniform(0, height))),
        axes,
        rng.uniform(0, 180),
        0,
        360,
        1.0,
        -1,
    )
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(width, height) / 12)
    light = light * (1.0 - rng.uniform(0.0, strength) * shadow)
    return cv2.resize(light, (full_width, full_height), interpolation=cv2.INTER_LINEAR)


def _camera(page: np.ndarray, rng: Rng, blur: float, noise: float) -> Picture:
    if blur > 0:
        page = cv2.GaussianBlur(page, (0, 0), blur)
    page = page + rng.normal(0, noise, page.shape)
    picture = np.clip(page, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _, encoded = cv2.imencode(
            ".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))]
        )
        picture = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return picture


def _on_paper(ink: np.ndarray, rng: Rng, height: int | None = None) -> Picture:
    """Ink (coverage map) as dark pen on lit paper, with a margin around it."""
    height = height or int(rng.integers(28, 160))
    scale = height / ink.shape[0]
    ink = cv2.resize(
        ink, (max(2, round(ink.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
    )
    margin = lambda: int(rng.integers(height // 4 + 2, height + 4))  # noqa: E731
    top, bottom, left, right = margin(), margin(), margin(), margin()
    ink = cv2.copyMakeBorder(ink, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    paper, pen = rng.uniform(150, 250), rng.uniform(0, 90)
    page = paper - (paper - pen) * ink * rng.uniform(0.7, 1.0)
    page = page * _lighting(page.shape, rng)
    return _camera(page, rng, rng.uniform(0, 1.2), rng.uniform(0.5, 6))


def _on_board(ink: np.ndarray, rng: Rng, chalky: bool) -> Picture:
    """Ink as chalk (or a light marker) on a dark board."""
    height = int(rng.integers(40, 160))
    scale = height / ink.shape[0]
    ink = cv2.resize(
        ink, (max(2, round(ink.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
    )
    pad = int(rng.integers(height // 4 + 2, height))
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    if chalky:  # chalk leaves grains and gaps where the board's surface dips
        grain = cv2.GaussianBlur(
            rng.random(ink.shape).astype(np.float32), (0, 0), rng.uniform(0.6, 1.5)
        )
        grain = (grain - grain.min()) / max(float(np.ptp(grain)), 1e-6)
        ink = ink * np.clip((grain - rng.uniform(0.15, 0.4)) * 3, 0, 1)
    board, chalk = rng.uniform(15, 90), rng.uniform(170, 250)
    smudge = cv2.resize(
        rng.random((6, 6)).astype(np.float32), ink.shape[::-1], interpolation=cv2.INTER_CUBIC
    )
    smudge = smudge.clip(0, 1) * rng.uniform(0, 60)
    page = board + smudge + (chalk - board) * ink
    return _camera(page, rng, rng.uniform(0, 1.0), rng.uniform(1, 8))


def _mnist_format(ink: np.ndarray, rng: Rng) -> np.ndarray:
    """Ink straight to a 28x28 input, fitted and centred as MNIST (and EMNIST) digits are."""
    if rng.random() < 0.5:
        ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.3, 1.0))
    ink = ink / max(float(ink.max()), 1e-6)
    settings = PreprocessSettings(box=int(rng.choice([18, 20, 20, 22])))
    return model_input(ink, settings)


def _styled(ink: np.ndarray | None, rng: Rng) -> Picture | np.ndarray | None:
    """A stroke drawing as one of the ways users' pictures arrive."""
    if ink is None:
        return None
    trimmed = _trim(ink)
    if trimmed is None:
        return None
    roll = rng.random()
    if roll < 0.3:
        return _mnist_format(trimmed, rng)
    if roll < 0.85:
        return _on_paper(trimmed, rng)
    return _on_board(trimmed, rng, chalky=rng.random() < 0.5)


def _texture(rng: Rng, samples: tuple[str, ...]) -> Picture:
    """Paper grain, fabric, wood, noise, or one of scikit-image's textures."""
    h, w = int(rng.integers(28, 200)), int(rng.integers(28, 200))
    kind = rng.choice(["grain", "fabric", "wood", "noise", "sample"])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "grain":
        base = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 3))
        page = rng.uniform(120, 240) + (base - 0.5) * rng.uniform(20, 160)
    elif kind == "fabric":
        period = rng.uniform(3, 14)
        angle = rng.uniform(0, np.pi)
        u = xs * np.cos(angle) + ys * np.sin(angle)
        v = -xs * np.sin(angle) + ys * np.cos(angle)
        weave = np.sin(2 * np.pi * u / period) * np.sin(
            2 * np.pi * v / period * rng.uniform(0.5, 2)
        )
        page = rng.uniform(60, 200) + weave * rng.uniform(20, 70) + rng.normal(0, 8, (h, w))
    elif kind == "wood":
        cx, cy = rng.uniform(-w, 2 * w), rng.uniform(-h, 2 * h)
        radius = np.hypot((xs - cx) * rng.uniform(0.1, 1), ys - cy)
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 6) * 12
        page = rng.uniform(80, 200) + rng.uniform(20, 60) * np.sin(
            (radius + noise) / rng.uniform(2, 8)
        )
    elif kind == "noise":
        if rng.random() < 0.5:
            page = rng.normal(rng.uniform(40, 200), rng.uniform(10, 80), (h, w))
        else:  # salt and pepper, or sparse specks
            page = np.where(
                rng.random((h, w)) < rng.uniform(0.01, 0.3),
                rng.uniform(0, 255),
                rng.uniform(0, 255),
            )
    else:
        photo = _sample_photo(rng, samples)
        return _crop(photo, rng)
    return _camera(page.astype(np.float32), rng, rng.uniform(0, 1), rng.uniform(0, 4))


# Training crops these photographs and textures; the benchmark (benchmarks/not_a_digit.py,
# `held_out=True`) crops only the held-out ones, which training never sees.
PHOTOS = (
    "camera",
    "cat",
    "coins",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cell",
    "checkerboard",
    "colorwheel",
)
HELD_OUT_PHOTOS = ("astronaut", "coffee", "rocket", "grace_hopper")
TEXTURES = ("brick", "grass")
HELD_OUT_TEXTURES = ("gravel",)


@cache
def _photo(name: str) -> np.ndarray:
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
            image = np.asarray(Image.open(file).convert("L"))
    else:
        import skimage.data

        image = np.asarray(getattr(skimage.data, name)())
        if image.dtype == np.bool_:
            image = image.astype(np.uint8) * 255
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
        elif image.dtype != np.uint8:
            image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image


def _sample_photo(rng: Rng, names: tuple[str, ...] = PHOTOS) -> np.ndarray:
    return _photo(str(rng.choice(names)))


def _crop(image: np.ndarray, rng: Rng) -> Picture:
    """A random crop (4-60% of the shorter side), resized to what a camera would give."""
    short = min(image.shape[:2])
    side = int(short * rng.uniform(0.04, 0.6))
    side = max(side, 12)
    top = int(rng.integers(0, image.shape[0] - side + 1))
    left = int(rng.integers(0, image.shape[1] - side + 1))
    aspect = rng.uniform(0.7, 1.4)
    crop = image[top : top + side, left : left + min(image.shape[1] - left, int(side * aspect))]
    out = int(rng.integers(28, 240))
    crop = cv2.resize(
        crop, (out, max(8, int(out * crop.shape[0] / crop.shape[1]))), interpolation=cv2.INTER_AREA
    )
    if rng.random() < 0.3:
        crop = 255 - crop
    return _camera(crop.astype(np.float32), rng, rng.uniform(0, 0.8), rng.uniform(0, 3))


def _blank(rng: Rng) -> Picture:
    """Blank paper: shadows, a fold or crease, specks, grain."""
    h, w = int(rng.integers(28, 300)), int(rng.integers(28, 300))
    page = np.full((h, w), rng.uniform(140, 250), np.float32)
    page *= _lighting((h, w), rng, strength=0.6)
    if rng.random() < 0.5:  # a fold: a line of shade across the page
        fold = np.zeros((h, w), np.float32)
        p = rng.uniform(0, 1, 2) * [w, h]
        angle = rng.uniform(0, np.pi)
        d = np.array([np.cos(angle), np.sin(angle)]) * (h + w)
        cv2.line(
            fold,
            tuple(int(v) for v in p - d),
            tuple(int(v) for v in p + d),
            1.0,
            int(rng.integers(1, 4)),
        )
        page -= cv2.GaussianBlur(fold, (0, 0), rng.uniform(0.5, 3)) * rng.uniform(10, 60)
    for _ in range(int(rng.integers(0, 12))):  # specks and dust
        cv2.circle(
            page,
            (int(rng.integers(0, w)), int(rng.integers(0, h))),
            int(rng.integers(0, 3)),
            float(rng.uniform(30, 140)),
            -1,
        )
    grain = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0) - 0.5
    return _camera(page + grain * rng.uniform(0, 40), rng, rng.uniform(0, 1), rng.uniform(0, 4))


# -- positives ---------------------------------------------------------------------------------


def _euro_one(rng: Rng) -> np.ndarray:
    """A 1 with a flag (and sometimes a foot), drawn as a hand would."""
    size, width = 96, int(rng.integers(4, 11))
    top = np.array([size / 2 + rng.uniform(-6, 6), rng.uniform(8, 16)])
    bottom = np.array([top[0] - rng.uniform(-4, 12), size - rng.uniform(8, 16)])
    flag_length = (bottom[1] - top[1]) * rng.uniform(0.25, 0.5)
    angle = np.deg2rad(rng.uniform(25, 70))
    flag = top + flag_length * np.array([-np.cos(angle), np.sin(angle)])
    if rng.random() < 0.5:  # the flag drawn as one stroke into the stem
        ink = _polyline(np.array([flag, top, bottom]), size, width)
    else:
        ink = np.maximum(
            _polyline(np.array([flag, top]), size, width),
            _polyline(np.array([top, bottom]), size, width),
        )
    if rng.random() < 0.3:  # a foot
        half = (bottom[1] - top[1]) * rng.uniform(0.15, 0.3)
        ink = np.maximum(
            ink, _polyline(np.array([bottom - half * RIGHT, bottom + half * RIGHT]), size, width)
        )
    return _warp(ink, rng, rng.uniform(0, 0.02), rng.uniform(-0.2, 0.2), rng.uniform(-8, 8))


def _thin(rng: Rng, digit: np.ndarray) -> np.ndarray:
    """A digit drawn with a fine pen or a pencil: MNIST's strokes are broad, a photographed
    ballpoint's are a pixel or two wide once fitted to the model's box (and the letters the
    model learns to refuse are often re-penned thin, so thinness must not mean "not a
    digit")."""
    ink = _pen(_digit_ink(digit), rng, rng.uniform(2, 6))
    return _warp(ink, rng, rng.uniform(0, 0.015), rng.uniform(-0.15, 0.15), rng.uniform(-6, 6))


# Fonts whose "0"-"9" are plain lining digits: Computer Modern's math italic has old-style
# figures and its symbol font no digits at all.
NOT_FOR_DIGITS = ("cmmi10", "cmsy10")


def _font_digit(rng: Rng, digit: int) -> np.ndarray | None:
    """A digit from the fonts the letters come from, drawn as the letters are (often
    re-penned by hand, wobbled, slanted): without them, "drawn from a font" would mean "not
    a digit" to the model, and a printed or carefully written digit (a narrow upright 0)
    would be refused."""
    fonts = tuple(f for f in _fonts() if not any(name in f for name in NOT_FOR_DIGITS))
    ink = _glyph(rng, str(digit), fonts)
    return _handlike(ink, rng) if ink is not None and rng.random() < 0.7 else ink


def _crossed_seven(rng: Rng, seven: np.ndarray) -> np.ndarray:
    """A 7 with a bar across its stem, where continental writers put one."""
    ink = _digit_ink(seven)
    rows = np.flatnonzero(ink.max(axis=1) > 0.3)
    if rows.size < 10:
        return ink
    y = int(rows[0] + (rows[-1] - rows[0]) * rng.uniform(0.45, 0.62))
    cols = np.flatnonzero(ink[y] > 0.3)
    if cols.size == 0:
        return ink
    centre = cols.mean()
    half = (rows[-1] - rows[0]) * rng.uniform(0.15, 0.3)
    tilt = rng.uniform(-4, 4)
    bar = _polyline(
        np.array([[centre - half, y + tilt], [centre + half, y - tilt]]),
        ink.shape[0],
        int(rng.integers(5, 10)),
    )
    return np.maximum(ink, bar)


def _lowres(rng: Rng, digit: np.ndarray) -> Picture:
    """A digit captured about 8 px tall (a camera far away, a coarse scan), then enlarged."""
    ink = _trim(_digit_ink(digit))
    if ink is None:
        return np.zeros((28, 28), np.uint8)
    tall = int(rng.integers(6, 11))
    small = cv2.resize(
        ink, (max(2, round(ink.shape[1] * tall / ink.shape[0])), tall), interpolation=cv2.INTER_AREA
    )
    pad = int(rng.integers(2, 6))
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    dark_ink = rng.random() < 0.7
    paper, pen = (
        (rng.uniform(160, 250), rng.uniform(0, 80))
        if dark_ink
        else (rng.uniform(0, 40), rng.uniform(180, 255))
    )
    page = paper + (pen - paper) * small
    page = page + rng.normal(0, rng.uniform(0, 6), page.shape)
    factor = rng.uniform(2.5, 8)
    size = (round(page.shape[1] * factor), round(page.shape[0] * factor))
    interpolation = int(
        rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST, cv2.INTER_AREA])
    )
    page = cv2.resize(page.astype(np.float32), size, interpolation=interpolation)
    return _camera(page, rng, rng.uniform(0, factor / 2), rng.uniform(0, 3))


# -- making the sets ---------------------------------------------------------------------------


def negative(
    kind: str, rng: Rng, digits: np.ndarray, *, held_out: bool = False
) -> Picture | np.ndarray | None:
    """One picture of `kind` (see the module doc); `digits` are MNIST training digits (the
    benchmark passes test digits). `held_out`: photographs and textures from the ones
    training never sees."""
    if kind == "letter":
        text = str(rng.choice(list(GLYPHS)))
        ink = _glyph(rng, text)
        return _styled(_handlike(ink, rng) if ink is not None and rng.random() < 0.7 else ink, rng)
    if kind == "scribble":
        return _styled(_scribble_ink(rng), rng)
    if kind == "crossed":
        return _styled(_crossed_ink(rng, digits[rng.integers(len(digits))]), rng)
    if kind == "piece":
        return _styled(_piece_ink(rng, digits[rng.integers(len(digits))]), rng)
    if kind == "texture":
        return _texture(rng, HELD_OUT_TEXTURES if held_out else TEXTURES)
    if kind == "photo":
        return _crop(_sample_photo(rng, HELD_OUT_PHOTOS if held_out else PHOTOS), rng)
    if kind == "blank":
        return _blank(rng)
    raise ValueError(f"unknown kind of negative {kind!r}")


def positive(
    kind: str, rng: Rng, digits: np.ndarray, labels: np.ndarray
) -> tuple[Picture | np.ndarray | None, int]:
    """One picture of a digit (see the module doc) and its label."""
    if kind == "euro1":
        if rng.random() < 0.55:
            return _styled(_euro_one(rng), rng), 1
        sevens = np.flatnonzero(labels == 7)
        return _styled(_crossed_seven(rng, digits[rng.choice(sevens)]), rng), 7
    index = int(rng.integers(len(digits)))
    digit, label = digits[index], int(labels[index])
    if kind == "lowres":
        return _lowres(rng, digit), label
    if kind == "thin":
        return _styled(_thin(rng, digit), rng), label
    if kind == "font":
        return _styled(_font_digit(rng, label), rng), label
    if kind == "chalk":
        ink = _trim(_digit_ink(digit))
        return (
            None
            if ink is None
            else _on_board(_warp(ink, rng, 0, 0, rng.uniform(-8, 8)), rng, chalky=True)
        ), label
    if kind == "photo":
        ink = _trim(_digit_ink(digit))
        return (None if ink is None else _on_paper(ink, rng, int(rng.integers(20, 160)))), label
    raise ValueError(f"unknown kind of positive {kind!r}")


NEGATIVE_KINDS = ("letter", "scribble", "crossed", "piece", "texture", "photo", "blank")
NEGATIVE_SHARES = (0.3, 0.15, 0.1, 0.15, 0.1, 0.15, 0.05)
POSITIVE_KINDS = ("euro1", "lowres", "chalk", "photo", "thin", "font")
POSITIVE_SHARES = (0.15, 0.25, 0.15, 0.15, 0.15, 0.15)


@dataclass(frozen=True)
class PictureSet:
    """Model inputs made from generated pictures: `x` float32 (N, 28, 28) as the runtime's
    preprocessing gives them, `y` labels (10 = not a digit), `kind` of each, and how many
    pictures of each kind the preprocessing already answered "no digit" for."""

    x: np.ndarray
    y: np.ndarray
    kind: np.ndarray
    dropped: dict[str, int]

    @staticmethod
    def empty() -> PictureSet:
        return PictureSet(
            np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64), np.zeros(0, "<U8"), {}
        )


def _to_input(picture: Picture | np.ndarray | None) -> np.ndarray | None:
    if picture is None:
        return None
    if picture.dtype != np.uint8:  # already an MNIST-format model input
        return picture.astype(np.float32)
    result = preprocess_gray(picture)
    return None if isinstance(result, NoDigit) else result


def _chunk(
    args: tuple[str, int, int, int, np.ndarray, np.ndarray],
) -> tuple[list[np.ndarray], list[int], list[str], list[str]]:
    side, seed, start, count, digits, labels = args
    rng = np.random.default_rng([seed, start])
    kinds, shares = (
        (NEGATIVE_KINDS, NEGATIVE_SHARES)
        if side == "negative"
        else (POSITIVE_KINDS, POSITIVE_SHARES)
    )
    xs, ys, made, dropped = [], [], [], []
    for _ in range(count):
        kind = str(rng.choice(kinds, p=shares))
        if side == "negative":
            picture, label = negative(kind, rng, digits), NONE_LABEL
        else:
            picture, label = positive(kind, rng, digits, labels)
        inputs = _to_input(picture)
        if inputs is None:
            dropped.append(kind)
            continue
        if side == "negative" and (digit := reads_as_digit(inputs)):
            dropped.append(f"{kind}: reads as {digit}")
            continue
        xs.append(inputs)
        ys.append(label)
        made.append(kind)
    return xs, ys, made, dropped


def make_set(
    side: str,
    count: int,
    seed: int,
    digits: np.ndarray,
    labels: np.ndarray,
    *,
    workers: int = 0,
    progress: Callable[[str], None] | None = None,
) -> PictureSet:
    """`count` pictures of `side` ("negative" or "positive"), seeded, made on `workers`
    processes (0: every usable core) in chunks whose seeds do not depend on the workers."""
    import os

    chunk = 500
    # Each chunk gets its own sample of digits: sending all 54,000 to every chunk would cost
    # more than drawing its pictures.
    pick = np.random.default_rng([seed, 7]).integers(
        0, len(digits), (len(range(0, count, chunk)), 2000)
    )
    jobs = [
        (side, seed, start, min(chunk, count - start), digits[pick[i]], labels[pick[i]])
        for i, start in enumerate(range(0, count, chunk))
    ]
    workers = workers or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    xs: list[np.ndarray] = []
    ys: list[int] = []
    made: list[str] = []
    dropped: dict[str, int] = {}
    # Fresh processes (spawn), not forks of a process that may hold TensorFlow's threads.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done, (x, y, kind, lost) in enumerate(pool.map(_chunk, jobs), 1):
            xs += x
            ys += y
            made += kind
            for name in lost:
                dropped[name] = dropped.get(name, 0) + 1
            if progress and done % 10 == 0:
                progress(f"{side} pictures: {done * chunk} of {count}")
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, 28, 28), np.float32)
    return PictureSet(x, np.array(ys, np.int64), np.array(made), dropped)
