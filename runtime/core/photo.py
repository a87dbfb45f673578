"""Find the digit in a real picture: a phone photo, a scan, a paint-program file, a frame.

Steps (each a small function, all deterministic):

1. ``reduce``: analyse at most ``WORK_SIDE`` pixels on the longer side (area-averaged), so a
   12-megapixel photo costs about what a webcam frame does.
2. ``ink_map``: make the ink dark on a light ground (a light-on-dark board is inverted), then
   divide by the paper's own brightness, estimated by a morphological closing that erases
   the strokes: shadows and uneven light cancel out. The result is ink strength in [0, 1]
   (0 = paper), bright on black like MNIST.
3. ``ink_mask``: threshold (Otsu, never below ``MIN_INK``) and drop specks.
4. ``choose_digit``: the dominant ink region: components touching the image border (page
   edges, shadows, table) and long thin ones (ruled lines) are set aside; the largest
   remaining one is the digit, and nearby fragments (a broken pencil stroke, the bar of a 5)
   are merged into it, as are pieces straight above or below it from further away (the
   halves of a seven-segment digit, split where its middle segment is unlit).
5. ``normalise_strokes``: thicken thin strokes (pencil, fine pen) so that once the digit is
   20 pixels tall its strokes are as wide as MNIST's (about 2 pixels).

The caller then crops, fits 20x20 and centres by mass as for any MNIST-style input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .trace import Box

if TYPE_CHECKING:
    from .trace import Trace

WORK_SIDE = 800  # longer side, in pixels, at which pictures are analysed
MIN_INK = 0.10  # ink strength below which a pixel is never ink (paper texture, noise)
MIN_STRENGTH = 0.2  # a digit's strong strokes must reach this ink strength (0-1)
LINE_LENGTH = 0.6  # ruled lines run at least this fraction of the picture's longer side
LINE_MIN_SIDE = 100  # pictures smaller than this (longer side, px) are close crops: no lines
LINE_THICKNESS = 0.01  # and are thinner than this fraction of its shorter side (>= 3 px)
MIN_LEVELS = 24  # grey levels between the darkest and lightest parts of a picture with ink
TARGET_STROKE = 2.0 / 20.0  # MNIST strokes are about 2 px wide in the 20 px box
PAGE_EDGE = 0.2  # a blob with this much of the shorter side on the border is a page edge
BORDER_PREFERENCE = 0.25  # an inside blob this big (vs the largest) beats one on the border
MERGE_MARGIN = 0.35  # fragments within this fraction of the digit's size are merged into it
# A piece straight above or below the digit (most of its width within the digit's columns)
# is merged from further away: the segments of a seven-segment digit, split at its middle.
STACK_MARGIN = 0.8  # of the digit's height
STACK_OVERLAP = 0.4  # of the narrower one's width (a slanted display shifts its segments)


@dataclass(frozen=True)
class Found:
    """A digit located in a picture: its ink strength (float32 [0, 1]) cropped to its box."""

    crop: np.ndarray
    box: Box  # in the original picture


def reduce(gray: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    height, width = gray.shape
    factor = side / max(height, width)
    if factor >= 1:
        return gray
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _odd(value: float) -> int:
    return max(3, int(value) | 1)


def _quarter(gray: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    return cv2.resize(gray, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)


def ink_is_dark(small: np.ndarray) -> bool:
    """True when the ink is darker than the ground: the extreme further from the ground.

    The ground is the median of the picture's border (a bold digit may cover most of the
    picture, but rarely its border). Decided on the quarter-resolution picture, whose area
    averaging has already removed single-pixel noise and glints."""
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    background = float(np.median(border))
    return background - float(small.min()) >= float(small.max()) - background


def ink_map(gray: np.ndarray, small: np.ndarray) -> np.ndarray:
    """uint8 picture -> uint8 ink strength (0 = paper, 255 = full ink), bright ink on black."""
    if not ink_is_dark(small):
        gray, small = 255 - gray, 255 - small  # light ink on a dark ground: make it dark
    # The paper's brightness everywhere: a closing wider than any stroke erases the ink.
    # At a quarter of the resolution (the paper is smooth), then brought back up.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(max(small.shape) / 12),) * 2)
    paper_small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper_small = cv2.GaussianBlur(paper_small, (0, 0), max(1.0, max(small.shape) / 60))
    height, width = gray.shape
    paper = cv2.resize(paper_small, (width, height), interpolation=cv2.INTER_LINEAR)
    paper = cv2.max(paper, gray)  # ink can never be lighter than its paper
    # 255 * gray / paper: the picture relative to its own paper (255 where there is no ink).
    # In uint8 with OpenCV: a 640x480 frame is analysed in about 2 ms on one core.
    # (Where the paper is black, OpenCV's division by zero gives 0: full ink, as it should.)
    relative = np.asarray(cv2.divide(gray, paper, scale=255), dtype=np.uint8)
    return np.asarray(255 - relative, dtype=np.uint8)


def ink_mask(ink: np.ndarray) -> np.ndarray:
    """Binary mask (uint8 0/1) of confident ink: Otsu's threshold, never below MIN_INK."""
    otsu, mask = cv2.threshold(ink, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if otsu < MIN_INK * 255:  # a faint picture: Otsu splits paper texture; use the floor
        _, mask = cv2.threshold(ink, MIN_INK * 255, 1, cv2.THRESH_BINARY)
    return np.asarray(mask, dtype=np.uint8)


@dataclass(frozen=True)
class Blob:
    """One connected piece of ink in the analysed picture."""

    index: int  # its label in `Analysed.labels`
    x: int
    y: int
    w: int
    h: int
    area: int
    border_pixels: int  # how many of its pixels lie on the picture's outermost rows/columns

    @property
    def touches_border(self) -> bool:
        return self.border_pixels > 0


@dataclass(frozen=True)
class Analysed:
    """A picture after steps 1-3: ink strength, component labels, candidate blobs."""

    ink: np.ndarray  # uint8 ink strength (0 paper, 255 full ink), at the analysed size
    labels: np.ndarray  # int32 component label per pixel
    blobs: list[Blob]  # specks and ruled lines already set aside
    scale: tuple[float, float]  # original pixels per analysed pixel: (x, y)


def analyse(gray: np.ndarray, trace: Trace | None = None) -> Analysed | None:
    """Steps 1-3 of the module doc; None for a uniform picture (no ink at all). `trace`
    records the reduced picture, the ink map and the blob labels."""
    reduced = reduce(gray)
    scale = (gray.shape[1] / reduced.shape[1], gray.shape[0] / reduced.shape[0])
    if trace is not None:
        trace.gray, trace.scale = reduced, scale
    small = _quarter(reduced)
    if int(small.max()) - int(small.min()) < MIN_LEVELS:
        return None  # black, white or any single grey
    ink = ink_map(reduced, small)
    mask = remove_lines(ink_mask(ink))
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    height, width = ink.shape
    min_area = max(4, int(height * width * 2e-5))
    blobs = []
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    on_border = np.bincount(edge, minlength=count)
    for index, (x, y, w, h, area) in enumerate(_stats(labels, mask, count)[1:], start=1):
        line_like = max(w, h) > 15 * max(1, min(w, h)) and max(w, h) > 0.5 * max(width, height)
        if area >= min_area and not line_like:
            blobs.append(Blob(index, x, y, w, h, area, int(on_border[index])))
    if trace is not None:
        trace.ink, trace.labels = ink, labels
    return Analysed(ink, labels, blobs, scale)


def remove_lines(mask: np.ndarray) -> np.ndarray:
    """Drop ruled and grid lines: thin straight runs of ink across most of the picture.

    An opening with a long thin kernel keeps only long runs; parts of them thicker than a
    pen line are strokes, not lines, and what is left must itself be that long to be a
    line. Lines are removed, so a digit written across ruled lines is no longer joined to
    them (it loses the few pixels where they crossed it; `choose_digit` merges its
    fragments again). Small pictures (under LINE_MIN_SIDE) are close crops: no lines."""
    height, width = mask.shape
    if max(height, width) < LINE_MIN_SIDE:
        return mask
    length = round(max(height, width) * LINE_LENGTH)
    thin = max(3, round(min(height, width) * LINE_THICKNESS))
    # Fast path: a line needs a row (column) holding that much ink; most pictures have none.
    rows_ink = int(cv2.reduce(mask, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max())
    columns_ink = int(cv2.reduce(mask, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).max())
    lines: np.ndarray = np.zeros_like(mask)
    for possible, run, across in (
        (rows_ink >= length, (length, 1), (1, thin)),
        (columns_ink >= length, (1, length), (thin, 1)),
    ):
        if not possible:
            continue
        runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones(run[::-1], np.uint8))
        thick = cv2.morphologyEx(runs, cv2.MORPH_OPEN, np.ones(across[::-1], np.uint8))
        # The stepped ends of thick strokes also survive `runs - thick`: keep long pieces only.
        thin_runs = cv2.subtract(runs, thick)
        lines = cv2.bitwise_or(
            lines, cv2.morphologyEx(thin_runs, cv2.MORPH_OPEN, np.ones(run[::-1], np.uint8))
        )
    if not lines.any():
        return mask
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))  # and their antialiased edges
    return np.asarray(cv2.subtract(mask, lines), dtype=np.uint8)


def _stats(
    labels: np.ndarray, mask: np.ndarray, count: int
) -> list[tuple[int, int, int, int, int]]:
    """(x, y, width, height, area) per label, from the labelled (`mask`) pixels only.

    OpenCV's connectedComponentsWithStats costs ten times its labelling on a 640x480 frame;
    ink is a few percent of a picture, so sorting just the ink pixels by label is cheaper."""
    points = cv2.findNonZero(mask)
    if points is None:
        return [(0, 0, 0, 0, 0)] * count
    points = points.reshape(-1, 2)  # (N, 1, 2) in OpenCV 4, (N, 2) in OpenCV 5
    xs, ys = points[:, 0], points[:, 1]
    ids = labels[ys, xs]
    order = np.argsort(ids, kind="stable")
    ids, ys, xs = ids[order], ys[order], xs[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # each label's first pixel
    x0, x1 = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts)
    y0, y1 = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    areas = np.diff(np.r_[starts, ids.size])
    stats = [(0, 0, 0, 0, 0)] * count  # label 0 is the background
    for k, label in enumerate(ids[starts]):
        width, height = int(x1[k] - x0[k] + 1), int(y1[k] - y0[k] + 1)
        stats[int(label)] = (int(x0[k]), int(y0[k]), width, height, int(areas[k]))
    return stats


def union_box(blobs: list[Blob]) -> Box:
    x0, y0 = min(b.x for b in blobs), min(b.y for b in blobs)
    x1, y1 = max(b.x + b.w for b in blobs), max(b.y + b.h for b in blobs)
    return x0, y0, x1 - x0, y1 - y0


def choose_digit(blobs: list[Blob], shape: tuple[int, ...]) -> list[Blob]:
    """The dominant ink region of a picture of `shape`, grown by the fragments near it.

    Page-like blobs (a page edge, a shadow, the table: lying along the border, not just
    touching it with a stroke's end) are set aside; then a blob inside the picture is
    preferred to one touching the border unless it is a speck beside it (a digit may touch
    the border of a tight crop)."""
    height, width = shape[:2]

    def page_like(blob: Blob) -> bool:
        return blob.border_pixels >= PAGE_EDGE * min(height, width)

    pool = [b for b in blobs if not page_like(b)] or blobs
    largest = max(pool, key=lambda b: b.area)
    inside = [
        b for b in pool if not b.touches_border and b.area >= BORDER_PREFERENCE * largest.area
    ]
    main = max(inside or pool, key=lambda b: b.area)
    margin = MERGE_MARGIN * max(main.w, main.h)
    chosen, rest = [main], [b for b in pool if b is not main]
    stacked = False  # one piece at most joins from afar: two halves make a digit, not a column
    grew = True
    while grew:
        grew = False
        x, y, w, h = union_box(chosen)
        for blob in list(rest):
            near = (
                blob.x <= x + w + margin
                and blob.x + blob.w >= x - margin
                and blob.y <= y + h + margin
                and blob.y + blob.h >= y - margin
            )
            if not near and not stacked and _stacked(blob, (x, y, w, h)):
                near = stacked = True
            if near:
                chosen.append(blob)
                rest.remove(blob)
                grew = True
    return chosen


def _stacked(blob: Blob, box: Box) -> bool:
    """`blob` lies straight above or below `box` (the digit so far; see STACK_MARGIN), at
    most 1.5 times as tall."""
    x, y, w, h = box
    overlap = min(blob.x + blob.w, x + w) - max(blob.x, x)
    if overlap < STACK_OVERLAP * min(blob.w, w) or blob.h > 1.5 * h:
        return False
    gap = max(blob.y - (y + h), y - (blob.y + blob.h))
    return gap <= STACK_MARGIN * h


def crop_blobs(
    analysed: Analysed, blobs: list[Blob], columns: tuple[int, int] | None = None
) -> Found | None:
    """The ink of `blobs` (nothing else; only within `columns` if given, for touching
    digits) cropped to its box, contrast-stretched and with strokes normalised (step 5);
    None when it is only faint texture."""
    x, y, w, h = union_box(blobs)
    inside = analysed.labels[y : y + h, x : x + w]
    region = np.isin(inside, [b.index for b in blobs])
    if columns is not None:
        region[:, : max(0, columns[0] - x)] = False
        region[:, max(0, columns[1] - x) :] = False
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if not rows.size:
            return None
        region = region[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        x, y, w, h = x + int(cols[0]), y + int(rows[0]), region.shape[1], region.shape[0]
    strokes = region.astype(np.uint8)
    # Keep the chosen strokes (slightly widened, for their soft edges); drop everything else.
    keep = cv2.dilate(strokes, np.ones((3, 3), np.uint8))
    crop = analysed.ink[y : y + h, x : x + w].astype(np.float32) * (keep / np.float32(255))
    strong = float(np.percentile(crop[region], 90))
    if strong < MIN_STRENGTH:
        return None  # only faint texture or noise passed the threshold
    crop = normalise_strokes(np.clip(crop / strong, 0.0, 1.0), strokes)
    fx, fy = analysed.scale
    box = (round(x * fx), round(y * fy), max(1, round(w * fx)), max(1, round(h * fy)))
    return Found(crop=crop.astype(np.float32), box=box)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the mean distance to the background along the
    stroke's centre line (the ridge of the distance transform)."""
    # A border of background, so that a crop filled with ink still has an edge to measure to.
    distance = cv2.distanceTransform(
        cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0), cv2.DIST_L2, 3
    )
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))
    values = distance[ridge]
    return float(2.0 * values.mean()) if values.size else 1.0


def normalise_strokes(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Thicken strokes thinner than MNIST's for the size the digit will have (20 px)."""
    target = TARGET_STROKE * max(crop.shape)
    width = stroke_width(mask)
    if width >= target:
        return crop
    radius = max(1, round((target - width) / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return cv2.dilate(crop, kernel)


def find_digit(gray: np.ndarray, trace: Trace | None = None) -> Found | None:
    """Steps 1-5 of the module doc on a uint8 grayscale picture; None when there is no ink.
    `trace` records the analysis and which blobs were kept and set aside."""
    analysed = analyse(gray, trace)
    if analysed is None or not analysed.blobs:
        return None
    chosen = choose_digit(analysed.blobs, analysed.ink.shape)
    if trace is not None:
        trace.kept = [b.index for b in chosen]
        trace.set_aside = [b.index for b in analysed.blobs if b.index not in trace.kept]
    return crop_blobs(analysed, chosen)
