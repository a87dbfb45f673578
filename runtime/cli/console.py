"""The CLI's two consoles (stdout, stderr): Rich, but only when something needs it."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# What Rich prints unchanged: no control characters (it drops some and expands tabs).
_PLAIN_LINE = re.compile(r"[^\x00-\x1f\x7f]*")


class Output:
    """A plain Rich console (user text is printed as given, never read as markup or emoji),
    made on first use. A plain one-line string, what `classify` and `camera` print, is
    written directly, as Rich would write it: importing Rich is ~20 ms of a cold
    `edge-digits classify img.png`. Tables, styles and the rest go through Rich."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                stderr=self._stderr, highlight=False, soft_wrap=True, markup=False, emoji=False
            )
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        text = objects[0] if len(objects) == 1 and not options else None
        if type(text) is str and _PLAIN_LINE.fullmatch(text):
            stream = sys.stderr if self._stderr else sys.stdout
            try:
                self._write(stream, text)
            except (BrokenPipeError, AttributeError):
                if not self._stderr:  # stdout's reader has gone, or there is no stdout
                    raise
                # stderr is gone (`2> >(true)`): messages are lost, the work goes on and
                # stdout, whose reader may still be reading, is left alone.
        else:
            self.console.print(*objects, **options)

    @staticmethod
    def _write(stream: Any, text: str) -> None:
        try:
            stream.write(text + "\n")
        except UnicodeEncodeError:  # a file name in another encoding than the terminal's
            encoding = stream.encoding or "utf-8"
            text = text.encode(encoding, "backslashreplace").decode(encoding)
            stream.write(text + "\n")  # as stderr shows it: b"\xe9" as \udce9
        stream.flush()  # as Rich does: stdout and stderr lines stay in order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)
