"""examples/real: the repository's real phone photos are complete, described, small, and read
right by the shipped default model (the sheet's reading is tests/test_photo.py's)."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest
from edge_digits.runtime import Classifier
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "examples" / "real"
LONGEST = {"photo": 400, "multi-digit": 600}  # pixels on the longer side (examples/real/README.md)


def labels() -> list[dict[str, str]]:
    with open(REAL / "labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def test_every_picture_is_listed_described_and_small():
    rows = labels()
    pictures = sorted(p.name for p in REAL.iterdir() if p.suffix == ".jpg")
    assert sorted(row["filename"] for row in rows) == pictures
    readme = (REAL / "README.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in readme and (REAL / "LICENSE").exists()
    photos = [row for row in rows if row["kind"] == "photo"]
    assert sorted(row["label"] for row in photos) == [str(d) for d in range(10)]
    table = {  # the README's table: file -> its label cell
        cells[0].strip("`"): cells[1].strip("`").split("`")[0]
        for line in readme.splitlines()
        if line.startswith("| `")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    for row in rows:
        assert table[row["filename"]] == row["label"], row
        if row["kind"] == "photo":  # tools read the label from the name
            assert re.search(r"label([0-9])", row["filename"]).group(1) == row["label"]
        with Image.open(REAL / row["filename"]) as picture:
            assert picture.format == "JPEG" and max(picture.size) <= LONGEST[row["kind"]]


@pytest.mark.parametrize(
    "row", [r for r in labels() if r["kind"] == "photo"], ids=lambda r: r["filename"]
)
def test_the_default_model_reads_each_photo_as_its_name_says(classifier, row):
    prediction = classifier.classify_file(REAL / row["filename"])
    assert prediction.label == int(row["label"])


def test_the_preprocessing_benchmark_reads_the_folder_by_default(classifier):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import preprocess_bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    photos, sheet = preprocess_bench.real_labels(REAL)
    assert len(photos) == 10 and sheet == (REAL / "sheet.jpg", "0123456789")
    figures = preprocess_bench.real_photos(classifier)
    assert figures["folder"] == "examples/real" and figures["images"] == 10
    assert figures["ours"] == 1.0 and figures["wrong"] == []
