"""A cold `edge-digits classify img.png` loads only what it uses (issue 16): what it imports,
not how long it takes (benchmarks/cold_start.py measures that, side by side with the bare
imports of numpy, Pillow and LiteRT)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from edge_digits.runtime.cli import commands
from edge_digits.runtime.cli.progress import may_be_terminal
from edge_digits.runtime.files.atomic import SMALL_HASH_BYTES, sha256_bytes

# Run as the console script runs it: one fresh process, the result on a pipe.
SCRIPT = (
    "import sys; from edge_digits.runtime.cli import run; code = run(sys.argv[1:]); "
    "print(code, *sorted(sys.modules), file=sys.stderr)"
)
NOT_NEEDED = ("rich", "importlib.metadata", "numpy.typing", "_hashlib", "PIL.ImageOps")
NOT_NEEDED += ("edge_digits.runtime.core.trace",)  # --debug-dir only
NOT_NEEDED += ("tempfile",)  # native stderr is caught in an anonymous file (memfd)
# The bare line classify is measured against: what it loads itself is not ours to avoid
# (numpy 1.x, as on the legacy backend and the Pi's system numpy, loads _hashlib).
BARE = (
    "import sys, numpy, PIL.Image\n"
    "try:\n    from ai_edge_litert.interpreter import Interpreter\n"
    "except ImportError:\n    from tflite_runtime.interpreter import Interpreter\n"
    "print(*sorted(sys.modules))"
)


@pytest.mark.pi
def test_a_cold_classify_on_a_pipe_imports_only_what_it_uses(example_pngs):
    path, label = example_pngs[0]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "classify", str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout == f"{path}: {label} ({done.stdout.split('(')[1]}"
    code, *modules = done.stderr.split("\n")[-2].split()
    assert code == "0"
    assert "numpy" in modules  # it did classify
    assert [m for m in modules if m.split(".")[0] in ("tensorflow", "keras")] == []
    bare = subprocess.run(
        [sys.executable, "-c", BARE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    for name in NOT_NEEDED:
        if name in bare:  # the bare imports load it too
            continue
        assert [m for m in modules if m == name or m.startswith(name + ".")] == [], name


@pytest.mark.pi
def test_typer_builds_only_the_command_asked_for():
    narrowed = commands._only_the_command(["classify", "x.png"])
    assert [c.callback.__name__ for c in narrowed.registered_commands] == ["classify"]
    assert narrowed.registered_callback is commands.app.registered_callback  # --version
    assert len(commands.app.registered_commands) > 1  # the app itself is untouched
    for args in ([], ["--help"], ["--version"], ["clasify"], ["--model", "classify"]):
        assert commands._only_the_command(args) is commands.app, args


@pytest.mark.pi
@pytest.mark.parametrize("size", [0, 3, 100_000, SMALL_HASH_BYTES, SMALL_HASH_BYTES + 1])
def test_sha256_bytes_is_sha256_whichever_implementation(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert sha256_bytes(data) == hashlib.sha256(data).hexdigest()


@pytest.mark.pi
def test_may_be_terminal_without_rich(monkeypatch, tmp_path):
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert not may_be_terminal(None)  # no stream
    with open(tmp_path / "f", "w") as file:
        assert not may_be_terminal(file)
        monkeypatch.setenv("FORCE_COLOR", "1")  # Rich then calls any stream a terminal
        assert may_be_terminal(file)
        monkeypatch.setenv("FORCE_COLOR", "")
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        assert may_be_terminal(file)


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "temporary file"])
def test_native_stderr_is_caught_with_or_without_memfd(memfd, monkeypatch, capfd):
    from edge_digits.runtime.native.stderr import capture_stderr

    if not memfd:  # as on macOS
        monkeypatch.delattr("os.memfd_create", raising=False)
    with capture_stderr() as captured:
        os.write(2, b"INFO: from native code\n")
    assert captured.lines == ["INFO: from native code\n"]
    assert capfd.readouterr().err == ""  # nothing reached the real stderr
