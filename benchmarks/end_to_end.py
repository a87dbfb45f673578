"""End to end, as a user feels it: a folder of PNG digits, and camera frames.

Folder: the 10,000 MNIST test digits written as 28x28 PNG files into a temporary folder
(read again right before each contender's run, so each finds them in the page cache), classified

- by edge-digits in this process: ``classify_paths(Classifier(), [folder])`` (find the
  files, decode, preprocess, batched inference, one result per file);
- by the CLI, start-up included: ``edge-digits classify --json FOLDER`` and without ``--json``
  (output to /dev/null);
- the seeds' way, in a fresh process with TensorFlow's default threads: for each file,
  PIL open, grayscale, invert if light, resize to 28x28, ``model.predict`` (the tutorial
  loop), timed on the first 1,000 files (a per-file loop's rate does not depend on how many);
  and a careful Keras user's way: decode every file, then one batched ``model.predict``.

Camera: 640x480 BGR frames of MNIST test digits drawn dark on a lit page (``synthetic.scene``),
through ``live.watch.classify_frames`` (frames/s,
p50 ms per frame, accuracy).

    .venv/bin/python benchmarks/end_to_end.py [--quick] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import DEFAULT_KERAS
from edge_digits.runtime import Classifier
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from edge_digits.runtime.live.watch import CameraOptions, classify_frames
from environment import RESULTS, header, python_command, write_result
from synthetic import scene

BIN = Path(sys.executable).parent
KERAS_LOOP_FILES = 1000  # files the per-file Keras loop is timed on

# The seeds' way over a folder, as their tutorials write it; prints its own timings as JSON.
SEEDS_FOLDER = """
import json, sys, time
from pathlib import Path
import numpy as np
import tensorflow as tf
from PIL import Image

model = tf.keras.models.load_model(sys.argv[1])
files = sorted(Path(sys.argv[2]).glob("*.png"))
loop_files = files[: int(sys.argv[3])]

def load(path):
    image = Image.open(path).convert("L")
    image = Image.eval(image, lambda p: 255 - p) if np.asarray(image).mean() > 127 else image
    return np.asarray(image.resize((28, 28)), dtype=np.float32) / 255.0

model.predict(load(files[0])[None, ..., None], verbose=0)  # first call builds the graph
start = time.perf_counter()
loop = [int(np.argmax(model.predict(load(p)[None, ..., None], verbose=0))) for p in loop_files]
loop_seconds = time.perf_counter() - start
start = time.perf_counter()
batch = np.stack([load(p) for p in files])[..., None]
batched = np.argmax(model.predict(batch, batch_size=1024, verbose=0), axis=1).tolist()
batched_seconds = time.perf_counter() - start
print(json.dumps({"loop_seconds": loop_seconds, "loop_labels": loop,
                  "batched_seconds": batched_seconds, "batched_labels": batched}))
"""


def write_pngs(mnist: Mnist, count: int, folder: Path) -> list[int]:
    """The first `count` test digits as PNG files named by index; returns their labels."""
    for index in range(count):
        Image.fromarray(mnist.x_test[index]).save(folder / f"{index:05d}.png")
    return [int(label) for label in mnist.y_test[:count]]


def warm(folder: Path) -> None:
    """Read every file once, right before a contender's run: the kernel here reclaims idle
    page cache on its own (DAMON), and every contender should find the files in memory."""
    for path in folder.iterdir():
        path.read_bytes()


def accuracy(labels: list[int | None], truth: list[int]) -> float:
    return float(np.mean([a == b for a, b in zip(labels, truth, strict=True)]))


def ours_in_process(folder: Path, truth: list[int], repeats: int) -> dict[str, Any]:
    classifier = Classifier()
    seconds, labels = [], []
    for _ in range(repeats):
        warm(folder)
        start = time.perf_counter()
        results = list(classify_paths(classifier, [folder]))
        seconds.append(time.perf_counter() - start)
        labels = [r.prediction.label if r.prediction else None for r in results]
    best = statistics.median(seconds)
    return {
        "how": "classify_paths(Classifier(), [folder]) in a warm process",
        "seconds_median": best,
        "seconds_all": seconds,
        "images_per_s": len(truth) / best,
        "accuracy": accuracy(labels, truth),
    }


def ours_cli(folder: Path, truth: list[int], repeats: int, *, as_json: bool) -> dict[str, Any]:
    command = [str(BIN / "edge-digits"), "classify", *(["--json"] if as_json else []), str(folder)]
    seconds, output = [], ""
    for _ in range(repeats):
        warm(folder)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        seconds.append(time.perf_counter() - start)
        output = done.stdout
    best = statistics.median(seconds)
    result: dict[str, Any] = {
        "how": f"edge-digits classify {'--json ' if as_json else ''}FOLDER (start-up included)",
        "seconds_median": best,
        "seconds_all": seconds,
        "images_per_s": len(truth) / best,
    }
    if as_json:
        labels = [json.loads(line)["label"] for line in output.splitlines()]
        result["accuracy"] = accuracy(labels, truth)
    return result


def seeds_folder(
    folder: Path, truth: list[int], keras_model: Path, loop_files: int
) -> dict[str, Any]:
    warm(folder)
    done = subprocess.run(
        [sys.executable, "-c", SEEDS_FOLDER, str(keras_model), str(folder), str(loop_files)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    loop = measured["loop_labels"]
    return {
        "keras_loop": {
            "how": "PIL open + model.predict per file (the seeds' tutorial loop), TF default threads",
            "files_timed": len(loop),
            "seconds": measured["loop_seconds"],
            "images_per_s": len(loop) / measured["loop_seconds"],
            "accuracy": accuracy(loop, truth[: len(loop)]),
        },
        "keras_batched": {
            "how": "PIL open every file, then one model.predict(batch_size=1024)",
            "files_timed": len(truth),
            "seconds": measured["batched_seconds"],
            "images_per_s": len(truth) / measured["batched_seconds"],
            "accuracy": accuracy(measured["batched_labels"], truth),
        },
    }


def camera_frames(mnist: Mnist, count: int) -> tuple[list[Any], list[int]]:
    """640x480 BGR frames of test digits drawn dark, 150 px tall, on a lit page, a few
    pixels off centre (`synthetic.scene`, the frames the camera tests and camera_bench use)."""
    from edge_digits.runtime.live.sources import Frame

    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        offset = (int(rng.integers(-20, 21)), int(rng.integers(-20, 21)))
        image = scene(mnist.x_test[index], rng, offset=offset)
        frames.append(Frame(index=index, time=index / 30, image=image))
    return frames, [int(label) for label in mnist.y_test[:count]]


def camera(mnist: Mnist, count: int) -> dict[str, Any]:
    """Frames per second through live.watch.classify_frames."""
    frames, truth = camera_frames(mnist, count)
    classifier = Classifier()
    list(classify_frames(frames[:10], classifier, CameraOptions()))  # warm-up
    start = time.perf_counter()
    results = list(classify_frames(frames, classifier, CameraOptions()))
    seconds = time.perf_counter() - start
    values = [r.value if isinstance(r.value, int) else None for r in results]
    return {
        "how": "watch.classify_frames over 640x480 BGR frames (default region of interest)",
        "frames": count,
        "frames_per_s": count / seconds,
        "ms_per_frame_p50": statistics.median(r.milliseconds for r in results),
        "accuracy": accuracy(values, truth),
    }


def run_end_to_end(mnist: Mnist, *, quick: bool, echo: Any = print) -> dict[str, Any]:
    count = 1000 if quick else len(mnist.x_test)
    repeats = 1 if quick else 3
    folder = Path(tempfile.mkdtemp(prefix="edge-digits-bench-"))
    try:
        echo(f"end to end: {count} PNG files in {folder}")
        truth = write_pngs(mnist, count, folder)
        ours = ours_in_process(folder, truth, repeats)
        cli_json = ours_cli(folder, truth, repeats, as_json=True)
        cli_text = ours_cli(folder, truth, repeats, as_json=False)
        echo("end to end: the seeds' Keras loop over the same files")
        loop_files = min(count, 100 if quick else KERAS_LOOP_FILES)
        seeds = seeds_folder(folder, truth, DEFAULT_KERAS, loop_files)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    echo("end to end: camera frames")
    frames = camera(mnist, 60 if quick else 500)
    loop_rate = seeds["keras_loop"]["images_per_s"]
    batched_rate = seeds["keras_batched"]["images_per_s"]
    record = header(
        "end_to_end", python_command("end_to_end.py", "--quick" if quick else ""), quick=quick
    )
    record.update(
        folder={
            "files": count,
            "image": "28x28 8-bit grayscale PNG (MNIST test digits)",
            "edge_digits": ours,
            "edge_digits_cli_json": cli_json,
            "edge_digits_cli_text": cli_text,
            **seeds,
            "ratios": {
                "in_process_over_keras_loop": ours["images_per_s"] / loop_rate,
                "cli_json_over_keras_loop": cli_json["images_per_s"] / loop_rate,
                "in_process_over_keras_batched": ours["images_per_s"] / batched_rate,
                "cli_json_over_keras_batched": cli_json["images_per_s"] / batched_rate,
            },
        },
        camera=frames,
        targets={
            "folder_images_per_s": ours["images_per_s"],
            "folder_at_least_5000_per_s": ours["images_per_s"] >= 5000,
            "cli_images_per_s": cli_json["images_per_s"],
            "cli_at_least_5000_per_s": cli_json["images_per_s"] >= 5000,
            "folder_over_keras_loop": ours["images_per_s"] / loop_rate,
            "folder_at_least_20x_keras_loop": ours["images_per_s"] / loop_rate >= 20,
        },
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 files, one repeat")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not DEFAULT_KERAS.exists():
        raise SystemExit(f"{DEFAULT_KERAS}: no Keras model; run `make default-model` first")
    record = run_end_to_end(load_mnist(), quick=args.quick)
    print(f"wrote {write_result(record, args.out)}")


if __name__ == "__main__":
    main()
