"""Where `edge-digits camera` sends its results: JSON lines, a window, an annotated picture.

The web page lives in `web.py`; all sinks share `annotate`, so the window and the page
show the same thing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TextIO

import cv2
import numpy as np

from ..core.record import reading_record
from ..errors import UsageError, one_line
from ..native.dependencies import GUI_OPENCV_HINT
from .watch import FrameResult, Reading

GREEN, AMBER, WHITE, BLACK = (80, 200, 80), (0, 190, 255), (255, 255, 255), (0, 0, 0)
WINDOW = "edge-digits camera"


def camera_record(reading: Reading, *, number: bool = False) -> dict[str, Any]:
    """A reading as one JSON object: `time`, `t`, `frame`, then the reading's fields as
    `classify --json` gives them (`core.record.reading_record`: `label`, or with --number
    `text`, `lines` and `digits` with boxes in frame pixels; null when nothing is read;
    `score`), then `fps`. The camera reports digits only: a piece of a number that the model
    calls not a digit is left out of `digits` too (`classify --json` lists it, label null)."""
    wall = datetime.fromtimestamp(reading.wall, timezone.utc)
    record: dict[str, Any] = {
        "time": wall.isoformat(timespec="milliseconds"),
        "t": round(reading.time, 3),
        "frame": reading.frame,
    }
    origin = reading.roi[:2] if reading.roi is not None else (0, 0)
    digits = reading.number
    if digits is not None and len(digits.read) != len(digits.digits):
        digits = replace(digits, digits=digits.read)
    record.update(
        reading_record(reading.value, reading.score, number=number, reading=digits, origin=origin)
    )
    record["fps"] = round(reading.fps, 1)
    return record


class JsonLines:
    """Each reading as a JSON line (default: stdout), flushed at once for pipes."""

    def __init__(self, stream: TextIO | None = None, *, number: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.number = number

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None:
        pass

    def reading(self, reading: Reading) -> None:
        self.stream.write(json.dumps(camera_record(reading, number=self.number)) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def annotate(result: FrameResult, fps: float, reading: Reading | None) -> np.ndarray:
    """The frame with its region (green when the frame reads as the reported value, amber
    otherwise), the digits found in it, the reported reading and the frame rate."""
    image = result.frame.image
    picture = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    x, y, width, height = result.roi
    steady = reading is not None and reading.value == result.value
    colour = GREEN if steady else AMBER
    cv2.rectangle(picture, (x, y), (x + width - 1, y + height - 1), colour, 2)
    if result.number is not None:
        for digit in result.number.read:  # pieces that are not digits are not drawn
            dx, dy, dw, dh = digit.box
            corner = (x + dx, y + dy)
            cv2.rectangle(picture, corner, (x + dx + dw, y + dy + dh), colour, 1)
            cv2.putText(picture, str(digit.label), (corner[0], corner[1] - 3),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)  # fmt: skip
    shown = "-" if reading is None or reading.value is None else str(reading.value)
    _label(picture, shown, (10, 40), 1.2)
    _label(picture, f"{fps:.0f} fps", (10, picture.shape[0] - 12), 0.5)
    return picture


def _label(picture: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline, legible on any background."""
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 2))
    cv2.putText(picture, text, origin, font, scale, BLACK, thickness + 3, cv2.LINE_AA)
    cv2.putText(picture, text, origin, font, scale, WHITE, thickness, cv2.LINE_AA)


def _probe_display() -> None:
    """Open a window in a child process first: where the display is set but unreachable (a
    stale DISPLAY over SSH), OpenCV's Qt backend aborts the whole process instead of
    raising, which would lose the run and its summary."""
    # OpenCV's own error as one line (a headless build: "The function is not implemented");
    # a Qt abort prints its cause first.
    probe = (
        "import sys, cv2\n"
        "try:\n"
        "    cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()\n"
        "except cv2.error as error:\n"
        "    sys.exit(' '.join(str(error).split()))\n"
    )
    try:
        child = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        why = "no answer in 30 s"
    else:
        if child.returncode == 0:
            return
        lines = [line.strip() for line in child.stderr.splitlines() if line.strip()]
        why = lines[0][:160] if lines else f"exit code {child.returncode}"  # the cause comes first
    if "not implemented" in why.lower():  # opencv-python-headless: no GUI at all
        raise UsageError(
            "--show: this OpenCV has no window support (opencv-python-headless); for a window: "
            f"{GUI_OPENCV_HINT}; or use --serve 0.0.0.0:8080 and open the page in a browser"
        )
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    raise UsageError(
        f"--show: OpenCV cannot open a window on display {display} ({why}); check the "
        "display (or ssh -X), or use --serve 0.0.0.0:8080 and open the page in a browser"
    )


class Window:
    """An OpenCV window with the annotated frames; q or Esc (or closing it) stops."""

    def __init__(self) -> None:
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise UsageError(
                "--show needs a display (DISPLAY is not set); on a headless Pi use "
                "--serve 0.0.0.0:8080 and open the page from another computer"
            )
        _probe_display()
        self.stopped = False
        self._opened = False

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None:
        try:
            cv2.imshow(WINDOW, annotate(result, fps, reading))
            self._opened = True
            key = cv2.waitKey(1) & 0xFF
            closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error as error:
            raise UsageError(
                f"--show: OpenCV cannot open a window ({one_line(error, 120)}); "
                f"use --serve instead, or for a window: {GUI_OPENCV_HINT}"
            ) from None
        if key in (ord("q"), 27) or closed:
            self.stopped = True

    def reading(self, reading: Reading) -> None:
        pass

    def close(self) -> None:
        if self._opened:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
