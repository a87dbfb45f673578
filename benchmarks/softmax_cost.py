"""What scores with meaning cost: softmax inside the int8 model vs logits + softmax in float.

The same Keras model (the default recipe's, `runs/default/model.keras`) is converted to
full-integer int8 twice, with the same calibration inputs: once with its softmax inside the
model (int8 probabilities, steps of 1/256: every confident answer is 0.996), once without
it (int8 logits; the runtime dequantises them and applies softmax(logits / T) in float, as
the shipped model does). For each, in the same run, alternating rounds:

- batch-1 latency of `Classifier.predict` (p50 over the rounds' calls), and the ratio;
- on the 10,000 MNIST test images: accuracy, how many distinct top scores there are, and
  the share of the most common one.

    .venv/bin/python benchmarks/softmax_cost.py [--keras-model runs/default/model.keras]

Writes benchmarks/results/softmax_cost.json and prints a table. An emulated or shared CPU's
absolute times are not a Pi's; the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, header, relative


def _convert(keras_path: Path, folder: Path) -> dict[str, Path]:
    import keras
    from edge_digits.convert.converter import _exported, _run_data, _sidecar, to_tflite
    from edge_digits.runtime.files.mnist import load_mnist

    model = keras.models.load_model(keras_path)
    classes = int(model.output_shape[-1])
    run = _run_data(keras_path, classes, print)
    pool = run.representative_x if run.representative_x is not None else load_mnist(None).x_train
    calibration = pool[np.random.default_rng(0).choice(len(pool), 500, replace=False)]
    labels = tuple([*(str(d) for d in range(10)), *(["none"] if classes == 11 else [])])
    if _exported(model)[1] != "logits":
        raise SystemExit(f"{keras_path}: the model does not end in a separate Softmax layer")
    paths = {}
    for name, (exported, output) in {
        "softmax in the int8 model": (model, "probabilities"),
        "int8 logits, softmax in float": _exported(model),
    }.items():
        content = to_tflite(exported, "int8", calibration)
        path = folder / f"{output}.tflite"
        path.write_bytes(content)
        details = {
            "labels": labels,
            "none_label": "none" if classes == 11 else None,
            "output": output,
            "architecture": model.name,
        }
        path.with_suffix(".json").write_text(
            _sidecar(content, str(path), "int8", details).to_json(), encoding="utf-8"
        )
        paths[name] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keras-model", type=Path, default=ROOT / "runs/default/model.keras")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()

    from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
    from edge_digits.runtime.core.evaluate import evaluate
    from edge_digits.runtime.files.mnist import load_mnist

    mnist = load_mnist(None)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _convert(args.keras_model, Path(tmp))
        classifiers = {
            name: Classifier(ClassifierOptions(model=path, num_threads=1, min_score=0.0))
            for name, path in paths.items()
        }
        one = mnist.x_test[:1].astype(np.float32)[..., None] / 255
        times: dict[str, list[float]] = {name: [] for name in classifiers}
        for _ in range(args.rounds):  # alternating, so that drift hits both alike
            for name, classifier in classifiers.items():
                for _ in range(200):
                    classifier.predict(one)  # warm-up
                for _ in range(args.calls):
                    start = time.perf_counter()
                    classifier.predict(one)
                    times[name].append(time.perf_counter() - start)
        rows = {}
        for name, classifier in classifiers.items():
            score = evaluate(classifier.predict, mnist.x_test, mnist.y_test)
            top = np.round(score.scores.max(axis=1), 6)
            values, counts = np.unique(top, return_counts=True)
            rows[name] = {
                "model_bytes": paths[name].stat().st_size,
                "p50_us": statistics.median(times[name]) * 1e6,
                "p90_us": float(np.percentile(times[name], 90)) * 1e6,
                "accuracy": score.accuracy,
                "distinct_top_scores": len(values),
                "most_common_top_score": float(values[counts.argmax()]),
                "most_common_share": float(counts.max() / len(top)),
            }
    inside, outside = rows["softmax in the int8 model"], rows["int8 logits, softmax in float"]
    result = {
        **header("softmax_cost", "python benchmarks/softmax_cost.py"),
        "keras_model": relative(args.keras_model),
        "calls_per_round": args.calls,
        "rounds": args.rounds,
        "rows": rows,
        "latency_ratio_logits_over_softmax_inside": outside["p50_us"] / inside["p50_us"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "softmax_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title="int8 output: softmax inside the model vs logits + softmax in float")
    for column in ("output", "p50 µs", "p90 µs", "accuracy", "distinct top scores", "most common"):
        table.add_column(column, justify="left" if column == "output" else "right")
    for name, row in rows.items():
        table.add_row(
            name, f"{row['p50_us']:.1f}", f"{row['p90_us']:.1f}", f"{row['accuracy']:.2%}",
            str(row["distinct_top_scores"]),
            f"{row['most_common_top_score']:.6f} ({row['most_common_share']:.1%})",
        )  # fmt: skip
    Console().print(table)
    Console().print(
        f"latency ratio (logits ÷ softmax inside): {result['latency_ratio_logits_over_softmax_inside']:.2f}"
    )


if __name__ == "__main__":
    main()
