"""`edge-digits train --strategy multiworker` on localhost: one worker vs two, the same options.

Both runs use the multi-worker strategy (a cluster of one, then of two processes on free
localhost ports), so the only difference is the second worker: each step's global batch
(`--batch-size`) is split between the workers and their gradients averaged. Recorded: the
MNIST test accuracy of each run (from its run.json; issue 16's target: two workers within
0.2 pp of one), its best validation accuracy and its wall time, with the load average (the
machine may be shared: times drift with it, accuracies do not).

    .venv/bin/python benchmarks/multiworker.py [--epochs 3] [--batch-size 256] [--arch mlp]

Writes benchmarks/results/multiworker.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import RESULTS, header, machine, python_command

EDGE_DIGITS = Path(sys.executable).parent / "edge-digits"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("localhost", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


def train(workers: int, options: list[str], folder: Path) -> dict[str, Any]:
    """One run with `workers` processes; its figures from the chief's run.json."""
    out = folder / f"{workers}-workers"
    cluster = ",".join(f"localhost:{port}" for port in free_ports(workers))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    logs = [open(folder / f"{workers}-workers-{i}.log", "w") for i in range(workers)]  # noqa: SIM115
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                str(EDGE_DIGITS),
                *options,
                "--strategy",
                "multiworker",
                "--out",
                str(out),
                "--cluster",
                cluster,
                "--task-index",
                str(index),
            ],
            stdout=logs[index],
            stderr=subprocess.STDOUT,
            env=env,
        )
        for index in range(workers)
    ]
    try:
        codes = [process.wait() for process in processes]
    finally:
        for process in processes:
            process.kill()
        for log in logs:
            log.close()
    seconds = time.perf_counter() - start
    if any(codes):
        failed = codes.index(next(code for code in codes if code))
        text = (folder / f"{workers}-workers-{failed}.log").read_text()
        raise SystemExit(f"{workers} workers: worker {failed} failed:\n{text[-3000:]}")
    result = json.loads((out / "run.json").read_text())["result"]
    return {
        "workers": workers,
        "test_accuracy": result["test_accuracy"],
        "val_accuracy": result["val_accuracy"],
        "best_epoch": result["best_epoch"],
        "epochs_run": result["epochs_run"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "multiworker.json")
    args = parser.parse_args()

    options = ["train", "--arch", args.arch, "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--seed", str(args.seed)]  # fmt: skip
    if args.limit:
        options += ["--limit", str(args.limit)]
    shown = " ".join(options[1:])
    reproduce = f"--arch {args.arch} --epochs {args.epochs} --batch-size {args.batch_size}"
    reproduce += f" --seed {args.seed}" + (f" --limit {args.limit}" if args.limit else "")
    record = header("multiworker", python_command("multiworker.py", reproduce))
    with tempfile.TemporaryDirectory(prefix="multiworker-") as folder:
        runs = [train(workers, options, Path(folder)) for workers in (1, 2)]
    one, two = runs
    difference = (two["test_accuracy"] - one["test_accuracy"]) * 100
    record.update(
        options=shown,
        runs=runs,
        test_accuracy_difference_pp=round(difference, 3),
        targets={"two_workers_within_0.2pp_of_one": abs(difference) <= 0.2},
        load_average_1min_at_end=machine()["load_average_1min"],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    table = Table(title=f"edge-digits {shown} --strategy multiworker, on localhost")
    for column in ("workers", "MNIST test accuracy", "best validation", "epochs", "wall (s)"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run["workers"]), f"{run['test_accuracy']:.2%}", f"{run['val_accuracy']:.2%}",
            str(run["epochs_run"]), f"{run['seconds']:.0f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"two workers - one worker: {difference:+.2f} pp of test accuracy (target: within 0.2); "
        f"load average {record['machine']['load_average_1min']} -> "
        f"{record['load_average_1min_at_end']}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
