"""The workstation benchmark suite (needs TensorFlow): `make bench`.

1. bench_models.py: the default model's Keras source and the five seed architectures,
   trained briefly and converted with the project's own train() and convert() when missing;
2. parity.py: Keras vs TFLite float32 / float16 / int8, every model, one scoring function;
3. versus.py: the default model against Keras predict / model(x), ONNX Runtime and the
   interpreter driven by hand;
4. end_to_end.py: a folder of 10,000 PNG digits (and camera frames) vs a Keras loop;
5. cold_start.py: a cold `edge-digits classify img.png` vs TensorFlow + Keras;
6. summary.py: RESULTS.md and accuracy_vs_latency.png from the JSON files.

Each step runs in its own process, so that none inherits another's imports or threads.

    .venv/bin/python benchmarks/suite.py            # about 15 minutes once the models exist
    .venv/bin/python benchmarks/suite.py --quick    # a smoke run, results in runs/bench/quick-results/
    .venv/bin/python benchmarks/suite.py --parts versus,summary
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("models", "parity", "versus", "end_to_end", "cold_start", "summary")
QUICK_RESULTS = ROOT / "runs" / "bench" / "quick-results"


def commands(out: Path, quick: bool) -> dict[str, list[str]]:
    flag = ["--quick"] if quick else []
    committed = out.resolve() == (HERE / "results").resolve()
    markdown = HERE / "RESULTS.md" if committed else out / "RESULTS.md"
    return {
        "models": ["bench_models.py", *flag],
        "parity": ["parity.py", *flag, "--out", str(out)],
        "versus": ["versus.py", *flag, "--out", str(out)],
        "end_to_end": ["end_to_end.py", *flag, "--out", str(out)],
        "cold_start": [
            "cold_start.py",
            "--runs",
            "1" if quick else "7",
            "--out",
            str(out / "cold_start.json"),
        ],
        "summary": ["summary.py", "--results", str(out), "--out", str(markdown)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {', '.join(PARTS)}")
    args = parser.parse_args()
    out = args.out or (QUICK_RESULTS if args.quick else HERE / "results")
    wanted = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown part {', '.join(unknown)}; allowed: {', '.join(PARTS)}")
    steps = commands(out, args.quick)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    for part in PARTS:
        if part not in wanted:
            continue
        script, *rest = steps[part]
        print(f"== {part}: benchmarks/{script} {' '.join(rest)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *rest], cwd=ROOT, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{part} failed (exit {done.returncode})")
        print(f"== {part}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
