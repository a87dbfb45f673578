"""Preprocessing on real and realistic inputs: accuracy of the default model, and speed.

    .venv/bin/python benchmarks/preprocess_bench.py [--count 1000] [--model M] [--real FOLDER]

- real phone photos: the folder given with --real (default examples/real/, ten photos and a
  sheet of digits), through our preprocessing and through the seeds' way (grayscale,
  invert, resize to 28x28), same model. The folder's labels.csv (`filename,label,kind`,
  kind `photo` or `multi-digit`) says what each picture shows; without one, the photos are
  named `*label<d>*` and there is no sheet. A larger set in the same layout can be given
  instead: the 50 photos of the realdigits collection that examples/real/ comes from;
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
from edge_digits.runtime.bench.accuracy import labelled_files
from edge_digits.runtime.core.preprocess import pil_to_gray, preprocess_file, preprocess_gray
from edge_digits.runtime.files.atomic import sha256_file
from edge_digits.runtime.files.mnist import load_mnist
from environment import ROOT, header, python_command

REAL = ROOT / "examples" / "real"
# The picture the timings resize to 12 megapixels and to 640x480: a real phone photo
# (setC_four.jpg of the realdigits collection, reduced).
TIMING_PHOTO = REAL / "setC_label4.jpg"


def real_labels(folder: Path) -> tuple[list[tuple[Path, int]], tuple[Path, str] | None]:
    """The single-digit photos of `folder` with their labels, and its sheet of digits with
    the text it should read (None without one): from labels.csv when there is one, else from
    the `label<d>` in the file names."""
    table = folder / "labels.csv"
    if not table.exists():
        return labelled_files(folder), None
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    photos = [(folder / r["filename"], int(r["label"])) for r in rows if r["kind"] == "photo"]
    sheets = [(folder / r["filename"], r["label"]) for r in rows if r["kind"] == "multi-digit"]
    return photos, (sheets[0] if sheets else None)


def seeds_way(path: Path) -> np.ndarray:
    """The seed projects' custom-image step: grayscale, invert, resize the whole picture."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("L")
    return (255 - np.asarray(image.resize((28, 28)), dtype=np.float32)) / 255


def real_photos(classifier: Classifier, folder: Path = REAL) -> dict[str, object]:
    photos, _ = real_labels(folder)
    ours = classifier.classify_inputs([preprocess_file(path) for path, _ in photos])
    seeds = classifier.predict(np.stack([seeds_way(path) for path, _ in photos]))
    labels = [label for _, label in photos]
    wrong = [
        f"{path.name}->{p.label}"
        for (path, _), p, y in zip(photos, ours, labels, strict=True)
        if p.label != y
    ]
    return {
        "folder": _shown(folder),
        "images": len(photos),
        "ours": sum(p.label == y for p, y in zip(ours, labels, strict=True)) / len(photos),
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


def _shown(folder: Path) -> str:
    """A folder as the record shows it: relative to the repository when inside it."""
    try:
        return str(folder.resolve().relative_to(ROOT))
    except ValueError:
        return str(folder)


def rows(
    classifier: Classifier, mnist: object, count: int, seed: int = 7, folder: Path = REAL
) -> dict[str, object]:
    """Rows of 2-5 MNIST test digits on paper, read with --number: exact readings; and
    what the real sheet of digits of `folder` reads (with what it should)."""
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
    figures: dict[str, object] = {"rows": count, "exact": exact / count, "misread": misread}
    _, sheet = real_labels(folder)
    if sheet is not None:
        reading = classifier.read_number_file(sheet[0])
        figures.update(
            sheet=reading.text,
            sheet_lines=list(reading.lines),
            sheet_file=sheet[0].name,
            sheet_expected=sheet[1],
        )
    return figures


def timing(repeats: int = 30) -> dict[str, float]:
    photo = cv2.imread(str(TIMING_PHOTO), cv2.IMREAD_GRAYSCALE)
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
    parser.add_argument(
        "--real",
        type=Path,
        default=REAL,
        metavar="FOLDER",
        help="labelled real photos (labels.csv, or *label<d>* names); default examples/real/",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/preprocess.json")
    args = parser.parse_args()
    if not args.real.is_dir():
        parser.error(f"--real {args.real}: not a folder")
    flags = ["--model", str(args.model)] if args.model else []
    if args.real.resolve() != REAL.resolve():
        flags += ["--real", str(args.real)]
    record = header(
        "preprocess", python_command("preprocess_bench.py", f"--count {args.count}", *flags)
    )
    cv2.setNumThreads(1)  # figures for one core, as on a busy Pi
    classifier = Classifier(ClassifierOptions(model=args.model, num_threads=1))
    mnist = load_mnist()
    digits, labels = mnist.x_test[: args.count], mnist.y_test[: args.count]

    figures: dict[str, object] = {"real_photos": real_photos(classifier, args.real)}
    for offset, (name, render) in enumerate(
        (
            ("photo", synthetic.photo),
            ("paint", synthetic.paint),
            ("canvas", synthetic.canvas),
            ("board", synthetic.board),
        )
    ):
        figures[name] = rendered(classifier, render, digits, labels, seed=offset)
    figures["number"] = rows(classifier, mnist, count=max(100, args.count // 2), folder=args.real)
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
        f"| {record['when'][:16]} | {commit} | {record['model']} ({sha[:8]}) | "
        f"{real['ours']:.0%} of {real['images']} in {real['folder']} ({real['seeds_way']:.0%}) | "
        f"{figures['photo']:.1%} | {figures['paint']:.1%} | {figures['canvas']:.1%} | {figures['board']:.1%} | "
        f"{figures['number']['exact']:.1%} | {figures['number'].get('sheet', '-')} | "
        f"{timing_ms['12MP photo']:.1f} | {timing_ms['640x480 frame']:.2f} |"
    )
    report = ROOT / "benchmarks" / "PREPROCESS.md"
    with open(report, "a") as handle:
        handle.write(line + "\n")
    print(json.dumps(figures, indent=2))
    print(line)


if __name__ == "__main__":
    main()
