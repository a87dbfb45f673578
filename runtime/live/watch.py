"""Read digits from frames: `classify_frames` (region of interest -> reading per frame),
`Stabiliser` (report a value once it is steady), and `watch` (the loop behind
`edge-digits camera`, which hands each frame and each reading to its sinks).

    with open_source("clip.avi") as source:
        for result in classify_frames(source, Classifier(), CameraOptions()):
            result.value, result.score, result.milliseconds

Capture (`sources.py`), classification (here) and output (`sinks.py`, `web.py`) are
separate parts, so files, the window and the web page share the same code.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..core.classifier import Classifier
from ..core.number import NumberReading
from ..core.preprocess import preprocess_gray
from ..core.trace import Box, Trace
from ..errors import UsageError
from .sources import Frame

ROI_FRACTION = 0.6  # the default region: a centred square this fraction of the shorter side
FPS_WINDOW = 30  # frames over which the reported frame rate is averaged
P95_WINDOW = 10_000  # the summary's p95 is over at most this many of the latest frames

Value = int | str | None  # a digit, the text of a number, or None: nothing read


@dataclass(frozen=True)
class CameraOptions:
    """How frames are read.

    Fields:
        roi: the region (x, y, width, height) in frame pixels; None: a centred square.
        number: read several digits (rows of them) instead of one.
        stable_frames: frames in a row that must agree before a value is reported.
        min_score: frames whose (least sure) digit scores below this do not count.
        trace: record what preprocessing did for each frame (`FrameResult.trace`), for
            `--save-crops`.
    """

    roi: Box | None = None
    number: bool = False
    stable_frames: int = 3
    min_score: float = 0.8
    trace: bool = False

    def __post_init__(self) -> None:
        if self.stable_frames < 1:
            raise UsageError(f"--stable {self.stable_frames}: needs at least 1 frame")
        if not 0.0 <= self.min_score <= 1.0:
            raise UsageError(f"--min-score {self.min_score}: give a score between 0 and 1")


def parse_roi(text: str) -> Box:
    """`--roi x,y,w,h` (pixels) -> Box; UsageError says what is allowed."""
    parts = text.replace(" ", "").split(",")
    try:
        x, y, width, height = (int(part) for part in parts)
    except ValueError:
        raise UsageError(
            f"--roi {text}: give four whole numbers x,y,width,height in pixels, e.g. 100,50,200,200"
        ) from None
    if x < 0 or y < 0 or width < 8 or height < 8:
        raise UsageError(f"--roi {text}: x and y must be >= 0, width and height >= 8 pixels")
    return x, y, width, height


def region(shape: Sequence[int], roi: Box | None) -> Box:
    """The region to read in a frame of `shape`: `roi`, checked to lie inside, or the default."""
    frame_height, frame_width = int(shape[0]), int(shape[1])
    if roi is None:
        side = max(8, round(min(frame_height, frame_width) * ROI_FRACTION))
        return (frame_width - side) // 2, (frame_height - side) // 2, side, side
    x, y, width, height = roi
    if x + width > frame_width or y + height > frame_height:
        raise UsageError(
            f"--roi {x},{y},{width},{height} does not fit in the {frame_width}x{frame_height} "
            "frame; give a region inside it"
        )
    return roi


@dataclass(frozen=True)
class FrameResult:
    """What one frame read as. `value` is a digit (int), a number's text (str with --number:
    digits only) or None; `score` is the digit's probability (the least sure digit's for a
    number; 0 with no digit). What the model calls not a digit is nothing: value None."""

    frame: Frame = field(repr=False)
    roi: Box
    value: Value
    score: float
    milliseconds: float  # preprocessing + classification of this frame
    number: NumberReading | None = field(default=None, repr=False)
    reason: str | None = None  # why nothing was read
    trace: Trace | None = field(default=None, repr=False)  # with CameraOptions.trace


def to_gray(image: np.ndarray) -> np.ndarray:
    """A frame's pixels (BGR, BGRA or gray) -> uint8 grayscale."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY))
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def read_frame(classifier: Classifier, frame: Frame, options: CameraOptions) -> FrameResult:
    """Read the region of interest of one frame."""
    start = time.perf_counter()
    box = region(frame.image.shape, options.roi)
    x, y, width, height = box
    gray = to_gray(frame.image[y : y + height, x : x + width])
    trace = Trace() if options.trace else None
    if options.number:
        reading = classifier.read_number(gray, trace)
        value: Value = reading.text or None  # the digits kept; pieces that are not digits: none
        score = reading.score if reading.read else 0.0
        reason = reading.reason
        number: NumberReading | None = reading
    else:
        inputs = preprocess_gray(gray, classifier.settings, trace)
        prediction = classifier.classify_inputs([inputs])[0]
        value, reason, number = prediction.label, prediction.reason, None
        # "Not a digit" (or below the model's operating point) is nothing, as no ink is: the
        # stabiliser never sees it as a reading, and a steady run of it reports null.
        score = prediction.score if value is not None else 0.0
    milliseconds = (time.perf_counter() - start) * 1000.0
    return FrameResult(frame, box, value, score, milliseconds, number, reason, trace)


def classify_frames(
    frames: Iterable[Frame], classifier: Classifier, options: CameraOptions
) -> Iterator[FrameResult]:
    """Each frame -> its FrameResult, in order."""
    for frame in frames:
        yield read_frame(classifier, frame, options)


class Stabiliser:
    """Report a value once it has been read in `frames` frames in a row, each scoring at least
    `min_score`, and again only when it changes. Nothing (no digit) is a value too, so taking
    the digit away is reported; but an empty view at the start is not news."""

    def __init__(self, frames: int = 3, min_score: float = 0.8) -> None:
        self.frames, self.min_score = frames, min_score
        self.reported: Value = None
        self._candidate: Value = None
        self._streak = 0
        self._scores: list[float] = []

    def update(self, value: Value, score: float) -> tuple[Value, float] | None:
        """Feed one frame's reading; return (value, mean score) when it is to be reported."""
        if value is not None and score < self.min_score:
            self._streak, self._scores = 0, []  # unsure: breaks any streak
            return None
        if value != self._candidate or self._streak == 0:
            self._candidate, self._streak, self._scores = value, 0, []
        self._streak += 1
        self._scores.append(score)
        if self._streak >= self.frames and value != self.reported:
            self.reported = value
            return value, float(np.mean(self._scores))
        return None


@dataclass(frozen=True)
class Reading:
    """A stabilised value, as reported: when, at which frame, what, how sure, at what rate."""

    time: float  # the frame's time (seconds; the video's own clock for files)
    wall: float  # Unix time when it was reported
    frame: int
    value: Value
    score: float
    fps: float
    number: NumberReading | None = field(default=None, repr=False)
    roi: Box | None = None  # the region read, in frame pixels (the digits' boxes are in it)


class Sink(Protocol):
    """Where results go: every frame (for pictures) and every reading (for text)."""

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None: ...

    def reading(self, reading: Reading) -> None: ...

    def close(self) -> None: ...


@dataclass
class Summary:
    """What a `watch` did: frames read, readings reported, processing time, frame rate."""

    frames: int = 0
    readings: int = 0
    total_milliseconds: float = 0.0
    # A camera may run for weeks: the p95 is over the most recent frames, not all of them.
    recent_milliseconds: deque[float] = field(
        default_factory=lambda: deque(maxlen=P95_WINDOW), repr=False
    )
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def add(self, milliseconds: float) -> None:
        """Count one frame and the time it took to read."""
        self.frames += 1
        self.total_milliseconds += milliseconds
        self.recent_milliseconds.append(milliseconds)

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the end of a run."""
        if not self.frames:
            return f"{self.frames} frames, {self.readings} readings in {self.seconds:.1f} s"
        mean = self.total_milliseconds / self.frames
        p95 = float(np.percentile(np.asarray(self.recent_milliseconds), 95))
        return (
            f"{self.frames} frames, {self.readings} readings in {self.seconds:.1f} s: "
            f"processing {mean:.1f} ms per frame (p95 {p95:.1f} ms), {self.fps:.1f} fps"
        )


def watch(
    frames: Iterable[Frame],
    classifier: Classifier,
    options: CameraOptions,
    sinks: Sequence[Sink],
    *,
    summary: Summary | None = None,
    max_fps: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Summary:
    """Read frames until the source ends or `should_stop()`; give each result and each
    stabilised reading to every sink. `summary` (pass one in to read it after an
    interruption) counts frames and processing times. `max_fps` caps the processing rate."""
    summary = summary or Summary()
    stabiliser = Stabiliser(options.stable_frames, options.min_score)
    recent: deque[float] = deque(maxlen=FPS_WINDOW)
    current: Reading | None = None
    interval = 1.0 / max_fps if max_fps else 0.0
    next_due = time.monotonic()
    for result in classify_frames(frames, classifier, options):
        frame = result.frame
        summary.add(result.milliseconds)
        now = time.monotonic()
        recent.append(now)
        span = recent[-1] - recent[0]
        fps = (len(recent) - 1) / span if span > 0 else 0.0  # a coarse clock may tick once
        stable = stabiliser.update(result.value, result.score)
        if stable is not None:
            value, score = stable
            current = Reading(
                frame.time, time.time(), frame.index, value, score, fps, result.number, result.roi
            )
            summary.readings += 1
            for sink in sinks:
                sink.reading(current)
        for sink in sinks:
            sink.frame(result, fps, current)
        if should_stop():
            break
        if interval:
            next_due = max(next_due + interval, now)
            pause = next_due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    summary.ended = time.monotonic()
    return summary
