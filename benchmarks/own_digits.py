"""Your own digits, the whole loop, measured on photographed seven-segment displays.

    nice -n 15 .venv/bin/python benchmarks/own_digits.py [--quick]

1. 300 pictures (benchmarks/seven_segment.py, seed 1) are classified by the shipped model
   with `--save-crops`; the crops are labelled with the pictures' true digits (what a user
   does in `edge-digits review`), into labels.csv.
2. `edge-digits train --from default --data CROPS` fine-tunes, timed; `convert` makes the int8.
3. 500 other pictures (seed 2), never seen, are read by the shipped model (before) and the
   fine-tuned int8 model (after): a picture counts as right when `classify` answers its digit.
   The run's own held-out crops and MNIST test (Keras, before and after) come from its run.json.

Writes benchmarks/results/own_digits.json. Targets (issue 12): >= 98% after, MNIST test drop
<= 0.3 percentage points, fine-tuning <= 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
from edge_digits.runtime.core.crops import CropOptions, read_manifest
from environment import RESULTS, ROOT, header, python_command, relative, write_result
from seven_segment import write_set

EDGE_DIGITS = str(Path(sys.executable).parent / "edge-digits")
TRAIN_PICTURES, TEST_PICTURES = 300, 500
FINE_TUNE = ["--epochs", "6", "--limit", "12000", "--data-weight", "0.3", "--patience", "6"]


def accuracy(
    model: Path | None, pictures: list[tuple[Path, int]], answers: dict[str, int | None]
) -> dict[str, Any]:
    """How many pictures `classify` reads as their digit (no digit found: wrong); each
    answer into `answers` (path: label, None for no answer)."""
    classifier = Classifier(ClassifierOptions(model=model))
    truth = {str(path): label for path, label in pictures}
    results = list(classify_paths(classifier, [path for path, _ in pictures]))
    for result in results:
        answers[result.path] = result.prediction.label if result.prediction else None
    right = sum(
        1
        for result in results
        if result.prediction is not None and result.prediction.label == truth[result.path]
    )
    # Preprocessing found a mark to show the model (else: "no digit", whatever the model).
    found = sum(1 for result in results if result.prediction and result.prediction.scored)
    return {
        "right": right,
        "pictures": len(pictures),
        "accuracy": right / len(pictures),
        "digit_found": found,
        "accuracy_where_found": right / found if found else 0.0,
    }


def not_a_digit(models: dict[str, Path]) -> dict[str, Any] | None:
    """The base run's validation non-digits (runs/default/calibration.npz, from `make
    default-model`) that each Keras model answers with its not-a-digit class."""
    calibration = ROOT / "runs" / "default" / "calibration.npz"
    if not calibration.exists():
        return None
    import keras
    import numpy as np

    with np.load(calibration) as data:
        negatives = data["validation_x"][data["validation_y"] == 10]
    inputs = negatives.astype(np.float32)[..., None] / 255.0
    answered = {}
    for name, path in models.items():
        model = keras.models.load_model(path)
        if int(model.output_shape[-1]) != 11:
            return None
        answers = model.predict(inputs, batch_size=1024, verbose=0).argmax(axis=1)
        answered[name] = float((answers == 10).mean())
    return {"negatives": len(negatives), "answered_none": answered}


def figure(
    pictures: list[tuple[Path, int]],
    before: dict[str, int | None],
    after: dict[str, int | None],
    path: Path,
) -> None:
    """Test pictures, each with the shipped model's answer and the fine-tuned one's
    (green right, red wrong, `-` no digit found)."""
    import cv2
    import numpy as np

    cells = []
    for picture, label in pictures:
        image = cv2.resize(cv2.imread(str(picture)), (72, 96), interpolation=cv2.INTER_AREA)
        cell = np.full((136, 80, 3), 255, np.uint8)
        cell[4:100, 4:76] = image
        for row, answers in ((116, before), (132, after)):
            answer = answers.get(str(picture))
            colour = (40, 150, 40) if answer == label else (30, 30, 210)
            name = "before" if answers is before else "after"
            text = f"{name} {'-' if answer is None else answer}"
            cv2.putText(cell, text, (4, row), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
        cells.append(cell)
    columns = 10
    while len(cells) % columns:
        cells.append(np.full_like(cells[0], 255))
    rows = [np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


def label_crops(crops: Path) -> int:
    """labels.csv from each crop's picture's true digit (its folder's name)."""
    records, _ = read_manifest(crops)
    with open(crops / "labels.csv", "w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["file", "label"])
        for record in records:
            writer.writerow([record["input"], Path(record["source"]).parent.name])
    return len(records)


def run(command: list[str]) -> tuple[float, float]:
    """Run `command`; its wall-clock seconds and the CPU seconds it used (user + system):
    on a shared machine the wall clock also counts the time others had the cores."""
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, (used.ru_utime - cpu.ru_utime) + (
        used.ru_stime - cpu.ru_stime
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 pictures, 1 short epoch")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "own_digits")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    train_count, test_count = (60, 100) if args.quick else (TRAIN_PICTURES, TEST_PICTURES)
    fine_tune = ["--epochs", "1", "--limit", "2000"] if args.quick else FINE_TUNE

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    photos = write_set(work / "photos", train_count, seed=1)
    test = write_set(work / "test", test_count, seed=2)
    crops = work / "crops"
    for _ in classify_paths(
        Classifier(), [str(work / "photos")], save_crops=CropOptions(crops)
    ):  # the shipped model, as a user starts
        pass
    labelled = label_crops(crops)
    print(f"{len(photos)} pictures, {labelled} crops labelled")

    answers_before: dict[str, int | None] = {}
    answers_after: dict[str, int | None] = {}
    before = accuracy(None, test, answers_before)
    print(f"before (shipped model): {before['accuracy']:.2%} of {test_count} test pictures")
    model_dir = work / "model"
    train_command = [EDGE_DIGITS, "train", "--from", "default", "--data", str(crops), *fine_tune,
                     "--out", str(model_dir)]  # fmt: skip
    seconds, cpu_seconds = run(train_command)
    run(
        [EDGE_DIGITS, "convert", "--model", str(model_dir / "model.keras"), "--out", str(model_dir)]
    )
    model = model_dir / "model_int8.tflite"
    after = accuracy(model, test, answers_after)
    figure(test[:30], answers_before, answers_after, args.out / "own_digits.png")
    print(f"after (fine-tuned int8): {after['accuracy']:.2%}; fine-tuning took {seconds:.0f} s")

    record_run = json.loads((model_dir / "run.json").read_text())
    base_path = Path(record_run["base_model"]["path"])
    none_kept = not_a_digit(
        {"before": base_path if base_path.is_absolute() else ROOT / base_path,
         "after": model_dir / "model.keras"}
    )  # fmt: skip
    user = record_run["user_data"]
    sidecar = json.loads(model.with_suffix(".json").read_text())
    test_before, test_after = user["test_accuracy"]["before"], user["test_accuracy"]["after"]
    record = header(
        "own_digits", python_command("own_digits.py", *(["--quick"] if args.quick else [])),
        quick=args.quick,
    )  # fmt: skip
    record.update(
        {
            "domain": "photographed seven-segment displays, LCD and LED (benchmarks/seven_segment.py)",
            "labelled_pictures": len(photos),
            "labelled_crops": labelled,
            "fine_tune_command": " ".join(["edge-digits", *train_command[1:]]).replace(
                str(ROOT) + "/", ""
            ),
            "base_model": {**record_run["base_model"], "path": relative(base_path)},
            "test_pictures": test_count,
            "before": before,
            "after": after,
            "held_out_crops": {
                "count": user["held_out"],
                "before": user["held_out_accuracy"]["before"],
                "after": user["held_out_accuracy"]["after"],
            },
            "mnist_test_keras": {
                "before": test_before,
                "after": test_after,
                "drop_pp": round((test_before - test_after) * 100, 3),
            },
            "mnist_test_int8_after": sidecar["accuracy"]["tflite"],
            "negatives_added": record_run["config"]["negatives"],
            "not_a_digit_validation": none_kept,
            "fine_tune_seconds": round(seconds, 1),
            "fine_tune_cpu_seconds": round(cpu_seconds, 1),
            "cores": os.cpu_count(),
            "load_average_after": [round(load, 2) for load in os.getloadavg()],
            "sidecar_user_data": [
                {**extra, "folder": relative(Path(extra["folder"]))}
                for extra in sidecar["provenance"].get("user_data", [])
            ],
            "targets": {"after": 0.98, "mnist_drop_pp": 0.3, "fine_tune_seconds": 300},
        }
    )
    path = write_result(record, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
