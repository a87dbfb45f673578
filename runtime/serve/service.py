"""`edge-digits serve`: classify images over HTTP, with health and metrics.

    POST /classify   an image as the body, or multipart/form-data with several files;
                     `?number=1` reads numbers, `?top_k=K` (1-10) the K best labels.
                     One image: its record, as `classify --json` prints it (`path` is the
                     part's file name, or "-" for a body); several: a JSON array of them.
    GET  /healthz    {"status": "ok", ...}
    GET  /metrics    Prometheus' text format: requests, errors, latency, the model

Limits, so that no request can crash the server or grow its memory without bound: a body
over `max_body` bytes is refused unread (413); an image over the pixel limit is refused
undecoded (422, like any image that cannot be read); at most `max_concurrent` requests are
read and classified at once and at most `max_connections` connections are open (a thread
each): the next ones get 503 with Retry-After at once; a client gets `timeout` seconds to
send its whole request, however slowly it trickles in (408, or closed before a request line). Memory is thus bounded by about max_concurrent x max_body.

The server is the standard library's ThreadingHTTPServer (HTTP/1.1, keep-alive), chosen by
measurement over uvicorn (benchmarks/serve_load.py): see docs/ARCHITECTURE.md, "serve".
Classification runs on a pool of `Classifier`s, one interpreter (one thread) each, since an
interpreter serves one call at a time; the interpreter and OpenCV release the GIL. With
`workers` > 1, that many processes answer on the same socket (`processes.py`); the limits
above are each process's.
"""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import io
import json
import math
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import Counter, Gauge, Histogram

from ..core.batch import Upload, classify_uploads
from ..core.classifier import MAX_BATCH, Classifier, ClassifierOptions
from ..core.metrics import CONTENT_TYPE, LATENCY_BUCKETS, NAMESPACE, exposition, new_registry
from ..errors import UsageError, one_line

TOKEN_ENV = "EDGE_DIGITS_TOKEN"
DEFAULT_PORT = 8000
MAX_BODY = 10 * 1024 * 1024  # bytes: a large phone photo; a digit is a few hundred
MAX_CONCURRENT = 8  # requests read and classified at once
MAX_CONNECTIONS = 64  # open connections, one thread each
TIMEOUT = 10.0  # seconds a client may take to send a request (and a kept-alive one may idle)
MAX_FILES = MAX_BATCH  # files in one multipart request
LOCALHOST = ("127.0.0.1", "::1", "localhost")
JSON = "application/json"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's: where processes keep values
# With several processes on one socket: before accepting, a process waits this long per
# connection it has open, so that an idler one takes the new connection (nginx balances its
# workers so); a process with none waits not at all.
ACCEPT_DELAY_S = 0.0005


@dataclass(frozen=True)
class ServeOptions:
    """Everything `edge-digits serve` takes; see the module's docstring for the limits.

    Fields:
        host, port: where to listen (port 0: any free one).
        token: a bearer token /classify and /metrics ask for (None: none asked).
        classifier: model, threads, backend, pixel limit (each interpreter: 1 thread unless
            `classifier.num_threads` says otherwise).
        interpreters: classifiers working at once in each process (None: the usable cores
            shared among the processes, at least 1, at most max_concurrent).
        workers: processes answering (see `processes.py`); the limits are each one's.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    max_body: int = MAX_BODY
    max_concurrent: int = MAX_CONCURRENT
    max_connections: int = MAX_CONNECTIONS
    timeout: float = TIMEOUT
    interpreters: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("max_body", "max_concurrent", "max_connections", "workers"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be 1 or more")
        if self.timeout <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.token is not None and not self.token.strip():
            raise UsageError(f"--token (or ${TOKEN_ENV}) is empty; give a token or none")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    kind: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, value: Any, *headers: tuple[str, str]) -> Answer:
    return Answer(status, (json.dumps(value) + "\n").encode(), JSON, headers)


def _error(status: int, message: str, *headers: tuple[str, str]) -> Answer:
    return _json(status, {"error": message}, *headers)


OVERLOADED = _error(
    HTTPStatus.SERVICE_UNAVAILABLE, "busy: too many requests at once; retry in a second",
    ("Retry-After", "1"),
)  # fmt: skip


class Service:
    """What the server does, apart from HTTP: classify a body, say health, show metrics.
    Thread-safe; the HTTP layer (`Server`) and benchmarks/serve_load.py's ASGI app share it."""

    def __init__(self, options: ServeOptions, *, shared_metrics: Path | None = None) -> None:
        """`shared_metrics`: the folder where the processes of `serve --workers N` keep their
        metrics (prometheus-client's multiprocess mode, set up by `processes.py`)."""
        self.options = options
        first = Classifier(options.classifier)  # a wrong model fails here, before listening
        count = options.interpreters or min(
            max(1, _usable_cores() // options.workers), options.max_concurrent
        )
        worker = replace(
            options.classifier,
            model=first.model_path,
            backend=first.backend,
            max_pixels=first.max_pixels,
            num_threads=options.classifier.num_threads or 1,
        )
        if options.classifier.num_threads is None:  # the first one gets 1 thread as well
            first = Classifier(worker)
        self.classifier = first
        self._pool: queue.SimpleQueue[Classifier] = queue.SimpleQueue()
        self._pool.put(first)
        for _ in range(count - 1):
            self._pool.put(Classifier(worker))
        self._slots = threading.BoundedSemaphore(options.max_concurrent)
        self.started = time.monotonic()
        self.registry = new_registry(first)
        # Shared: each process's values go to files, summed by the collector; registered
        # here as well, they would be shown twice.
        registry = None if shared_metrics is not None else self.registry
        if shared_metrics is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, str(shared_metrics))  # type: ignore[no-untyped-call]
        self._requests = Counter(
            "http_requests", "HTTP requests answered, by handler and status code.",
            ["handler", "code"], namespace=NAMESPACE, registry=registry,
        )  # fmt: skip
        self._errors = Counter(
            "http_errors", "Requests answered with an error (4xx, 5xx), by handler and cause.",
            ["handler", "cause"], namespace=NAMESPACE, registry=registry,
        )  # fmt: skip
        self._latency = Histogram(
            "http_request_duration_seconds", "Time from a request's first line to its answer.",
            ["handler"], buckets=LATENCY_BUCKETS, namespace=NAMESPACE, registry=registry,
        )  # fmt: skip
        self._images = Counter(
            "images", "Images classified, by outcome (read, unreadable).",
            ["outcome"], namespace=NAMESPACE, registry=registry,
        )  # fmt: skip
        self._in_flight = Gauge(
            "http_requests_in_flight", "Requests being read or classified now.",
            namespace=NAMESPACE, registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self._interpreters = Gauge(
            "interpreters", "Classifiers (interpreters) answering requests.",
            namespace=NAMESPACE, registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self._interpreters.set(count)
        Gauge(
            "max_concurrent_requests", "Requests read and classified at once; more get 503.",
            namespace=NAMESPACE, registry=registry, multiprocess_mode="livesum",
        ).set(options.max_concurrent)  # fmt: skip

    # -- what the handlers call ------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        """The `Authorization` header carries the token (always, when none is asked)."""
        token = self.options.token
        if token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )

    def admit(self) -> bool:
        """Take one of the `max_concurrent` slots; False: the server is full (503)."""
        if not self._slots.acquire(blocking=False):
            return False
        self._in_flight.inc()
        return True

    def release(self) -> None:
        self._in_flight.dec()
        self._slots.release()

    def classify(self, body: bytes, content_type: str, query: str) -> Answer:
        """POST /classify's answer for a complete body (an admitted request)."""
        try:
            top_k, number = _parse_query(query)
            uploads = _uploads(body, content_type)
        except ValueError as error:
            return _error(HTTPStatus.BAD_REQUEST, str(error))
        classifier = self._pool.get()  # at most max_concurrent wait here
        try:
            results = classify_uploads(classifier, uploads, top_k=top_k, number=number)
        finally:
            self._pool.put(classifier)
        for result in results:
            self._images.labels("read" if result.ok else "unreadable").inc()
        records = [result.record() for result in results]
        if content_type.lower().startswith("multipart/"):
            return _json(HTTPStatus.OK, records)
        ok = results[0].ok
        return _json(HTTPStatus.OK if ok else HTTPStatus.UNPROCESSABLE_ENTITY, records[0])

    def health(self) -> Answer:
        classifier = self.classifier
        return _json(HTTPStatus.OK, {
            "status": "ok",
            "model": str(classifier.model_path),
            "backend": classifier.backend,
            "workers": self.options.workers,
            "pid": os.getpid(),
            "uptime": round(time.monotonic() - self.started, 1),
        })  # fmt: skip

    def metrics(self) -> Answer:
        return Answer(HTTPStatus.OK, exposition(self.registry), CONTENT_TYPE)

    def count(self, handler: str, status: int, seconds: float, cause: str | None = None) -> None:
        """Record one answered request."""
        self._requests.labels(handler, str(status)).inc()
        self._latency.labels(handler).observe(seconds)
        if status >= 400:
            self._errors.labels(handler, cause or HTTPStatus(status).phrase.lower()).inc()


def _usable_cores() -> int:
    from ..core.pool import usable_cores

    return usable_cores()


def _parse_query(query: str) -> tuple[int, bool]:
    """`top_k=K&number=1` -> (top_k, number); ValueError says what is allowed."""
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"top_k", "number"})
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r}: give top_k (1-10) and number (0/1)")
    top_k_text = fields.get("top_k", ["1"])[-1]
    if not top_k_text.isdigit() or not 1 <= int(top_k_text) <= 10:
        raise ValueError(f"top_k={top_k_text!r}: give a whole number from 1 to 10")
    number_text = fields.get("number", ["0"])[-1].lower()
    if number_text not in ("0", "1", "true", "false", ""):
        raise ValueError(f"number={number_text!r}: give 1 (read a number) or 0")
    return int(top_k_text), number_text in ("1", "true", "")


def _uploads(body: bytes, content_type: str) -> list[Upload]:
    """The images of a request: its body, or each file of a multipart/form-data body."""
    if not body:
        raise ValueError("empty body: send an image, or multipart/form-data with image files")
    if not content_type.lower().startswith("multipart/"):
        return [Upload("-", body)]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart() or message.defects:
        raise ValueError("malformed multipart body: send multipart/form-data with a boundary")
    uploads = []
    for index, part in enumerate(message.iter_parts()):
        data = part.get_payload(decode=True)
        name = part.get_filename()
        if not isinstance(data, bytes) or (
            name is None and part.get_content_type() == "text/plain"
        ):
            continue  # a nested multipart, or a form field (`-F key=value`): not a file
        uploads.append(Upload(name or f"part-{index}", data))
    if not uploads:
        raise ValueError("the multipart body holds no files: send each image as a file part")
    if len(uploads) > MAX_FILES:
        raise ValueError(f"{len(uploads)} files in one request; send at most {MAX_FILES}")
    return uploads


# -- HTTP ------------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    """The service over HTTP/1.1, one thread per connection (at most max_connections)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, *, listener: socket.socket | None = None) -> None:
        """`listener`: a socket already listening (another process's, `processes.py`);
        None: bind and listen at the options' host and port."""
        self.service = service
        options = service.options
        self.address_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
        self._connections = threading.BoundedSemaphore(options.max_connections)
        self._open = 0  # connections being served (their threads running)
        self._open_lock = threading.Lock()
        self._shared = listener is not None or options.workers > 1
        # The socket's timeout: a client sending slowly, or idling between requests.
        handler = type("Handler", (_Handler,), {"timeout": options.timeout})
        if listener is not None:
            super().__init__(listener.getsockname(), handler, bind_and_activate=False)
            self.socket.close()
            self.socket = listener
            return
        try:
            super().__init__((options.host, options.port), handler)
        except OSError as error:
            raise UsageError(
                f"--host {options.host} --port {options.port}: cannot listen there "
                f"({error.strerror or error}); pick another port or address"
            ) from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = "localhost" if host in LOCALHOST else host
        if host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"

    def get_request(self) -> tuple[socket.socket, Any]:
        if self._shared and self._open:
            time.sleep(ACCEPT_DELAY_S * self._open)  # see ACCEPT_DELAY_S
        return self.socket.accept()  # on a shared socket, BlockingIOError: another took it

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):  # full: answer here, no thread
            self.service.count("connection", OVERLOADED.status, 0.0, "too many connections")
            try:
                request.settimeout(1.0)
                request.sendall(_raw(OVERLOADED))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._closed()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._closed()

    def _closed(self) -> None:
        with self._open_lock:
            self._open -= 1
        self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None and not isinstance(
            error, OSError
        ):  # a bug: one line, and the server goes on
            print(f"edge-digits serve: {type(error).__name__}: {one_line(error)}", file=sys.stderr)


def _raw(answer: Answer, *, close: bool = True, date: str | None = None) -> bytes:
    """An answer as the bytes of an HTTP/1.1 response."""
    head = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}", "Server: edge-digits",
            f"Content-Type: {answer.kind}", f"Content-Length: {len(answer.body)}",
            *(f"{name}: {value}" for name, value in answer.headers)]  # fmt: skip
    if date is not None:
        head.append(f"Date: {date}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body


class _DeadlineReader(socket.SocketIO):
    """A socket's reading side where every recv waits only until `deadline`: a request (its
    line, headers and body, and the idle wait before it on a kept-alive connection) must
    arrive within the timeout in all, however slowly it trickles in."""

    deadline = math.inf

    def readinto(self, buffer: Any) -> int | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)  # type: ignore[attr-defined]
        return super().readinto(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends many requests on one connection
    # The head and the body are one write (`_send`), and TCP_NODELAY sends it at once: else
    # Nagle's algorithm and the client's delayed ACK hold each answer about 40 ms.
    disable_nagle_algorithm = True
    server_version = "edge-digits"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # StreamRequestHandler's; this one keeps a deadline
        self._reader = _DeadlineReader(self.connection, "rb")
        self.connection._io_refs += 1  # as socket.makefile counts its files
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.service.options.timeout
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are counted in /metrics; stderr stays for what goes wrong

    def do_GET(self) -> None:
        with self._answering() as answer:
            path = self.path.split("?", 1)[0]
            service = self.server.service
            if path == "/healthz":
                answer(service.health(), "healthz")
            elif path == "/metrics":
                if self._authorised(answer, "metrics"):
                    answer(service.metrics(), "metrics")
            elif path == "/classify":
                answer(_error(HTTPStatus.METHOD_NOT_ALLOWED, "POST an image to /classify",
                              ("Allow", "POST")), "classify")  # fmt: skip
            else:
                answer(_error(HTTPStatus.NOT_FOUND, "not found: POST /classify, GET /healthz, "
                              "GET /metrics"), "other")  # fmt: skip

    def do_POST(self) -> None:
        with self._answering() as answer:
            path, _, query = self.path.partition("?")
            service = self.server.service
            if path != "/classify":
                self.close_connection = True  # the body is not read
                answer(_error(HTTPStatus.NOT_FOUND, "not found: POST /classify"), "other")
                return
            if not self._authorised(answer, "classify"):
                return
            length = self._length(answer)
            if length is None:
                return
            if not service.admit():
                self.close_connection = True
                answer(OVERLOADED, "classify", "overload")
                return
            try:
                body = self.rfile.read(length)
                if len(body) < length:  # the client closed before sending it all
                    self.close_connection = True
                    return
                answer(service.classify(body, self.headers.get("Content-Type", ""), query),
                       "classify")  # fmt: skip
            except TimeoutError:
                self.close_connection = True
                answer(_error(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within "
                              f"{service.options.timeout:g} s"), "classify")  # fmt: skip
            finally:
                service.release()

    def _length(self, answer: Callable[..., None]) -> int | None:
        """The body's length, or None after answering why it will not be read."""
        text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or text is None:
            self.close_connection = True
            answer(_error(HTTPStatus.LENGTH_REQUIRED, "send Content-Length (chunked bodies "
                          "are not read)"), "classify")  # fmt: skip
            return None
        limit = self.server.service.options.max_body
        length = int(text) if text.strip().isdigit() else -1
        if length < 0:
            self.close_connection = True
            answer(_error(HTTPStatus.BAD_REQUEST, f"Content-Length {text!r} is not a size"),
                   "classify")  # fmt: skip
            return None
        if length > limit:
            self.close_connection = True
            answer(_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length:,} bytes, over "
                          f"the limit of {limit:,} (--max-body)"), "classify")  # fmt: skip
            return None
        return length

    def _authorised(self, answer: Callable[..., None], handler: str) -> bool:
        if self.server.service.authorised(self.headers.get("Authorization")):
            return True
        self.close_connection = True
        answer(_error(HTTPStatus.UNAUTHORIZED, "send the token: Authorization: Bearer TOKEN",
                      ("WWW-Authenticate", 'Bearer realm="edge-digits"')), handler)  # fmt: skip
        return False

    @contextmanager
    def _answering(self) -> Iterator[Callable[..., None]]:
        """Send one answer and count it; an unexpected error is a 500, and the server goes on."""
        start = time.perf_counter()
        sent = False

        def answer(reply: Answer, handler: str, cause: str | None = None) -> None:
            nonlocal sent
            sent = True
            # Counted before it is sent: a client that has its answer finds it in /metrics
            # (counted after, a /metrics request from the same client could come first).
            self.server.service.count(handler, reply.status, time.perf_counter() - start, cause)
            self._send(reply)

        try:
            yield answer
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as error:
            self.close_connection = True
            print(f"edge-digits serve: {type(error).__name__}: {one_line(error)}", file=sys.stderr)
            if not sent:
                answer(_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"), "other", "bug")

    def _send(self, reply: Answer) -> None:
        """The head and the body in one write (see `disable_nagle_algorithm`); a client that
        does not read its answer gets `timeout` seconds."""
        self.connection.settimeout(self.timeout)
        self.wfile.write(_raw(reply, close=self.close_connection, date=self.date_time_string()))


# -- running it ------------------------------------------------------------------------------


class Terminated(BaseException):
    """SIGTERM: the server stops as on Ctrl-C, but as a normal end (exit 0)."""


def run_server(server: Server) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt) or SIGTERM (returns); then close the socket."""

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        server.serve_forever()
    except Terminated:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        server.server_close()
