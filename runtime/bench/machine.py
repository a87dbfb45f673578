"""The machine a benchmark ran on: CPU, cores, OS, Python, numpy, edge-digits, git commit
and interpreter versions, and the time it ran.

`edge-digits bench` records `machine_info()` in its report (runner.py) and
benchmarks/environment.py heads the suite's result files with `host()`, `now()` and
`git_commit()`, so both describe a machine the same way.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.interpreter import backend_version, installed_version


def now() -> str:
    """Local time with its UTC offset, to the second: 2026-11-21T08:00:00+00:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def cpu_model() -> str:
    """The CPU's name: /proc/cpuinfo's `model name` (x86) or `Model` (Raspberry Pi), else
    what `platform` knows."""
    with contextlib.suppress(OSError):
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        for key in ("model name", "Model", "Hardware", "cpu model"):
            if fields.get(key):
                return fields[key]
    return platform.processor() or platform.machine() or "unknown"


def host() -> dict[str, Any]:
    """The machine: `cpu` (its model), `cores`, `arch` and `os`."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
    }


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the git work tree that holds `folder` (default: edge-digits' runtime
    source), `+dirty` with uncommitted changes to tracked files under `folder`; None where
    `folder` holds no tracked file (an installed package) or git is missing."""
    here = folder or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    # Only if the folder is tracked: site-packages inside another repository is not us.
    if not git("ls-files", "--error-unmatch", "."):
        return None
    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", ".")
    return f"{commit}+dirty" if dirty else commit


def machine_info(backends: Iterable[str]) -> dict[str, Any]:
    """CPU model, cores, OS, Python, numpy, edge-digits, git commit, backend versions."""
    return {
        **host(),
        "python": platform.python_version(),
        "numpy": installed_version("numpy"),
        "edge_digits": installed_version("edge-digits"),
        "git_commit": git_commit(),
        "backends": {name: backend_version(name) for name in backends},
    }
