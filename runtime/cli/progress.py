"""`classify`'s progress bar on stderr: files done, their rate, the time left.

Shown only on a terminal, and only once a run has taken `SHOW_AFTER_S` (a short run shows
nothing); gone (transient) when the run ends. Lines printed meanwhile go above it: error
lines (stderr) one by one; results, when stdout is the same terminal, gathered and printed
together at each refresh, since Rich redraws the bar for every print (10,000 results printed
one by one took 3.4 times as long as without the bar). Results going elsewhere (a file, a
pipe) are written as they come, untouched.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

SHOW_AFTER_S = 1.0  # a run shows its bar once it has taken this long
REFRESH_S = 0.1  # and updates it, and prints the results gathered, at most this often


class FilesProgress:
    """The bar, and the way to stdout while it is shown: `update(done, total)` before each
    result, `print(line)` for each line of stdout (`write` writes one as without a bar),
    `flush()` before an error line, `close()` at the end (also on errors)."""

    def __init__(
        self, console: Callable[[], Console], write: Callable[[str], None], *, show: bool
    ) -> None:
        # `console` makes stderr's Rich console: called only when stderr may be a terminal,
        # since importing Rich is a good part of a cold `classify img.png` in a script.
        self._write = write
        self.enabled = show and may_be_terminal(sys.stderr) and console().is_terminal
        self._console = console() if self.enabled else None
        self._shares_terminal = self.enabled and same_terminal(sys.stdout, sys.stderr)
        self._begun = time.monotonic()
        self._refreshed = 0.0  # when the bar was last updated; 0: not shown yet
        self._gathered: list[str] = []
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._refreshed < REFRESH_S or now - self._begun < SHOW_AFTER_S:
            return
        if self._bar is None:
            self._bar, self._task = self._make()
        assert self._task is not None
        self.flush()
        self._bar.update(self._task, completed=done, total=total)
        if not self._refreshed:
            self._bar.start()
        self._refreshed = now

    def print(self, line: str) -> None:
        """One line of stdout: gathered while the bar shares stdout's terminal, else written."""
        if self._bar is not None and self._shares_terminal:
            self._gathered.append(line)
        else:
            self._write(line)

    def flush(self) -> None:
        """Print the gathered lines above the bar (before an error line, to keep the order)."""
        if self._gathered and self._bar is not None:
            from rich.text import Text

            self._bar.console.print(Text("\n".join(self._gathered)), soft_wrap=True)
            self._gathered.clear()

    def close(self) -> None:
        self.flush()
        if self._bar is not None:
            self._bar.stop()

    def _make(self) -> tuple[Progress, TaskID]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} files/s" if speed else "", style="progress.data.speed")

        bar = Progress(
            TextColumn("classify"), BarColumn(), MofNCompleteColumn(), Rate(),
            TimeRemainingColumn(), console=self._console, transient=True,
            redirect_stdout=False, redirect_stderr=True,
        )  # fmt: skip
        return bar, bar.add_task("classify", total=None)


def may_be_terminal(stream: Any) -> bool:
    """False when Rich would certainly not call `stream` a terminal (what `Console.is_terminal`
    decides from), without importing Rich: not a tty, and neither TTY_COMPATIBLE=1 nor
    FORCE_COLOR set."""
    if os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


def same_terminal(one: Any, other: Any) -> bool:
    """Whether two streams write to the same terminal."""
    try:
        first, second = os.fstat(one.fileno()), os.fstat(other.fileno())
        return bool(one.isatty()) and (first.st_rdev, first.st_ino) == (
            second.st_rdev,
            second.st_ino,
        )
    except (AttributeError, OSError, ValueError):  # no real file descriptor
        return False
