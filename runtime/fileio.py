"""Atomic file writing: every file edge-digits writes appears complete under its final name or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the final file the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`.

    The temporary name keeps the final suffix, because some writers (Keras' `model.save`)
    choose the format by it. On any exception the temporary file is removed and the final
    name is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix
        )
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write here ({error.strerror}); choose another folder"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError):  # disk full, quota, permissions changed meanwhile
            raise OutputError(
                f"{path}: cannot write ({error.strerror or error}); nothing was changed"
            ) from None
        raise


def ensure_output_dir(folder: Path) -> Path:
    """Create `folder` if needed and check that files can be written in it, before any long
    work whose result would otherwise be lost."""
    with atomic_path(Path(folder) / ".edge-digits-write-check"):
        pass
    Path(folder, ".edge-digits-write-check").unlink()
    return Path(folder)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
