"""`edge-digits classify --json FOLDER --workers N`: images per second for N = 1, 2 (and 4 where
the machine has 4 usable cores), on MNIST test digits written as PNG files.

Each setting runs as the command a user runs (the console script, a fresh process), several
times, alternating, after one untimed run of each (the page cache); every run's output must
be byte-for-byte that of `--workers 1`. Recorded per run: wall time, images/s, and the CPU
seconds of the command and its workers; per setting the median images/s and its ratio to
`--workers 1`. On a shared machine absolute figures drift with the load (the load average
is recorded); ratios measured together drift less. After each round, the machine's ceiling
is measured too, two ways: N processes doing pure-Python CPU work against one (on a virtual
machine the cores may give less than N), and N whole `--workers 1` runs at once against the
round's one run alone (the "work ceiling": the same work, sharing nothing; where the cores
compete for caches or memory bandwidth it is lower still).

    .venv/bin/python benchmarks/workers.py [--count 10000] [--runs 5]

Writes benchmarks/results/workers.json and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_digits.runtime.core.pool import usable_cores
from edge_digits.runtime.files.mnist import load_mnist
from PIL import Image
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import RESULTS, header, machine, python_command

EDGE_DIGITS = Path(sys.executable).parent / "edge-digits"
TARGET = 1.7  # --workers 2 against --workers 1, on a 2-core machine


def write_pngs(folder: Path, count: int) -> None:
    """The first `count` MNIST test digits (cycled past 10,000) as 28x28 PNG files."""
    mnist = load_mnist(keras_url=None)
    images, labels = mnist.x_test, mnist.y_test
    for index in range(count):
        at = index % len(images)
        Image.fromarray(images[at]).save(folder / f"{index:05d}_label{labels[at]}.png")


def run(folder: Path, workers: int) -> tuple[dict[str, float], bytes]:
    """One `classify --json` run: its figures and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(EDGE_DIGITS), "classify", "--json", "--quiet", "--workers", str(workers), str(folder)],
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"--workers {workers} failed ({done.returncode}): {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}, done.stdout


SPIN = 8_000_000  # additions: about half a second of one core


def _spin(count: int) -> float:
    """Pure-Python CPU work, no memory traffic; its own wall time."""
    start = time.perf_counter()
    total = 0
    for value in range(count):
        total += value
    return time.perf_counter() - start


def ceiling(processes: int) -> float:
    """How much faster `processes` processes do `processes` times the same pure CPU work than
    one process does it once over: what this machine's cores give at best (on a virtual
    machine, sibling threads or a busy host give less than `processes`)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_spin, [1000] * processes)  # started and warm
        alone = min(pool.map(_spin, [SPIN]) for _ in range(3))[0]
        start = time.perf_counter()
        pool.map(_spin, [SPIN] * processes)
        together = time.perf_counter() - start
    return processes * alone / together


def together(folder: Path, processes: int) -> float:
    """Wall time of `processes` whole `--workers 1` runs at once, each on all the files.

    Against one run alone this is the ceiling for this very work: `processes` commands that
    share nothing, each with its own start, neither waiting for the other. On a virtual
    machine whose cores compete for caches or memory it is lower than `ceiling`'s."""
    command = [str(EDGE_DIGITS), "classify", "--json", "--quiet", "--workers", "1", str(folder)]
    start = time.perf_counter()
    running = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    if any(process.wait() != 0 for process in running):
        raise SystemExit("a --workers 1 run failed while running beside another")
    return time.perf_counter() - start


def measure(folder: Path, count: int, settings: list[int], runs: int) -> dict[str, Any]:
    reference: bytes | None = None
    identical = True
    for workers in settings:  # warm-up: the page cache, the interpreter's files
        _, output = run(folder, workers)
        reference = reference if reference is not None else output
        identical &= output == reference
    measured: dict[int, list[dict[str, float]]] = {workers: [] for workers in settings}
    ceilings: dict[int, list[float]] = {workers: [] for workers in settings[1:]}
    work_ceilings: dict[int, list[float]] = {workers: [] for workers in settings[1:]}
    for _ in range(runs):
        for workers in settings:
            figures, output = run(folder, workers)
            identical &= output == reference
            figures["images_per_s"] = count / figures["wall_s"]
            measured[workers].append(figures)
        alone = measured[settings[0]][-1]["wall_s"]
        for workers in settings[1:]:
            ceilings[workers].append(ceiling(workers))
            work_ceilings[workers].append(workers * alone / together(folder, workers))
    assert reference is not None
    base = statistics.median(r["images_per_s"] for r in measured[settings[0]])
    summary = {}
    for workers, results in measured.items():
        rate = statistics.median(r["images_per_s"] for r in results)
        summary[str(workers)] = {
            "images_per_s_median": rate,
            "wall_s_median": statistics.median(r["wall_s"] for r in results),
            "cpu_s_median": statistics.median(r["cpu_s"] for r in results),
            "ratio_to_1": rate / base,
        }
        if workers in ceilings:
            summary[str(workers)]["machine_ceiling_median"] = statistics.median(ceilings[workers])
            summary[str(workers)]["work_ceiling_median"] = statistics.median(work_ceilings[workers])
    ratio_2 = summary["2"]["ratio_to_1"]
    return {
        "images": count,
        "runs": runs,
        "usable_cores": usable_cores(),
        "outputs_identical": identical,
        "output_sha256": hashlib.sha256(reference).hexdigest(),
        "summary": summary,
        "targets": {f"workers_2_at_least_{TARGET}x": ratio_2 >= TARGET},
        "raw": {str(workers): results for workers, results in measured.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000, help="PNG files to classify")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each setting")
    parser.add_argument("--out", type=Path, default=RESULTS / "workers.json")
    args = parser.parse_args()
    settings = [1, 2, 4] if usable_cores() >= 4 else [1, 2]

    command = python_command("workers.py", f"--count {args.count} --runs {args.runs}")
    record = header("workers", command, quick=args.runs < 3 or args.count < 10_000)
    with tempfile.TemporaryDirectory(prefix="edge-digits-workers-") as temporary:
        folder = Path(temporary)
        write_pngs(folder, args.count)
        record.update(measure(folder, args.count, settings, args.runs))
    record["machine_after"] = machine()  # the load average at the end, too
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    table = Table(title=f"classify --json on {args.count:,} PNG files, median of {args.runs} runs")
    columns = (
        "--workers", "images/s", "wall (s)", "CPU (s)", "x --workers 1", "machine ceiling",
        "work ceiling",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for workers, row in record["summary"].items():
        table.add_row(
            workers,
            f"{row['images_per_s_median']:,.0f}",
            f"{row['wall_s_median']:.2f}",
            f"{row['cpu_s_median']:.2f}",
            f"{row['ratio_to_1']:.2f}",
            f"{row['machine_ceiling_median']:.2f}" if "machine_ceiling_median" in row else "-",
            f"{row['work_ceiling_median']:.2f}" if "work_ceiling_median" in row else "-",
        )
    console = Console()
    console.print(table)
    load = (record["machine"]["load_average_1min"], record["machine_after"]["load_average_1min"])
    console.print(
        f"outputs byte-identical: {record['outputs_identical']}; {os.cpu_count()} cores "
        f"({record['usable_cores']} usable), load average {load[0]} before, {load[1]} after "
        f"(written to {args.out})"
    )
    if not record["outputs_identical"]:
        raise SystemExit("the outputs differ")


if __name__ == "__main__":
    main()
