"""`edge-digits camera` as one library call: open the source, build the sinks, watch, stop.

    summary = run_camera(LiveOptions(source="clip.avi"), report=print_summary)

The parts live elsewhere (sources.py: sources; watch.py: reading frames; sinks.py and
web.py: outputs); this module only puts them together and ends the run cleanly on the end
of a video, on `q` in the window, on Ctrl-C and on SIGTERM (systemd or docker stopping a
service), always releasing the camera and the port.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.classifier import Classifier, ClassifierOptions
from ..core.crops import CropOptions
from ..errors import CameraError, EdgeDigitsWarning, UsageError, one_line
from .mqtt import MqttOptions
from .sinks import JsonLines, Window
from .sources import FRAME_TIMEOUT, open_source
from .watch import CameraOptions, Sink, Summary, watch


@dataclass(frozen=True)
class LiveOptions:
    """Everything `edge-digits camera` takes.

    Fields:
        source: camera index, "picamera", video file, stream URL or folder (see sources.py).
        reading: region, --number, stabilisation (watch.CameraOptions).
        classifier: model, threads, backend, pixel limit.
        width, height: the frame size asked of a camera.
        max_fps: the most frames read per second; None: as fast as they come.
        timeout: seconds a live source may go without a frame.
        show: a window with the live view; serve: PORT or HOST:PORT for the web page.
        mqtt: publish each reading to this broker (mqtt.py).
        save_crops: keep what the model saw (`--save-crops`, see live/crops.py).
    """

    source: str = "0"
    reading: CameraOptions = field(default_factory=CameraOptions)
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    width: int | None = None
    height: int | None = None
    max_fps: float | None = None
    timeout: float = FRAME_TIMEOUT
    show: bool = False
    serve: str | None = None
    mqtt: MqttOptions | None = None
    save_crops: CropOptions | None = None


class Terminated(BaseException):
    """SIGTERM arrived: the run ends as at the end of a video. A BaseException, as
    KeyboardInterrupt is, so that no `except Exception` on the way (an image decoder's,
    the camera's) mistakes it for a failure of its own and goes on."""


def run_camera(
    options: LiveOptions,
    *,
    echo: Callable[[str], None] = lambda line: None,
    report: Callable[[Summary], None] = lambda summary: None,
) -> Summary:
    """Read digits from `options.source` until it ends, the window is closed or SIGTERM;
    readings go to stdout as JSON lines. `echo` gets notices (the web page's address);
    `report` gets the summary whenever frames were being read, also when the run ends in
    an error or Ctrl-C, but not after a usage error (then nothing ran)."""
    classifier = Classifier(options.classifier)
    summary: Summary | None = None
    sinks: list[Sink] = [JsonLines(number=options.reading.number)]
    window: Window | None = None
    try:
        if options.serve is not None:
            from .web import LiveServer, parse_address

            host, port = parse_address(options.serve)  # a wrong address fails before the camera
        if options.mqtt is not None:  # connects in the background: a broker away stops nothing
            from .mqtt import MqttPublisher

            sinks.append(MqttPublisher(options.mqtt, number=options.reading.number))
            echo(f"publishing readings to {options.mqtt.address} as {options.mqtt.reading_topic}")
        with _stop_on_sigterm(), open_source(
            options.source, width=options.width, height=options.height,
            timeout=options.timeout, max_pixels=classifier.max_pixels,
        ) as frames:  # fmt: skip
            if options.show:  # after the source: its errors come first, and cost less
                window = Window()
                sinks.append(window)
            if options.serve is not None:
                server = LiveServer(
                    host, port, number=options.reading.number, classifier=classifier
                )
                sinks.append(server)
                echo(f"serving the live view on {server.url}")
            reading = options.reading
            if options.save_crops is not None:
                from .crops import CropSink

                sinks.append(CropSink(options.save_crops, options.source))
                reading = replace(reading, trace=True)  # the sink keeps the model inputs
            summary = Summary()
            watch(
                frames, classifier, reading, sinks, summary=summary,
                max_fps=options.max_fps,
                should_stop=lambda: window is not None and window.stopped,
            )  # fmt: skip
    except Terminated:
        pass
    except (UsageError, CameraError):
        if summary is not None and summary.frames == 0:
            summary = None  # nothing was read (--roi off the frame, no frame): say only why
        raise
    finally:
        _close(sinks)
        if summary is not None:
            summary.ended = summary.ended or time.monotonic()
            report(summary)
    return summary or Summary()  # SIGTERM before the source opened: nothing was read


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` while the block runs (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _close(sinks: list[Sink]) -> None:
    """Close every sink, even when one fails: the others still release their port or window."""
    for sink in sinks:
        try:
            sink.close()
        except Exception as error:  # at the end of a run: say it, and close the rest
            warnings.warn(
                f"closing {type(sink).__name__}: {one_line(error)}", EdgeDigitsWarning, stacklevel=2
            )
