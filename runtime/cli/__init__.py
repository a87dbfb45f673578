"""The `edge-digits` command line: `commands` parses, calls one library function, prints;
`console` holds its two Rich consoles."""

from __future__ import annotations

from .commands import app, main, run

__all__ = ["app", "main", "run"]
