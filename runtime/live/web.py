"""`edge-digits camera --serve HOST:PORT`: the live annotated video and the current reading
in a browser, for a headless Pi watched from a laptop.

    /             a small page (no external assets) with the video and the reading
    /stream.mjpg  the annotated frames as MJPEG (multipart/x-mixed-replace)
    /reading.json the current reading, frame rate and counts
    /healthz      200 {"status": "ok", ...} while frames arrive; 503 before the first one or
                  when none came for STALE seconds
    /metrics      Prometheus' text format: frames, readings, processing time, the model

The server runs on daemon threads beside the camera loop. Frames are JPEG-encoded only while
somebody watches the stream, and at most STREAM_FPS times a second, so serving costs
nothing when nobody looks.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import cv2

from ..errors import UsageError
from .pages import send_body
from .sinks import annotate, camera_record
from .watch import FrameResult, Reading

if TYPE_CHECKING:
    from ..core.classifier import Classifier

STREAM_FPS = 15.0
STALE = 5.0  # seconds without a frame after which /healthz answers 503
JPEG_QUALITY = 80
BOUNDARY = "edge-digits-frame"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-digits camera</title>
<style>
  body { margin: 0; font: 16px system-ui, sans-serif; background: #111; color: #eee; }
  main { max-width: 960px; margin: 0 auto; padding: 16px; }
  img { width: 100%; height: auto; background: #222; border-radius: 6px; }
  #reading { font-size: 64px; font-weight: 700; letter-spacing: 0.05em; }
  #details { color: #aaa; }
</style></head>
<body><main>
  <div id="reading">-</div>
  <div id="details">waiting for a reading</div>
  <img id="video" src="stream.mjpg" alt="live camera view with the region read">
</main>
<script>
  const video = document.getElementById("video");
  video.addEventListener("load", () => { document.body.dataset.video = "playing"; });
  async function poll() {
    try {
      const answer = await fetch("reading.json", { cache: "no-store" });
      const now = await answer.json();
      const value = now.text !== undefined ? now.text : now.label;
      document.getElementById("reading").textContent = value === null ? "-" : String(value);
      document.getElementById("details").textContent = now.frame === null
        ? "waiting for a reading"
        : `score ${now.score === null ? "-" : now.score.toFixed(3)} \u00b7 frame ${now.frame}` +
          ` \u00b7 ${now.fps.toFixed(1)} fps \u00b7 ${now.frames} frames read`;
      document.body.dataset.reading = value === null ? "" : String(value);
    } catch (error) {
      document.getElementById("details").textContent = "camera stopped";
    }
    setTimeout(poll, 250);
  }
  poll();
</script>
</body></html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """`--serve` -> (host, port): `8080`, `:8080` (both localhost), `HOST:PORT`, `[::1]:8080`."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(
            f"--serve {text}: give PORT or HOST:PORT, e.g. 8080 (this machine only) or "
            "0.0.0.0:8080 (every network interface)"
        )
    return host, number


class LiveServer:
    """The HTTP server and the latest picture and reading it serves; a camera sink."""

    def __init__(
        self, host: str, port: int, *, number: bool = False, classifier: Classifier | None = None
    ) -> None:
        self.number = number
        self._metrics = _CameraMetrics(classifier) if classifier is not None else None
        self._last_frame: float | None = None
        self._condition = threading.Condition()
        self._jpeg: bytes | None = None
        self._sequence = 0
        self._viewers = 0
        self._last_encoded = 0.0
        self._record: dict[str, Any] = {"frame": None, "score": None, "fps": 0.0}
        self._record["text" if number else "label"] = None
        self._frames = 0
        self._closing = False
        try:
            server = _Server6 if ":" in host else _Server
            self._server = server((host, port), _handler(self))
        except OSError as error:
            raise UsageError(
                f"--serve {host}:{port}: cannot listen there ({error.strerror or error}); "
                "pick another port or address"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edge-digits serve", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = str(host)
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        if host in ("0.0.0.0", "::"):  # every interface: this machine's name reaches it
            shown = socket.gethostname()
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"

    # -- the camera side -------------------------------------------------------------------

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None:
        if self._metrics is not None:
            self._metrics.frame(result, fps)
        with self._condition:
            self._frames += 1
            self._last_frame = time.monotonic()
            self._record["fps"] = round(fps, 1)
            self._record["frames"] = self._frames
            due = time.monotonic() - self._last_encoded >= 1.0 / STREAM_FPS
            if not (self._viewers and due):
                return
        picture = annotate(result, fps, reading)
        ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            with self._condition:
                self._jpeg, self._last_encoded = encoded.tobytes(), time.monotonic()
                self._sequence += 1
                self._condition.notify_all()

    def reading(self, reading: Reading) -> None:
        if self._metrics is not None:
            self._metrics.readings.inc()
        with self._condition:
            self._record.update(camera_record(reading, number=self.number))

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- the HTTP side ---------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz: (status, body): 200 while frames arrive, else 503 saying why."""
        with self._condition:
            last, frames = self._last_frame, self._frames
        if last is None:
            return 503, {"status": "starting", "frames": 0}
        age = time.monotonic() - last
        status = "ok" if age <= STALE else "stalled"
        return (200 if status == "ok" else 503), {
            "status": status, "frames": frames, "last_frame_age": round(age, 3),
        }  # fmt: skip

    def metrics(self) -> bytes | None:
        return self._metrics.exposition() if self._metrics is not None else None

    def snapshot(self) -> dict[str, Any]:
        with self._condition:
            return {**self._record, "frames": self._frames}

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The first picture newer than `after` (waiting up to `timeout`), or None."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._closing or (self._sequence > after and self._jpeg is not None),
                timeout,
            )
            if self._closing or self._sequence <= after:
                return after, None
            return self._sequence, self._jpeg

    def watching(self, delta: int) -> None:
        with self._condition:
            self._viewers += delta
            if delta > 0:
                self._last_encoded = 0.0  # a new viewer gets a picture at once

    @property
    def closing(self) -> bool:
        return self._closing


class _CameraMetrics:
    """The camera's /metrics (prometheus-client, imported only when a page is served)."""

    def __init__(self, classifier: Classifier) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        from ..core.metrics import LATENCY_BUCKETS, NAMESPACE, new_registry

        self.registry = registry = new_registry(classifier)
        self.frames = Counter("camera_frames", "Frames read.", namespace=NAMESPACE,
                              registry=registry)  # fmt: skip
        self.readings = Counter("camera_readings", "Steady readings reported.",
                                namespace=NAMESPACE, registry=registry)  # fmt: skip
        self.seconds = Histogram(
            "camera_frame_processing_seconds", "Preprocessing and classification of one frame.",
            buckets=LATENCY_BUCKETS, namespace=NAMESPACE, registry=registry,
        )  # fmt: skip
        self.fps = Gauge("camera_fps", "Frames read per second, lately.", namespace=NAMESPACE,
                         registry=registry)  # fmt: skip
        self.last = Gauge("camera_last_frame_timestamp_seconds", "When the last frame was read "
                          "(Unix time).", namespace=NAMESPACE, registry=registry)  # fmt: skip

    def frame(self, result: FrameResult, fps: float) -> None:
        self.frames.inc()
        self.seconds.observe(result.milliseconds / 1000.0)
        self.fps.set(fps)
        self.last.set_to_current_time()

    def exposition(self) -> bytes:
        from ..core.metrics import exposition

        return exposition(self.registry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handler(live: LiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "edge-digits"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # stdout carries the readings; requests are not news

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/reading.json":
                self._send(json.dumps(live.snapshot()).encode(), "application/json")
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/healthz":
                status, body = live.health()
                self._send(json.dumps(body).encode(), "application/json", HTTPStatus(status))
            elif path == "/metrics" and (text := live.metrics()) is not None:
                from ..core.metrics import CONTENT_TYPE

                self._send(text, CONTENT_TYPE)
            else:
                self._send(b"not found\n", "text/plain", HTTPStatus.NOT_FOUND)

        def _send(self, body: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            send_body(self, status, body, kind)

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            live.watching(+1)
            sequence = 0
            try:
                while not live.closing:
                    sequence, jpeg = live.next_jpeg(sequence)
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                        + jpeg
                        + b"\r\n"
                    )
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away
            finally:
                live.watching(-1)

    return Handler
