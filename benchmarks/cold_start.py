"""Cold `edge-digits classify img.png` vs the bare imports it cannot avoid, and vs the seeds'
way, measured in the same run.

Each command runs in a fresh process, several times, alternating; for each run the wall
time, the CPU time and the peak RSS of that process (and its children) are recorded.

- The bare imports: `python -c "import numpy, PIL.Image; from ai_edge_litert.interpreter
  import Interpreter"`, what any TFLite digit reader in Python pays before its first line
  (issue 16's targets: classify within 1.3x of its wall time, peak RSS within 1.2x).
- A minimal reader: those imports, then decode the PNG, load the shipped model and run it
  once, with no CLI, checks or preprocessing: what the bare imports leave out and every
  reader pays, for reference.
- The seeds' way is what the tutorial projects do: import TensorFlow, load the Keras model,
  grayscale + invert + resize the image to 28x28, `model.predict`.

Also checked: `edge-digits --help` and `--version` import no numpy (`python -X importtime`).
Every command runs with Python's bytecode cache on (PYTHONDONTWRITEBYTECODE removed), as
after a `pip install`; the uncounted first round writes it.

    .venv/bin/python benchmarks/cold_start.py [--keras-model train/default/model.keras] [--runs 5]

Writes benchmarks/results/cold_start.json and prints a table. Ratios are the headline:
absolute times drift on shared machines, ratios measured together less so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edge_digits.runtime.core.classifier import default_model_path
from environment import ROOT, header, python_command, relative

EMBEDDED_MODEL = default_model_path()  # the model `edge-digits classify` loads

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

# The imports every Python TFLite digit reader pays: numpy, Pillow, the interpreter.
BARE_IMPORTS = "import numpy, PIL.Image; from ai_edge_litert.interpreter import Interpreter"
BARE = "bare imports (numpy, Pillow, LiteRT)"
# The least any Python TFLite digit reader does beyond those imports: decode the picture,
# load the model (XNNPACK applied, as LiteRT does by default), run it once. No CLI, no
# checks, no preprocessing: a reference for what the imports alone leave out.
MINIMAL_READER = """
import sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1], num_threads=1)
interpreter.allocate_tensors()
given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
image = np.asarray(Image.open(sys.argv[2]).convert("L").resize((28, 28)), np.float32) / 255
scale, zero = given["quantization"]
x = np.round(image / scale + zero).astype(given["dtype"]).reshape(given["shape"])
interpreter.set_tensor(given["index"], x)
interpreter.invoke()
print(int(np.argmax(interpreter.get_tensor(taken["index"])[0][:10])))
"""
MINIMAL = "minimal reader (the imports, one PNG, the model once)"
OURS = "edge-digits classify"
SEEDS = "seeds' way (TensorFlow + Keras)"

# Runs one command and reports its wall time, CPU time and peak RSS (children included).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mib": usage.ru_maxrss / 1024, "exit": done.returncode,
                  "stdout": done.stdout.strip()[-200:]}))
"""
# As after `pip install`, which compiles the bytecode: a session that sets
# PYTHONDONTWRITEBYTECODE would otherwise time our modules compiled from source each run.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str]) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    result: dict[str, object] = json.loads(completed.stdout)
    if result["exit"] != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{result['stdout']}")
    return result


def imports_numpy(args: list[str]) -> bool:
    """Whether `edge-digits ARGS` imports numpy (`python -X importtime` lists each module)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / "edge-digits"), *args],
        capture_output=True,
        text=True,
        env=ENV,
    )
    if done.returncode != 0:
        raise SystemExit(f"edge-digits {' '.join(args)} failed:\n{done.stderr[-500:]}")
    modules = (line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines())
    return any(name == "numpy" or name.startswith("numpy.") for name in modules)


def _summary(results: list[dict[str, object]]) -> dict[str, object]:
    return {
        "wall_s_median": statistics.median(float(r["wall_s"]) for r in results),
        "cpu_s_median": statistics.median(float(r["cpu_s"]) for r in results),
        "peak_rss_mib_median": statistics.median(float(r["peak_rss_mib"]) for r in results),
        "output": results[-1]["stdout"],
    }


def _least(results: list[dict[str, object]], key: str) -> float:
    return min(float(r[key]) for r in results)


def cold_start(keras_model: Path, image: Path, runs: int) -> dict[str, Any]:
    """The three commands, `runs` times each, alternating: medians, ratios and every run."""
    commands = {
        OURS: [str(BIN / "edge-digits"), "classify", str(image)],
        SEEDS: [sys.executable, "-c", SEEDS_WAY, str(keras_model), str(image)],
        BARE: [sys.executable, "-c", BARE_IMPORTS],
        MINIMAL: [sys.executable, "-c", MINIMAL_READER, str(EMBEDDED_MODEL), str(image)],
    }
    measured: dict[str, list[dict[str, object]]] = {name: [] for name in commands}
    for command in commands.values():  # warm the page and bytecode caches; not recorded
        measure(command)
    for _ in range(runs):
        for name, command in commands.items():
            measured[name].append(measure(command))

    summary = {name: _summary(measured[name]) for name in (OURS, SEEDS, MINIMAL)}
    bare_runs = measured[BARE]
    bare = _summary(bare_runs)
    ours, theirs = summary[OURS], summary[SEEDS]
    ratios = {
        "wall_speedup": theirs["wall_s_median"] / ours["wall_s_median"],
        "memory_ratio": theirs["peak_rss_mib_median"] / ours["peak_rss_mib_median"],
        "wall_vs_bare_imports": ours["wall_s_median"] / bare["wall_s_median"],
        "cpu_vs_bare_imports": ours["cpu_s_median"] / bare["cpu_s_median"],
        "peak_rss_vs_bare_imports": ours["peak_rss_mib_median"] / bare["peak_rss_mib_median"],
        # The least disturbed runs: on a busy machine the medians wander with the load.
        "wall_min_vs_bare_imports": _least(measured[OURS], "wall_s") / _least(bare_runs, "wall_s"),
        "cpu_min_vs_bare_imports": _least(measured[OURS], "cpu_s") / _least(bare_runs, "cpu_s"),
        # What the bare imports leave out, any reader pays: the minimal one against them.
        "minimal_reader_wall_vs_bare_imports": summary[MINIMAL]["wall_s_median"]
        / bare["wall_s_median"],
        "minimal_reader_peak_rss_vs_bare_imports": summary[MINIMAL]["peak_rss_mib_median"]
        / bare["peak_rss_mib_median"],
    }
    no_numpy = {" ".join(args): not imports_numpy(args) for args in (["--help"], ["--version"])}
    return {
        "image": relative(image),
        "runs": runs,
        "summary": summary,
        "bare_imports": {"command": f'python -c "{BARE_IMPORTS}"', **bare},
        "minimal_reader": {"script": MINIMAL_READER.strip(), "model": relative(EMBEDDED_MODEL)},
        "imports_no_numpy": no_numpy,
        "ratios": ratios,
        "targets": {
            "at_least_15x_faster": ratios["wall_speedup"] >= 15,
            "at_least_8x_less_memory": ratios["memory_ratio"] >= 8,
            "wall_within_1.3x_of_bare_imports": ratios["wall_vs_bare_imports"] <= 1.3,
            "peak_rss_within_1.2x_of_bare_imports": ratios["peak_rss_vs_bare_imports"] <= 1.2,
            "help_and_version_import_no_numpy": all(no_numpy.values()),
        },
        "raw": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keras-model", type=Path, default=ROOT / "train/default/model.keras")
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
    for column in ("command", "wall (s)", "CPU (s)", "peak RSS (MiB)", "printed"):
        table.add_column(column)
    for name, row in {**summary, BARE: record["bare_imports"]}.items():
        table.add_row(
            name,
            f"{row['wall_s_median']:.3f}",
            f"{row['cpu_s_median']:.3f}",
            f"{row['peak_rss_mib_median']:.1f}",
            str(row["output"]),
        )
    console = Console()
    console.print(table)
    console.print(
        f"edge-digits is {ratios['wall_speedup']:.1f}x faster and uses {ratios['memory_ratio']:.1f}x less "
        "peak memory than the seeds' way; against the bare imports it takes "
        f"{ratios['wall_vs_bare_imports']:.2f}x the wall time (target <= 1.3), "
        f"{ratios['cpu_vs_bare_imports']:.2f}x the CPU time (fastest runs: "
        f"{ratios['wall_min_vs_bare_imports']:.2f}x wall, {ratios['cpu_min_vs_bare_imports']:.2f}x "
        "CPU) and "
        f"{ratios['peak_rss_vs_bare_imports']:.2f}x the peak RSS (target <= 1.2), where the "
        f"minimal reader takes {ratios['minimal_reader_wall_vs_bare_imports']:.2f}x and "
        f"{ratios['minimal_reader_peak_rss_vs_bare_imports']:.2f}x; "
        f"no numpy for {', '.join(k for k, v in record['imports_no_numpy'].items() if v) or 'none'} "
        f"(load average {record['machine']['load_average_1min']}; written to {args.out})"
    )


if __name__ == "__main__":
    main()
