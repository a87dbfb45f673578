"""What every result file records: the machine, the package versions, the git commit, and
timing helpers shared by the suite (percentiles, interleaved rounds).

The machine, versions and commit come from `edge_digits.runtime.bench.machine` and the
percentiles from `edge_digits.runtime.bench.runner.latency_stats`: the suite and `edge-digits
bench` describe a machine, and define a p50, the same way. (The runtime never imports
from here.)
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_digits.runtime.bench.machine import git_commit as source_commit
from edge_digits.runtime.bench.machine import host, now
from edge_digits.runtime.bench.runner import latency_stats
from edge_digits.runtime.core.interpreter import installed_version

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PACKAGES = {  # name in the record -> distribution name
    "numpy": "numpy",
    "pillow": "pillow",
    "opencv": "opencv-python",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "tf2onnx": "tf2onnx",
    "edge_digits": "edge-digits",
}


def machine() -> dict[str, Any]:
    """CPU model, cores, arch, OS (as `edge-digits bench` records them); the load average
    says how busy the (shared) machine was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {**host(), "load_average_1min": round(load[0], 2)}


def versions() -> dict[str, str | None]:
    """Python's version and each of PACKAGES' (None: not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    found.update({name: installed_version(package) for name, package in PACKAGES.items()})
    return found


def git_commit() -> str:
    """The repository's commit, `+dirty` with uncommitted changes to tracked files anywhere
    in it (benchmarks/ included); "unknown" without git."""
    return source_commit(ROOT) or "unknown"


def header(benchmark: str, command: str, *, quick: bool = False) -> dict[str, Any]:
    """The common head of every result file: what was run, when, where, with what."""
    return {
        "benchmark": benchmark,
        "when": now(),
        "command": command,
        "quick": quick,
        "machine": machine(),
        "versions": versions(),
        "git_commit": git_commit(),
    }


def write_result(record: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{record['benchmark']}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 and the spread, in microseconds: `edge-digits bench`'s `latency_stats`
    (percentiles interpolated linearly, population std) under the suite's names."""
    stats = latency_stats(seconds)
    return {
        "p50_us": stats.p50,
        "p90_us": stats.p90,
        "p99_us": stats.p99,
        "std_us": stats.std,
        "runs": stats.runs,
    }


def interleaved(
    calls: dict[str, Callable[[], object]],
    runs: dict[str, int],
    *,
    rounds: int = 10,
    warmup: int = 20,
) -> dict[str, dict[str, float]]:
    """Time each call `runs[name]` times, in `rounds` alternating rounds, after a warm-up.

    On a shared machine the load drifts; alternating the contenders round by round exposes
    them to the same drift, so their ratios hold better than their absolute times."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(warmup):
            call()
    clock = time.perf_counter
    for _ in range(rounds):
        for name, call in calls.items():
            record = times[name]
            for _ in range(max(1, runs[name] // rounds)):
                start = clock()
                call()
                record.append(clock() - start)
    return {name: percentiles(values) for name, values in times.items()}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def python_command(script: str, *args: str) -> str:
    """How to reproduce a figure: the command line, relative to the repository."""
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *args]).strip()


__all__ = [
    "RESULTS",
    "ROOT",
    "git_commit",
    "header",
    "interleaved",
    "machine",
    "percentiles",
    "python_command",
    "relative",
    "versions",
    "write_result",
]
