"""Work spread over processes: a function applied to chunks in worker processes, the results
handed back in the chunks' order.

    for result in ordered_map(work, chunks, workers=2, initializer=start, initargs=(options,)):
        ...

- The workers are *forked* where this process is a single thread (`start_method`): a copy
  with everything imported, working at once. Where any other thread runs (numpy's BLAS,
  OpenCV's or an interpreter's threads, the caller's own), one of them could hold a lock
  the copy would never see released, so they are *spawned* instead (a fresh interpreter
  each, as `multiprocessing`'s "spawn"), and start with numpy's BLAS at one thread
  (`one_thread_each`). Either way each is one core's worth.
- At most `IN_FLIGHT` chunks per worker are given out or kept ahead of the one being handed
  back, so memory stays bounded however many chunks there are and however slowly they are
  consumed.
- Ctrl-C is the caller's: the workers ignore SIGINT (from their first instruction: they are
  started with it ignored), and when the caller stops early (KeyboardInterrupt, an
  exception, closing the generator) the workers are terminated and joined, so none outlives
  the call. A worker also exits by itself when its parent has gone (killed with SIGKILL).
- A worker that dies (a crash in native code, the OOM killer) ends the map with
  `WorkerError`; an exception raised by the function is raised again here. Where no worker
  can be started (no working semaphores), `local` does all the work, with a warning.

Only the standard library. The function, the initializer and their arguments must be
picklable, the functions defined in an importable module: the workers do not import the
caller's main module (`__main__`), as `multiprocessing` otherwise does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import types
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import EdgeDigitsWarning, InputError, one_line

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

C = TypeVar("C")
R = TypeVar("R")

# Set (where the caller has not) for the processes started here. Each is one core's worth
# of work, so a library's own pool of a thread per core is only contention: OpenBLAS,
# numpy's BLAS, starts one in every process importing numpy (OMP_NUM_THREADS for builds on
# OpenMP), and they spin as it starts. With this and the command line's own setting, 2
# workers on 10,000 PNGs used 1.27x the CPU time of one, where they had used 1.44x
# (benchmarks/workers.py, 2 cores).
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
IN_FLIGHT = 4  # chunks per process between the one handed back and the last given out
PARENT_CHECK_S = 1.0  # how often a worker looks whether its parent is still there
JOIN_S = 5.0  # a terminated worker has gone within this


class WorkerError(InputError):
    """A worker process died before returning its chunk: killed, or crashed in native code
    (most likely on a file; exit 1, as for a file that cannot be read)."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: `taskset`, cgroup cpusets), else
    the machine's count, else 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


def ordered_map(
    function: Callable[[C], R],
    chunks: Iterable[C],
    *,
    workers: int,
    local: Callable[[C], R] | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Generator[R, None, None]:
    """Yield `function(chunk)` for each chunk, in order, computed by `workers` processes.

    With `local` (doing here what `function` does in a worker), this process is one of the
    `workers`: it does the first chunk itself while the others start, and then any chunk
    it would otherwise wait for; `workers - 1` are started. Without it, `workers` are
    started. Each started process runs `initializer(*initargs)` once, first. See the
    module's docstring."""
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    remaining = iter(chunks)
    started = workers - 1 if local is not None else workers
    if started == 0:
        assert local is not None
        yield from map(local, remaining)
        return
    # Here, not at the top: `usable_cores` is asked on every `classify`, and these imports
    # cost a cold one-image run ~15 ms.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    method = start_method()
    try:
        executor = ProcessPoolExecutor(
            max_workers=started,
            mp_context=multiprocessing.get_context(method),
            initializer=_start_worker,
            initargs=(os.getpid(), initializer, initargs),
        )
    except (NotImplementedError, OSError, ImportError) as error:
        # No working semaphores (no writable /dev/shm, in some containers): not a reason
        # to do nothing, where this process can do it all.
        if local is None:
            raise
        warnings.warn(
            f"cannot start worker processes ({one_line(error)}); working in one",
            EdgeDigitsWarning,
            stacklevel=2,
        )
        yield from map(local, remaining)
        return
    # In chunk order: a worker's result to come, or one done here.
    pending: deque[Future[R] | _Done[R]] = deque()
    submitted = 0  # of `pending`, given to the workers and not yet handed back
    limit = workers * IN_FLIGHT
    first = next(remaining, _NOTHING) if local is not None else _NOTHING
    finished = False

    def give_out() -> None:  # keep each worker busy, with the next chunk waiting
        nonlocal submitted
        while submitted < started * 2 and len(pending) < limit:
            chunk = next(remaining, _NOTHING)
            if chunk is _NOTHING:
                return
            pending.append(executor.submit(function, chunk))
            submitted += 1

    try:
        # The processes start with the first submissions (all of them, when forked, before
        # the executor starts its threads): with SIGINT ignored here, they inherit it
        # ignored (across exec), so a Ctrl-C while one is still importing cannot print its
        # traceback.
        spawning = _main_module_hidden() if method == "spawn" else contextlib.nullcontext()
        with sigint_ignored(), spawning, one_thread_each():
            give_out()
        if local is not None and first is not _NOTHING:
            pending.appendleft(_Done(local(first)))
        while pending:
            head = pending[0]
            if local is not None and not head.done() and len(pending) < limit:
                chunk = next(remaining, _NOTHING)
                if chunk is not _NOTHING:  # rather than wait: a chunk further on, done here
                    pending.append(_Done(local(chunk)))
                    continue
            pending.popleft()
            result = head.result()
            if not isinstance(head, _Done):
                submitted -= 1
                give_out()
            yield result
        finished = True
    except BrokenProcessPool:
        raise WorkerError(
            "a worker process died before finishing its work (killed, or crashed in native "
            "code, perhaps on a damaged file); run again with one worker to see where it stops"
        ) from None
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:
            _stop(executor, pending)


_NOTHING: Any = object()


def start_method() -> str:
    """How `ordered_map` starts its workers: "fork" where this process has a single thread,
    "spawn" otherwise.

    Forked, a worker is a copy of this process with numpy, Pillow and the interpreter already
    imported: it works at once, where a spawned one first imports them again (its first
    chunk came back 0.26 s after the pool started rather than 0.09 s, on 2 cores; more on a
    Pi's slower ones). A fork is safe only where no other thread can be holding a lock at
    that moment, so the threads are counted where Linux lists them all, native ones
    included (`/proc/self/task`: numpy's BLAS, OpenCV's pool, an interpreter's threads).
    Elsewhere (macOS, where system libraries are not safe to fork either), "spawn"."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: not Linux, or not mounted
        return "spawn"
    return "fork" if threads == 1 else "spawn"


class _Done(Generic[R]):
    """A result computed here, standing in the queue of futures."""

    def __init__(self, result: R) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> R:
        return self._result


def _stop(executor: ProcessPoolExecutor, pending: deque[Future[Any] | _Done[Any]]) -> None:
    """End every worker now: what they are doing is no longer wanted."""
    for future in pending:
        if not isinstance(future, _Done):
            future.cancel()
    # ProcessPoolExecutor has no public way to end running work before Python 3.14
    # (`terminate_workers`); its `_processes` (pid -> Process) has been there since 3.2.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):  # already gone
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(JOIN_S)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the block runs (in the main thread; elsewhere nothing to do:
    only the main thread receives signals, and only it may change their handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:  # None: a handler set outside Python, which cannot be set again from here
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def one_thread_each() -> Iterator[None]:
    """Processes started in the block see `ONE_THREAD`'s variables set to 1, except those
    this process has set itself (a user's choice stands)."""
    added = [name for name in ONE_THREAD if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """No main module for the processes started in the block to import.

    A spawned process imports its parent's main module (as `__mp_main__`), so that functions
    defined there can be found. None are wanted here, and it costs: `edge-digits`, a console
    script, would import the CLI (Typer, Click: ~0.1 s of each worker's start), and a script
    without its `if __name__ == "__main__":` would run again in every worker."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
        else:
            del sys.modules["__main__"]


def _start_worker(
    parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    """In each worker, first: Ctrl-C is the parent's to handle; SIGTERM (`_stop`) ends it,
    whatever handler a forked worker inherited; exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    watch_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def watch_parent(parent: int) -> None:
    """Exit this process (a worker) as soon as `parent` is no longer its parent: killed with
    SIGKILL, it could not stop its workers itself."""
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)
