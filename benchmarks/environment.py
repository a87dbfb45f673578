"""What every result file records: the machine, the package versions, the git commit, and
timing helpers shared by the suite (percentiles, interleaved rounds)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model, cores, OS; the load average says how busy the (shared) machine was."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "load_average_1min": round(load[0], 2),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name, distribution in PACKAGES.items():
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    commit = done.stdout.strip() or "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return f"{commit}+dirty" if dirty else commit


def header(benchmark: str, command: str, *, quick: bool = False) -> dict[str, Any]:
    """The common head of every result file."""
    return {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99 and the spread, in microseconds."""
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1e6

    return {
        "p50_us": at(50),
        "p90_us": at(90),
        "p99_us": at(99),
        "std_us": statistics.pstdev(ordered) * 1e6 if len(ordered) > 1 else 0.0,
        "runs": len(ordered),
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
