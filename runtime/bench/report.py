"""How a `bench` report is shown and kept: a Rich table for the terminal, and a dated
Markdown section appended to `bench.md` in the `--out` folder, headed with the machine it
ran on (or to the file the deprecated `--out FILE` names: cli/deprecated.py).

The table and the Markdown show the same rows (`table_rows`); `BenchReport.to_dict()` is
the JSON. Rich is imported only when a table is drawn. The machine itself is described by
`machine.py`; `runner.py` measures and builds the `BenchReport` shown here, and imports
nothing from this module (docs/ARCHITECTURE.md: no import cycles).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError
from ..files.atomic import ensure_output_dir

if TYPE_CHECKING:
    from rich.table import Table

    from .runner import BenchReport, SettingResult

IDENTITY = 5  # the first columns of `table_rows` say which setting a row is


# -- rows ------------------------------------------------------------------------------------


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """Column names and one row of text per setting: what the table and Markdown show."""
    batches = report.options.batch_sizes
    columns = [
        "model", "precision", "backend", "XNNPACK", "threads", "size (KiB)", "load (ms)",
        "first (ms)", "p50 (us)", "p90 (us)", "p99 (us)", "std (us)", "interpreter p50 (us)",
        "overhead", *(f"img/s @{batch}" for batch in batches), "peak RSS (MiB)",
    ]  # fmt: skip
    if report.options.accuracy:
        columns.append("accuracy")
    return columns, [_row(result, bool(report.options.accuracy)) for result in report.results]


def _row(result: SettingResult, with_accuracy: bool) -> list[str]:
    ours, theirs = result.latency_us["classifier"], result.latency_us["interpreter"]
    row = [
        result.model_name, result.precision, result.backend, "on" if result.xnnpack else "off",
        str(result.threads), f"{result.size_bytes / 1024:.1f}", f"{result.load_ms:.1f}",
        f"{result.first_inference_ms:.2f}", f"{ours.p50:.1f}", f"{ours.p90:.1f}",
        f"{ours.p99:.1f}", f"{ours.std:.1f}", f"{theirs.p50:.1f}", f"{result.overhead_p50:.2f}x",
        *(f"{item.images_per_s:,.0f}" for item in result.throughput),
        "-" if result.peak_rss_mib is None else f"{result.peak_rss_mib:.1f}",
    ]  # fmt: skip
    if with_accuracy:
        row.append("-" if result.accuracy is None else f"{result.accuracy.accuracy:.2%}")
    return row


def rich_tables(report: BenchReport, width: int = 80) -> list[Table]:
    """The rows for the terminal, turned a quarter: one column per setting, one row per
    figure (Markdown keeps a row per setting), in as many tables as `width` needs."""
    from rich.table import Table

    columns, rows = table_rows(report)
    per_table = max(1, (width - 24) // 16)  # the figure names take ~22 columns, a setting ~14
    tables = []
    for start in range(0, len(rows), per_table):
        chunk = rows[start : start + per_table]
        title = f"edge-digits bench ({report.options.runs} batch-1 runs per setting)"
        table = Table(title=title if start == 0 else None)
        table.add_column("")
        for row in chunk:
            model, precision, backend, xnnpack, threads = row[:IDENTITY]
            heading = f"{model}\n{precision}, {backend}\nXNNPACK {xnnpack}, {threads} thr."
            table.add_column(heading, justify="right")
        for index, name in enumerate(columns[IDENTITY:], start=IDENTITY):
            table.add_row(name, *(row[index] for row in chunk))
        tables.append(table)
    return tables


# -- Markdown --------------------------------------------------------------------------------


def markdown_section(report: BenchReport) -> str:
    """A dated section: machine and software, settings, notes, then the table rows."""
    machine, options = report.machine, report.options
    backends = ", ".join(
        f"{name} {version or '?'}" for name, version in machine["backends"].items()
    )
    commit = machine["git_commit"] or "not a git checkout"
    lines = [
        f"## edge-digits bench, {report.when}",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores ({machine['arch']}), {machine['os']}",
        f"- software: Python {machine['python']}, numpy {machine['numpy']}, "
        f"edge-digits {machine['edge_digits']} (git {commit}); backends: {backends}",
        f"- latency: batch 1, {options.runs} runs after {options.warmup} warm-up calls, "
        "microseconds; overhead = Classifier p50 / interpreter p50; throughput through "
        "Classifier.predict",
    ]
    if options.accuracy:
        lines.append(f"- accuracy on: {options.accuracy}")
    lines += [f"- note: {note}" for note in report.notes]
    columns, rows = table_rows(report)
    lines += ["", _markdown_row(columns), "|" + " --- |" * len(columns)]
    lines += [_markdown_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def check_appendable(path: Path) -> None:
    """OutputError (exit 6) now, before any measuring, if `path` cannot be appended to.
    Creates the folder if it is missing."""
    if path.is_dir():
        raise OutputError(
            f"{path}: is a folder, so the report cannot be appended to it; "
            "choose another --out folder"
        )
    ensure_output_dir(path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{path}: cannot write (permission denied); choose another --out")


def append_markdown(path: Path, text: str) -> None:
    """Append `text` to `path` (created if missing), after a blank line.

    Appending, never rewriting: the file is opened with O_APPEND and locked while the
    section is written and flushed to disk, so what was there is never touched, and two
    runs appending at once put their sections one after the other."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    try:
        _lock(fd)
        size = os.fstat(fd).st_size
        separator = _separator(os.pread(fd, 2, max(0, size - 2))) if size else ""
        data = memoryview((separator + text).encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    except OSError as error:
        raise OutputError(f"{path}: cannot append ({error.strerror or error})") from None
    finally:
        os.close(fd)  # also releases the lock


def _separator(tail: bytes) -> str:
    """What to write after a file ending in `tail` so that a blank line comes first."""
    if tail.endswith(b"\n\n"):
        return ""
    return "\n" if tail.endswith(b"\n") else "\n\n"


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        return
    import fcntl

    with contextlib.suppress(OSError):  # a file system without locks: O_APPEND still holds
        fcntl.flock(fd, fcntl.LOCK_EX)
