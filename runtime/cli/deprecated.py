"""Spellings the command line used to have, kept for this release (README: "Deprecated
spellings"). Each one used still works and costs one `warning:` line on stderr naming the
new spelling; the functions here translate them and return those lines, the commands print.

    old                              new
    convert|info|bench MODEL         --model MODEL (bench: once per model)
    bench --threads 1,2              --threads 1 --threads 2 (also --batch, --backend, --xnnpack)
    bench --data mnist|FOLDER        --accuracy mnist|FOLDER
    bench --data-path PATH           --data PATH
    bench --out FILE                 --out FOLDER (bench.md in it)
    train --data MNIST               --mnist MNIST (--data is now a folder of your digits)
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError

# Options that took comma-separated lists, by command; now they are repeated instead.
COMMA_LISTS = {"bench": ("--batch", "--threads", "--backend", "--xnnpack")}
BENCH_MARKDOWN = "bench.md"  # what `bench --out FOLDER` appends to


def deprecation(old: str, new: str, why: str = "") -> str:
    """The one line (after `warning: `) that an old spelling costs."""
    return f"`{old}` is deprecated; use `{new}`{f' ({why})' if why else ''}"


def _quoted(*words: object) -> str:
    return " ".join(shlex.quote(str(word)) for word in words)


def split_comma_lists(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """`bench --threads 1,2` -> `bench --threads 1 --threads 2`, before Typer parses them, with
    one warning per comma list. Other commands' arguments, and anything after `--`, pass as
    they are."""
    args = list(args)
    command = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
    if command is None or args[command] not in COMMA_LISTS:
        return args, []
    name_of_command = args[command]
    names, warnings = COMMA_LISTS[name_of_command], []
    result, i = args[: command + 1], command + 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            result += args[i:]
            break
        name, equals, value = arg.partition("=")
        if name not in names or (not equals and i + 1 == len(args)):
            result.append(arg)
            i += 1
            continue
        if not equals:
            value = args[i + 1]
        i += 1 if equals else 2
        parts = value.split(",")
        new = [word for part in parts for word in (name, part.strip())]
        if len(parts) > 1:
            said = f"edge-digits {name_of_command} "
            warnings.append(deprecation(said + _quoted(name, value), said + _quoted(*new)))
        result += new
    return result, warnings


def positional_models(
    command: str, extra: Sequence[str], *, several: bool = False
) -> tuple[list[Path], list[str]]:
    """The models given the old way, as arguments (`edge-digits info MODEL`), and the warning."""
    if not extra:
        return [], []
    if not several and len(extra) > 1:
        raise UsageError(f"Got unexpected extra arguments ({' '.join(extra[1:])})")
    new = " ".join(f"--model {shlex.quote(model)}" for model in extra)
    old = f"edge-digits {command} {_quoted(*extra)}"
    return [Path(model) for model in extra], [deprecation(old, f"edge-digits {command} {new}")]


def _local_mnist(path: Path) -> bool:
    """A file (mnist.npz), or a folder holding MNIST's IDX files (.gz or not)."""
    return path.is_file() or (path.is_dir() and any(path.glob("*-idx[13]-ubyte*")))


def bench_accuracy(
    accuracy: str | None, data: Path | None, data_path: Path | None
) -> tuple[str | None, Path | None, list[str]]:
    """bench's (--accuracy, --data) with the old spellings translated, and their warnings;
    `bench_options()` (bench/runner.py) checks what they mean.

    The old `--data` was the accuracy source: a value of `mnist`, or a folder without IDX
    files, keeps that meaning, with a warning. An npz file, an IDX folder or a path that does
    not exist is the new --data, a local MNIST. The old `--data-path` is the new `--data`."""
    warnings = []
    if data is not None and not _local_mnist(data) and (str(data) == "mnist" or data.is_dir()):
        warnings.append(
            deprecation(
                f"edge-digits bench --data {_quoted(data)}",
                f"edge-digits bench --accuracy {_quoted(data)}",
                "--data is now a local MNIST",
            )
        )
        if accuracy is not None:
            raise UsageError(f"--accuracy given twice (also as the old `--data {data}`)")
        accuracy, data = str(data), None
    if data_path is not None:
        new = f"edge-digits bench --data {_quoted(data_path)}"
        warnings.append(deprecation(f"edge-digits bench --data-path {_quoted(data_path)}", new))
        if data is not None:
            raise UsageError(f"--data given twice (also as the old `--data-path {data_path}`)")
        data = data_path
    return accuracy, data, warnings


def bench_markdown(out: Path | None) -> tuple[Path | None, list[str]]:
    """The Markdown file `bench --out` appends to, and the warning an old spelling costs.

    An existing folder, or a path that does not exist and has no suffix (`runs/bench`), is
    the new `--out FOLDER`: FOLDER/bench.md. An existing file, or a path that does not exist
    and has a suffix (`notes.txt`, `results.md`), is the old `--out FILE`: that file, with a
    warning."""
    if out is None:
        return None, []
    if out.is_dir() or (not out.exists() and not out.suffix):
        return out / BENCH_MARKDOWN, []
    new = out.parent / BENCH_MARKDOWN
    warning = deprecation(
        f"edge-digits bench --out {_quoted(out)}",
        f"edge-digits bench --out {_quoted(out.parent)}",
        f"a folder: appends to {new}",
    )
    return out, [warning]


def train_data(
    folders: Sequence[Path], mnist: Path | None
) -> tuple[list[Path], Path | None, list[str]]:
    """train's (--data folders, --mnist) with the old spelling translated, and its warning.

    `train --data` was a local MNIST; it is now a folder of your labelled digits. A value
    that is a local MNIST (an npz file, a folder of IDX files) keeps the old meaning, with a
    warning; anything else is a folder of yours."""
    kept, warnings = [], []
    for folder in folders:
        if not _local_mnist(folder):
            kept.append(folder)
            continue
        warnings.append(
            deprecation(
                f"edge-digits train --data {_quoted(folder)}",
                f"edge-digits train --mnist {_quoted(folder)}",
                "--data is now a folder of your labelled digits",
            )
        )
        if mnist is not None:
            raise UsageError(f"--mnist given twice (also as the old `--data {folder}`)")
        mnist = folder
    return kept, mnist, warnings
