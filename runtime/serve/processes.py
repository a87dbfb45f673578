"""Running `edge-digits serve`: in this process, or (`--workers N`) in N processes answering
on one listening socket, with one set of metrics.

One Python process answers at most about one core's worth of requests (the GIL: parsing
HTTP, decoding, the records), however many threads it has. With N processes the kernel
hands each new connection to whichever process accepts it first, so an idle one takes it.

- This process binds the socket (a port in use is one line, port 0 is resolved once) and
  builds its `Service` first (a wrong model fails before anything starts); it then spawns
  `workers - 1` processes (fresh interpreters, as in `core/pool.py`), hands each the
  listening socket, and answers requests itself too.
- The socket is non-blocking: a process woken for a connection another took goes back to
  waiting instead of blocking in `accept`.
- Metrics: prometheus-client's multiprocess mode, over a private temporary folder; every
  process's counters and histograms are summed on `/metrics`, whichever process answers
  it; gauges (in flight, interpreters, slots) are summed over the live processes.
- A worker that dies (killed, a crash in native code) is replaced, with one line on
  stderr; its counts stay in the totals. The workers ignore Ctrl-C and exit when this
  process has gone; on Ctrl-C or SIGTERM here they are stopped (SIGTERM) and joined, and
  the folder removed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from ..core.pool import one_thread_each, sigint_ignored, watch_parent
from .service import (
    LOCALHOST,
    MULTIPROC_ENV,
    TOKEN_ENV,
    ServeOptions,
    Server,
    Service,
    run_server,
)

JOIN_S = 5.0  # a stopped worker has gone within this
RESTART_PAUSE_S = 1.0  # at most one replacement per second, should workers keep dying


def serve(options: ServeOptions, *, echo: Callable[[str], None] = lambda line: None) -> None:
    """`edge-digits serve`: serve until Ctrl-C (KeyboardInterrupt) or SIGTERM (returns),
    in `options.workers` processes."""
    if options.token is None and options.host not in LOCALHOST:
        echo(f"warning: serving on {options.host} without a token: anyone who reaches this "
             f"port can classify; give --token or ${TOKEN_ENV}")  # fmt: skip
    if options.workers > 1:
        serve_processes(options, echo)
        return
    server = Server(Service(options))
    echo(f"serving on {server.url} (POST /classify, GET /healthz, GET /metrics)")
    run_server(server)


def serve_processes(options: ServeOptions, echo: Callable[[str], None]) -> None:
    """Serve with `options.workers` processes until Ctrl-C or SIGTERM (see the docstring)."""
    with _shared_metrics() as folder:
        server = Server(Service(options, shared_metrics=folder))
        server.socket.setblocking(False)
        echo(f"serving on {server.url} (POST /classify, GET /healthz, GET /metrics) "
             f"with {options.workers} processes")  # fmt: skip
        child = replace(options, port=int(server.server_address[1]))
        workers = _Workers(child, server.socket, folder, echo)
        try:
            workers.start(options.workers - 1)
            run_server(server)
        finally:
            workers.stop()


@contextlib.contextmanager
def _shared_metrics() -> Iterator[Path]:
    """A temporary folder for the processes' metrics, named in the environment (which the
    workers inherit) and in prometheus-client's value class here, for the block's length."""
    from prometheus_client import values

    folder = Path(tempfile.mkdtemp(prefix="edge-digits-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(folder)
    value_class = values.ValueClass
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield folder
    finally:
        values.ValueClass = value_class
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


class _Workers:
    """The spawned processes: started, watched (a dead one is replaced), stopped."""

    def __init__(
        self, options: ServeOptions, listener: socket.socket, folder: Path,
        echo: Callable[[str], None],
    ) -> None:  # fmt: skip
        self._options = options
        self._listener = listener
        self._folder = folder
        self._echo = echo
        self._processes: list[BaseProcess] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def start(self, count: int) -> None:
        with self._lock:
            for _ in range(count):
                self._processes.append(self._spawn())
        self._watcher.start()

    def _spawn(self) -> BaseProcess:
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_worker,
            args=(self._options, self._listener, os.getpid(), self._folder),
            daemon=True,
        )
        # It inherits both while it starts: Ctrl-C is this process's; one core's worth each.
        with sigint_ignored(), one_thread_each():
            process.start()
        return process

    def _watch(self) -> None:
        from prometheus_client.multiprocess import mark_process_dead

        while not self._stopping.is_set():
            with self._lock:
                sentinels = {process.sentinel: process for process in self._processes}
            ended = wait(list(sentinels), timeout=0.5)
            if not ended or self._stopping.is_set():
                continue
            for sentinel in ended:
                process = sentinels[sentinel]  # type: ignore[index]  # a sentinel: an int
                process.join()
                mark_process_dead(process.pid, str(self._folder))  # type: ignore[no-untyped-call]
                self._echo(f"warning: serve's worker process {process.pid} ended (exit "
                           f"{process.exitcode}); starting another")  # fmt: skip
                with self._lock:
                    if self._stopping.is_set():
                        return
                    self._processes.remove(process)
                    self._processes.append(self._spawn())
            self._stopping.wait(RESTART_PAUSE_S)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            with contextlib.suppress(Exception):  # already gone
                process.terminate()  # SIGTERM: the worker's server closes, exit 0
        for process in processes:
            process.join(JOIN_S)
            if process.is_alive():
                process.kill()
                process.join(JOIN_S)


def _worker(options: ServeOptions, listener: socket.socket, parent: int, folder: Path) -> None:
    """A spawned worker: the same service on the inherited socket, until SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)
    assert os.environ.get(MULTIPROC_ENV) == str(folder), "inherited from the parent"
    run_server(Server(Service(options, shared_metrics=folder), listener=listener))
