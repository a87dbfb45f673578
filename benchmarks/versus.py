"""Against what users would pick instead: batch-1 latency on the default model, one run.

Contenders, all on one thread, the same test digit, timed in alternating rounds:

- Keras ``model.predict(x)`` per image, and ``model(x)`` per image;
- ONNX Runtime on the same Keras model exported with ``model.export(path, format="onnx")``
  (needs ``tf2onnx``; the loaded model must be called once before it can be exported);
- the LiteRT interpreter driven by hand, no edge-digits layer: ``set_tensor`` of an input
  quantised beforehand, ``invoke``, ``get_tensor`` (the floor), on the int8 and float32 files;
- edge-digits ``Classifier.predict`` batch-1 (float image in, probabilities out), int8 and float32.

Each contender's accuracy and agreement with Keras on the test set come from the same
`evaluate` as in parity.py. Ratios are ours ÷ theirs (p50; below 1 means edge-digits is faster).

    .venv/bin/python benchmarks/versus.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import BENCH_RUNS, BenchModel, default_model
from edge_digits.runtime import Classifier, ClassifierOptions
from edge_digits.runtime.core.evaluate import agreement, evaluate, score_difference
from edge_digits.runtime.core.interpreter import make_interpreter
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from environment import RESULTS, header, interleaved, python_command, relative, write_result
from parity import THREADS, keras_scorer, load_keras, single_thread_tensorflow, test_image

OURS = "edge-digits Classifier.predict (int8)"


def export_onnx(model: Any, keras_path: Path) -> Path:
    """The Keras model as ONNX, beside the other bench files; made again when older."""
    target = BENCH_RUNS / "default" / "model.onnx"
    if target.exists() and target.stat().st_mtime >= keras_path.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model(np.zeros((1, 28, 28, 1), np.float32))  # a loaded model must be called once first
    model.export(str(target), format="onnx", verbose=False)
    return target


def onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = THREADS
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def by_hand(path: Path, image: np.ndarray) -> tuple[Any, Any]:
    """The interpreter alone: its input quantised once, outside the timed call."""
    interpreter, _ = make_interpreter(path.read_bytes(), origin=str(path), num_threads=THREADS)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    tensor = image.astype(np.float32)
    if np.issubdtype(source["dtype"], np.integer):
        scale, zero_point = source["quantization"]
        info = np.iinfo(source["dtype"])
        tensor = np.clip(np.rint(tensor / scale + zero_point), info.min, info.max)
        tensor = tensor.astype(source["dtype"])
    index, out = source["index"], target["index"]

    def call() -> np.ndarray:
        interpreter.set_tensor(index, tensor)
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(out))

    return call, interpreter


def run_versus(
    model: BenchModel, mnist: Mnist, *, quick: bool, echo: Any = print
) -> dict[str, Any]:
    echo("versus: the default model against Keras, ONNX Runtime and the bare interpreter")
    images = 1000 if quick else len(mnist.x_test)
    x_test, y_test = mnist.x_test[:images], mnist.y_test[:images]
    keras_model = load_keras(model.keras)
    onnx_path = export_onnx(keras_model, model.keras)
    session = onnx_session(onnx_path)
    input_name = session.get_inputs()[0].name
    image = test_image(mnist)
    ours = {
        p: Classifier(ClassifierOptions(model=model.tflite[p], num_threads=THREADS))
        for p in ("int8", "float32")
    }
    hand_int8, _ = by_hand(model.tflite["int8"], image)
    hand_float32, _ = by_hand(model.tflite["float32"], image)

    contenders: dict[str, dict[str, Any]] = {
        "Keras model.predict(x)": {
            "call": lambda: keras_model.predict(image, verbose=0),
            "scorer": keras_scorer(keras_model),
            "file": model.keras,
        },
        "Keras model(x)": {
            "call": lambda: np.asarray(keras_model(image, training=False)),
            "scorer": None,  # the same model as above: same scores
            "file": model.keras,
        },
        "ONNX Runtime (float32)": {
            "call": lambda: session.run(None, {input_name: image})[0],
            "scorer": lambda batch: session.run(None, {input_name: batch})[0],
            "file": onnx_path,
        },
        "LiteRT by hand (float32)": {
            "call": hand_float32,
            "scorer": None,
            "file": model.tflite["float32"],
        },
        "LiteRT by hand (int8)": {"call": hand_int8, "scorer": None, "file": model.tflite["int8"]},
        "edge-digits Classifier.predict (float32)": {
            "call": lambda: ours["float32"].predict(image),
            "scorer": ours["float32"].predict,
            "file": model.tflite["float32"],
        },
        OURS: {
            "call": lambda: ours["int8"].predict(image),
            "scorer": ours["int8"].predict,
            "file": model.tflite["int8"],
        },
    }
    slow = {
        "Keras model.predict(x)": 40 if quick else 300,
        "Keras model(x)": 100 if quick else 1000,
    }
    runs = {name: slow.get(name, 300 if quick else 3000) for name in contenders}
    latency = interleaved({name: c["call"] for name, c in contenders.items()}, runs)

    reference = evaluate(keras_scorer(keras_model), x_test, y_test)
    rows = []
    for name, contender in contenders.items():
        score = evaluate(contender["scorer"], x_test, y_test) if contender["scorer"] else None
        largest, mean = score_difference(score, reference) if score else (None, None)
        rows.append(
            {
                "contender": name,
                "file": relative(contender["file"]),
                "size_bytes": contender["file"].stat().st_size,
                "latency": latency[name],
                "p50_us": latency[name]["p50_us"],
                "accuracy": score.accuracy if score else None,
                "agreement_with_keras": agreement(score, reference) if score else None,
                "max_abs_prob_diff": largest,
                "mean_abs_prob_diff": mean,
            }
        )
    p50 = {r["contender"]: r["p50_us"] for r in rows}
    ratios = {
        name: {"ours_over_theirs": p50[OURS] / value, "speedup": value / p50[OURS]}
        for name, value in p50.items()
        if name != OURS
    }
    overhead = p50[OURS] / p50["LiteRT by hand (int8)"]
    record = header("versus", python_command("versus.py", "--quick" if quick else ""), quick=quick)
    record.update(
        threads=THREADS,
        ours=OURS,
        test_images=images,
        rows=rows,
        ratios=ratios,
        targets={
            "classifier_overhead_p50": overhead,
            "classifier_overhead_at_most_1.5": overhead <= 1.5,
        },
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    single_thread_tensorflow()
    mnist = load_mnist()
    record = run_versus(default_model(mnist), mnist, quick=args.quick)
    print(f"wrote {write_result(record, args.out)}")


if __name__ == "__main__":
    main()
