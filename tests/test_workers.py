"""`classify --workers N` and `classify_paths(workers=N)`: the files spread over processes give
byte-for-byte the output of one process (bad files reported in place, warnings in place),
`--number` and `--debug-dir` included; Ctrl-C ends every worker (exit 130); no more
processes than chunks of files; the progress bar is on a terminal only."""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from edge_digits.runtime.core import pool
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import MAX_BATCH, Classifier
from edge_digits.runtime.core.pool import ONE_THREAD, WorkerError, ordered_map
from edge_digits.runtime.errors import EdgeDigitsWarning, UsageError
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FILES = 600  # MNIST test digits: three chunks of MAX_BATCH (256, 256, 88)
# The bad files, named to sort into the first, second and third chunk.
BAD = {
    "0100_empty.png": "empty file, not an image; copy or save it again",
    "0300_text.png": "not an image Pillow can read",
    "0520_truncated.png": "damaged or truncated image",
}
# The console script, in a child that takes Ctrl-C even if this process was started with
# SIGINT ignored (a background job); `SHOW_AFTER_S` is when the progress bar may appear.
CHILD = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import edge_digits.runtime.cli.progress as bar; bar.SHOW_AFTER_S = {show_after}; "
    "from edge_digits.runtime.cli import main; main()"
)


def cli_command(*args: str, show_after: float = 1.0) -> list[str]:
    return [sys.executable, "-c", CHILD.format(show_after=show_after), *args]


def child_env() -> dict[str, str]:
    """This environment without what forces Rich's idea of a terminal either way."""
    hidden = {"FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "TERM"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    return {**env, "TERM": "xterm", "COLUMNS": "120", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def folder(mnist, digit_pngs, tmp_path_factory) -> Path:
    """FILES MNIST test digits as PNG files (the first 200 are `digit_pngs`), with an empty
    file, a text file named .png, a truncated PNG and a JPEG whose damaged EXIF block makes
    Pillow warn (read anyway) mixed in."""
    folder = tmp_path_factory.mktemp("workers")
    for path, _ in digit_pngs:
        shutil.copy(path, folder / path.name)
    for index in range(len(digit_pngs), FILES):
        Image.fromarray(mnist.x_test[index]).save(
            folder / f"{index:04d}_label{mnist.y_test[index]}.png"
        )
    names = iter(BAD)
    (folder / next(names)).write_bytes(b"")
    (folder / next(names)).write_text("not a picture\n")
    (folder / next(names)).write_bytes((folder / "0005_label1.png").read_bytes()[:90])
    (folder / "0400_bad_exif.jpg").write_bytes(corrupt_exif(mnist.x_test[400]))
    return folder


def corrupt_exif(digit) -> bytes:
    """A JPEG whose EXIF block claims 40 tags but holds 2: Pillow warns and reads it."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    Image.fromarray(digit).convert("RGB").save(buffer, "JPEG", exif=exif)
    content = bytearray(buffer.getvalue())
    tiff = content.index(b"Exif\0\0") + 6
    order = "big" if content[tiff : tiff + 2] == b"MM" else "little"
    ifd = tiff + int.from_bytes(content[tiff + 4 : tiff + 8], order)
    content[ifd : ifd + 2] = (40).to_bytes(2, order)
    return bytes(content)


# -- the same output --------------------------------------------------------------------------


def test_two_workers_print_byte_for_byte_what_one_prints(cli, folder):
    one = cli("classify", "--json", "--workers", "1", str(folder))
    two = cli("classify", "--json", "--workers", "2", str(folder))
    assert (one.exit_code, two.exit_code) == (1, 1)  # bad files: exit 1, the rest classified
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr
    records = two.records
    assert len(records) == FILES + len(BAD) + 1
    assert [record["path"] for record in records] == sorted(str(p) for p in folder.iterdir())
    errors = [line for line in two.errors if line.startswith("error: ")]
    assert len(errors) == len(BAD)
    for line, (name, message) in zip(errors, BAD.items(), strict=True):
        assert line.startswith(f"error: {folder / name}: {message}")
    (warning,) = [line for line in two.errors if line.startswith("warning: ")]
    assert "0400_bad_exif.jpg" in warning and warning.endswith("; read anyway")
    assert sum(record["label"] is not None for record in records) >= FILES * 0.95


def test_forked_workers_print_what_one_process_prints(cli, folder):
    one = cli("classify", "--json", "--workers", "1", str(folder))
    command = cli_command("classify", "--json", "--workers", "2", str(folder))
    two = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)
    assert (two.returncode, two.stdout, two.stderr) == (1, one.stdout, one.stderr)


def test_plain_output_is_the_same_too(cli, folder):
    one = cli("classify", "--top-k", "2", "--workers", "1", str(folder))
    three = cli("classify", "--top-k", "2", "--workers", "3", str(folder))
    assert (three.exit_code, three.stdout, three.stderr) == (1, one.stdout, one.stderr)


def test_number_with_workers(cli, folder, tmp_path):
    # 16 files a chunk for --number: 42 files are three chunks.
    for path in sorted(folder.glob("*_label*.png"))[:20]:
        shutil.copy(path, tmp_path / path.name)
    for path in [*EXAMPLES.glob("*.png"), *(EXAMPLES / "real").glob("*.jpg")]:
        shutil.copy(path, tmp_path / path.name)
    one = cli("classify", "--json", "--number", "--workers", "1", str(tmp_path))
    two = cli("classify", "--json", "--number", "--workers", "2", str(tmp_path))
    assert (one.exit_code, two.exit_code) == (0, 0), one.stderr + two.stderr
    assert len(two.records) == 20 + 11 + 11
    assert (two.stdout, two.stderr) == (one.stdout, one.stderr)
    command = cli_command("classify", "--json", "--number", "--workers", "2", str(tmp_path))
    forked = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=120)
    assert (forked.returncode, forked.stdout, forked.stderr) == (0, one.stdout, one.stderr)
    assert any(len(record["text"]) > 1 for record in two.records)  # sheet.jpg: rows of digits


def test_debug_dir_with_workers_writes_what_one_process_writes(cli, folder, tmp_path):
    files = [str(path) for path in sorted(folder.glob("*_label*.png"))[: MAX_BATCH + 4]]
    pictures = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        result = cli("classify", "--json", "--workers", workers, "--debug-dir", str(out), *files)
        assert result.exit_code == 0, result.stderr
        pictures[workers] = {path.name: path.read_bytes() for path in sorted(out.iterdir())}
    assert pictures["2"] == pictures["1"]
    names = list(pictures["2"])
    assert any(name.startswith(f"{MAX_BATCH + 3:04d}-") for name in names)  # the second chunk's


@pytest.mark.parametrize("value", ["0", "-2"])
def test_workers_below_one_is_a_usage_error(cli, folder, value):
    result = cli("classify", "--workers", value, str(folder))
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.errors
    assert line.startswith("error: Invalid value for '--workers'") and "x>=1" in line
    with pytest.raises(UsageError, match="workers must be 1 or more"):
        next(classify_paths(Classifier(), [folder], workers=0))


# -- the library ------------------------------------------------------------------------------


def test_the_library_yields_in_order_from_no_more_processes_than_chunks(folder, monkeypatch):
    started: list[int] = []

    class Counted(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, max_workers: int, **options) -> None:
            started.append(max_workers)
            super().__init__(max_workers, **options)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Counted)
    classifier = Classifier()
    progress: list[tuple[int, int]] = []
    # A worker's warning is given again here, once.
    with pytest.warns(EdgeDigitsWarning, match="0400_bad_exif.jpg: Corrupt EXIF") as said:
        results = list(
            classify_paths(
                classifier, [folder], workers=8, progress=lambda *seen: progress.append(seen)
            )
        )
    assert len(said) == 1
    total = FILES + len(BAD) + 1
    assert [result.path for result in results] == sorted(str(p) for p in folder.iterdir())
    assert started == [2]  # three chunks: this process and two started, not eight
    assert progress == [(done, total) for done in range(1, total + 1)]
    with pytest.warns(EdgeDigitsWarning, match="0400_bad_exif.jpg"):
        alone = list(classify_paths(classifier, [folder], workers=1))
    assert [result.record() for result in results] == [result.record() for result in alone]
    few = sorted(folder.glob("*_label*.png"))[:10]
    assert len(list(classify_paths(classifier, few, workers=8))) == 10
    assert started == [2]  # one chunk: no process started


def test_where_no_process_can_start_this_one_does_the_work(folder, monkeypatch):
    def no_semaphores(*args, **options):
        raise OSError(38, "Function not implemented")  # sem_open without /dev/shm

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_semaphores)
    files = sorted(folder.glob("*_label*.png"))[: MAX_BATCH + 10]
    with pytest.warns(
        EdgeDigitsWarning, match=r"cannot start worker processes \(.*\); working in one"
    ):
        results = list(classify_paths(Classifier(), files, workers=2))
    assert [result.path for result in results] == [str(path) for path in files]
    assert all(result.ok for result in results)


def test_closing_the_generator_ends_the_workers(folder):
    results = classify_paths(Classifier(), [folder], workers=2)
    assert next(results).path.endswith("0000_label7.png")
    assert multiprocessing.active_children()  # the started worker
    results.close()
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_ends_the_run_with_one_line(folder):
    results = classify_paths(Classifier(), [folder] * 20, workers=2)
    next(results)
    (worker,) = multiprocessing.active_children()
    os.kill(worker.pid, signal.SIGKILL)  # as the OOM killer would
    with pytest.raises(WorkerError, match="a worker process died before finishing its work"):
        for _ in results:
            pass
    assert multiprocessing.active_children() == []


# -- Ctrl-C -----------------------------------------------------------------------------------


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines (/proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry)] = command.decode(errors="replace")
    return found


def running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie: this sandbox's init may
    never reap an orphan that has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("whole_group", [False, True], ids=["process", "terminal"])
def test_ctrl_c_stops_every_worker_with_exit_130(folder, whole_group):
    # The folder 20 times over: 12,000 files, far more than are done before the signal.
    command = cli_command("classify", "--json", "--workers", "2", *[str(folder)] * 20)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=whole_group, env=child_env(),
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None and process.stdout.readline()
            started = children(process.pid)
            if whole_group:  # a terminal's Ctrl-C: every process of the foreground group
                os.killpg(process.pid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
            rest, errors = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 130, errors
    assert "Traceback" not in errors and errors.splitlines()[-1] == "interrupted"
    assert len(rest.splitlines()) < 20 * (FILES + 4) - 1
    # Forked: the command line is one thread when its workers start.
    assert set(started.values()) == {" ".join(command) + " "}, started
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [started[pid] for pid in started if running(pid)]


# -- the progress bar -------------------------------------------------------------------------


def read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            return
        if not data:
            return
        into.append(data)


@pytest.mark.parametrize("quiet", [False, True], ids=["bar", "quiet"])
def test_the_progress_bar_is_on_a_terminal_unless_quiet(folder, quiet):
    import pty  # POSIX only

    leader, terminal = pty.openpty()
    command = cli_command("classify", "--json", "--workers", "1", str(folder), show_after=0)
    shown: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(leader, shown), daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            command + ["--quiet"] * quiet, stdout=subprocess.PIPE, stderr=terminal,
            env=child_env(), timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(terminal)
        reader.join(10)
        os.close(leader)
    text = b"".join(shown).decode(errors="replace")
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == FILES + len(BAD) + 1  # stdout untouched
    assert ("classify" in text and f"/{FILES + len(BAD) + 1}" in text) is not quiet, text
    assert text.count("error: ") == len(BAD)  # the error lines are there either way


def test_no_progress_bar_on_a_pipe(folder):
    command = cli_command("classify", "--json", "--workers", "1", str(folder), show_after=0)
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=60)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == len(BAD) + 1 and all(
        line.startswith(("error: ", "warning: ")) for line in lines
    )


# A worker's start, in a fresh interpreter: `_start_worker` with cv2 not yet imported, or
# already imported; then what OpenCV will use. Prints "<cv2 imported by the start> <threads>".
WORKER_START = """
import sys
{before}
from edge_digits.runtime.core.batch import _start_worker
from edge_digits.runtime.core.classifier import ClassifierOptions
_start_worker(ClassifierOptions())
imported = "cv2" in sys.modules
import cv2
print(imported, cv2.getNumThreads())
"""


@pytest.mark.parametrize(
    ("before", "expected"),
    [("", "False 1"), ("import cv2; cv2.setNumThreads(4)", "True 1")],
    ids=["cv2 not imported", "cv2 already imported"],
)
def test_a_worker_gives_opencv_one_thread_without_importing_it(before, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FOR_THREADS_NUM"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER_START.format(before=before)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == expected.split()


@pytest.mark.parametrize("users", [None, "3"], ids=["unset", "set by the user"])
def test_workers_start_with_one_blas_thread_unless_the_user_said(users, monkeypatch):
    # Spawned: a forked worker would have its numpy started already, with its parent.
    monkeypatch.setattr(pool, "start_method", lambda: "spawn")
    for name in ONE_THREAD:
        monkeypatch.delenv(name, raising=False)
    if users is not None:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", users)
    seen = list(ordered_map(os.getenv, list(ONE_THREAD), workers=1))  # one spawned worker
    assert seen == [users or "1", "1"]
    # This process's environment is as it was.
    assert [os.environ.get(name) for name in ONE_THREAD] == [users, None]


# The console script's entry point, then what its environment holds.
ENTRY = """
import os, sys
sys.argv = ["edge-digits", "--version"]
from edge_digits.runtime.cli import main
try:
    main()
except SystemExit:
    pass
print(os.environ.get("OPENBLAS_NUM_THREADS"))
"""


@pytest.mark.parametrize(("users", "expected"), [(None, "1"), ("2", "2")])
def test_the_command_line_asks_numpy_for_one_blas_thread_unless_the_user_did(users, expected):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if users is not None:
        env["OPENBLAS_NUM_THREADS"] = users
    done = subprocess.run(
        [sys.executable, "-c", ENTRY], capture_output=True, text=True, env=env, timeout=60,
        check=True,
    )  # fmt: skip
    assert done.stdout.split()[-1] == expected


# In a fresh interpreter: how workers would start alone, beside a Python thread, and beside
# an interpreter of one thread, then of two (native threads).
START_METHOD = """
import threading, time
from edge_digits.runtime.core.pool import start_method
print(start_method())
release = threading.Event()
thread = threading.Thread(target=release.wait)
thread.start()
print(start_method())
release.set()
thread.join()
deadline = time.monotonic() + 10  # the thread's end, as the system sees it, comes just after
while start_method() != "fork" and time.monotonic() < deadline:
    time.sleep(0.01)
print(start_method())
import numpy as np
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
blank = np.zeros((8, 28, 28), np.float32)
one = Classifier(ClassifierOptions(num_threads=1))
one.predict(blank)
print(start_method())
two = Classifier(ClassifierOptions(num_threads=2))
two.predict(blank)  # tflite-runtime starts its threads at the first run
print(start_method())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux lists its threads")
def test_workers_are_forked_only_from_a_process_of_one_thread():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as the command line sets it
    done = subprocess.run(
        [sys.executable, "-c", START_METHOD], capture_output=True, text=True, env=env,
        timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["fork", "spawn", "fork", "fork", "spawn"]
