"""Read several digits in a picture: a meter, a house number, "2026", a page of rows.

After the same analysis as a single digit (`photo.analyse`), the ink blobs are grouped:

1. rows: tall blobs (at least a third of the tallest) start rows; a blob joins the row its
   vertical extent overlaps most; rows with almost no gap between them over the same
   columns are the halves of broken digits and are joined; rows are read top to bottom;
2. digits: within a row, left to right, a blob joins the digit before it when they overlap
   horizontally by half the narrower one (a broken stroke, the bar of a 5, a 7's crossbar);
3. touching digits: a group wide enough to be several digits is also offered cut into 2,
   3... pieces at the columns with the least ink near where equal-width digits would meet;
   the recogniser chooses the reading (`read_number`, below);
4. dots, commas and specks (shorter than a third of the row) are dropped.

Each digit is then cropped like a single digit (`photo.crop_blobs`), and `read_number` has
the model read every way of reading each group and keeps the surest: a `NumberReading`. A
piece the model calls not a digit (a model with a none class), or whose best digit scores
below the operating point, is kept with label None: listed, but not part of the text.

This module needs OpenCV (through `photo`); `Classifier.read_number` imports it only when a
number is read, so that classifying MNIST-like files never loads OpenCV.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .photo import Analysed, Blob, Found, analyse, crop_blobs, union_box
from .preprocess import as_gray, model_input
from .sidecar import PreprocessSettings
from .trace import Box

if TYPE_CHECKING:
    from .trace import Trace

ROW_SEED = 1 / 3  # blobs at least this fraction of the tallest blob start rows
MIN_HEIGHT = 1 / 3  # digits shorter than this fraction of their row are dropped
SPLIT_FROM = 0.8  # a group wider than this times its row height may be touching digits
WIDEST = 1.25  # and one wider than this is never a single digit
NARROWEST = 0.45  # width / height of the narrowest digits, to bound how many may touch
MAX_TOUCHING = 4
BROKEN_GAP = 0.25  # rows closer than this fraction of their height are halves of digits
SPLIT_COST = 0.15  # how much surer a reading as touching digits must be, per extra digit
# In a row of digits a piece is far more likely a digit than a picture alone is: it is "not a
# digit" only when the model says so with at least this probability (a prior, measured with
# benchmarks/not_a_digit.py: rows read exactly 92.3% -> 96.0%, single letters refused as
# such 96.3% -> 89.6%, for the default model).
NONE_IN_A_ROW = 0.9
NO_DIGITS = "no digits found"
NOT_A_DIGIT = "not a digit"  # as classifier.NOT_A_DIGIT (which imports this module lazily)


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: its label, score and box (x, y, width, height) in the picture.

    `label` is None for a piece the model calls not a digit, or whose best digit scores
    below the operating point (`reason` says which); `score` is then still that digit's
    probability, and `none_score` the not-a-digit class's (None for a model without one)."""

    label: int | None
    score: float
    box: Box
    inputs: np.ndarray | None = field(default=None, repr=False, compare=False)  # what the model saw
    none_score: float | None = None
    reason: str | None = None
    doubtful: bool = False  # a digit, but below the operating point: the number is unsure


@dataclass(frozen=True)
class NumberReading:
    """Several digits read in reading order: `text` all of them, `lines` one string per row.
    `digits` lists every piece read, those with label None (not digits) too; `text` and
    `lines` are made of the others (`read`)."""

    text: str
    lines: tuple[str, ...]
    digits: tuple[DigitReading, ...]

    @property
    def read(self) -> tuple[DigitReading, ...]:
        """The digits kept: those with a label, in reading order; none at all when one digit
        is doubtful (below the operating point): a number with a digit left out would be
        another number, read with confidence."""
        if any(digit.doubtful for digit in self.digits):
            return ()
        return tuple(digit for digit in self.digits if digit.label is not None)

    @property
    def score(self) -> float:
        """The reading is as sure as its least sure digit kept (0 when there is none)."""
        return min((digit.score for digit in self.read), default=0.0)

    @property
    def reason(self) -> str | None:
        """Why nothing was read (None when some digit was): no digits found, or why each
        piece was not a digit (the model's answer, or the caller's threshold)."""
        if self.read:
            return None
        doubtful = [digit.reason for digit in self.digits if digit.doubtful and digit.reason]
        if doubtful:
            return doubtful[0]
        reasons = [digit.reason or NOT_A_DIGIT for digit in self.digits]
        if not reasons:
            return NO_DIGITS
        return NOT_A_DIGIT if NOT_A_DIGIT in reasons else reasons[0]


@dataclass
class _Row:
    top: int
    bottom: int
    blobs: list[Blob]

    def overlap(self, blob: Blob) -> int:
        return min(self.bottom, blob.y + blob.h) - max(self.top, blob.y)


def _rows(blobs: list[Blob]) -> list[_Row]:
    tallest = max(b.h for b in blobs)
    rows: list[_Row] = []
    for blob in sorted(blobs, key=lambda b: -b.h):
        best = max(rows, key=lambda r: r.overlap(blob), default=None)
        fits = best is not None and best.overlap(blob) > 0.5 * min(blob.h, best.bottom - best.top)
        if best is not None and (fits or (blob.h < ROW_SEED * tallest and best.overlap(blob) > 0)):
            best.blobs.append(blob)
            best.top, best.bottom = min(best.top, blob.y), max(best.bottom, blob.y + blob.h)
        elif blob.h >= ROW_SEED * tallest:
            rows.append(_Row(blob.y, blob.y + blob.h, [blob]))
        # else: a small blob beside every row: a speck, dropped
    return _join_broken(sorted(rows, key=lambda r: r.top))


def _join_broken(rows: list[_Row]) -> list[_Row]:
    """Join a row to the one above when they are the two halves of broken digits: almost no
    gap between them (a stroke's worth) and the same columns. Rows of a page have gaps."""
    joined: list[_Row] = []
    for row in rows:
        if joined:
            above = joined[-1]
            gap = row.top - above.bottom
            x0, _, w0, _ = union_box(above.blobs)
            x1, _, w1, _ = union_box(row.blobs)
            overlap = min(x0 + w0, x1 + w1) - max(x0, x1)
            small_gap = gap < BROKEN_GAP * min(row.bottom - row.top, above.bottom - above.top)
            if small_gap and overlap > 0.5 * min(w0, w1):
                above.blobs.extend(row.blobs)
                above.bottom = max(above.bottom, row.bottom)
                continue
        joined.append(row)
    return joined


def _digits_in_row(row: _Row) -> list[list[Blob]]:
    groups: list[list[Blob]] = []
    for blob in sorted(row.blobs, key=lambda b: b.x):
        if groups:
            x, _, w, _ = union_box(groups[-1])
            overlap = min(x + w, blob.x + blob.w) - max(x, blob.x)
            if overlap > 0.5 * min(w, blob.w):
                groups[-1].append(blob)
                continue
        groups.append([blob])
    height = row.bottom - row.top
    return [g for g in groups if union_box(g)[3] >= MIN_HEIGHT * height]


def _cuts(columns: np.ndarray, count: int) -> list[int]:
    """Where `count` touching digits meet: the emptiest column within a third of a digit of
    where equal-width digits would meet."""
    width = len(columns)
    cuts = [0]
    for k in range(1, count):
        centre, reach = round(k * width / count), max(1, round(width / count / 3))
        start = max(cuts[-1] + 1, centre - reach)
        window = columns[start : min(width - 1, centre + reach) + 1]
        if window.size:
            cuts.append(start + int(np.argmin(window)))
    return [*cuts, width]


def _readings(analysed: Analysed, group: list[Blob], height: int) -> list[list[Found]]:
    """The ways to read one ink group: as one digit (unless far too wide for one), and, when
    it is wide enough to be touching digits, as 2, 3... digits cut at the emptiest columns.
    The recogniser picks (`read_number`)."""
    x, y, w, h = union_box(group)
    whole = crop_blobs(analysed, group) if w <= WIDEST * height else None
    readings = [[whole]] if whole is not None else []
    if w <= SPLIT_FROM * height:
        return readings
    inside = np.isin(analysed.labels[y : y + h, x : x + w], [b.index for b in group])
    columns = (analysed.ink[y : y + h, x : x + w] * inside).sum(axis=0, dtype=np.int64)
    most = min(MAX_TOUCHING, max(2, round(w / (NARROWEST * height))))
    for count in range(2, most + 1):
        cuts = _cuts(columns, count)
        parts = [crop_blobs(analysed, group, (x + a, x + b)) for a, b in itertools.pairwise(cuts)]
        found = [part for part in parts if part is not None]
        if len(found) == count:
            readings.append(found)
    return readings


def find_number(gray: np.ndarray, trace: Trace | None = None) -> list[list[list[list[Found]]]]:
    """The ink of a picture as rows (top to bottom) of ink groups (left to right), each with
    the ways to read it (one digit, or several touching digits). `trace` records the
    analysis and which blobs the groups were made of (kept) and which were not (set aside)."""
    analysed = analyse(gray, trace)
    if analysed is None:
        return []
    blobs = [b for b in analysed.blobs if not b.touches_border]
    rows = []
    kept: list[int] = []
    for row in _rows(blobs) if blobs else []:
        groups = []
        for group in _digits_in_row(row):
            readings = _readings(analysed, group, row.bottom - row.top)
            if readings:
                groups.append(readings)
                kept.extend(b.index for b in group)
        if groups:
            rows.append(groups)
    if trace is not None:
        trace.kept = kept
        trace.set_aside = [b.index for b in analysed.blobs if b.index not in kept]
    return rows


def preprocess_number(
    gray: np.ndarray, settings: PreprocessSettings | None = None, trace: Trace | None = None
) -> list[list[list[list[tuple[np.ndarray, Box]]]]]:
    """uint8 grayscale -> rows (top to bottom) of ink groups (left to right) of the ways to
    read each group (one digit, or several touching ones) of (model input, box) per digit.
    `trace` records the analysis and the blobs kept (`number.read_number` adds the digits
    it chose)."""
    settings = settings or PreprocessSettings()
    return [
        [
            [
                [(model_input(found.crop, settings), found.box) for found in reading]
                for reading in group
            ]
            for group in row
        ]
        for row in find_number(as_gray(gray), trace)
    ]


def _digit(
    probabilities: np.ndarray,
    box: Box,
    inputs: np.ndarray,
    none_index: int | None,
    min_score: float,
    below_reason: str,
) -> tuple[DigitReading, float]:
    """One piece's row of `predict` -> its DigitReading (as `Classifier` answers one image)
    and how likely it is to be a digit at all, for choosing between ways to read a group.

    A piece is not a digit when p(none) is at least NONE_IN_A_ROW. A piece read as a digit
    counts with its digit's probability, as it always has. A piece the model calls not a
    digit counts as 1 - p(none): how likely it is to be a digit at
    all, which is small when the model is sure. So a cut that leaves a fragment the model
    calls "none" is an unlikely reading, while a group that reads as "none" whole (two
    touching digits look like no single digit) stays as unlikely as the model says, and
    its cuts into sure digits win. (Counting p(none) instead would make cutting a digit into
    confident non-digit fragments the "surest" reading.)"""
    none_score = None
    if none_index is not None:
        none_score = float(probabilities[none_index])
        probabilities = np.delete(probabilities, none_index)
    label = int(np.argmax(probabilities))
    score = float(probabilities[label])
    if none_score is not None and none_score >= NONE_IN_A_ROW:
        return DigitReading(None, score, box, inputs, none_score, NOT_A_DIGIT), 1.0 - none_score
    if score < min_score:
        return DigitReading(None, score, box, inputs, none_score, below_reason, True), score
    return DigitReading(label, score, box, inputs, none_score), score


def read_number(
    gray: np.ndarray,
    settings: PreprocessSettings,
    predict: Callable[[np.ndarray], np.ndarray],
    trace: Trace | None = None,
    *,
    none_index: int | None = None,
    min_score: float = 0.0,
    below_reason: str = NOT_A_DIGIT,
) -> NumberReading:
    """A uint8 grayscale picture of several digits (rows of them) -> NumberReading, with
    `predict` (`Classifier.predict`: inputs (N, 28, 28) -> probabilities (N, C)) reading
    every candidate digit in one call. The columns of `predict` are the digits 0-9, and the
    not-a-digit class at `none_index` (None: the model has none); a piece whose best digit
    scores below `min_score` gets label None and `below_reason` (`Classifier.read_number`
    passes its own).

    Where an ink group may be touching digits, each way of reading it is classified and
    the one whose pieces are surest (geometric mean of their scores, a not-a-digit piece
    counting as 1 - p(none); less SPLIT_COST per extra digit) is kept: a digit read
    confidently whole is never cut. Pieces with label None are listed in `digits` but left
    out of `text` and `lines`. `trace` records the preprocessing and the digits kept (boxes
    and inputs)."""
    rows = preprocess_number(gray, settings, trace=trace)
    digits_in = [digit for row in rows for group in row for reading in group for digit in reading]
    scores = iter(predict(np.stack([x for x, _ in digits_in])) if digits_in else ())
    lines, digits = [], []
    for row in rows:
        line: list[str] = []
        for group in row:
            best: list[DigitReading] = []
            best_value = -np.inf
            for reading in group:
                read, likely = [], []
                for inputs, box in reading:
                    digit, chance = _digit(
                        next(scores), box, inputs, none_index, min_score, below_reason
                    )
                    read.append(digit)
                    likely.append(chance)
                sure = float(np.exp(np.mean(np.log([max(chance, 1e-6) for chance in likely]))))
                value = sure - SPLIT_COST * (len(read) - 1)
                if len(read) > 1 and any(d.label is None and not d.doubtful for d in read):
                    # Cutting a group is for touching digits: a cut that leaves a piece that
                    # is no digit is never the reading (the group read whole may be none).
                    value = -np.inf
                if value > best_value:
                    best, best_value = read, value
            if not best:
                # Every way to read the group leaves a piece that is no digit (a group too
                # wide for one digit): none of it is read; its pieces are listed as such.
                best = [replace(d, label=None, reason=d.reason or NOT_A_DIGIT) for d in read]
            digits.extend(best)
            line.extend(str(d.label) for d in best if d.label is not None)
        lines.append("".join(line))
    kept = [line for line in lines if line]  # a row of nothing but non-digits is no row
    if any(digit.doubtful for digit in digits):
        kept = []  # one doubtful digit: no number (see NumberReading.read)
    number = NumberReading(text="".join(kept), lines=tuple(kept), digits=tuple(digits))
    if trace is not None:
        trace.boxes = [digit.box for digit in digits]
        trace.inputs = [digit.inputs for digit in digits if digit.inputs is not None]
        trace.reason = number.reason
    return number
