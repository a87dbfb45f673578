"""Training with a "not a digit" class: the generated pictures, a tiny run with the 11th class,
its conversion (logits, temperature, operating point, sidecar inside the model) and report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
from edge_digits.runtime.core.sidecar import Sidecar

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def pictures():
    from edge_digits.train import pictures

    return pictures


@pytest.mark.parametrize(
    "kind", ["letter", "scribble", "crossed", "piece", "texture", "photo", "blank"]
)
def test_each_kind_of_negative_is_a_picture_or_an_input_and_is_seeded(pictures, kind, mnist):
    digits = mnist.x_train[:200]
    made = [pictures.negative(kind, np.random.default_rng([3, i]), digits) for i in range(12)]
    again = [pictures.negative(kind, np.random.default_rng([3, i]), digits) for i in range(12)]
    drawn = [m for m in made if m is not None]
    assert len(drawn) >= 6  # a glyph a font lacks, or a piece too small, may give nothing
    for picture, twin in zip(made, again, strict=True):
        assert (picture is None) == (twin is None)
        if picture is None:
            continue
        assert np.array_equal(picture, twin)
        if picture.dtype == np.uint8:  # a picture for the runtime's preprocessing
            assert picture.ndim == 2 and min(picture.shape) >= 8
        else:  # an MNIST-format input, as preprocessing gives them
            assert picture.shape == (28, 28) and picture.min() >= 0 and picture.max() <= 1


def test_no_letter_that_is_a_digit_in_all_but_name_is_a_negative(pictures):
    assert not set("OoIl|/1bgq") & set(pictures.GLYPHS)
    assert set("ABEFHKMNSZadekz?#&%") <= set(pictures.GLYPHS)


def test_a_piece_that_is_itself_a_one_or_a_zero_is_not_a_negative(pictures):
    import cv2

    canvas = lambda: np.zeros((84, 84), np.float32)  # noqa: E731
    stroke = cv2.line(canvas(), (40, 10), (30, 74), 1.0, 9)  # a broad, slanted 1
    corner = cv2.polylines(canvas(), [np.array([[15, 15], [65, 15], [40, 75]])], False, 1.0, 6)
    ring = cv2.ellipse(canvas(), (42, 42), (18, 30), 0, 0, 360, 1.0, 3)  # a thin oval 0
    grazed = cv2.ellipse(canvas(), (42, 42), (18, 30), 0, 0, 350, 1.0, 3)  # cut by 2 px
    arc = cv2.ellipse(canvas(), (42, 42), (18, 30), 0, 40, 320, 1.0, 6)  # a C
    assert pictures._is_stroke(stroke) and not pictures._is_stroke(corner)
    assert not pictures._is_stroke(ring) and not pictures._is_stroke(arc)
    assert pictures._has_loop(ring) and pictures._has_loop(grazed)
    assert not pictures._has_loop(arc) and not pictures._has_loop(stroke)
    assert not pictures._has_loop(corner)


def test_an_input_that_is_a_lone_stroke_or_a_ring_reads_as_a_digit(pictures):
    import cv2

    canvas = lambda: np.zeros((28, 28), np.float32)  # noqa: E731
    assert pictures.reads_as_digit(cv2.line(canvas(), (15, 4), (12, 23), 1.0, 1)) == "1"
    assert (
        pictures.reads_as_digit(cv2.ellipse(canvas(), (14, 14), (6, 10), 0, 0, 360, 1.0, 1)) == "0"
    )
    assert pictures.reads_as_digit(cv2.rectangle(canvas(), (6, 4), (21, 23), 1.0, 2)) == "0"
    assert pictures.reads_as_digit(cv2.rectangle(canvas(), (4, 4), (23, 23), 1.0, -1)) is None
    assert pictures.reads_as_digit(cv2.line(canvas(), (4, 14), (23, 14), 1.0, 9)) is None  # a bar
    letter_a = cv2.polylines(canvas(), [np.array([[4, 24], [14, 3], [24, 24]])], False, 1.0, 2)
    assert pictures.reads_as_digit(cv2.line(letter_a, (8, 16), (20, 16), 1.0, 2)) is None
    two = cv2.line(cv2.line(canvas(), (8, 4), (8, 23), 1.0, 1), (20, 4), (20, 23), 1.0, 1)
    assert pictures.reads_as_digit(two) is None  # two strokes: no single digit
    assert pictures.reads_as_digit(canvas()) is None


@pytest.mark.parametrize("kind", ["euro1", "lowres", "chalk", "photo", "thin", "font"])
def test_positive_pictures_keep_their_digit(pictures, kind, mnist):
    rng = np.random.default_rng(5)
    for _ in range(8):
        picture, label = pictures.positive(kind, rng, mnist.x_train[:300], mnist.y_train[:300])
        assert picture is None or picture.ndim == 2
        assert 0 <= label <= 9
        if kind == "euro1":
            assert label in (1, 7)


def test_make_set_gives_inputs_labels_and_kinds(pictures, mnist):
    made = pictures.make_set("negative", 60, 9, mnist.x_train[:500], mnist.y_train[:500], workers=1)
    assert made.x.shape[1:] == (28, 28) and made.x.dtype == np.float32
    assert len(made.x) == len(made.y) == len(made.kind)
    assert len(made.x) + sum(made.dropped.values()) == 60
    assert set(made.y.tolist()) == {pictures.NONE_LABEL}
    assert set(made.kind.tolist()) <= set(pictures.NEGATIVE_KINDS)
    again = pictures.make_set(
        "negative", 60, 9, mnist.x_train[:500], mnist.y_train[:500], workers=2
    )
    assert np.array_equal(made.x, again.x)  # the same pictures, however many workers


@pytest.fixture(scope="module")
def none_run(mnist, tmp_path_factory):
    from edge_digits.convert.converter import convert
    from edge_digits.train.report import refresh_report
    from edge_digits.train.training import TrainConfig, train

    out = tmp_path_factory.mktemp("none_run")
    config = TrainConfig(
        arch="edge", epochs=2, limit=3000, batch_size=64, out=out, seed=2,
        negatives=800, picture_digits=400, augment=True, clean_epochs=1,
    )  # fmt: skip
    result = train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    report = convert(
        result.model_path, ["float32", "int8"], out=out, calibration=100, mnist=mnist,
        echo=lambda line: None,
    )  # fmt: skip
    refresh_report(out)
    return {"out": out, "train": result, "report": report}


def test_the_run_records_its_classes_and_pictures(none_run):
    out = none_run["out"]
    run = json.loads((out / "run.json").read_text())
    # one augmented epoch, then one on the inputs as they are
    assert run["config"]["clean_epochs"] == 1 and none_run["train"].epochs_run == 2
    assert run["labels"] == [*"0123456789", "none"] and run["none_label"] == "none"
    made = run["pictures_made"]
    assert set(made) == {"train", "validation"}
    assert made["train"]["inputs"] + sum(made["train"]["no_digit"].values()) == 800 + 400
    with np.load(out / "calibration.npz") as data:
        assert data["validation_x"].dtype == np.uint8
        assert data["validation_x"].shape[1:] == (28, 28)
        assert 10 in set(data["validation_y"].tolist())  # the validation holds non-digits
        assert len(data["representative_x"]) == 1000
    assert sorted(p.name.split("-")[0] for p in (out / "pictures").glob("*.npz")) == [
        "train", "train", "validation", "validation",
    ]  # fmt: skip


def test_the_converted_model_has_eleven_calibrated_classes(none_run, mnist):
    out = none_run["out"]
    for precision in ("float32", "int8"):
        sidecar = Sidecar.read(out / f"model_{precision}.json")
        assert sidecar.labels == (*"0123456789", "none") and sidecar.none_label == "none"
        assert sidecar.output == "logits"
        assert 0.05 < sidecar.temperature < 20
        assert 0.0 <= sidecar.min_score < 1.0
        calibration = sidecar.calibration
        assert calibration["bins"] == 15
        assert 0 <= calibration["ece_after"] <= 1 and 0 <= calibration["ece_before"] <= 1
        assert "operating_point" in calibration
    rows = {row.precision: row for row in none_run["report"].models}
    assert rows["int8"].ece_after is not None and rows["int8"].ece_before is not None
    classifier = Classifier(ClassifierOptions(model=out / "model_int8.tflite"))
    p = classifier.predict(mnist.x_test[:200].astype(np.float32) / 255)
    assert p.shape == (200, 11) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert len(np.unique(p.max(axis=1).round(6))) > 50  # scores spread, not piled on 0.996


def test_the_model_carries_its_sidecar_inside(none_run, tmp_path):
    from edge_digits.convert.metadata import strip_metadata
    from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA, embedded_metadata
    from edge_digits.runtime.files.atomic import sha256_bytes

    model = none_run["out"] / "model_int8.tflite"
    content = model.read_bytes()
    inside = embedded_metadata(content, SIDECAR_METADATA)
    assert inside is not None
    assert Sidecar.from_json(inside.decode(), "inside") == Sidecar.read(model.with_suffix(".json"))
    # the digest covers the model without the entry
    stripped = strip_metadata(content, SIDECAR_METADATA)
    assert Sidecar.read(model.with_suffix(".json")).model_sha256 == sha256_bytes(stripped)
    # copied alone, it still knows its classes
    alone = tmp_path / "copied.tflite"
    alone.write_bytes(content)
    classifier = Classifier(ClassifierOptions(model=alone))
    assert classifier.labels[-1] == "none" and classifier.sidecar is not None


def test_the_report_shows_the_trade_off(none_run):
    page = (none_run["out"] / "report.html").read_text()
    assert "id='not-a-digit'" in page and "operating point" in page
    assert "ECE (15 bins)" in page
    assert (none_run["out"] / "not_a_digit.png").exists()
    assert (none_run["out"] / "not_a_digit_examples.png").exists()
