"""Preprocessing on real and realistic inputs: accuracy of the default model, and speed.

    .venv/bin/python benchmarks/preprocess_bench.py [--count 1000] [--model M]

- ../shared/realdigits: 50 real phone photos (labels.csv), through our preprocessing and
  through the seeds' way (grayscale, invert, resize to 28x28), same model;
- renderings of MNIST *test* digits (benchmarks/synthetic.py): photo-like, paint-style,
  transparent canvas, light-on-dark board; and rows of 2-5 digits read with --number;
- time to preprocess a 12-megapixel photo and a 640x480 frame (median of repeated runs).

Writes benchmarks/results/preprocess.json, headed like the suite's result files (machine,
versions, git commit: benchmarks/environment.py), and appends a line to
benchmarks/PREPROCESS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from edge_digits.runtime import Classifier, ClassifierOptions
from edge_digits.runtime.core.preprocess import pil_to_gray, preprocess_file, preprocess_gray
from edge_digits.runtime.files.atomic import sha256_file
from edge_digits.runtime.files.mnist import load_mnist
from environment import ROOT, header, python_command

REAL = ROOT.parent / "shared" / "realdigits"


def seeds_way(path: Path) -> np.ndarray:
    """The seed projects' custom-image step: grayscale, invert, resize the whole picture."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("L")
    return (255 - np.asarray(image.resize((28, 28)), dtype=np.float32)) / 255


def real_photos(classifier: Classifier) -> dict[str, object]:
    with open(REAL / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "photo"]
    ours = classifier.classify_inputs([preprocess_file(REAL / r["filename"]) for r in rows])
    seeds = classifier.predict(np.stack([seeds_way(REAL / r["filename"]) for r in rows]))
    labels = [int(r["label"]) for r in rows]
    wrong = [
        f"{r['filename']}->{p.label}"
        for r, p, y in zip(rows, ours, labels, strict=False)
        if p.label != y
    ]
    return {
        "images": len(rows),
        "ours": sum(p.label == y for p, y in zip(ours, labels, strict=False)) / len(rows),
        "seeds_way": float(np.mean(np.argmax(seeds, axis=1) == labels)),
        "wrong": wrong,
    }


def rendered(
    classifier: Classifier, render: Callable, digits: np.ndarray, labels: np.ndarray, seed: int
) -> float:
    rng = np.random.default_rng(seed)
    inputs = []
    for digit in digits:
        picture = render(digit, rng)
        inputs.append(preprocess_gray(pil_to_gray(Image.fromarray(picture))))
    predictions = classifier.classify_inputs(inputs)
    return float(np.mean([p.label == y for p, y in zip(predictions, labels, strict=False)]))


def rows(classifier: Classifier, mnist: object, count: int, seed: int = 7) -> dict[str, object]:
    """Rows of 2-5 MNIST test digits on paper, read with --number: exact readings."""
    rng = np.random.default_rng(seed)
    exact, misread = 0, []
    for _ in range(count):
        picks = rng.choice(10_000, size=int(rng.integers(2, 6)), replace=False)
        picture = synthetic.row([mnist.x_test[i] for i in picks], rng)
        reading = classifier.read_number(pil_to_gray(Image.fromarray(picture)))
        expected = "".join(str(mnist.y_test[i]) for i in picks)
        exact += reading.text == expected
        if reading.text != expected and len(misread) < 10:
            misread.append(f"{expected}->{reading.text}")
    sheet = classifier.read_number_file(REAL / "sheet_example_raw.jpg")
    return {
        "rows": count,
        "exact": exact / count,
        "misread": misread,
        "sheet": sheet.text,
        "sheet_lines": list(sheet.lines),
    }


def timing(repeats: int = 30) -> dict[str, float]:
    photo = cv2.imread(str(REAL / "setC_four.jpg"), cv2.IMREAD_GRAYSCALE)
    pictures = {
        "12MP photo": cv2.resize(photo, (3024, 4032)),
        "640x480 frame": cv2.resize(photo, (640, 480)),
    }
    result = {}
    for name, picture in pictures.items():
        preprocess_gray(picture)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            preprocess_gray(picture)
            times.append(time.perf_counter() - start)
        result[name] = statistics.median(times) * 1e3
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="rendered digits per style")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/preprocess.json")
    args = parser.parse_args()
    model_flag = ["--model", str(args.model)] if args.model else []
    record = header(
        "preprocess", python_command("preprocess_bench.py", f"--count {args.count}", *model_flag)
    )
    cv2.setNumThreads(1)  # figures for one core, as on a busy Pi
    classifier = Classifier(ClassifierOptions(model=args.model, num_threads=1))
    mnist = load_mnist()
    digits, labels = mnist.x_test[: args.count], mnist.y_test[: args.count]

    figures: dict[str, object] = {"real_photos": real_photos(classifier)}
    for offset, (name, render) in enumerate(
        (
            ("photo", synthetic.photo),
            ("paint", synthetic.paint),
            ("canvas", synthetic.canvas),
            ("board", synthetic.board),
        )
    ):
        figures[name] = rendered(classifier, render, digits, labels, seed=offset)
    figures["number"] = rows(classifier, mnist, count=max(100, args.count // 2))
    figures["timing_ms"] = timing()

    sha = sha256_file(classifier.model_path)
    record.update(
        model=str(classifier.model_path.name),
        model_sha256=sha,
        count_per_style=args.count,
        figures=figures,
    )
    full = record["git_commit"]  # PREPROCESS.md shows it short
    commit = full[:7] + ("+dirty" if full.endswith("+dirty") else "")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    real = figures["real_photos"]
    timing_ms = figures["timing_ms"]
    line = (
        f"| {record['when'][:16]} | {commit} | {record['model']} ({sha[:8]}) | {real['ours']:.0%} ({real['seeds_way']:.0%}) | "
        f"{figures['photo']:.1%} | {figures['paint']:.1%} | {figures['canvas']:.1%} | {figures['board']:.1%} | "
        f"{figures['number']['exact']:.1%} | {figures['number']['sheet']} | "
        f"{timing_ms['12MP photo']:.1f} | {timing_ms['640x480 frame']:.2f} |"
    )
    report = ROOT / "benchmarks" / "PREPROCESS.md"
    with open(report, "a") as handle:
        handle.write(line + "\n")
    print(json.dumps(figures, indent=2))
    print(line)


if __name__ == "__main__":
    main()
