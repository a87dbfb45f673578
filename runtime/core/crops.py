"""`--save-crops DIR`: keep what the model saw, to review (`edge-digits review`) and to train on.

For each digit read, two PNG files and one manifest line:

    DIR/<id>.png          the 28x28 model input, as the model was given it (uint8)
    DIR/<id>-crop.png     the crop of the picture the digit was found in (grayscale)
    DIR/manifest.jsonl    {"id", "input", "crop", "source", "box", "label", "score", "time"}

Every PNG is written under a temporary name and renamed, so a file under its final name is
always complete; its manifest line is appended after both are in place, in one write under
the folder's lock, so two processes sharing a folder (two cameras) never interleave lines. Ids
hold the time, the host, the process and a counter: two writers never choose the same name.

`below` keeps only answers scoring below it (the unsure ones); `per_minute` caps how many are
kept in any minute (the camera: a camera left running cannot fill the disk).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files.atomic import atomic_write_bytes, ensure_output_dir, folder_lock
from .trace import Box

MANIFEST = "manifest.jsonl"
CROP_MARGIN = 0.15  # the crop of the picture: the digit's box and this much of it around
DEFAULT_PER_MINUTE = 30  # the camera's default --save-per-minute


@dataclass(frozen=True)
class CropOptions:
    """Where and which crops are kept.

    Fields:
        folder: DIR of `--save-crops`.
        below: keep only answers scoring below this (None: all).
        per_minute: keep at most this many in any 60 s (None: no limit).
    """

    folder: Path
    below: float | None = None
    per_minute: int | None = None


@dataclass
class CropSaver:
    """Writes crops into `options.folder` (see the module docstring); one per process."""

    options: CropOptions
    clock: Callable[[], float] = time.time
    saved: int = 0
    _recent: deque[float] = field(default_factory=deque, repr=False)
    _prefix: str = ""

    def __post_init__(self) -> None:
        ensure_output_dir(self.options.folder)
        host = "".join(c for c in platform.node() if c.isalnum())[:16] or "host"
        self._prefix = f"{host}-{os.getpid()}-{os.urandom(2).hex()}"

    def wanted(self, score: float) -> bool:
        """Whether an answer scoring `score` is kept (below the threshold, within the rate)."""
        if self.options.below is not None and score >= self.options.below:
            return False
        if self.options.per_minute is not None:
            now = self.clock()
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if len(self._recent) >= self.options.per_minute:
                return False
        return True

    def save(
        self,
        model_input: np.ndarray,
        picture: np.ndarray,
        *,
        source: str,
        box: Box,
        label: int | str | None,
        score: float,
    ) -> str | None:
        """Keep one digit: its model input (float 0-1, 28x28), the crop of `picture` (uint8
        gray) around `box`; return its id, or None when it is not wanted."""
        if not self.wanted(score):
            return None
        import cv2

        now = self.clock()
        self._recent.append(now)
        self.saved += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        name = f"{stamp}-{self._prefix}-{self.saved:06d}"
        folder = self.options.folder
        pixels = np.clip(np.rint(np.asarray(model_input, np.float32) * 255), 0, 255)
        _write_png(folder / f"{name}.png", pixels.astype(np.uint8), cv2)
        _write_png(folder / f"{name}-crop.png", _crop(picture, box), cv2)
        line: dict[str, Any] = {
            "id": name,
            "input": f"{name}.png",
            "crop": f"{name}-crop.png",
            "source": source,
            "box": [int(v) for v in box],
            "label": label,
            "score": round(float(score), 4),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        append_line(folder / MANIFEST, json.dumps(line))
        return name


def _write_png(path: Path, pixels: np.ndarray, cv2: Any) -> None:
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 gray array
        raise ValueError(f"cannot encode {path.name}")
    atomic_write_bytes(path, encoded.tobytes())


def _crop(picture: np.ndarray, box: Box) -> np.ndarray:
    """The box with a margin, inside the picture; the whole picture when the box is empty."""
    x, y, width, height = (int(v) for v in box)
    if width <= 0 or height <= 0:
        return np.ascontiguousarray(picture)
    margin = round(max(width, height) * CROP_MARGIN)
    top, left = max(0, y - margin), max(0, x - margin)
    bottom = min(picture.shape[0], y + height + margin)
    right = min(picture.shape[1], x + width + margin)
    if bottom <= top or right <= left:
        return np.ascontiguousarray(picture)
    return np.ascontiguousarray(picture[top:bottom, left:right])


def append_line(path: Path, line: str) -> None:
    """Append one line to `path` in a single write, under its folder's lock: lines of
    several processes never interleave, and a kill leaves whole lines only (a reader skips a
    last line without its newline)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    with folder_lock(path.parent):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_manifest(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The manifest's records whose input file exists, and one line per record skipped
    (unreadable, or its file gone)."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    path = folder / MANIFEST
    if not path.exists():
        return records, problems
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(keepends=True), start=1):
        if not raw.endswith("\n") or not raw.strip():
            continue  # a line being written, or an empty one
        try:
            record = json.loads(raw)
            name = str(record["input"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"{path}:{number}: not a manifest record; skipped")
            continue
        if Path(name).name != name or not (folder / name).is_file():
            problems.append(f"{path}:{number}: {name} is missing; skipped")
            continue
        records.append(record)
    return records, problems
