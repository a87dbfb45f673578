"""Parity: Keras vs TFLite float32, float16 and int8, every model scored by one function.

For the default model and each seed architecture (see bench_models.py), the Keras model and
each `.tflite` file are scored by `edge_digits.runtime.core.evaluate.evaluate` on the same 10,000
MNIST test images, prepared the same way: accuracy, top-1 agreement with Keras, the largest
and the mean absolute difference of the ten probabilities against Keras, file size, and the
batch-1 p50 latency on one thread (Keras: `model(x)`, its fastest per-image call; TFLite:
edge-digits' `Classifier.predict`, quantisation included), timed in alternating rounds.

    .venv/bin/python benchmarks/parity.py [--quick] [--out benchmarks/results]

Writes parity.json. Needs TensorFlow (the `train` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import BenchModel, bench_models
from edge_digits.runtime import Classifier, ClassifierOptions
from edge_digits.runtime.core.evaluate import Evaluation, agreement, evaluate, score_difference
from edge_digits.runtime.core.preprocess import scale_pixels
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from environment import RESULTS, header, interleaved, python_command, relative, write_result

THREADS = 1  # every contender on one thread: the fairest basis on a shared 2-core machine


def single_thread_tensorflow() -> None:
    """TensorFlow on one thread, like the interpreters; must run before TensorFlow's first op."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    except RuntimeError:  # already initialised in this process: leave it as it is
        pass


def load_keras(path: Path) -> Any:
    import keras

    return keras.models.load_model(path)


def keras_scorer(model: Any) -> Any:
    """The Keras side of `evaluate`, as `convert` calls it."""
    return lambda batch: model.predict_on_batch(batch)


def test_image(mnist: Mnist) -> np.ndarray:
    """The batch-1 input every latency figure uses: the first test digit, scaled."""
    return scale_pixels(mnist.x_test[0])[None, ..., None]


def row(
    name: str, fmt: str, path: Path, score: Evaluation, reference: Evaluation
) -> dict[str, Any]:
    """One line of the table; every model's figures come from the same `evaluate`."""
    largest, mean = score_difference(score, reference)
    return {
        "model": name,
        "format": fmt,
        "file": relative(path),
        "size_bytes": path.stat().st_size,
        "accuracy": score.accuracy,
        "agreement_with_keras": agreement(score, reference),
        "max_abs_prob_diff": largest,
        "mean_abs_prob_diff": mean,
        "test_images": score.count,
    }


def model_parity(
    model: BenchModel, mnist: Mnist, *, images: int, runs: int, keras_runs: int
) -> list[dict[str, Any]]:
    x_test, y_test = mnist.x_test[:images], mnist.y_test[:images]
    keras_model = load_keras(model.keras)
    reference = evaluate(keras_scorer(keras_model), x_test, y_test)
    classifiers = {
        precision: Classifier(ClassifierOptions(model=path, num_threads=THREADS))
        for precision, path in model.tflite.items()
    }
    rows = [row(model.name, "keras", model.keras, reference, reference)]
    for precision, classifier in classifiers.items():
        score = evaluate(classifier.predict, x_test, y_test)
        rows.append(row(model.name, f"tflite {precision}", classifier.model_path, score, reference))
    image = test_image(mnist)
    calls: dict[str, Any] = {"keras": lambda: np.asarray(keras_model(image, training=False))}
    for precision, classifier in classifiers.items():
        calls[f"tflite {precision}"] = lambda c=classifier: c.predict(image)
    counts = {name: keras_runs if name == "keras" else runs for name in calls}
    latency = interleaved(calls, counts)
    for line in rows:
        line["latency"] = latency[line["format"]]
        line["p50_us"] = latency[line["format"]]["p50_us"]
        line["epochs"] = model.epochs
        line["shipped"] = model.shipped and line["format"] == "tflite int8"
    return rows


def run_parity(
    models: list[BenchModel], mnist: Mnist, *, quick: bool, echo: Any = print
) -> dict[str, Any]:
    images = 1000 if quick else len(mnist.x_test)
    runs, keras_runs = (200, 50) if quick else (2000, 300)
    rows: list[dict[str, Any]] = []
    for model in models:
        echo(f"parity: {model.name}")
        rows.extend(model_parity(model, mnist, images=images, runs=runs, keras_runs=keras_runs))
    record = header("parity", python_command("parity.py", "--quick" if quick else ""), quick=quick)
    default_int8 = next(r for r in rows if r["model"] == "default" and r["format"] == "tflite int8")
    default_keras = next(r for r in rows if r["model"] == "default" and r["format"] == "keras")
    record.update(
        threads=THREADS,
        latency_note="batch-1 p50 on one thread; Keras: model(x); TFLite: Classifier.predict",
        rows=rows,
        targets={
            "int8_accuracy_drop_pp": (default_keras["accuracy"] - default_int8["accuracy"]) * 100,
            "int8_accuracy_within_0.1pp": abs(default_keras["accuracy"] - default_int8["accuracy"])
            <= 0.001,
            "int8_agreement": default_int8["agreement_with_keras"],
            "int8_agreement_at_least_99.8": default_int8["agreement_with_keras"] >= 0.998,
        },
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 images, fewer timing runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    single_thread_tensorflow()
    mnist = load_mnist()
    record = run_parity(bench_models(quick=args.quick, mnist=mnist), mnist, quick=args.quick)
    print(f"wrote {write_result(record, args.out)}")


if __name__ == "__main__":
    main()
