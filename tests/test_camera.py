"""`edge-digits camera`: videos read back exactly, the stabiliser, fake cameras that fail,
the live web view over real HTTP (and once in headless Chromium), signals.

Videos and pictures are written here by `benchmarks/synthetic.py` from the MNIST test digits
in `examples/` (dark on a lit page, drifting, with sensor noise). Cameras are fakes: a
`picamera2` module and an OpenCV `VideoCapture` that deliver, stop, send empty frames or hang.
Nothing here needs TensorFlow, a camera, the MNIST download or the network.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from edge_digits.runtime.core.number import DigitReading, NumberReading
from edge_digits.runtime.errors import CameraError, UsageError
from edge_digits.runtime.live import sources as sources_module
from edge_digits.runtime.live.sinks import AMBER, GREEN, JsonLines, annotate, camera_record
from edge_digits.runtime.live.sources import (
    PICAMERA_HINT,
    FolderSource,
    Frame,
    OpenCVSource,
    PicameraSource,
    open_source,
)
from edge_digits.runtime.live.watch import (
    CameraOptions,
    FrameResult,
    Reading,
    Stabiliser,
    Summary,
    parse_roi,
    region,
)
from edge_digits.runtime.live.web import BOUNDARY, LiveServer, parse_address
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic import scene, write_video  # noqa: E402 - the benchmarks' renderer, not a package

SIZE = (320, 240)  # width, height of every test frame: small, so videos are quick to write
FPS = 30.0
# blank, 7, blank, 2, 1, blank, 0: (label or None, frames held)
PLAN: list[tuple[int | None, int]] = [
    (None, 6), (7, 12), (None, 8), (2, 10), (1, 10), (None, 6), (0, 10),
]  # fmt: skip
# With --stable 3, a value is reported on the third frame it is seen: (frame, label).
EXPECTED = [(8, 7), (20, None), (28, 2), (38, 1), (48, None), (54, 0)]
FIELDS = ["time", "t", "frame", "label", "score", "fps"]
SUMMARY = re.compile(
    r"camera: (\d+) frames, (\d+) readings in \d+\.\d s: processing \d+\.\d ms per frame "
    r"\(p95 \d+\.\d ms\), \d+\.\d fps"
)
# The console script, in a child that takes Ctrl-C even if this process was started with
# SIGINT ignored (a background job): then Python would leave it ignored in the child too.
CLI = [
    sys.executable, "-c",
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from edge_digits.runtime.cli import main; main()",
]  # fmt: skip


# -- helpers and fixtures --------------------------------------------------------------------


class Hung(Exception):
    """A call that had to end by itself did not."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging the test run: SIGALRM interrupts the main thread."""

    def expire(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture()
def invoke(cli):
    """`edge-digits camera ...` in this process, bounded in time: a hang fails the test."""

    def call(*args: str, seconds: float = 30.0) -> Any:
        with deadline(seconds):
            return cli("camera", *args)

    return call


@pytest.fixture(scope="module")
def digits() -> dict[int, np.ndarray]:
    """The ten MNIST test digits of examples/ (28x28, light ink on black), by label."""
    found = {}
    for path in (ROOT / "examples").glob("mnist_test_*_label*.png"):
        found[int(path.stem.rsplit("label", 1)[1])] = np.asarray(Image.open(path).convert("L"))
    assert sorted(found) == list(range(10))
    return found


@pytest.fixture(scope="module")
def media(tmp_path_factory, digits) -> Path:
    """The test videos, written once: the PLAN, a two-digit number, a digit in a corner."""
    folder = tmp_path_factory.mktemp("camera")
    plan = [(digits[label] if label is not None else None, count) for label, count in PLAN]
    assert write_video(str(folder / "digits.avi"), plan, size=SIZE, height=80) == 62
    pair = np.zeros((56, 56), np.uint8)  # "42" in one square picture for `scene`
    pair[14:42, :28], pair[14:42, 28:] = digits[4], digits[2]
    write_video(str(folder / "number.avi"), [(None, 5), (pair, 10)], size=SIZE, height=100)
    # A 7 in the middle and a 4 in the top-left corner, outside the default region.
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(folder / "corner.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for _ in range(8):
        picture = scene(digits[7], rng, size=SIZE, height=80)
        picture[:120, :120] = scene(digits[4], rng, size=(120, 120), height=70)
        writer.write(picture)
    writer.release()
    return folder


@pytest.fixture(scope="module")
def sevens(digits) -> list[np.ndarray]:
    """A few BGR camera frames (SIZE) of a 7, for the fake cameras and the live view."""
    rng = np.random.default_rng(2)
    return [scene(digits[7], rng, size=SIZE, height=80, offset=(i, -i)) for i in range(4)]


def counts(line: str) -> tuple[int, int]:
    """(frames, readings) of the summary line, which `line` must be."""
    match = SUMMARY.fullmatch(line)
    assert match is not None, line
    return int(match[1]), int(match[2])


def check_records(records: list[dict[str, Any]], started: float, ended: float) -> None:
    """The fields every reading has, whatever its value: keys in order, times, fps."""
    for record in records:
        assert list(record) == FIELDS
        wall = datetime.fromisoformat(record["time"])
        assert record["time"].endswith("+00:00") and wall.microsecond % 1000 == 0
        assert started - 1 <= wall.timestamp() <= ended + 1
        assert isinstance(record["fps"], float) and record["fps"] > 0
        if record["label"] is None:
            assert record["score"] is None
        else:
            assert 0.8 <= record["score"] <= 1.0  # --min-score 0.8: only sure frames count
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)


# -- a video read back -----------------------------------------------------------------------


@pytest.mark.pi
def test_a_video_reads_back_as_exactly_the_digits_held_up(invoke, media):
    started = time.time()
    result = invoke("--source", str(media / "digits.avi"))
    ended = time.time()
    assert result.exit_code == 0, result.stderr
    records = result.records
    assert [(r["frame"], r["label"]) for r in records] == EXPECTED
    assert [r["t"] for r in records] == [round(frame / FPS, 3) for frame, _ in EXPECTED]
    check_records(records, started, ended)
    (summary,) = result.errors
    assert counts(summary) == (62, 6)


@pytest.mark.pi
def test_the_library_reads_the_same_video_frame_by_frame(media):
    with open_source(str(media / "digits.avi")) as source:
        assert isinstance(source, OpenCVSource) and not source.live
        frames = list(source)
    assert [frame.index for frame in frames] == list(range(62))
    assert [frame.time for frame in frames] == pytest.approx([i / FPS for i in range(62)])
    assert {(frame.image.shape, frame.image.dtype) for frame in frames} == {
        ((240, 320, 3), np.dtype(np.uint8))
    }


@pytest.mark.pi
def test_stable_and_min_score_options_change_what_is_reported(invoke, media):
    # --stable 11: only the 7 is held that long (12 frames from frame 6); the rest are 10 or less.
    result = invoke("--source", str(media / "digits.avi"), "--stable", "11")
    assert result.exit_code == 0
    assert [(r["frame"], r["label"]) for r in result.records] == [(16, 7)]
    # --min-score 1: no frame is that sure (the shipped int8 model tops out at 255/256), so
    # only the blanks count, and those are not news.
    result = invoke("--source", str(media / "digits.avi"), "--min-score", "1")
    assert result.exit_code == 0 and result.records == []
    assert counts(result.errors[0]) == (62, 0)


@pytest.mark.pi
def test_max_fps_paces_the_reading(invoke, media):
    start = time.monotonic()
    result = invoke("--source", str(media / "number.avi"), "--max-fps", "20")
    elapsed = time.monotonic() - start
    assert result.exit_code == 0 and len(result.records) == 1
    assert elapsed >= 14 / 20 - 0.05  # 15 frames, 14 intervals of 1/20 s
    assert counts(result.errors[0]) == (15, 1)


@pytest.mark.pi
def test_number_reads_the_two_digit_number_as_text(invoke, media):
    result = invoke("--source", str(media / "number.avi"), "--number")
    assert result.exit_code == 0, result.stderr
    (record,) = result.records
    assert list(record) == ["time", "t", "frame", "text", "lines", "score", "digits", "fps"]
    assert [record[key] for key in ("frame", "t", "text", "lines")] == [7, 0.233, "42", ["42"]]
    assert 0.8 <= record["score"] <= 1.0
    assert [digit["label"] for digit in record["digits"]] == [4, 2]
    (left, right) = (digit["box"] for digit in record["digits"])
    assert left[0] + left[2] <= right[0]  # boxes in frame pixels, left to right
    assert counts(result.errors[0]) == (15, 1)


@pytest.mark.pi
def test_roi_reads_the_region_given_not_the_centre(invoke, media):
    centre = invoke("--source", str(media / "corner.avi"))
    corner = invoke("--source", str(media / "corner.avi"), "--roi", "0,0,120,120")
    assert [(r["frame"], r["label"]) for r in centre.records] == [(2, 7)]
    assert [(r["frame"], r["label"]) for r in corner.records] == [(2, 4)]
    assert centre.exit_code == corner.exit_code == 0


@pytest.mark.pi
def test_a_roi_outside_the_frame_is_a_usage_error(invoke, media):
    result = invoke("--source", str(media / "digits.avi"), "--roi", "300,200,100,100")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.errors[-1] == (
        "error: --roi 300,200,100,100 does not fit in the 320x240 frame; give a region inside it"
        " (see: edge-digits camera --help)"
    )
    assert len(result.errors) == 1, result.errors


@pytest.mark.pi
@pytest.mark.parametrize("roi", ["1,2,3", "a,b,c,d", "-1,0,50,50", "0,0,4,50"])
def test_a_malformed_roi_is_refused_before_anything_opens(invoke, media, roi):
    result = invoke("--source", str(media / "digits.avi"), "--roi", roi)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.errors
    assert line.startswith(f"error: --roi {roi}: ")


@pytest.mark.pi
def test_parse_roi_and_region():
    assert parse_roi("10, 20,30,40") == (10, 20, 30, 40)
    assert region((240, 320), None) == (88, 48, 144, 144)  # a centred square, 0.6 of 240
    assert region((480, 640, 3), None) == (176, 96, 288, 288)
    assert region((240, 320, 3), (200, 100, 120, 140)) == (200, 100, 120, 140)  # touches the edges
    with pytest.raises(UsageError, match="does not fit in the 320x240 frame"):
        region((240, 320, 3), (201, 100, 120, 140))
    with pytest.raises(UsageError, match="needs at least 1 frame"):
        CameraOptions(stable_frames=0)
    with pytest.raises(UsageError, match="between 0 and 1"):
        CameraOptions(min_score=1.5)


# -- the stabiliser --------------------------------------------------------------------------


def feed(stabiliser: Stabiliser, readings: list[tuple[Any, float]]) -> list[Any]:
    return [stabiliser.update(value, score) for value, score in readings]


@pytest.mark.pi
def test_a_value_is_reported_on_its_kth_frame_and_not_again():
    stabiliser = Stabiliser(frames=3, min_score=0.8)
    assert feed(stabiliser, [(7, 0.9), (7, 0.95)]) == [None, None]
    assert stabiliser.update(7, 1.0) == (7, pytest.approx(0.95))  # the mean of the three
    assert feed(stabiliser, [(7, 0.99)] * 10) == [None] * 10  # still a 7: not news
    assert stabiliser.reported == 7


@pytest.mark.pi
def test_a_low_score_frame_breaks_the_streak():
    stabiliser = Stabiliser(frames=3, min_score=0.8)
    assert feed(stabiliser, [(7, 0.9), (7, 0.9), (7, 0.5), (7, 0.9), (7, 0.9)]) == [None] * 5
    assert stabiliser.update(7, 0.9) == (7, pytest.approx(0.9))


@pytest.mark.pi
def test_another_value_in_between_breaks_the_streak():
    stabiliser = Stabiliser(frames=3, min_score=0.8)
    assert feed(stabiliser, [(7, 0.9), (7, 0.9), (1, 0.9), (7, 0.9), (7, 0.9)]) == [None] * 5
    assert stabiliser.update(7, 0.9) == (7, pytest.approx(0.9))


@pytest.mark.pi
def test_taking_the_digit_away_is_reported_as_none_but_an_empty_start_is_not():
    stabiliser = Stabiliser(frames=2, min_score=0.8)
    assert feed(stabiliser, [(None, 0.0)] * 6) == [None] * 6  # nothing, from the start
    assert feed(stabiliser, [(3, 0.9), (3, 0.9)]) == [None, (3, pytest.approx(0.9))]
    assert feed(stabiliser, [(None, 0.0), (None, 0.1)]) == [None, (None, pytest.approx(0.05))]
    assert feed(stabiliser, [(3, 0.9), (3, 0.9)]) == [None, (3, pytest.approx(0.9))]  # back again


@pytest.mark.pi
def test_one_frame_stabiliser_reports_every_change_at_once():
    stabiliser = Stabiliser(frames=1, min_score=0.5)
    out = feed(stabiliser, [(1, 0.9), (1, 0.9), (2, 0.4), (2, 0.6), (None, 0.0), ("42", 0.7)])
    assert out == [(1, 0.9), None, None, (2, 0.6), (None, 0.0), ("42", 0.7)]


@settings(max_examples=300, deadline=None)
@given(
    readings=st.lists(
        st.tuples(st.sampled_from([None, 1, 7, "17"]), st.floats(0.0, 1.0)), max_size=60
    ),
    frames=st.integers(1, 5),
    min_score=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
)
def test_the_stabiliser_reports_exactly_the_steady_changes(readings, frames, min_score):
    """A report at frame i <=> the last `frames` readings all are i's value, each sure (or
    nothing), and that value is not the one reported last; its score is their mean."""
    stabiliser = Stabiliser(frames, min_score)
    last: Any = None  # an empty view at the start is not news
    reports = []
    for i, (value, score) in enumerate(readings):
        out = stabiliser.update(value, score)
        window = readings[max(0, i - frames + 1) : i + 1]
        steady = len(window) == frames and all(
            seen == value and (seen is None or sure >= min_score) for seen, sure in window
        )
        if steady and value != last:
            assert out is not None and out[0] == value
            assert out[1] == pytest.approx(float(np.mean([sure for _, sure in window])))
            last = value
            reports.append(value)
        else:
            assert out is None
    assert all(a != b for a, b in itertools.pairwise(reports))  # never twice in a row
    assert not reports or reports[0] is not None


# -- JSON lines and the picture --------------------------------------------------------------


@pytest.mark.pi
def test_camera_record_fields():
    # Scores have 6 decimals, as in `classify --json` (they had 4 before the records were one).
    reading = Reading(time=1.23456, wall=0.0, frame=37, value=7, score=0.98765432, fps=29.96)
    assert camera_record(reading) == {
        "time": "1970-01-01T00:00:00.000+00:00", "t": 1.235, "frame": 37, "label": 7,
        "score": 0.987654, "fps": 30.0,
    }  # fmt: skip
    nothing = Reading(time=2.0, wall=1.5, frame=40, value=None, score=0.2, fps=12.0)
    assert camera_record(nothing)["label"] is None and camera_record(nothing)["score"] is None
    digits = (DigitReading(1, 0.91234567, (2, 3, 10, 20)), DigitReading(2, 0.95, (14, 3, 10, 20)))
    number = NumberReading(text="12", lines=("12",), digits=digits)
    both = Reading(
        time=0.0, wall=0.0, frame=1, value="12", score=0.9, fps=1.0, number=number,
        roi=(100, 50, 40, 40),
    )  # fmt: skip
    record = camera_record(both, number=True)
    assert (record["text"], record["lines"], "label" in record) == ("12", ["12"], False)
    assert record["digits"] == [  # boxes in frame pixels: moved by the region's corner
        {"label": 1, "score": 0.912346, "box": [102, 53, 10, 20]},
        {"label": 2, "score": 0.95, "box": [114, 53, 10, 20]},
    ]
    gone = Reading(time=0.5, wall=0.0, frame=2, value=None, score=0.0, fps=1.0, number=number)
    assert {key: camera_record(gone, number=True)[key] for key in ("text", "lines", "digits")} == {
        "text": None,
        "lines": [],
        "digits": [],
    }
    stream = StringIO()
    JsonLines(stream).reading(reading)
    assert stream.getvalue() == json.dumps(camera_record(reading)) + "\n"


@pytest.mark.pi
def test_annotate_draws_the_region_on_a_copy_of_the_frame(sevens):
    image = sevens[0]
    original = image.copy()
    box = region(image.shape, None)
    x, y, width, height = box
    result = FrameResult(Frame(0, 0.0, image), box, 7, 0.99, 1.0)
    steady = annotate(result, 30.0, Reading(0.0, 0.0, 0, 7, 0.99, 30.0))
    np.testing.assert_array_equal(image, original)  # the frame itself is untouched
    assert steady.shape == image.shape and steady.dtype == np.uint8
    changed = np.any(steady != image, axis=2)
    assert changed[y : y + height, x].all() and changed[y, x : x + width].all()
    assert (
        changed[y : y + height, x + width - 1].all()
        and changed[y + height - 1, x : x + width].all()
    )
    assert tuple(steady[y + height // 2, x]) == GREEN  # reads as the reported value: green
    inside = np.s_[y + 4 : y + height - 4, x + 4 : x + width - 4]
    np.testing.assert_array_equal(steady[inside], image[inside])  # the digit is left as it is
    other = annotate(result, 30.0, Reading(0.0, 0.0, 0, 2, 0.99, 30.0))
    assert tuple(other[y + height // 2, x]) == AMBER  # reads as something else: amber
    gray = FrameResult(Frame(0, 0.0, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), box, 7, 0.9, 1.0)
    assert annotate(gray, 30.0, None).shape == image.shape  # gray frames come out BGR


# -- folders ---------------------------------------------------------------------------------


@pytest.mark.pi
def test_a_folder_with_a_broken_file_reads_the_others_and_names_it(invoke, tmp_path, digits):
    rng = np.random.default_rng(3)
    for name, label in [("a0", 7), ("a1", 7), ("a2", 7), ("c0", 2), ("c1", 2), ("c2", 2)]:
        cv2.imwrite(str(tmp_path / f"{name}.png"), scene(digits[label], rng, size=SIZE, height=80))
    broken = tmp_path / "b_broken.png"
    broken.write_text("<!doctype html><title>not a picture</title>")
    result = invoke("--source", str(tmp_path))
    assert result.exit_code == 0
    assert [(r["frame"], r["label"]) for r in result.records] == [(2, 7), (5, 2)]
    warning, summary = result.errors
    assert warning.startswith(f"warning: {broken}: not an image") and warning.endswith("(skipped)")
    assert counts(summary) == (6, 2)


@pytest.mark.pi
def test_a_folder_where_nothing_can_be_read_exits_7(invoke, tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_text("not a picture")
    result = invoke("--source", str(tmp_path))
    assert result.exit_code == 7
    assert result.records == []
    assert [line.split(":")[0] for line in result.errors[:2]] == ["warning"] * 2
    assert result.errors[-1] == f"error: {tmp_path}: none of its images could be read (see above)"


@pytest.mark.pi
@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.avi", "missing.avi: no such camera, file or folder; --source takes a camera"),
        ("missing.png", "missing.png: no such file or folder"),
        ("empty", "empty: folder has no image files"),
        ("bad.avi", "bad.avi: cannot open this video or stream; check that it exists"),
        ("99", "camera 99: cannot open this camera; check that it exists"),
    ],
)
def test_sources_that_cannot_be_opened_exit_7_in_one_line(
    invoke, tmp_path, monkeypatch, source, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.avi").write_bytes(np.random.default_rng(0).bytes(5000))
    result = invoke("--source", source)
    assert result.exit_code == 7 and result.stdout == ""
    (line,) = result.errors
    assert line.startswith(f"error: {message}")


# -- fake cameras: Picamera2 -----------------------------------------------------------------


def fake_picamera2(
    monkeypatch: pytest.MonkeyPatch,
    capture: Callable[[int], np.ndarray | None],
    *,
    opening: Exception | None = None,
    configuring: Exception | None = None,
) -> list[Any]:
    """Install a `picamera2` module whose camera returns `capture(n)` for the n-th frame;
    return the list its cameras are recorded in."""
    cameras: list[Any] = []

    class Picamera2:
        def __init__(self) -> None:
            if opening is not None:
                raise opening
            self.calls: list[tuple[str, Any]] = []
            self.captured = 0
            cameras.append(self)

        def create_video_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(("create_video_configuration", main))
            return {"main": main, "kind": "video"}

        def configure(self, config: dict[str, Any]) -> None:
            self.calls.append(("configure", config))
            if configuring is not None:
                raise configuring

        def start(self) -> None:
            self.calls.append(("start", None))

        def capture_array(self, name: str = "main") -> np.ndarray | None:
            assert name == "main"
            time.sleep(0.01)  # a camera's pace; the reader thread must not spin
            self.captured += 1
            return capture(self.captured - 1)

        def stop(self) -> None:
            self.calls.append(("stop", None))

        def close(self) -> None:
            self.calls.append(("close", None))

    module = types.ModuleType("picamera2")
    module.Picamera2 = Picamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    return cameras


@pytest.mark.pi
def test_picamera_frames_come_through_as_bgr_and_close_releases_the_camera(monkeypatch):
    pixel = np.array([10, 20, 30, 255], np.uint8)  # "RGB888" is laid out B, G, R (, X)
    cameras = fake_picamera2(monkeypatch, lambda n: np.tile(pixel, (48, 64, 1)))
    source = open_source("picamera", width=64, height=48, timeout=2.0)
    assert isinstance(source, PicameraSource) and source.live
    (camera,) = cameras
    assert camera.calls == [
        ("create_video_configuration", {"size": (64, 48), "format": "RGB888"}),
        ("configure", {"main": {"size": (64, 48), "format": "RGB888"}, "kind": "video"}),
        ("start", None),
    ]
    frames = iter(source)
    first, second = next(frames), next(frames)
    assert first.image.shape == (48, 64, 3) and first.image.dtype == np.uint8
    assert first.image[0, 0].tolist() == [10, 20, 30]  # BGR as delivered, not swapped
    assert second.index > first.index >= 0 and second.time >= first.time >= 0.0
    source.close()
    source.close()  # safe twice
    assert camera.calls[3:] == [("stop", None), ("close", None)]


@pytest.mark.pi
def test_picamera_that_cannot_open_exits_7(invoke, monkeypatch):
    error = RuntimeError("Failed to acquire camera:\n Device or resource busy")
    fake_picamera2(monkeypatch, lambda n: None, opening=error)
    result = invoke("--source", "picamera")
    assert result.exit_code == 7 and result.stdout == ""
    assert result.errors == [
        "error: picamera: cannot open the camera module (Failed to acquire camera: Device or "
        "resource busy); check the ribbon cable and that no other program uses the camera"
    ]


@pytest.mark.pi
def test_picamera_that_fails_while_configuring_exits_7(monkeypatch):
    fake_picamera2(monkeypatch, lambda n: None, configuring=ValueError("size 1x1 not supported"))
    with pytest.raises(CameraError, match=r"cannot open the camera module \(size 1x1 not supp"):
        PicameraSource(width=1, height=1)


@pytest.mark.pi
def test_picamera_that_stops_mid_stream_exits_7_after_its_readings(invoke, monkeypatch, sevens):
    def capture(n: int) -> np.ndarray:
        if n >= 20:
            raise RuntimeError("Camera frontend has timed out!\nPlease check the cable")
        return sevens[n % len(sevens)]

    cameras = fake_picamera2(monkeypatch, capture)
    result = invoke("--source", "picamera", "--width", "320", "--height", "240")
    assert result.exit_code == 7
    assert [r["label"] for r in result.records] == [7]
    summary, error = result.errors
    frames, readings = counts(summary)
    assert 3 <= frames <= 20 and readings == 1  # live: a slow reader may skip frames
    assert error == (
        "error: picamera: stopped delivering frames (Camera frontend has timed out! "
        "Please check the cable)"
    )
    (camera,) = cameras
    assert camera.calls[0][1]["size"] == (320, 240)
    assert camera.calls[-2:] == [("stop", None), ("close", None)]


@pytest.mark.pi
def test_picamera_empty_frames_exit_7(invoke, monkeypatch):
    fake_picamera2(monkeypatch, lambda n: np.zeros((0, 0, 3), np.uint8))
    result = invoke("--source", "picamera")
    assert result.exit_code == 7
    assert result.errors[-1] == "error: picamera: delivered an empty frame; check the camera"


@pytest.mark.pi
def test_missing_picamera2_exits_5_with_the_apt_hint(invoke, monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as if not installed
    result = invoke("--source", "picamera")
    assert result.exit_code == 5
    assert result.errors == [
        f"error: --source picamera needs Picamera2, which is not installed; {PICAMERA_HINT}"
    ]
    assert "sudo apt install python3-picamera2" in PICAMERA_HINT


@pytest.mark.pi
def test_picamera2_built_for_the_system_numpy_under_numpy_2_says_how_to_keep_it(
    invoke, monkeypatch, tmp_path
):
    # Picamera2's simplejpeg, built for Raspberry Pi OS's numpy 1.24, in a venv with numpy 2.
    package = tmp_path / "system" / "picamera2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise ValueError('numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject')\n"
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    result = invoke("--source", "picamera")
    assert result.exit_code == 5
    assert result.errors == [
        "error: Picamera2 cannot be loaded (numpy.dtype size changed, may indicate binary "
        "incompatibility. Expected 96 from C header, got 88 from PyObject): it was built for "
        f"the system's numpy 1.x, and this venv has numpy {np.__version__}; keep the system's "
        "numpy: pip uninstall -y numpy opencv-python-headless, then pip install -c "
        "edge-digits/pi/constraints-bookworm.txt ./edge-digits (README: On a Raspberry Pi)"
    ]


# -- fake cameras: OpenCV --------------------------------------------------------------------


class FakeCapture:
    """cv2.VideoCapture for a camera that delivers `frames`, then does `then`: "stop" (read
    fails), "empty" (empty frames) or "hang" (read blocks until `unblock` is set)."""

    def __init__(self, frames: list[np.ndarray], then: str) -> None:
        self.frames, self.then = list(frames), then
        self.unblock = threading.Event()
        self.released = False
        self.settings: dict[int, float] = {}
        self.reads = 0

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.reads += 1
        if self.frames:
            time.sleep(0.01)
            return True, self.frames.pop(0)
        if self.then == "hang":
            self.unblock.wait()
        if self.then == "empty":
            return True, np.zeros((0, 0, 3), np.uint8)
        return False, None

    def release(self) -> None:
        self.released = True


@pytest.fixture()
def fake_capture(monkeypatch):
    """Make `cv2.VideoCapture` (as live/sources.py calls it) return FakeCaptures; yield a function
    that sets the next one up. Hanging fakes are let go at the end, so no thread is left."""
    made: list[FakeCapture] = []
    calls: list[tuple[Any, ...]] = []
    pending: list[FakeCapture] = []

    def video_capture(*args: Any) -> FakeCapture:
        calls.append(args)
        capture = pending.pop(0)
        made.append(capture)
        return capture

    def setup(frames: list[np.ndarray], then: str = "stop") -> FakeCapture:
        pending.append(FakeCapture(frames, then))
        return pending[-1]

    monkeypatch.setattr(sources_module.cv2, "VideoCapture", video_capture)
    setup.calls = calls
    yield setup
    for capture in made:
        capture.unblock.set()
    for thread in threading.enumerate():
        if thread.name.startswith("edge-digits camera"):
            thread.join(5)
            assert not thread.is_alive(), f"{thread.name} still running"


def test_a_camera_that_stops_delivering_exits_7(invoke, fake_capture, sevens):
    capture = fake_capture(sevens * 5, then="stop")
    result = invoke("--source", "0", "--width", "320", "--height", "240")
    assert result.exit_code == 7
    assert [r["label"] for r in result.records] == [7]
    summary, error = result.errors
    frames, readings = counts(summary)
    assert 3 <= frames <= 20 and readings == 1
    assert error == (
        "error: camera 0: stopped delivering frames (disconnected?); check the cable or the "
        "stream, then start again"
    )
    assert fake_capture.calls == [(0,)]
    assert capture.settings == {cv2.CAP_PROP_FRAME_WIDTH: 320, cv2.CAP_PROP_FRAME_HEIGHT: 240}
    assert capture.released


def test_a_camera_sending_empty_frames_counts_as_failed(invoke, fake_capture):
    capture = fake_capture([], then="empty")
    result = invoke("--source", "0")
    assert result.exit_code == 7 and result.stdout == ""
    (line,) = result.errors  # no frame was read: no summary, only why
    assert line.startswith("error: camera 0: stopped delivering frames")
    assert capture.reads == 10 and capture.released  # ten misses in a row: gone


def test_a_camera_that_hangs_ends_after_the_timeout(invoke, fake_capture, sevens):
    capture = fake_capture(sevens * 3, then="hang")
    start = time.monotonic()
    result = invoke("--source", "0", "--timeout", "0.5", seconds=20)
    elapsed = time.monotonic() - start
    assert result.exit_code == 7
    assert [r["label"] for r in result.records] == [7]
    assert result.errors[-1] == (
        "error: camera 0: no frame for 0.5 s (disconnected or frozen?); check the camera or "
        "the stream, then start again"
    )
    # 0.5 s without a frame, then up to 2 s for the stuck reader to let go: it does not, so
    # the device is left to the process exit rather than released under the reader's feet.
    assert 0.5 <= elapsed < 10
    assert not capture.released


@pytest.mark.pi
def test_stream_urls_open_through_ffmpeg_with_the_timeout(fake_capture):
    fake_capture([])
    source = open_source("rtsp://camera.local/live", timeout=2.5)
    assert isinstance(source, OpenCVSource) and source.live
    assert fake_capture.calls == [
        (
            "rtsp://camera.local/live",
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 2500, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2500],
        )
    ]
    source.close()
    assert isinstance(open_source(str(ROOT / "examples")), FolderSource)


# -- the live view ---------------------------------------------------------------------------


@pytest.fixture()
def live(sevens):
    """A LiveServer on a free port of 127.0.0.1, fed frames of a 7 by a thread; the reading
    is 7. Closed, and its feeder stopped, at the end."""
    server = LiveServer("127.0.0.1", 0)
    reading = Reading(time=0.4, wall=time.time(), frame=12, value=7, score=0.99, fps=30.0)
    server.reading(reading)
    stop = threading.Event()

    def feed() -> None:
        index = 0
        while not stop.is_set():
            image = sevens[index % len(sevens)]
            result = FrameResult(
                Frame(index, index / FPS, image), region(image.shape, None), 7, 0.99, 1.0
            )
            server.frame(result, 30.0, reading)
            index += 1
            stop.wait(0.02)

    feeder = threading.Thread(target=feed, name="test feeder", daemon=True)
    feeder.start()
    yield server
    stop.set()
    feeder.join(5)
    server.close()
    assert not feeder.is_alive()
    with pytest.raises(OSError):  # the port is closed
        socket.create_connection(address(server), timeout=2).close()


def address(server: LiveServer) -> tuple[str, int]:
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    assert server.url == f"http://localhost:{port}/"
    return "127.0.0.1", port


def get(server: LiveServer, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*address(server), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.pi
def test_the_page_loads_with_no_external_assets(live):
    status, headers, body = get(live, "/")
    page = body.decode()
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<img id="video" src="stream.mjpg"' in page and 'fetch("reading.json"' in page
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert links == ["stream.mjpg"]
    assert "http:" not in page and "https:" not in page and "//" not in "".join(links)
    assert get(live, "/index.html")[2] == body


@pytest.mark.pi
def test_the_reading_json_has_the_current_reading(live):
    status, headers, body = get(live, "/reading.json?cache=no")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    now = json.loads(body)
    assert set(now) == {*FIELDS, "frames"}
    assert (now["label"], now["frame"], now["t"], now["score"], now["fps"]) == (
        7,
        12,
        0.4,
        0.99,
        30.0,
    )
    assert now["frames"] > 0


def test_before_any_reading_the_json_says_nothing_yet():
    server = LiveServer("127.0.0.1", 0, number=True)
    try:
        assert json.loads(get(server, "/reading.json")[2]) == {
            "frame": None, "score": None, "fps": 0.0, "text": None, "frames": 0,
        }  # fmt: skip
    finally:
        server.close()


def test_every_interface_is_shown_by_this_machine_s_name():
    server = LiveServer("0.0.0.0", 0)
    try:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        assert server.url == f"http://{socket.gethostname()}:{port}/"
    finally:
        server.close()


def test_an_ipv6_address_is_served():
    try:
        server = LiveServer("::1", 0)
    except UsageError:
        pytest.skip("no IPv6 loopback here")
    try:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("::1", port, timeout=10)
        connection.request("GET", "/reading.json")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.close()


def test_other_paths_are_404(live):
    status, _, body = get(live, "/nope")
    assert (status, body) == (404, b"not found\n")
    assert get(live, "/stream.jpg")[0] == 404


@pytest.mark.pi
def test_the_mjpeg_stream_yields_jpeg_frames_of_the_frame_size(live, sevens):
    assert live.next_jpeg(0, timeout=0.2) == (0, None)  # nobody watches: nothing is encoded
    connection = http.client.HTTPConnection(*address(live), timeout=10)
    try:
        connection.request("GET", "/stream.mjpg")
        response = connection.getresponse()
        assert response.status == 200
        kind = response.getheader("Content-Type")
        assert kind == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        boundary = kind.split("boundary=", 1)[1]
        for _ in range(3):
            assert response.readline() == f"--{boundary}\r\n".encode()
            headers = {}
            while (line := response.readline()) != b"\r\n":
                name, value = line.decode().rstrip("\r\n").split(": ", 1)
                headers[name] = value
            assert headers["Content-Type"] == "image/jpeg"
            jpeg = response.read(int(headers["Content-Length"]))
            assert response.readline() == b"\r\n"
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert picture.shape == sevens[0].shape
            x, y, _, height = region(picture.shape, None)
            border = picture[y + 4 : y + height - 4, x].astype(float).mean(axis=0)
            assert border[1] > 150 and border[2] < 130  # the green region (JPEG: roughly)
    finally:
        connection.close()


@pytest.mark.pi
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8080", ("127.0.0.1", 8080)),
        (":8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8080", ("::1", 8080)),
    ],
)
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.pi
@pytest.mark.parametrize("text", ["http", "8080:", "host:port", "70000", "-1", "[::1]", ""])
def test_parse_address_refuses_what_is_not_an_address(text):
    with pytest.raises(UsageError, match=re.escape(f"--serve {text}: give PORT or HOST:PORT")):
        parse_address(text)


@pytest.mark.pi
def test_serve_with_a_bad_address_or_a_busy_port_exits_2_in_one_line(invoke, media):
    result = invoke("--source", str(media / "digits.avi"), "--serve", "nope")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.errors
    assert line.startswith("error: --serve nope: give PORT or HOST:PORT")
    assert line.endswith(" (see: edge-digits camera --help)")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("--source", str(media / "digits.avi"), "--serve", f"127.0.0.1:{port}")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.errors == [
        f"error: --serve 127.0.0.1:{port}: cannot listen there (Address already in use); "
        "pick another port or address (see: edge-digits camera --help)"
    ]


@pytest.mark.pi
def test_serve_beside_a_video_prints_the_url_and_closes_at_the_end(invoke, media):
    result = invoke("--source", str(media / "digits.avi"), "--serve", "127.0.0.1:0")
    assert result.exit_code == 0
    assert [(r["frame"], r["label"]) for r in result.records] == EXPECTED
    serving, summary = result.errors
    match = re.fullmatch(r"serving the live view on http://localhost:(\d+)/", serving)
    assert match is not None and counts(summary) == (62, 6)
    with pytest.raises(OSError):  # closed with the run
        socket.create_connection(("127.0.0.1", int(match[1])), timeout=2).close()


@pytest.mark.skipif(
    re.search(r"FFMPEG:\s+YES", cv2.getBuildInformation()) is None,
    reason="this OpenCV has no FFmpeg for stream URLs",
)
def test_a_stream_url_is_read_and_a_stream_that_ends_exits_7(live):
    # edge-digits reads its own live view as an MJPEG stream over HTTP; closing the server
    # after the first reading is a stream that goes away mid-way.
    url = f"http://127.0.0.1:{address(live)[1]}/stream.mjpg"
    with subprocess.Popen(
        [*CLI, "camera", "--source", url, "--timeout", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            first = json.loads(process.stdout.readline())
            live.close()
            rest, errors = process.communicate(timeout=30)
        finally:
            process.kill()
    assert (first["label"], list(first)) == (7, FIELDS)
    assert process.returncode == 7 and rest == ""
    assert errors.splitlines()[-1] == (
        f"error: {url}: stopped delivering frames (disconnected?); check the cable or the "
        "stream, then start again"
    )


@pytest.mark.skipif(
    not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)"
)
def test_the_page_plays_the_video_and_shows_the_reading_in_headless_chromium(live, tmp_path):
    command = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
        "--dump-dom", f"http://127.0.0.1:{address(live)[1]}/",
    ]  # fmt: skip
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    assert 'data-video="playing"' in body[0]  # the <img> loaded a frame of the stream
    assert 'data-reading="7"' in body[0]  # reading.json was fetched and shown
    assert '<div id="reading">7</div>' in dom


# -- the window ------------------------------------------------------------------------------


@pytest.mark.pi
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the DISPLAY check is Linux's")
def test_show_without_a_display_points_to_serve(invoke, media, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = invoke("--source", str(media / "digits.avi"), "--show")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.errors == [
        "error: --show needs a display (DISPLAY is not set); on a headless Pi use --serve "
        "0.0.0.0:8080 and open the page from another computer (see: edge-digits camera --help)"
    ]


# -- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "last"),
    [(signal.SIGTERM, 0, None), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_stops_the_run_with_its_summary(media, signum, code, last):
    # At 10 frames a second the 62-frame video takes 6 s: the signal, sent on the first
    # reading (frame 8), ends the run well before the video does.
    command = [*CLI, "camera", "--source", str(media / "digits.avi"), "--max-fps", "10"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            first = process.stdout.readline()
            process.send_signal(signum)
            rest, errors = process.communicate(timeout=30)
        finally:
            process.kill()
    records = [json.loads(line) for line in (first + rest).splitlines()]
    assert process.returncode == code, errors
    assert records and records[0]["label"] == 7
    lines = errors.splitlines()
    if last is not None:
        assert lines.pop() == last
    (summary,) = lines
    frames, readings = counts(summary)
    assert 9 <= frames < 62 and readings == len(records)


# -- review findings: pipes, damaged videos, displays, pixel limits -------------------------


@pytest.mark.parametrize("command", [["camera", "--source"], ["classify", "--json"]])
def test_a_reader_that_stops_early_is_not_an_error(media, command):
    # `edge-digits camera | head -1`: the first reading is all that is wanted.
    target = media / "digits.avi" if command[0] == "camera" else ROOT / "examples"
    child = subprocess.Popen(
        [*CLI, *command, str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline()  # one line, then hang up
    child.stdout.close()
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    assert b"Traceback" not in stderr and b"Broken pipe" not in stderr


@pytest.mark.pi
def test_a_truncated_video_is_read_as_far_as_it_goes_with_a_warning(invoke, media, tmp_path):
    whole = (media / "digits.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 2])
    result = invoke("--source", str(cut))
    assert result.exit_code == 0
    assert [label for _, label in EXPECTED][:2] == [r["label"] for r in result.records][:2]
    warning, summary = result.errors
    assert re.fullmatch(
        re.escape(f"warning: {cut}: the video ended after ") + r"\d+ of its 62 frames "
        r"\(truncated or damaged\?\)",
        warning,
    )
    assert counts(summary)[0] < 62


@pytest.mark.pi
def test_a_video_with_a_header_and_no_frame_exits_7_in_one_line(invoke, media, tmp_path):
    stub = tmp_path / "stub.avi"
    stub.write_bytes((media / "digits.avi").read_bytes()[:2000])  # the header, then nothing
    result = invoke("--source", str(stub))
    assert result.exit_code == 7 and result.stdout == ""
    (line,) = [line for line in result.errors if not line.startswith("camera: ")]
    assert line.startswith(f"error: {stub}: ")


# The runtime depends on OpenCV's headless build (no X11 libraries on a Pi OS Lite or a
# server); the GUI build is what a desktop user swaps in for --show (README).
HEADLESS_OPENCV = "GUI:                           NONE" in cv2.getBuildInformation()


@pytest.mark.pi
@pytest.mark.skipif(not HEADLESS_OPENCV, reason="OpenCV's desktop build is installed here")
def test_show_with_the_headless_opencv_says_how_to_get_a_window(invoke, media, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":97")
    result = invoke("--source", str(media / "digits.avi"), "--show", seconds=60)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.errors == [
        "error: --show: this OpenCV has no window support (opencv-python-headless); for a "
        "window: pip uninstall -y opencv-python-headless && pip install opencv-python (and a "
        "desktop: Raspberry Pi OS with desktop has its X11 libraries); or use --serve "
        "0.0.0.0:8080 and open the page in a browser (see: edge-digits camera --help)"
    ]


@pytest.mark.skipif(HEADLESS_OPENCV, reason="needs OpenCV's desktop build (opencv-python)")
def test_show_on_a_display_that_cannot_be_reached_is_a_usage_error(invoke, media, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":97")  # no X server answers there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    result = invoke("--source", str(media / "digits.avi"), "--show", seconds=60)
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.errors
    # The child's first line of complaint is quoted: it names the cause.
    assert re.fullmatch(
        r"error: --show: OpenCV cannot open a window on display :97 \(.+\); check the "
        r"display \(or ssh -X\), or use --serve 0\.0\.0\.0:8080 and open the page in a "
        r"browser \(see: edge-digits camera --help\)",
        line,
    ), line


def test_a_closed_stdout_is_exit_6_in_one_line(media):
    child = subprocess.run(
        [*CLI, "camera", "--source", str(media / "digits.avi")],
        capture_output=False, stderr=subprocess.PIPE, text=True, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert child.returncode == 6
    assert child.stderr.splitlines() == [
        "error: cannot write the output (stdout is closed); redirect it instead"
    ]


def test_a_closed_stderr_does_not_stop_the_readings(media, tmp_path):
    # stderr's reader gone (`2> >(true)`): the warnings are lost, the readings are not.
    (tmp_path / "broken.png").write_text("not a picture")
    read, write = os.pipe()
    os.close(read)
    child = subprocess.run(
        [*CLI, "camera", "--source", str(media / "digits.avi")],
        stdout=subprocess.PIPE, stderr=write, text=True, timeout=60,
    )  # fmt: skip
    os.close(write)
    assert child.returncode == 0
    assert [
        (json.loads(line)["frame"], json.loads(line)["label"]) for line in child.stdout.splitlines()
    ] == EXPECTED


@pytest.mark.pi
def test_the_pixel_limit_applies_to_a_folder_source(invoke, tmp_path, digits):
    rng = np.random.default_rng(5)
    for name in ("a0", "a1", "a2"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), scene(digits[7], rng, size=SIZE, height=80))
    result = invoke("--source", str(tmp_path), "--max-pixels", "1000")
    assert result.exit_code == 7
    warnings_, error = result.errors[:3], result.errors[-1]
    assert all(
        line.startswith("warning: ") and "(76,800, over the limit of 1,000" in line
        for line in warnings_
    )
    assert error == f"error: {tmp_path}: none of its images could be read (see above)"
    assert invoke("--source", str(tmp_path), "--max-pixels", "100000").exit_code == 0


@pytest.mark.pi
def test_the_summary_of_a_long_run_keeps_bounded_memory():
    summary = Summary()
    for index in range(25_000):
        summary.add(1.0 if index < 15_000 else 3.0)  # the last 10,000 frames are slower
    assert summary.frames == 25_000 and len(summary.recent_milliseconds) == 10_000
    assert summary.total_milliseconds == 15_000 + 3 * 10_000  # the mean is over every frame
    assert "processing 1.8 ms per frame (p95 3.0 ms)" in summary.line()
