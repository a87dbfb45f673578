"""Frame sources for `edge-digits camera`: one interface over cameras, videos, streams, folders.

    with open_source("0") as source:           # or "picamera", "clip.avi", "rtsp://...", "shots/"
        for frame in source:
            frame.index, frame.time, frame.image   # 0, 0.0, uint8 (H, W, 3) BGR or (H, W) gray

A source is an iterator of `Frame`s that ends when a video or folder ends, and raises
`CameraError` when a camera or stream cannot be opened or stops delivering frames. Live
sources (cameras, streams) are read by a thread that keeps only the newest frame, so a slow
consumer always sees the present instead of a growing backlog, and a camera that hangs
(an unplugged USB webcam can block `read()` for ever) ends in an error after `timeout`
seconds instead of a hung process. Picamera2 is imported only when asked for.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from ..core.preprocess import load_gray
from ..errors import CameraError, EdgeDigitsWarning, InputError, MissingDependencyError, one_line
from ..files.paths import IMAGE_SUFFIXES, Unmatched, expand_paths
from ..native.dependencies import system_module_failure
from ..native.stderr import capture_stderr

FRAME_TIMEOUT = 5.0  # seconds a live source may go without a frame before it counts as gone
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
PICAMERA_HINT = (
    "on Raspberry Pi OS: sudo apt install python3-picamera2, and create the venv with "
    "`python3 -m venv --system-site-packages` so it can see the system's Picamera2"
)


@dataclass(frozen=True)
class Frame:
    """One picture from a source: its position, its time in seconds, and its pixels.

    `time` is the video's own timestamp for video files, and seconds since the source opened
    for cameras, streams and folders. `image` is uint8 BGR (H, W, 3) or grayscale (H, W)."""

    index: int
    time: float
    image: np.ndarray


class FrameSource:
    """Base of all sources: iterate for frames, `close()` (or `with`) to release the device."""

    name: str = "source"
    live: bool = False  # a camera or stream (frames keep coming), not a file that ends

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_source(
    spec: str,
    *,
    width: int | None = None,
    height: int | None = None,
    timeout: float = FRAME_TIMEOUT,
    max_pixels: int | None = None,
) -> FrameSource:
    """`--source` -> a FrameSource: a camera index, `picamera`, a stream URL, a video file,
    a folder of images or one image. `width`/`height` ask a camera for that frame size;
    `max_pixels` bounds the images of a folder (see preprocess.pixel_limit)."""
    if spec.isdigit():
        return OpenCVSource(int(spec), live=True, width=width, height=height, timeout=timeout)
    if spec.lower() in ("picamera", "picamera2"):
        return PicameraSource(width=width or 640, height=height or 480, timeout=timeout)
    if spec.lower().startswith(STREAM_PREFIXES):
        return OpenCVSource(spec, live=True, timeout=timeout)
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return FolderSource(path, max_pixels=max_pixels)
    if path.is_file():
        return OpenCVSource(str(path), live=False)
    raise CameraError(
        f"{spec}: no such camera, file or folder; --source takes a camera index (0), picamera, "
        "a video file, a stream URL (rtsp://, http://) or a folder of images"
    )


class OpenCVSource(FrameSource):
    """A camera index, video file or stream URL through OpenCV's VideoCapture."""

    def __init__(
        self,
        target: int | str,
        *,
        live: bool,
        width: int | None = None,
        height: int | None = None,
        timeout: float = FRAME_TIMEOUT,
    ) -> None:
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.live = live
        self.timeout = timeout
        self._reader: _NewestFrame | None = None
        self._capture = _open_capture(target, self.name, timeout)
        if isinstance(target, int):  # a camera: ask for the size (it may pick the nearest)
            if width:
                self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height:
                self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def _read(self) -> Iterator[tuple[float | None, np.ndarray]]:
        misses = read = 0
        while True:
            ok, image = self._capture.read()
            if ok and image is not None and image.size:
                misses, read = 0, read + 1
                position = self._capture.get(cv2.CAP_PROP_POS_MSEC) if not self.live else None
                yield (position / 1000.0 if position is not None else None), image
                continue
            if not self.live:
                self._check_end(read)
                return
            misses += 1  # a camera may drop a frame now and then; many in a row: it is gone
            if misses >= 10:
                raise CameraError(
                    f"{self.name}: stopped delivering frames (disconnected?); check the cable "
                    "or the stream, then start again"
                )
            time.sleep(0.05)

    def _check_end(self, read: int) -> None:
        """The end of a video file: fine if all its frames were read, a warning if it ended
        early (truncated or damaged), an error if no frame could be decoded at all."""
        expected = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if read == 0:
            raise CameraError(
                f"{self.name}: no frame could be decoded; check the file (truncated? a codec "
                "OpenCV lacks?) or convert it, e.g. to MJPG or H.264"
            )
        if expected > 0 and read < expected - 1:  # containers may count one frame too many
            warnings.warn(
                f"{self.name}: the video ended after {read} of its {expected} frames "
                "(truncated or damaged?)",
                EdgeDigitsWarning,
                stacklevel=2,
            )

    def __iter__(self) -> Iterator[Frame]:
        frames = _numbered(self._read())
        if not self.live:
            return frames
        self._reader = _NewestFrame(frames, self.name, self.timeout)
        return iter(self._reader)

    def close(self) -> None:
        if self._reader is not None and not self._reader.stop():
            return  # the reader is stuck in the driver: leave the device to the process exit
        self._capture.release()


def _open_capture(target: int | str, name: str, timeout: float) -> Any:
    # While opening, OpenCV logs every backend it tried ("can't open camera by index"),
    # FFmpeg its own ("Connection refused") and the AVI parser writes to stderr directly
    # ("Unexpected element..."): all dropped, the one-line error below says it better.
    # FFmpeg also stays quiet while frames are read, unless OPENCV_FFMPEG_LOGLEVEL is set.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    with capture_stderr():
        if isinstance(target, str) and target.lower().startswith(STREAM_PREFIXES):
            milliseconds = int(timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds]
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds]
            capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        else:
            capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        capture.release()
        what = "camera" if isinstance(target, int) else "video or stream"
        raise CameraError(
            f"{name}: cannot open this {what}; check that it exists, is not used by another "
            "program, and that OpenCV can decode it"
        )
    return capture


class PicameraSource(FrameSource):
    """The Raspberry Pi camera module through Picamera2 (libcamera; Raspberry Pi OS Bookworm).

    OpenCV cannot open the CSI camera on the libcamera stack, so Picamera2 is the way in.
    Frames are asked for as "RGB888", which Picamera2 lays out B, G, R: OpenCV's order."""

    live = True
    name = "picamera"

    def __init__(self, *, width: int, height: int, timeout: float = FRAME_TIMEOUT) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ModuleNotFoundError as error:
            if error.name != "picamera2":
                raise system_module_failure("Picamera2", error, PICAMERA_HINT) from None
            raise MissingDependencyError(
                f"--source picamera needs Picamera2, which is not installed; {PICAMERA_HINT}"
            ) from None
        except (ImportError, ValueError) as error:  # ValueError: "numpy.dtype size changed"
            raise system_module_failure("Picamera2", error, PICAMERA_HINT) from None
        self.timeout = timeout
        self._reader: _NewestFrame | None = None
        self._camera: Any = None
        try:
            self._camera = Picamera2()
            config = self._camera.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"}
            )
            self._camera.configure(config)
            self._camera.start()
        except Exception as error:
            if self._camera is not None:  # opened but not started: let another program have it
                self._camera.close()  # libcamera raises many kinds; all mean the same
            raise CameraError(
                f"picamera: cannot open the camera module ({one_line(error)}); "
                "check the ribbon cable and that no other program uses the camera"
            ) from None

    def _read(self) -> Iterator[tuple[float | None, np.ndarray]]:
        while True:
            try:
                image = self._camera.capture_array("main")
            except Exception as error:
                raise CameraError(
                    f"picamera: stopped delivering frames ({one_line(error)})"
                ) from None
            if image is None or not getattr(image, "size", 0):
                raise CameraError("picamera: delivered an empty frame; check the camera")
            yield None, np.asarray(image)[..., :3]

    def __iter__(self) -> Iterator[Frame]:
        self._reader = _NewestFrame(_numbered(self._read()), self.name, self.timeout)
        return iter(self._reader)

    def close(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None and not reader.stop():
            return  # the reader is stuck in libcamera: leave the camera to the process exit
        camera = getattr(self, "_camera", None)
        if camera is not None:
            self._camera = None
            # Letting go of the camera: a failure here has nothing left to stop, and must not
            # hide why the run ended.
            with contextlib.suppress(Exception):
                camera.stop()
            with contextlib.suppress(Exception):
                camera.close()


class FolderSource(FrameSource):
    """The image files of a folder (sorted, recursively) or one image, as frames.

    A file that cannot be read is skipped with a warning; the others are still read. When
    none can be read, that is a CameraError: a run that saw nothing is not a success."""

    def __init__(self, path: Path, *, max_pixels: int | None = None) -> None:
        self.name = str(path)
        self.max_pixels = max_pixels
        self._items = expand_paths([path])
        if all(isinstance(item, Unmatched) for item in self._items):
            first = self._items[0]
            assert isinstance(first, Unmatched)
            raise CameraError(first.message)

    def _read(self) -> Iterator[tuple[float | None, np.ndarray]]:
        read = 0
        for item in self._items:
            if isinstance(item, Unmatched):
                continue
            try:
                image = load_gray(item, self.max_pixels)
            except InputError as error:
                warnings.warn(f"{error} (skipped)", EdgeDigitsWarning, stacklevel=2)
                continue
            read += 1
            yield None, image
        if not read:
            raise CameraError(f"{self.name}: none of its images could be read (see above)")

    def __iter__(self) -> Iterator[Frame]:
        return _numbered(self._read())


def _numbered(images: Iterator[tuple[float | None, np.ndarray]]) -> Iterator[Frame]:
    """Number frames from 0; frames without their own timestamp get seconds since the start."""
    start = time.monotonic()
    for index, (stamp, image) in enumerate(images):
        yield Frame(index, stamp if stamp is not None else time.monotonic() - start, image)


class _NewestFrame:
    """Read frames on a thread and keep only the newest; iterate for them.

    Iterating raises CameraError after `timeout` seconds without a frame, and re-raises the
    error that stopped the reader. The thread is a daemon, so a capture stuck in a driver
    call cannot keep the process alive; `stop()` says whether the thread really ended, since
    releasing a device another thread is still reading from can crash the process."""

    def __init__(self, frames: Iterator[Frame], name: str, timeout: float) -> None:
        self.name, self.timeout = name, timeout
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._error: BaseException | None = None
        self._done = self._stop = False
        self._thread = threading.Thread(
            target=self._read, args=(frames,), name=f"edge-digits {name}", daemon=True
        )
        self._thread.start()

    def _read(self, frames: Iterator[Frame]) -> None:
        try:
            for frame in frames:
                with self._condition:
                    if self._stop:
                        return
                    self._frame = frame
                    self._condition.notify()
        except BaseException as error:  # handed over to the consumer
            self._error = error
        finally:
            with self._condition:
                self._done = True
                self._condition.notify()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._condition:
                ready = self._condition.wait_for(
                    lambda: self._frame is not None or self._done, self.timeout
                )
                if not ready:
                    raise CameraError(
                        f"{self.name}: no frame for {self.timeout:g} s (disconnected or frozen?); "
                        "check the camera or the stream, then start again"
                    )
                frame, self._frame = self._frame, None
            if frame is None:  # the reader has ended
                if self._error is not None:
                    raise self._error
                return
            yield frame

    def stop(self, wait: float = 2.0) -> bool:
        """Ask the reader to end; True when it has (within `wait` seconds)."""
        with self._condition:
            self._stop = True
        self._thread.join(wait)
        return not self._thread.is_alive()
