"""Every `edge-digits` command the README shows is one the CLI accepts as written, and those
that need nothing but a fresh clone (the examples, the camera video) run as shown.

The commands come from the README's ```sh blocks, so a new or changed line is checked without
editing this file. Those that need a trained model, MNIST, a camera or minutes of measuring
(train, convert, data, bench, the Pi's camera) are parsed by the real command (every option
known, every value of the right type and choice); `make demo` and `make pi-test` run those
kinds for real.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import typer
from edge_digits.runtime.cli import app

ROOT = Path(__file__).resolve().parents[1]
PREFIX = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:~/digits/bin/|\.venv/bin/)?edge-digits\s")


def readme_commands() -> list[str]:
    """The `edge-digits ...` lines of the README's sh blocks, comments dropped."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if PREFIX.match(line)]


def arguments(line: str) -> list[str]:
    return shlex.split(PREFIX.sub("", line, count=1))


COMMANDS = readme_commands()
# Lines that need only the repository: run for real, from a folder holding the examples.
RUNNABLE = [
    line
    for line in COMMANDS
    if line.startswith("edge-digits ")
    and arguments(line)[0] in ("classify", "camera")
    and "runs/mine" not in line
]


def test_the_readme_shows_the_commands_this_test_reads():
    assert len(COMMANDS) >= 15
    assert {arguments(line)[0] for line in COMMANDS} == {
        "data", "train", "convert", "classify", "info", "bench", "camera", "serve", "review",
    }  # fmt: skip
    assert len(RUNNABLE) >= 6


@pytest.mark.pi
@pytest.mark.parametrize("line", COMMANDS)
def test_every_readme_command_parses_as_written(line):
    group = typer.main.get_command(app)
    name, *rest = arguments(line)
    command = group.commands[name]  # type: ignore[attr-defined]
    # Parsing converts every value (ints, choices, enums) and rejects unknown options.
    with command.make_context(name, list(rest)) as context:
        assert context.params is not None


@pytest.mark.pi
@pytest.mark.parametrize("line", RUNNABLE)
def test_readme_commands_that_need_only_the_clone_run_as_shown(line, cli, tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDGE_DIGITS_BACKEND", raising=False)
    result = cli(*arguments(line))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() or os.listdir(tmp_path / "runs" / "debug")
    if "examples/real/sheet.jpg" in line:
        assert result.records[0]["text"] == "0123456789"
