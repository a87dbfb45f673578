"""Your own digits (issue 12): the whole loop, and the folders `train --data` refuses or
reads in part (one line each, nothing changed)."""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from browser import Browser, find_chromium
from edge_digits.runtime.cli import deprecated
from edge_digits.runtime.errors import DataError
from edge_digits.runtime.live.review import Review, serve
from edge_digits.train.user_data import NONE_CLASS, load_user_data, without_none
from PIL import Image


def _pictures(folder: Path, digits: dict[int, np.ndarray]) -> dict[str, int]:
    """Each example digit twice (28x28 PNG, as MNIST stores them) in sub-folders by label."""
    files = {}
    for label, image in digits.items():
        for copy in range(2):
            path = folder / str(label) / f"d{label}-{copy}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.roll(image, copy, axis=1)).save(path)
            files[str(path)] = label
    return files


def test_sub_folders_and_the_seeded_split(tmp_path, example_digits):
    _pictures(tmp_path, example_digits)
    (tmp_path / "none").mkdir()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(tmp_path / "none" / "grey.png")
    data = load_user_data(tmp_path, seed=3, echo=print)
    assert len(data.y) == 21 and int((data.y == NONE_CLASS).sum()) == 1
    assert (len(data.held_out), len(data.validation), len(data.train)) == (4, 2, 15)
    again = load_user_data(tmp_path, seed=3, echo=print)
    assert np.array_equal(again.held_out, data.held_out) and again.sha256 == data.sha256
    said: list[str] = []
    digits_only = without_none(data, said.append)
    kept = np.concatenate([digits_only.train, digits_only.validation, digits_only.held_out])
    assert len(kept) == 20 and len(said) == 1 and "1 images labelled none left out" in said[0]


def test_labels_csv_with_unknown_labels_and_missing_files(tmp_path, example_digits):
    for label in range(3):
        Image.fromarray(example_digits[label]).save(tmp_path / f"c{label}.png")
    text = "file,label\nc0.png,0\nc1.png,seven\ngone.png,4\nc2.png,drop\nc2.png,2\n../c0.png,0\n"
    (tmp_path / "labels.csv").write_text(text)
    said: list[str] = []
    data = load_user_data(tmp_path, seed=0, echo=said.append)
    assert sorted(data.y.tolist()) == [0, 2]
    assert said == [
        f"warning: {tmp_path}/labels.csv:3: unknown label 'seven' for c1.png (0-9, none or drop); left out",
        f"warning: {tmp_path}/labels.csv:4: gone.png is missing; left out",
        f"warning: {tmp_path}/labels.csv:7: ../c0.png is missing; left out",
    ]
    assert (tmp_path / "labels.csv").read_text() == text  # nothing changed, nothing lost


def test_empty_unreadable_and_missing_folders_are_one_line(tmp_path):
    with pytest.raises(DataError, match=r"no labelled images; expected labels.csv"):
        load_user_data(tmp_path, seed=0)
    with pytest.raises(DataError, match="no such folder"):
        load_user_data(tmp_path / "nowhere", seed=0)
    (tmp_path / "labels.csv").write_bytes(b"file,label\n\xff\xfe\x00broken")
    with pytest.raises(DataError, match=r"labels.csv|cannot be read"):
        load_user_data(tmp_path, seed=0)
    (tmp_path / "labels.csv").write_text("file,label\nbroken.png,3\n")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    said: list[str] = []
    with pytest.raises(DataError, match="no labelled images"):
        load_user_data(tmp_path, seed=0, echo=said.append)
    assert len(said) == 1 and "broken.png" in said[0]


def test_train_data_old_spelling_means_mnist(tmp_path):
    npz = tmp_path / "mnist.npz"
    npz.write_bytes(b"")
    folders, mnist, warnings = deprecated.train_data([npz, tmp_path / "mine"], None)
    assert folders == [tmp_path / "mine"] and mnist == npz
    assert warnings == [
        f"`edge-digits train --data {npz}` is deprecated; use `edge-digits train --mnist {npz}` "
        "(--data is now a folder of your labelled digits)"
    ]


@pytest.mark.train
@pytest.mark.skipif(find_chromium() is None, reason="needs Chromium (.ci/run)")
def test_the_whole_loop(tmp_path, cli, example_digits, tiny_run):
    """Save crops, label them in the page (headless Chromium, key presses), fine-tune for an
    epoch, convert, classify with the result."""
    truth = _pictures(tmp_path / "pictures", example_digits)
    crops = tmp_path / "crops"
    saved = cli("classify", str(tmp_path / "pictures"), "--save-crops", str(crops), "-q")
    assert saved.exit_code == 0, saved.output
    records = [json.loads(line) for line in (crops / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 20

    review = Review(crops)
    server = serve(review, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser = Browser.start()
        assert browser is not None
        with browser:
            page = browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for("document.body.dataset.ready === '1'")
            sources = {record["input"]: record["source"] for record in records}
            shown = page.evaluate("items.map(it => it.file)")
            keys = [str(truth[sources[name]]) for name in shown]
            keys[-1], keys[-2] = "n", "x"  # one not a digit, one dropped
            for key in keys:
                page.press(key)
            deadline = time.monotonic() + 10
            rows: list[list[str]] = []
            while time.monotonic() < deadline:
                if (crops / "labels.csv").exists():  # written at the first label
                    with open(crops / "labels.csv", newline="") as file:
                        rows = list(csv.reader(file))[1:]
                if len(rows) == 20:
                    break
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    given = dict(rows)
    assert [given[name] for name in shown] == [*keys[:-2], "drop", "none"]

    run = tmp_path / "run"
    base = str(tiny_run["train"].model_path)  # type: ignore[attr-defined]
    trained = cli(
        "train", "--from", base, "--data", str(crops), "--epochs", "1", "--limit", "256",
        "--batch-size", "64", "--out", str(run),
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "1 images labelled none left out: this model has no not-a-digit class" in trained.output
    assert "your held-out images (4): " in trained.output and " after" in trained.output
    summary = json.loads((run / "run.json").read_text())["user_data"]
    assert summary["held_out"] == 4 and summary["folders"][0]["images"] == 19
    assert summary["held_out_accuracy"]["before"] is not None

    converted = cli("convert", "--model", str(run / "model.keras"), "--calibration", "50")
    assert converted.exit_code == 0, converted.output
    sidecar = json.loads((run / "model_int8.json").read_text())
    [extra] = sidecar["provenance"]["user_data"]
    assert extra["images"] == 19 and extra["sha256"] == summary["folders"][0]["sha256"]
    with np.load(run / "calibration.npz") as calibration:
        # MNIST's 256, then the 13 crops trained on but the one labelled none (10 classes)
        assert len(calibration["representative_x"]) == 256 + 12

    read = cli("classify", str(tmp_path / "pictures"), "--model", str(run / "model_int8.tflite"),
               "--json")  # fmt: skip
    assert read.exit_code == 0 and len(read.records) == 20
    shutil.rmtree(run / "checkpoints")


def test_review_of_a_folder_without_crops_is_one_line(cli, tmp_path):
    result = cli("review", str(tmp_path))
    assert result.exit_code == 4
    assert result.errors == [
        f"error: {tmp_path}: no crops to review (no manifest.jsonl with crops); keep some with "
        "`edge-digits classify --save-crops DIR` or `camera --save-crops DIR`"
    ]


@pytest.mark.train
def test_train_on_an_empty_folder_is_one_line(cli, tmp_path):
    result = cli("train", "--data", str(tmp_path), "--limit", "128", "--out", str(tmp_path / "r"))
    assert result.exit_code == 4
    assert result.errors == [
        f"error: {tmp_path}: no labelled images; expected labels.csv (from `edge-digits review "
        "DIR`) or sub-folders 0-9 and none"
    ]


def test_from_default_without_the_kept_source_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    from edge_digits.runtime.errors import UsageError
    from edge_digits.train import finetune

    monkeypatch.setattr(finetune, "KEPT_DEFAULT", tmp_path / "kept" / "model.keras")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"--from default: the default model's Keras source is "
                       r"not kept here .*; build it with `make default-model`"):  # fmt: skip
        finetune.resolve_base(Path("default"), print)
    assert finetune.resolve_base(Path("mine.keras"), print) == Path("mine.keras")
    # An 11-class model fine-tuned without --negatives gets a quarter of the MNIST images.
    assert [finetune.rehearsal(n) for n in (100, 12000, 54000)] == [500, 3000, 6000]


def test_from_default_is_the_kept_source_of_the_shipped_model():
    """train/default/model.keras is what the shipped .tflite was converted from (its
    sidecar's keras_model_sha256): `--from default` needs no rebuild and prints no note."""
    pytest.importorskip("keras")
    from edge_digits.runtime.files.atomic import sha256_file
    from edge_digits.train import finetune

    said: list[str] = []
    assert finetune.resolve_base(Path("default"), said.append) == finetune.KEPT_DEFAULT
    assert said == []
    assert sha256_file(finetune.KEPT_DEFAULT) == finetune.shipped_source_sha256()
