"""One reading record (`core/record.py`): `classify --json` and `camera` describe the same
reading with the same fields, names and rounding; each adds only its own context."""

from __future__ import annotations

import pytest
from edge_digits.runtime.core.batch import FileResult
from edge_digits.runtime.core.classifier import Prediction
from edge_digits.runtime.core.number import DigitReading, NumberReading
from edge_digits.runtime.core.record import reading_record
from edge_digits.runtime.live.sinks import camera_record
from edge_digits.runtime.live.watch import Reading

pytestmark = pytest.mark.pi

SEVEN = Prediction(label=7, score=0.987654321, top_k=((7, 0.987654321), (1, 0.0123456789)))
NUMBER = NumberReading(
    text="42",
    lines=("42",),
    digits=(DigitReading(4, 0.9912345678, (10, 5, 20, 30)), DigitReading(2, 0.97, (34, 6, 18, 29))),
)
CAMERA_CONTEXT = {"time", "t", "frame", "fps"}


def test_a_digit_reads_the_same_in_classify_and_camera():
    line = FileResult(path="a.png", prediction=SEVEN).record()
    assert line == {
        "path": "a.png", "label": 7, "score": 0.987654,
        "top_k": [{"label": 7, "score": 0.987654}, {"label": 1, "score": 0.012346}],
    }  # fmt: skip
    camera = camera_record(Reading(1.0, 0.0, 3, 7, SEVEN.score, 30.0))
    assert list(camera) == ["time", "t", "frame", "label", "score", "fps"]
    shared = {key: camera[key] for key in camera if key not in CAMERA_CONTEXT}
    assert shared == {key: line[key] for key in ("label", "score")}


def test_a_number_reads_the_same_in_classify_and_camera():
    line = FileResult(path="n.png", number=NUMBER).record()
    digits = [
        {"label": 4, "score": 0.991235, "box": [10, 5, 20, 30]},
        {"label": 2, "score": 0.97, "box": [34, 6, 18, 29]},
    ]
    assert line == {
        "path": "n.png", "label": None, "text": "42", "lines": ["42"], "score": 0.97,
        "digits": digits,
    }  # fmt: skip
    camera = camera_record(Reading(1.0, 0.0, 3, "42", 0.97, 30.0, NUMBER), number=True)
    assert list(camera) == ["time", "t", "frame", "text", "lines", "score", "digits", "fps"]
    shared = {key: camera[key] for key in camera if key not in CAMERA_CONTEXT}
    assert shared == {key: value for key, value in line.items() if key not in ("path", "label")}


def test_nothing_read():
    empty = NumberReading(text="", lines=(), digits=())
    assert FileResult(path="n.png", number=empty).record() == {
        "path": "n.png", "label": None, "text": "", "lines": [], "score": None,
        "reason": "no digits found", "digits": [],
    }  # fmt: skip
    no_digit = Prediction(label=None, score=0.0, reason="no ink found")
    assert FileResult(path="b.png", prediction=no_digit).record() == {
        "path": "b.png",
        "label": None,
        "score": None,
        "reason": "no ink found",
    }
    assert FileResult(path="c.png", error="c.png: no such file").record() == {
        "path": "c.png",
        "label": None,
        "score": None,
        "error": "c.png: no such file",
    }
    camera = camera_record(Reading(1.0, 0.0, 3, None, 0.3, 30.0, empty), number=True)
    assert (camera["text"], camera["lines"], camera["score"], camera["digits"]) == (
        None,
        [],
        None,
        [],
    )


def test_a_single_digit_one_of_a_number_is_its_label_in_classify():
    one = NumberReading(text="4", lines=("4",), digits=NUMBER.digits[:1])
    assert FileResult(path="n.png", number=one).record()["label"] == 4


def test_boxes_move_by_the_origin():
    record = reading_record("42", 0.97, number=True, reading=NUMBER, origin=(100, 200))
    assert [digit["box"] for digit in record["digits"]] == [[110, 205, 20, 30], [134, 206, 18, 29]]
