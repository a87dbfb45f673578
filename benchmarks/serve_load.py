"""`edge-digits serve` under load from a local client: throughput, latency percentiles and the
server's RSS over a fixed count of single-image requests; and the same service behind an
ASGI server (uvicorn, with httptools and uvloop when installed), the alternative the server
was chosen against. `stdlib` is `edge-digits serve` as a user starts it (a process per usable
core, `--workers`), `stdlib-1` the same with `--workers 1`.

    .venv/bin/python benchmarks/serve_load.py           # 10,000 requests x 4 servers x 3 rounds
    .venv/bin/python benchmarks/serve_load.py --requests 2000 --rounds 1 --servers stdlib

The server runs in its own process (`edge-digits serve`, or this script's `--asgi PORT` for
uvicorn); the client is `--clients` processes, each with `--connections / --clients`
keep-alive connections sending the same 28x28 PNG (examples/mnist_test_0000_label7.png)
one request at a time, as fast as answers come. RSS is read from /proc every 0.2 s.
`--with-photo` adds one more client reading a photo of ten digits as numbers meanwhile: how
the small requests fare beside a slow one.
Target (issue 15): at least 1,000 requests/s at p99 under 50 ms on 2 cores, RSS flat over
10,000 requests. Results: benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from environment import RESULTS, ROOT, header, python_command, write_result

IMAGE = ROOT / "examples" / "mnist_test_0000_label7.png"
PHOTO = ROOT / "examples" / "real" / "sheet.jpg"
TARGET = {"requests_per_second": 1000, "p99_ms": 50.0}


# -- the ASGI contender ----------------------------------------------------------------------


def asgi_app(threaded: bool) -> Any:
    """The same `Service` behind ASGI: POST /classify only (what is measured)."""
    from edge_digits.runtime.serve.service import ServeOptions, Service

    service = Service(ServeOptions(port=0))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        kind = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        if not service.admit():
            answer_status, answer_body = 503, b'{"error": "busy"}\n'
        else:
            try:
                if threaded:  # off the event loop, on its thread pool
                    answer = await asyncio.to_thread(service.classify, body, kind, query)
                else:
                    answer = service.classify(body, kind, query)
            finally:
                service.release()
            answer_status, answer_body = answer.status, answer.body
        await send({
            "type": "http.response.start", "status": answer_status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(answer_body)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": answer_body})

    return app


def run_asgi(port: int, threaded: bool) -> None:
    import uvicorn

    uvicorn.run(asgi_app(threaded), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="off")  # fmt: skip


# -- the client ------------------------------------------------------------------------------


def _connection_loop(
    port: int, count: int, request: bytes, out: list[float], bad: list[int]
) -> None:
    """`count` requests on one keep-alive connection, opened again whenever the server
    closes it (`Connection: close`, as after a 503). A refused request counts, in `bad`."""
    sock, reader = None, None
    clock = time.perf_counter
    for _ in range(count):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = sock.makefile("rb")
        assert reader is not None
        start = clock()
        sock.sendall(request)
        status = reader.readline()
        length, close = 0, False
        while True:
            line = reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
            close = close or line.lower().startswith(b"connection: close")
        reader.read(length)
        out.append(clock() - start)
        if status[9:12] != b"200":
            bad.append(int(status[9:12] or 0))
        if close or not status:
            reader.close()
            sock.close()
            sock, reader = None, None
    if sock is not None:
        sock.close()


def client_process(
    port: int, connections: int, count: int, start_at: float
) -> tuple[list[float], list[int]]:
    """One client process: `connections` threads, `count` requests each; latencies (s)."""
    body = IMAGE.read_bytes()
    request = (
        f"POST /classify HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    bad: list[int] = []
    while time.time() < start_at:  # all processes start together
        time.sleep(0.001)
    threads = [
        threading.Thread(target=_connection_loop, args=(port, count, request, latencies, bad))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, bad


def rss_mib(pid: int) -> float:
    total = 0
    for child in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    body = IMAGE.read_bytes()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode})")
        try:
            latencies: list[float] = []
            request = (f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
                       ).encode() + body  # fmt: skip
            _connection_loop(port, 1, request, latencies, [])
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer in 60 s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def photo_neighbour(port: int, done: threading.Event, out: list[float]) -> None:
    """One more client, posting a photo of ten digits to be read as numbers
    (examples/real/sheet.jpg, `?number=1`: tens of ms each) until `done`."""
    body = PHOTO.read_bytes()
    request = (
        f"POST /classify?number=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    while not done.is_set():
        _connection_loop(port, 1, request, out, [])


def measure(
    kind: str, requests: int, clients: int, connections: int, warmup: int, photo: bool = False
) -> dict[str, Any]:
    port = free_port()
    if kind.startswith("stdlib"):  # stdlib: as installed (a process per core); stdlib-1: one
        command = [str(Path(sys.executable).with_name("edge-digits")), "serve", "--port", str(port)]
        if kind == "stdlib-1":
            command += ["--workers", "1"]
    else:
        command = [sys.executable, __file__, "--asgi", str(port), "--asgi-mode", kind]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, process)
        per_connection = max(1, connections // clients)
        context = multiprocessing.get_context("spawn")
        with context.Pool(clients) as pool:
            # Warm-up: every connection's first requests, the interpreters' first calls.
            pool.starmap(client_process, [(port, per_connection, max(1, warmup // connections),
                                           time.time())] * clients)  # fmt: skip
            rss_before = rss_mib(process.pid)
            samples: list[tuple[float, float]] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    samples.append((time.perf_counter() - began, rss_mib(process.pid)))

            count = requests // (clients * per_connection)
            start_at = time.time() + 0.5
            began = time.perf_counter() + 0.5
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            photos: list[float] = []
            if photo:
                threading.Thread(
                    target=photo_neighbour, args=(port, done, photos), daemon=True
                ).start()
            results = pool.starmap(
                client_process, [(port, per_connection, count, start_at)] * clients
            )
            elapsed = time.perf_counter() - began
            done.set()
            sampler.join()
        rss_after = rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(10)
    latencies = np.array([value for result in results for value in result[0]])
    bad = [code for result in results for code in result[1]]
    tenth = [rss for when, rss in samples if when <= elapsed * 0.1]
    extra = {}
    if photo:
        extra = {"photos": len(photos),
                 "photo_p50_ms": round(float(np.percentile(photos, 50)) * 1000, 1) if photos else None}  # fmt: skip
    return {
        **extra,
        "server": kind,
        "requests": int(latencies.size),
        "not_200": len(bad),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(latencies.size / elapsed, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
        "p999_ms": round(float(np.percentile(latencies, 99.9)) * 1000, 2),
        "rss_mib_after_warmup": round(rss_before, 1),
        "rss_mib_at_10_percent": round(tenth[-1], 1) if tenth else None,
        "rss_mib_at_end": round(rss_after, 1),
        "rss_mib_max": round(max([rss for _, rss in samples] + [rss_after]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections in all")
    parser.add_argument("--servers", default="stdlib,stdlib-1,asgi-threaded,asgi-inline",
                        help="stdlib (edge-digits serve: a process per core), stdlib-1 (--workers 1), "
                        "asgi-threaded, asgi-inline (uvicorn, one process)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the servers")
    parser.add_argument("--with-photo", action="store_true",
                        help="meanwhile, one more client reads a photo of ten digits as numbers, "
                        "again and again (results: serve_load_photo.json)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--asgi", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--asgi-mode", default="asgi-threaded", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.asgi is not None:
        run_asgi(args.asgi, threaded=args.asgi_mode == "asgi-threaded")
        return
    name = "serve_load_photo" if args.with_photo else "serve_load"
    record = header(name, python_command("serve_load.py", *sys.argv[1:]))
    record["target"] = TARGET
    record["settings"] = {"requests": args.requests, "clients": args.clients,
                          "connections": args.connections, "image": IMAGE.name,
                          "cores": os.cpu_count()}  # fmt: skip
    try:
        import uvicorn

        record["versions"]["uvicorn"] = uvicorn.__version__
    except ImportError:
        pass
    # The contenders alternate, round after round: on a shared machine the load drifts, and
    # alternating exposes them to the same drift. Each round is a fresh server.
    kinds = args.servers.split(",")
    record["runs"] = []
    for round_ in range(args.rounds):
        for kind in kinds:
            result = measure(kind, args.requests, args.clients, args.connections, args.warmup,
                             args.with_photo)  # fmt: skip
            record["runs"].append({"round": round_, **result})
            print(result, flush=True)
    record["summary"] = {}
    for kind in kinds:
        runs = [run for run in record["runs"] if run["server"] == kind]
        record["summary"][kind] = {
            "median_requests_per_second": float(
                np.median([r["requests_per_second"] for r in runs])
            ),
            "median_p99_ms": float(np.median([r["p99_ms"] for r in runs])),
            "not_200": sum(r["not_200"] for r in runs),
            "rss_mib_growth_max": round(
                max(r["rss_mib_at_end"] - r["rss_mib_after_warmup"] for r in runs), 1
            ),
        }
    print(record["summary"])
    print(write_result(record, args.out))


if __name__ == "__main__":
    main()
