"""The `edge-digits` command line: `commands` parses, calls one library function, prints;
`options` is its vocabulary (the options several commands share, the Enums of closed
choices); `deprecated` translates the old spellings kept for this release; `console` holds
its two Rich consoles."""

from __future__ import annotations

from .commands import app, main, run

__all__ = ["app", "main", "run"]
