"""Capture what native code (the TFLite interpreter, the TF converter) writes to stderr.

Their "INFO: ..." chatter comes from C++ and no Python setting silences it, so the file
descriptor itself is redirected for the duration of the call.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass
class Captured:
    """Filled with what was written to fd 2 once the `capture_stderr` block ends."""

    lines: list[str] = field(default_factory=list)


def _anonymous_file() -> BinaryIO:
    """A file without a name, read and written: in memory where the system has memfd
    (Linux), else a temporary file. Not `tempfile` first: its import (with `random`'s) is a
    quarter of a MiB of a cold `classify`'s memory, and every interpreter is made here."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux; an old kernel
        return open(os.memfd_create("edge-digits-stderr", os.MFD_CLOEXEC), "w+b")
    import tempfile

    return tempfile.TemporaryFile()


@contextlib.contextmanager
def capture_stderr() -> Iterator[Captured]:
    """Redirect fd 2 (native and Python stderr) to an anonymous file while the block runs."""
    captured = Captured()
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to capture
        yield captured
        return
    with _anonymous_file() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.lines = sink.read().decode("utf-8", "replace").splitlines(keepends=True)


@contextlib.contextmanager
def filtered_stderr(keep: Callable[[str], bool]) -> Iterator[None]:
    """Pass on to stderr only the lines written during the block for which `keep` is true."""
    captured = Captured()
    try:
        with capture_stderr() as captured:
            yield
    finally:  # also when the block raised: its messages may explain why
        kept = "".join(line for line in captured.lines if keep(line))
        if kept:
            sys.stderr.write(kept)


def quiet_native_info() -> contextlib.AbstractContextManager[None]:
    """Drop the interpreter's "INFO: ..." lines (e.g. "Created TensorFlow Lite XNNPACK
    delegate for CPU."); pass anything else on."""
    return filtered_stderr(lambda line: not line.startswith("INFO: "))


# TensorFlow logs through absl before its logging is initialised, which no setting silences:
# "WARNING: All log messages before absl::InitializeLog() ..." and "I0000 00:00:... port.cc".
_TF_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} )"
)


def quiet_tensorflow_startup() -> contextlib.AbstractContextManager[None]:
    """Drop TensorFlow's start-up info lines; pass warnings and errors of substance on."""
    return filtered_stderr(lambda line: not _TF_STARTUP_NOISE.match(line))
