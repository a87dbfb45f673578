"""Cold `edge-digits classify img.png` vs the seeds' way, measured in the same run.

Each command runs in a fresh process, several times, alternating; for each run the wall
time and the peak RSS of that process (and its children) are recorded. The seeds' way is
what the tutorial projects do: import TensorFlow, load the Keras model, grayscale + invert +
resize the image to 28x28, `model.predict`.

    .venv/bin/python benchmarks/cold_start.py [--keras-model runs/default/model.keras] [--runs 5]

Writes benchmarks/results/cold_start.json and prints a table. Ratios (seeds ÷ ours) are
the headline: absolute times drift on shared machines, ratios measured together less so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, header, python_command, relative

BIN = Path(sys.executable).parent

# The seeds' way, as their README examples do it.
SEEDS_WAY = """
import sys
import numpy as np
import tensorflow as tf
from PIL import Image
model = tf.keras.models.load_model(sys.argv[1])
image = Image.open(sys.argv[2]).convert("L")
image = Image.eval(image, lambda p: 255 - p) if np.asarray(image).mean() > 127 else image
x = np.asarray(image.resize((28, 28)), dtype=np.float32)[None, ..., None] / 255.0
print(int(np.argmax(model.predict(x, verbose=0))))
"""

# Runs one command and reports its wall time and its peak RSS (children included).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "peak_rss_mib": peak_kib / 1024, "exit": done.returncode,
                  "stdout": done.stdout.strip()[-200:]}))
"""


def measure(command: list[str]) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(completed.stdout)
    if result["exit"] != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{result['stdout']}")
    return result


def cold_start(keras_model: Path, image: Path, runs: int) -> dict[str, Any]:
    """Both commands, `runs` times each, alternating: medians, ratios and every run."""
    commands = {
        "edge-digits classify": [str(BIN / "edge-digits"), "classify", str(image)],
        "seeds' way (TensorFlow + Keras)": [
            sys.executable,
            "-c",
            SEEDS_WAY,
            str(keras_model),
            str(image),
        ],
    }
    measured: dict[str, list[dict[str, object]]] = {name: [] for name in commands}
    for command in commands.values():  # warm the page cache once; not recorded
        measure(command)
    for _ in range(runs):
        for name, command in commands.items():
            measured[name].append(measure(command))

    summary = {
        name: {
            "wall_s_median": statistics.median(float(r["wall_s"]) for r in results),
            "peak_rss_mib_median": statistics.median(float(r["peak_rss_mib"]) for r in results),
            "output": results[-1]["stdout"],
        }
        for name, results in measured.items()
    }
    ours, theirs = (summary[name] for name in commands)
    ratios = {
        "wall_speedup": theirs["wall_s_median"] / ours["wall_s_median"],
        "memory_ratio": theirs["peak_rss_mib_median"] / ours["peak_rss_mib_median"],
    }
    return {
        "image": relative(image),
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
        "targets": {
            "at_least_15x_faster": ratios["wall_speedup"] >= 15,
            "at_least_8x_less_memory": ratios["memory_ratio"] >= 8,
        },
        "raw": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keras-model", type=Path, default=ROOT / "runs/default/model.keras")
    parser.add_argument("--image", type=Path, default=ROOT / "examples/mnist_test_0000_label7.png")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cold_start.json")
    args = parser.parse_args()
    if not args.keras_model.exists():
        raise SystemExit(f"{args.keras_model}: no Keras model; run `make default-model` first")

    command = python_command("cold_start.py", f"--runs {args.runs}")
    record = header("cold_start", command, quick=args.runs < 3)
    record.update(cold_start(args.keras_model, args.image, args.runs))
    summary, ratios = record["summary"], record["ratios"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")

    table = Table(title=f"cold classify of one image, median of {args.runs} runs")
    for column in ("command", "wall (s)", "peak RSS (MiB)", "printed"):
        table.add_column(column)
    for name, row in summary.items():
        table.add_row(
            name,
            f"{row['wall_s_median']:.2f}",
            f"{row['peak_rss_mib_median']:.0f}",
            str(row["output"]),
        )
    console = Console()
    console.print(table)
    console.print(
        f"edge-digits is {ratios['wall_speedup']:.1f}x faster and uses {ratios['memory_ratio']:.1f}x less "
        f"peak memory (written to {args.out})"
    )


if __name__ == "__main__":
    main()
