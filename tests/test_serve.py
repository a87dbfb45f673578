"""`edge-digits serve` over real HTTP on localhost: the answers are `classify --json`'s
records; hostile requests get their status code and the server goes on; overload is 503;
the token; /healthz and /metrics (also on `camera --serve`); a bounded load test."""

from __future__ import annotations

import http.client
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import Classifier
from edge_digits.runtime.live.run import LiveOptions, run_camera
from edge_digits.runtime.serve.service import ServeOptions, Server, Service
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.png"))
VIDEO = ROOT / "examples" / "camera_7_2_1.avi"
LIMITS = ServeOptions(port=0, max_body=200_000, timeout=1.0, max_concurrent=4)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def start(options: ServeOptions) -> Server:
    server = Server(Service(options))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = start(LIMITS)
    yield running
    running.shutdown()
    running.server_close()


def port(server: Server) -> int:
    return int(server.server_address[1])


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port(server), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def post(server: Server, path: str, body: bytes, **headers: str) -> tuple[int, dict, bytes]:
    return request(server, "POST", path, body, {k.replace("_", "-"): v for k, v in headers.items()})


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height pixels (CRC fixed): a decoder that
    trusted it would allocate width x height bytes."""
    data = bytearray(png(np.zeros((1, 1), np.uint8)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def without_path(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "path"}


# -- the answers are classify --json's --------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?top_k=3", "?number=1"])
def test_each_example_gets_the_record_classify_json_prints(server, classifier, query):
    number, top_k = "number" in query, 3 if "top_k" in query else 1
    expected = [
        r.record() for r in classify_paths(classifier, EXAMPLES, top_k=top_k, number=number)
    ]
    for path, record in zip(EXAMPLES, expected, strict=True):
        status, headers, body = post(server, f"/classify{query}", path.read_bytes())
        assert status == 200, body
        assert headers["Content-Type"] == "application/json"
        answer = json.loads(body)
        assert answer == {"path": "-", **without_path(record)}


def test_multipart_files_get_their_records_in_order(server, classifier):
    expected = [r.record() for r in classify_paths(classifier, EXAMPLES)]
    body, kind = multipart([(path.name, path.read_bytes()) for path in EXAMPLES])
    status, _, answer = post(server, "/classify", body, Content_Type=kind)
    assert status == 200
    records = json.loads(answer)
    assert [r["path"] for r in records] == [path.name for path in EXAMPLES]
    assert [without_path(r) for r in records] == [without_path(r) for r in expected]


def test_form_fields_are_not_files(server):
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="7.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + EXAMPLES[0].read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, answer = post(
        server, "/classify", body, Content_Type=f"multipart/form-data; boundary={boundary}"
    )
    assert status == 200
    assert [(r["path"], r["label"]) for r in json.loads(answer)] == [("7.png", 7)]


def test_a_bad_file_among_several_is_its_record_and_the_rest_are_read(server):
    body, kind = multipart([("text.png", b"not an image"), ("seven.png", EXAMPLES[0].read_bytes())])
    status, _, answer = post(server, "/classify", body, Content_Type=kind)
    bad, good = json.loads(answer)
    assert status == 200
    assert bad["label"] is None and bad["error"].startswith("text.png: not an image")
    assert good["label"] == 7


# -- hostile requests -------------------------------------------------------------------------


def test_hostile_bodies_get_their_status_and_the_server_goes_on(server):
    seven = EXAMPLES[0].read_bytes()
    assert post(server, "/classify", b"")[0] == 400
    status, _, body = post(server, "/classify", b"GIF89a but not really")
    assert status == 422
    assert json.loads(body)["error"].startswith("-: ")
    status, headers, body = post(server, "/classify", b"\0" * 300_000)  # over max_body
    assert status == 413 and "300,000 bytes" in json.loads(body)["error"]
    assert headers["Connection"] == "close"
    # A decompression bomb: a PNG that claims 100,000 x 100,000 pixels in 70 bytes.
    status, _, body = post(server, "/classify", bomb(100_000, 100_000))
    assert status == 422 and "too many pixels (10,000,000,000" in json.loads(body)["error"]
    assert post(server, "/classify?top_k=11", seven)[0] == 400
    assert post(server, "/classify?colour=red", seven)[0] == 400
    assert post(server, "/elsewhere", seven)[0] == 404
    status, headers, _ = request(server, "GET", "/classify")
    assert status == 405 and headers["Allow"] == "POST"
    body, kind = multipart([])
    assert post(server, "/classify", body, Content_Type=kind)[0] == 400
    assert post(server, "/classify", b"--x\r\n", Content_Type="multipart/form-data")[0] == 400
    # No Content-Length (a chunked body): 411.
    with socket.create_connection(("127.0.0.1", port(server)), timeout=5) as raw:
        raw.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 411")
    assert post(server, "/classify", seven)[0] == 200  # still serving


def test_a_slow_sender_gets_408_and_others_are_served_meanwhile(server):
    with socket.create_connection(("127.0.0.1", port(server)), timeout=5) as slow:
        slow.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        assert post(server, "/classify", EXAMPLES[0].read_bytes())[0] == 200
        start = time.monotonic()
        answer = slow.recv(1000)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - start < 3  # the timeout is 1 s
    with socket.create_connection(("127.0.0.1", port(server)), timeout=5) as trickle:
        # One byte every 0.2 s: each arrives well within the timeout, the whole does not.
        trickle.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        start = time.monotonic()
        for _ in range(15):  # 3 s of trickling at most
            trickle.sendall(b"x")
            time.sleep(0.2)
            if select.select([trickle], [], [], 0)[0]:  # answered
                break
        assert trickle.recv(1000).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - start < 2
    with socket.create_connection(("127.0.0.1", port(server)), timeout=5) as silent:
        time.sleep(1.5)  # not even a request line: closed after the timeout
        assert silent.recv(100) == b""


def test_overload_is_503_never_a_crash():
    running = start(replace(LIMITS, max_concurrent=1, max_connections=2))
    try:
        # One request holds the only slot (its body never comes) ...
        with socket.create_connection(("127.0.0.1", port(running)), timeout=5) as holder:
            holder.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            time.sleep(0.2)
            status, headers, body = post(running, "/classify", EXAMPLES[0].read_bytes())
            assert status == 503 and headers["Retry-After"] == "1"
            assert json.loads(body)["error"].startswith("busy")
            # ... and connections beyond max_connections get 503 before any thread starts.
            time.sleep(0.1)  # the refused request's connection is closed
            with socket.create_connection(("127.0.0.1", port(running)), timeout=5) as second:
                time.sleep(0.1)  # accepted: the holder's and this one are the two allowed
                third = socket.create_connection(("127.0.0.1", port(running)), timeout=5)
                with third:
                    assert third.recv(200).startswith(b"HTTP/1.1 503")
                assert second
        time.sleep(1.2)  # the holder's timeout frees its slot
        assert post(running, "/classify", EXAMPLES[0].read_bytes())[0] == 200
    finally:
        running.shutdown()
        running.server_close()


# -- token, health, metrics -------------------------------------------------------------------


def test_a_token_is_asked_on_classify_and_metrics_not_healthz():
    running = start(replace(LIMITS, token="s3cret"))
    seven = EXAMPLES[0].read_bytes()
    try:
        status, headers, _ = post(running, "/classify", seven)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert post(running, "/classify", seven, Authorization="Bearer wrong")[0] == 401
        assert post(running, "/classify", seven, Authorization="Bearer s3cret")[0] == 200
        assert request(running, "GET", "/metrics")[0] == 401
        assert (
            request(running, "GET", "/metrics", headers={"Authorization": "Bearer s3cret"})[0]
            == 200
        )
        assert request(running, "GET", "/healthz")[0] == 200
    finally:
        running.shutdown()
        running.server_close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_an_answer_is_in_metrics_as_soon_as_its_client_has_it(monkeypatch):
    from edge_digits.runtime.serve import service

    send = service._Handler._send

    def send_then_linger(self, reply):  # the handler's thread goes on after the answer
        send(self, reply)
        time.sleep(0.5)

    monkeypatch.setattr(service._Handler, "_send", send_then_linger)
    running = start(LIMITS)
    try:
        assert post(running, "/classify", b"nope")[0] == 422
        found = samples(request(running, "GET", "/metrics")[2].decode())
        key = ("edge_digits_http_requests_total", (("code", "422"), ("handler", "classify")))
        assert found.get(key) == 1
    finally:
        running.shutdown()
        running.server_close()


def test_metrics_count_requests_errors_and_latency_in_prometheus_format():
    running = start(LIMITS)
    try:
        for _ in range(3):
            post(running, "/classify", EXAMPLES[0].read_bytes())
        post(running, "/classify", b"nope")
        status, headers, body = request(running, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
        found = samples(body.decode())
        assert (
            found["edge_digits_http_requests_total", (("code", "200"), ("handler", "classify"))]
            == 3
        )
        assert (
            found["edge_digits_http_requests_total", (("code", "422"), ("handler", "classify"))]
            == 1
        )
        assert found["edge_digits_http_errors_total",
                     (("cause", "unprocessable entity"), ("handler", "classify"))] == 1  # fmt: skip
        assert (
            found["edge_digits_http_request_duration_seconds_count", (("handler", "classify"),)]
            == 4
        )
        assert found["edge_digits_images_total", (("outcome", "read"),)] == 3
        info = [key for key in found if key[0] == "edge_digits_model_info"]
        labels = dict(info[0][1])
        assert labels["model"] == "edge_int8.tflite" and labels["precision"] == "int8"
        assert labels["backend"] in ("litert", "tflite-runtime") and len(labels["sha256"]) == 64
        status, _, body = request(running, "GET", "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        running.shutdown()
        running.server_close()


def test_the_camera_live_view_has_healthz_and_metrics():
    said: list[str] = []
    run = threading.Thread(
        target=run_camera,
        args=(LiveOptions(source=str(VIDEO), max_fps=10.0, serve="127.0.0.1:0"),),
        kwargs={"echo": said.append},
    )
    run.start()
    try:
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.02)
        url = said[0].rsplit(" ", 1)[1]
        live_port = int(url.rstrip("/").rsplit(":", 1)[1])
        time.sleep(1.0)  # a few frames
        connection = http.client.HTTPConnection("127.0.0.1", live_port, timeout=5)
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        health = json.loads(answer.read())
        assert answer.status == 200 and health["status"] == "ok" and health["frames"] > 0
        connection.request("GET", "/metrics")
        found = samples(connection.getresponse().read().decode())
        assert found["edge_digits_camera_frames_total", ()] >= 1
        assert found["edge_digits_camera_frame_processing_seconds_count", ()] >= 1
        assert any(key[0] == "edge_digits_model_info" for key in found)
        connection.close()
    finally:
        run.join(30)
    assert not run.is_alive()


# -- the command, and a bounded load test -----------------------------------------------------


def test_the_command_serves_until_sigterm(tmp_path):
    from mosquitto import free_port

    chosen = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("edge-digits")), "serve", "--port", str(chosen),
         "--workers", "1"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "EDGE_DIGITS_TOKEN": "t0k"},
    )  # fmt: skip
    try:
        line = process.stderr.readline() if process.stderr else ""
        assert (
            line.strip()
            == f"serving on http://localhost:{chosen}/ (POST /classify, GET /healthz, GET /metrics)"
        )
        connection = http.client.HTTPConnection("127.0.0.1", chosen, timeout=10)
        connection.request("POST", "/classify", EXAMPLES[0].read_bytes(),
                           {"Authorization": "Bearer t0k"})  # fmt: skip
        assert json.loads(connection.getresponse().read())["label"] == 7
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def spawned_workers(pid: int) -> set[int]:
    """The processes `pid` spawned to serve (not multiprocessing's resource tracker), from
    any of its threads (a replacement is started by the thread that saw its forerunner go)."""
    children = [
        child for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]  # fmt: skip
    return {
        int(child) for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    }  # fmt: skip


def wait_for(condition, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("not within the time allowed")


def test_workers_answer_on_one_port_with_one_set_of_metrics_and_a_dead_one_is_replaced(
    tmp_path,
):
    """`serve --workers 2`: two processes, one port; /metrics counts every process's
    requests, whichever answers; a killed worker is replaced (one line) and its counts stay;
    SIGTERM ends them all and removes the metrics folder."""
    from mosquitto import free_port

    chosen = free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("edge-digits")), "serve", "--port", str(chosen),
         "--workers", "2", "--max-concurrent", "1"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert process.stderr is not None

    def classify_twenty() -> None:
        for _ in range(20):  # a connection each: either process may take it
            connection = http.client.HTTPConnection("127.0.0.1", chosen, timeout=10)
            connection.request("POST", "/classify", EXAMPLES[0].read_bytes())
            answer = connection.getresponse()
            assert (answer.status, json.loads(answer.read())["label"]) == (200, 7)
            connection.close()

    def metrics() -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", chosen, timeout=10)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
        return samples(text)

    try:
        assert process.stderr.readline().strip() == (
            f"serving on http://localhost:{chosen}/ (POST /classify, GET /healthz, "
            "GET /metrics) with 2 processes"
        )
        (first,) = wait_for(lambda: spawned_workers(process.pid))
        # The worker is ready when its interpreter counts: one each (--max-concurrent 1).
        wait_for(lambda: metrics()[("edge_digits_interpreters", ())] == 2)
        classify_twenty()
        counted = metrics()
        assert counted[("edge_digits_http_requests_total",
                        (("code", "200"), ("handler", "classify")))] == 20  # fmt: skip
        assert counted[("edge_digits_max_concurrent_requests", ())] == 2

        os.kill(first, signal.SIGKILL)
        assert process.stderr.readline().strip() == (
            f"warning: serve's worker process {first} ended (exit -9); starting another"
        )
        (second,) = wait_for(lambda: spawned_workers(process.pid) - {first})
        wait_for(lambda: metrics()[("edge_digits_interpreters", ())] == 2)
        classify_twenty()
        assert metrics()[("edge_digits_http_requests_total",
                          (("code", "200"), ("handler", "classify")))] == 40  # fmt: skip

        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert not Path(f"/proc/{second}").exists()
        assert list(scratch.iterdir()) == []  # the metrics folder is gone
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_one_line(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("serve", "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --host 127.0.0.1 --port ")
    assert "cannot listen there" in result.stderr


def test_a_bounded_load_test_reports_throughput_and_p99(server, record_property):
    """200 requests from 4 keep-alive clients, within 60 s: every answer 200 and right."""
    seven = EXAMPLES[0].read_bytes()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port(server), timeout=10)
        for _ in range(50):
            start = time.perf_counter()
            connection.request("POST", "/classify", seven)
            answer = connection.getresponse()
            body = answer.read()
            with lock:
                latencies.append(time.perf_counter() - start)
                if answer.status != 200 or json.loads(body)["label"] != 7:
                    failures.append(f"{answer.status} {body[:80]!r}")
        connection.close()

    start = time.perf_counter()
    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(60)
    elapsed = time.perf_counter() - start
    assert not failures and len(latencies) == 200
    assert elapsed < 60
    p99 = float(np.percentile(latencies, 99))
    record_property("requests_per_second", round(200 / elapsed))
    record_property("p99_ms", round(p99 * 1000, 1))
    print(
        f"serve load: 200 requests in {elapsed:.2f} s, {200 / elapsed:.0f}/s, p99 {p99 * 1000:.1f} ms"
    )
