"""Atomic file writing: every file edge-digits writes appears complete under its final name or not at all.

A file is written to a temporary name in the same folder (``.<stem>.tmp-<pid>-<random><suffix>``),
flushed to disk and renamed onto its final name. A process killed half-way leaves only such a
hidden temporary, which nothing reads; `remove_stale_temporaries` deletes those whose process
is gone, and every command that writes a folder calls it first (via `ensure_output_dir`).

Two files that only make sense together (a `.tflite` and its sidecar, the MNIST cache and its
checksum record) are published by `atomic_pair`; see there for the order and the lock.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

# `.model.tmp-4242-k3v9x0_a.keras`: the pid says whether the writer is still alive.
_TEMPORARY = re.compile(r"\..*\.tmp-(?P<pid>\d+)-[a-z0-9_]{8}(\.[^.]+)?")


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the final file the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def is_temporary(path: Path | str) -> bool:
    """True for the name of a temporary file written by `atomic_path` or `atomic_pair`."""
    return _TEMPORARY.fullmatch(os.path.basename(path)) is not None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's; anything else: assume alive
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries left in `folder` by edge-digits processes that no longer run
    (killed, crashed, power cut); return what was deleted. Live writers' files are kept.

    Only names of the `is_temporary` pattern are touched, and only when their pid is not a
    running process on this machine. (A folder shared with another machine or PID namespace
    could make a live writer's pid look dead; that writer then fails with "cannot write",
    it never publishes a partial file.)
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _make_temporary(path: Path) -> Path:
    """Create an empty temporary file beside `path`, keeping its suffix (Keras' `model.save`
    and NumPy's `savez` choose the format by it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # here: not on a cold classify's path

        fd, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.tmp-{os.getpid()}-", suffix=path.suffix
        )
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write here ({error.strerror}); choose another folder"
        ) from None
    os.close(fd)
    return Path(name)


def _flush_to_disk(path: Path) -> None:
    """fsync a written file, so that a power cut after the rename cannot leave it empty."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a power cut (not possible everywhere)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _output_error(path: Path, error: OSError) -> OutputError:
    # disk full, quota, permissions changed meanwhile
    return OutputError(f"{path}: cannot write ({error.strerror or error}); nothing was changed")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is flushed and renamed onto `path`.

    The temporary name keeps the final suffix, because some writers (Keras' `model.save`)
    choose the format by it. On any exception the temporary file is removed and the final
    name is left untouched.
    """
    path = Path(path)
    tmp = _make_temporary(path)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        _flush_to_disk(tmp)
        os.replace(tmp, path)
        # rename() of a hard link onto another link of the same file does nothing at all
        # (POSIX), leaving the temporary name behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError):
            raise _output_error(path, error) from None
        raise
    _sync_folder(path.parent)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on `folder` itself while the block runs.

    Locking the folder's own descriptor needs no lock file, so nothing is left behind. The
    kernel drops the lock when its process dies, so a killed writer never blocks the next.
    Where flock is not available (Windows, some network file systems) the block runs
    unlocked: each file is still atomic, only two simultaneous writers are not serialised.
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    fd = None
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF):
                raise
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@contextlib.contextmanager
def atomic_pair(primary: Path, companion: Path) -> Iterator[tuple[Path, Path]]:
    """Yield two temporary paths for `primary` and its `companion` (same folder); on success
    both are flushed and published together, so that a `primary` under its final name always
    has the matching `companion` beside it.

    The companion describes the primary (a sidecar with the model's sha256, a checksum record
    of the cache), and readers open the primary first. So, holding `folder_lock`:

    1. remove the old primary,
    2. rename the new companion into place,
    3. rename the new primary into place.

    Whatever instruction a kill lands on, the folder holds either the old pair, or a companion
    with no primary (nothing loads a companion alone), or the new pair: never a primary beside
    another primary's companion. The lock makes two writers publish one after the other, so
    their steps cannot interleave into a mix (A's model with B's sidecar); the last one wins.

    The companion's temporary is the primary's with the companion's suffix, so that a reader
    that finds a sidecar by suffix (the runtime's `Classifier`) can load the pair from there.
    """
    primary, companion = Path(primary), Path(companion)
    if primary.parent != companion.parent or primary.suffix == companion.suffix:
        raise ValueError("atomic_pair: the two files must share a folder and differ in suffix")
    tmp_primary = _make_temporary(primary)
    tmp_companion = tmp_primary.with_suffix(companion.suffix)
    try:
        tmp_companion.touch(exist_ok=False)
        yield tmp_primary, tmp_companion
        for tmp in (tmp_companion, tmp_primary):
            os.chmod(tmp, _default_mode())
            _flush_to_disk(tmp)
        with folder_lock(primary.parent):
            with contextlib.suppress(FileNotFoundError):
                primary.unlink()
            os.replace(tmp_companion, companion)
            os.replace(tmp_primary, primary)
            _sync_folder(primary.parent)
    except BaseException as error:
        for tmp in (tmp_primary, tmp_companion):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if isinstance(error, OSError):
            raise _output_error(primary, error) from None
        raise


def ensure_output_dir(folder: Path) -> Path:
    """Create `folder` if needed and check that files can be written in it, before any long
    work whose result would otherwise be lost. Also removes the temporaries that killed
    writers left there (`remove_stale_temporaries`)."""
    folder = Path(folder)
    _make_temporary(folder / "edge-digits-write-check").unlink()
    remove_stale_temporaries(folder)
    return folder


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# Up to this size `sha256_bytes` hashes with Python's own sha256 when it has one: hashlib's
# OpenSSL one is faster on large data but loading OpenSSL costs 3.5 MiB of RSS and ~4 ms, a
# good part of a cold `classify img.png` (the model checked against its sidecar: ~100 KB).
SMALL_HASH_BYTES = 4 << 20


def sha256_bytes(data: bytes) -> str:
    if len(data) <= SMALL_HASH_BYTES:
        for builtin in ("_sha2", "_sha256"):  # Python 3.12+, 3.11
            with contextlib.suppress(ImportError):
                return str(importlib.import_module(builtin).sha256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
