"""Capture what native code (the TFLite interpreter, the TF converter) writes to stderr.

Their "INFO: ..." chatter comes from C++ and no Python setting silences it, so the file
descriptor itself is redirected for the duration of the call.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Captured:
    """Filled with what was written to fd 2 once the `capture_stderr` block ends."""

    lines: list[str] = field(default_factory=list)


@contextlib.contextmanager
def capture_stderr() -> Iterator[Captured]:
    """Redirect fd 2 (native and Python stderr) to a temporary file while the block runs."""
    captured = Captured()
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to capture
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
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
def quiet_native_info() -> Iterator[None]:
    """Drop native "INFO: " lines written during the block; pass anything else on to stderr."""
    with capture_stderr() as captured:
        yield
    kept = "".join(line for line in captured.lines if not line.startswith("INFO: "))
    if kept:
        sys.stderr.write(kept)
