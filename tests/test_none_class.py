"""Models that can answer "not a digit": an 11th class `none_label`, logits out, a temperature
and an operating point (`min_score`) in the sidecar; and `--min-score` for any model.

The models are written here without TensorFlow (`tflite_builder.dense_model`, one dense layer
whose weights and bias the test chooses) with a hand-written sidecar:

- a *bias* model (zero weights) gives the same logits, its bias, for every input, so the
  probabilities it must give are known exactly (softmax(bias / temperature) in float32);
- a *template* model scores each class by how near the input is to that class's template
  (nearest centroid: w = t, b = -|t|^2 / 2, a linear layer), so a test decides what wins for
  the very inputs preprocessing makes of its pictures: a solid block is "none".

10-class models must answer exactly as before (the default model's own tests say so too).
"""

from __future__ import annotations

import json
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edge_digits.runtime.core.batch import FileResult
from edge_digits.runtime.core.classifier import (
    NOT_A_DIGIT,
    Classifier,
    ClassifierOptions,
    Prediction,
)
from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA
from edge_digits.runtime.core.number import NO_DIGITS, preprocess_number, read_number
from edge_digits.runtime.core.number import NOT_A_DIGIT as NUMBER_NOT_A_DIGIT
from edge_digits.runtime.core.preprocess import preprocess_gray
from edge_digits.runtime.core.record import reading_record
from edge_digits.runtime.core.sidecar import SCHEMA_VERSION, PreprocessSettings, Sidecar
from edge_digits.runtime.errors import ModelError, UsageError
from edge_digits.runtime.files.atomic import sha256_bytes
from edge_digits.runtime.live.sinks import JsonLines, camera_record
from edge_digits.runtime.live.sources import Frame
from edge_digits.runtime.live.watch import (
    CameraOptions,
    Reading,
    classify_frames,
    region,
    to_gray,
    watch,
)
from fixture_models import copy_ten_class_model
from PIL import Image
from tflite_builder import dense_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic import scene  # noqa: E402 - the benchmarks' renderer, as tests/test_camera.py

pytestmark = pytest.mark.pi  # all fast, no MNIST, no TensorFlow

DIGITS = [str(digit) for digit in range(10)]
ELEVEN = [*DIGITS, "none"]
PIXELS = 28 * 28
SIZE = (320, 240)  # camera frames: width, height
# Logits where "none" (the last) wins, 7 next: softmax gives p(none) > p(7) > the rest.
NONE_WINS = [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 2.5]
DIGIT_WINS = [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 2.5]


# -- helpers ---------------------------------------------------------------------------------


def sidecar_for(content: bytes, **fields: Any) -> dict[str, Any]:
    """A sidecar as a person or `convert` would write it (version 2, an 11-class logits model
    unless `fields` say otherwise)."""
    sidecar: dict[str, Any] = {
        "schema_version": 2,
        "model_sha256": sha256_bytes(content),
        "precision": "float32",
        "architecture": "dense",
        "input_shape": [-1, 28, 28, 1],
        "input_dtype": "float32",
        "output_dtype": "float32",
        "labels": ELEVEN,
        "none_label": "none",
        "output": "logits",
        "temperature": 1.0,
        "min_score": 0.0,
        "calibration": {"ece_before": 0.08, "ece_after": 0.02, "bins": 15},
    }
    sidecar.update(fields)
    return {key: value for key, value in sidecar.items() if value is not ...}


def install(folder: Path, content: bytes, sidecar: dict[str, Any] | None, name: str = "m") -> Path:
    model = folder / f"{name}.tflite"
    model.write_bytes(content)
    if sidecar is not None:
        model.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
    return model


def bias_model(logits: list[float], **kwargs: Any) -> bytes:
    """Zero weights: every input gives `logits`."""
    return dense_model(
        classes=len(logits), weights=np.zeros((len(logits), PIXELS)), bias=logits, **kwargs
    )


def template_model(templates: np.ndarray, sharpness: float = 1.0) -> bytes:
    """Nearest template wins: logit_c = s * (x . t_c - |t_c|^2 / 2) = s * (|x|^2 - |x - t_c|^2) / 2
    plus a term common to all classes."""
    flat = templates.reshape(len(templates), PIXELS).astype(np.float64)
    return dense_model(
        classes=len(templates),
        weights=sharpness * flat,
        bias=-sharpness * (flat * flat).sum(axis=1) / 2,
    )


def softmax32(logits: np.ndarray | list[float], temperature: float = 1.0) -> np.ndarray:
    """What the runtime must compute: softmax(logits / temperature), in float32, per row."""
    values = np.atleast_2d(np.asarray(logits, np.float32)).copy()
    if temperature != 1:
        values /= np.float32(temperature)
    values -= values.max(axis=1, keepdims=True)
    np.exp(values, out=values)
    values /= values.sum(axis=1, keepdims=True)
    return values


def approx(*values: float) -> list[Any]:
    return [pytest.approx(value, abs=1e-6) for value in values]


def r6(value: float) -> float:
    return round(float(value), 6)


@pytest.fixture(scope="module")
def examples(example_digits: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The ten MNIST test digits of examples/ (conftest's `example_digits`), by label."""
    return example_digits


@pytest.fixture(scope="module")
def block() -> np.ndarray:
    """Not a digit: a solid bar, 10 wide and 20 tall (narrow enough never to be offered as
    touching digits), light on black as the examples are."""
    picture = np.zeros((28, 16), np.uint8)
    picture[4:24, 3:13] = 255
    return picture


def page(parts: list[np.ndarray], gap: int = 12, pad: int = 16) -> np.ndarray:
    """The parts (light on black) side by side, dark on a white page, as a scan would be."""
    width = sum(part.shape[1] for part in parts) + gap * (len(parts) - 1) + 2 * pad
    picture = np.full((28 + 2 * pad, width), 255, np.uint8)
    left = pad
    for part in parts:
        picture[pad : pad + 28, left : left + part.shape[1]] = 255 - part
        left += part.shape[1] + gap
    return picture


def strip(parts: list[np.ndarray]) -> np.ndarray:
    """The parts side by side, light on black, for `scene` (a camera's view of a sheet)."""
    return np.concatenate([np.pad(part, ((0, 0), (4, 4))) for part in parts], axis=1)


# -- the sidecar -----------------------------------------------------------------------------


def test_version_2_fields_round_trip_and_version_1_still_reads():
    content = bias_model(NONE_WINS)
    sidecar = Sidecar.from_json(
        json.dumps(sidecar_for(content, temperature=1.5, min_score=0.3)), "s"
    )
    assert SCHEMA_VERSION == 2 and sidecar.schema_version == 2
    assert (sidecar.none_label, sidecar.none_index, sidecar.output) == ("none", 10, "logits")
    assert (sidecar.temperature, sidecar.min_score) == (1.5, 0.3)
    assert sidecar.calibration == {"ece_before": 0.08, "ece_after": 0.02, "bins": 15}
    assert Sidecar.from_json(sidecar.to_json(), "s") == sidecar
    old = sidecar_for(
        content, schema_version=1, labels=DIGITS, none_label=..., output=..., temperature=...,
        min_score=..., calibration=...,
    )  # fmt: skip
    first = Sidecar.from_json(json.dumps(old), "s")
    assert (first.none_label, first.output, first.temperature, first.min_score) == (
        None, "probabilities", 1.0, 0.0,
    )  # fmt: skip
    written = json.loads(first.to_json())  # written back as read: no version 2 fields
    assert written["schema_version"] == 1 and not {"none_label", "output", "min_score"} & set(
        written
    )
    assert Sidecar.from_json(first.to_json(), "s") == first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"none_label": "blank"}, "none_label 'blank' is not one of the labels"),
        ({"none_label": 3}, "none_label 3 is not one of the labels"),
        ({"output": "scores"}, "output must be one of probabilities, logits, got 'scores'"),
        ({"temperature": 0}, "temperature must be a number above 0, got 0"),
        ({"temperature": "hot"}, "temperature must be a number above 0, got 'hot'"),
        ({"min_score": 1.0}, r"min_score must be in \[0, 1\), got 1.0"),
        ({"min_score": -0.5}, r"min_score must be in \[0, 1\), got -0.5"),
        ({"min_score": True}, r"min_score must be in \[0, 1\), got True"),
        ({"calibration": [1, 2]}, r"calibration must be an object, got \[1, 2\]"),
        ({"schema_version": 1}, "none_label, output, temperature, min_score, calibration needs"),
        ({"schema_version": 3}, "sidecar schema version 3 is not supported"),
    ],
)
def test_bad_version_2_fields_are_one_line_model_errors(tmp_path, change, message):
    content = bias_model(NONE_WINS)
    model = install(tmp_path, content, sidecar_for(content, **change))
    with pytest.raises(ModelError, match=rf"^{model.with_suffix('.json')}: .*{message}") as error:
        Classifier(ClassifierOptions(model=model))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("classes", "change", "message"),
    [
        (11, {"labels": DIGITS, "none_label": None}, "sidecar says input size 28 and 10 labels, but the model takes "
         "28x28 and gives 11 scores; re-run `edge-digits convert`"),
        (11, {"none_label": None}, "sidecar has 11 labels (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, none) "
         "but no none_label naming the not-a-digit class; set none_label (e.g. 'none')"),
        (11, {"labels": ["none", *DIGITS]}, "sidecar labels (none, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9) "
         "must be the digits 0 to 9 in order, then none_label 'none'; fix the sidecar or re-run "
         "`edge-digits convert`"),
        (10, {"labels": list("abcdefghij"), "none_label": None}, "sidecar labels (a, b, c, d, e, "
         "f, g, h, i, j) must be the digits 0 to 9 in order; fix the sidecar or re-run "
         "`edge-digits convert`"),
    ],
)  # fmt: skip
def test_labels_must_be_the_digits_then_the_none_label(tmp_path, classes, change, message):
    content = bias_model(NONE_WINS[:classes])
    model = install(tmp_path, content, sidecar_for(content, **change))
    with pytest.raises(ModelError) as error:
        Classifier(ClassifierOptions(model=model))
    assert str(error.value) == f"{model.with_suffix('.json')}: {message}"


# -- the classifier --------------------------------------------------------------------------


def test_eleven_scores_without_a_sidecar_is_a_one_line_model_error(tmp_path, cli):
    model = install(tmp_path, bias_model(NONE_WINS), None)
    expected = (
        f"{model}: gives 11 scores but has no sidecar naming its classes; put its sidecar "
        "m.json beside it (labels 0-9 and none_label), or re-run `edge-digits convert`"
    )
    with pytest.raises(ModelError) as error:
        Classifier(ClassifierOptions(model=model))
    assert str(error.value) == expected
    result = cli("classify", "--json", "--model", str(model), str(ROOT / "examples"))
    assert (result.exit_code, result.stdout, result.errors) == (3, "", [f"error: {expected}"])


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_logits_become_softmax_of_logits_over_temperature(tmp_path, temperature):
    rng = np.random.default_rng(5)
    weights, bias = rng.normal(0, 0.2, (11, PIXELS)), rng.normal(0, 1, 11)
    content = dense_model(classes=11, weights=weights, bias=bias)
    model = install(tmp_path, content, sidecar_for(content, temperature=temperature))
    classifier = Classifier(ClassifierOptions(model=model))
    assert (classifier.classes, classifier.has_none, classifier.none_index) == (11, True, 10)
    assert classifier.output == "logits"
    images = rng.random((5, 28, 28), dtype=np.float32)
    logits = images.reshape(5, PIXELS).astype(np.float64) @ weights.T + bias
    expected = np.exp(logits / temperature - (logits / temperature).max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    probabilities = classifier.predict(images)
    assert probabilities.shape == (5, 11) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert classifier.predict(np.zeros((0, 28, 28), np.float32)).shape == (0, 11)
    # Logits far apart stay finite (the softmax is shifted by each row's maximum).
    far = bias_model([0.0] * 10 + [1000.0])
    wide = Classifier(ClassifierOptions(model=install(tmp_path, far, sidecar_for(far), "far")))
    np.testing.assert_array_equal(wide.predict(images[:2]), [[0.0] * 10 + [1.0]] * 2)


def test_int8_logits_are_dequantised_then_softmaxed(tmp_path):
    scale, zero_point = 0.05, -10
    content = bias_model(NONE_WINS, int8_output=(scale, zero_point))
    sidecar = sidecar_for(
        content, precision="int8", output_dtype="int8", temperature=0.8,
        output_quantization={"scale": scale, "zero_point": zero_point},
    )  # fmt: skip
    classifier = Classifier(ClassifierOptions(model=install(tmp_path, content, sidecar)))
    assert classifier.output_details["dtype"] == np.int8
    quantised = np.clip(np.rint(np.float32(NONE_WINS) / np.float32(scale)) + zero_point, -128, 127)
    logits = ((quantised - zero_point) * np.float32(scale)).astype(np.float32)
    np.testing.assert_array_equal(
        classifier.predict(np.zeros((3, 28, 28))), np.repeat(softmax32(logits, 0.8), 3, axis=0)
    )


def test_none_wins_gives_label_none_with_the_digit_scores_kept(tmp_path):
    content = bias_model(NONE_WINS)
    classifier = Classifier(
        ClassifierOptions(model=install(tmp_path, content, sidecar_for(content)))
    )
    p = softmax32(NONE_WINS)[0]
    (prediction,) = classifier.classify_inputs([np.zeros((28, 28), np.float32)], top_k=3)
    assert prediction == Prediction(
        label=None,
        score=float(p[7]),
        top_k=((7, float(p[7])), (1, float(p[1])), (0, float(p[0]))),  # digits only
        reason="not a digit",
        none_score=float(p[10]),
    )
    assert prediction.scored and NOT_A_DIGIT == NUMBER_NOT_A_DIGIT == "not a digit"


def test_a_digit_wins_over_none_and_keeps_none_score(tmp_path):
    content = bias_model(DIGIT_WINS)
    classifier = Classifier(
        ClassifierOptions(model=install(tmp_path, content, sidecar_for(content)))
    )
    p = softmax32(DIGIT_WINS)[0]
    (prediction,) = classifier.classify_inputs([np.zeros((28, 28), np.float32)], top_k=11)
    assert (prediction.label, prediction.score, prediction.reason) == (7, float(p[7]), None)
    assert prediction.none_score == float(p[10])
    assert [label for label, _ in prediction.top_k] == [7, 1, 0, 2, 3, 4, 5, 6, 8, 9]


def test_the_winner_depends_on_the_input(tmp_path, examples, block):
    """The template model: an MNIST 7 reads 7, the solid block reads "none"."""
    templates = np.stack([examples[d] for d in range(10)] + [preprocess_gray(block) * 255])
    content = template_model(templates / 255.0)
    classifier = Classifier(
        ClassifierOptions(model=install(tmp_path, content, sidecar_for(content)))
    )
    seven, bar = (classifier.classify_array(picture) for picture in (examples[7], block))
    assert (seven.label, seven.reason) == (7, None) and seven.score > 0.99
    assert (bar.label, bar.reason) == (None, "not a digit") and bar.none_score > 0.99
    assert bar.top_k and bar.top_k[0][0] in range(10)


def test_min_score_the_sidecars_and_the_callers(tmp_path):
    content = bias_model(DIGIT_WINS)
    p7 = float(softmax32(DIGIT_WINS)[0][7])  # 0.479
    zeros = [np.zeros((28, 28), np.float32)]
    model = install(tmp_path, content, sidecar_for(content, min_score=0.6))
    own = Classifier(ClassifierOptions(model=model))
    assert (own.min_score, own.below_reason) == (0.6, "not a digit")
    assert own.classify_inputs(zeros)[0] == Prediction(
        None, p7, ((7, p7),), "not a digit", float(softmax32(DIGIT_WINS)[0][10])
    )
    lower = Classifier(ClassifierOptions(model=model, min_score=0.4))  # the caller's wins
    assert lower.classify_inputs(zeros)[0].label == 7
    higher = Classifier(ClassifierOptions(model=model, min_score=0.75))
    assert higher.classify_inputs(zeros)[0].reason == "score below 0.75"
    for wrong in (-0.1, 1.5, float("nan")):
        with pytest.raises(UsageError, match=r"^min_score .*: give a score between 0 and 1$"):
            Classifier(ClassifierOptions(model=model, min_score=wrong))


def test_ten_class_models_answer_as_before(tmp_path):
    """A 10-class model (no sidecar: probabilities out, the heuristic softmax for a foreign
    model's logits) gives what it gave before; min_score 1 makes even it say below."""
    content = dense_model()
    model = install(tmp_path, content, None)
    with pytest.warns(Warning, match="no sidecar"):
        classifier = Classifier(ClassifierOptions(model=model))
    assert (classifier.classes, classifier.has_none, classifier.output) == (
        10,
        False,
        "probabilities",
    )
    assert classifier.min_score == 0.0
    image = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    logits = image.reshape(1, PIXELS) @ np.random.default_rng(0).normal(0, 0.05, (10, PIXELS)).T
    (prediction,) = classifier.classify_inputs([image], top_k=2)
    expected = np.exp(logits[0] - logits.max()) / np.exp(logits[0] - logits.max()).sum()
    assert prediction.label == int(np.argmax(expected)) and prediction.none_score is None
    assert prediction.score == pytest.approx(expected.max(), rel=1e-5)
    assert prediction.reason is None and len(prediction.top_k) == 2
    assert set(FileResult(path="x.png", prediction=prediction).record()) == {
        "path", "label", "score", "top_k",
    }  # fmt: skip
    # A version 1 sidecar: the same.
    old = sidecar_for(
        content, schema_version=1, labels=DIGITS, none_label=..., output=..., temperature=...,
        min_score=..., calibration=...,
    )  # fmt: skip
    with_sidecar = Classifier(ClassifierOptions(model=install(tmp_path, content, old, "old")))
    assert with_sidecar.classify_inputs([image], top_k=2) == [prediction]
    with pytest.warns(Warning, match="no sidecar"):
        strict = Classifier(ClassifierOptions(model=model, min_score=1.0))
    (below,) = strict.classify_inputs([image])
    assert (below.label, below.score, below.reason) == (None, prediction.score, "score below 1")


def test_a_ten_class_logits_model(tmp_path):
    logits = DIGIT_WINS[:10]
    content = bias_model(logits)
    model = install(
        tmp_path, content, sidecar_for(content, labels=DIGITS, none_label=None, temperature=2.0)
    )
    classifier = Classifier(ClassifierOptions(model=model))
    np.testing.assert_array_equal(classifier.predict(np.zeros((1, 28, 28))), softmax32(logits, 2.0))
    (prediction,) = classifier.classify_inputs([np.zeros((28, 28), np.float32)])
    assert (prediction.label, prediction.none_score) == (7, None)


# -- records ---------------------------------------------------------------------------------


def test_records_of_a_digit_not_a_digit_and_no_digit():
    seven = Prediction(7, 0.9, ((7, 0.9), (1, 0.05)), None, 0.01)
    assert FileResult(path="a.png", prediction=seven).record() == {
        "path": "a.png", "label": 7, "score": 0.9,
        "top_k": [{"label": 7, "score": 0.9}, {"label": 1, "score": 0.05}], "none_score": 0.01,
    }  # fmt: skip
    nothing = Prediction(None, 0.4123456789, ((7, 0.4123456789),), "not a digit", 0.55)
    assert FileResult(path="b.png", prediction=nothing).record() == {
        "path": "b.png", "label": None, "score": 0.412346,
        "top_k": [{"label": 7, "score": 0.412346}], "reason": "not a digit", "none_score": 0.55,
    }  # fmt: skip
    assert FileResult(path="b.png", prediction=nothing).describe() == "not a digit (7 0.412)"
    below = Prediction(None, 0.41, ((7, 0.41), (2, 0.3)), "score below 0.5")
    assert FileResult(path="c.png", prediction=below).record() == {
        "path": "c.png", "label": None, "score": 0.41,
        "top_k": [{"label": 7, "score": 0.41}, {"label": 2, "score": 0.3}],
        "reason": "score below 0.5",
    }  # fmt: skip
    assert (
        FileResult(path="c.png", prediction=below).describe(2)
        == "score below 0.5 (7 0.410, 2 0.300)"
    )
    no_ink = Prediction(label=None, score=0.0, reason="no ink found")
    assert FileResult(path="d.png", prediction=no_ink).record() == {
        "path": "d.png", "label": None, "score": None, "reason": "no ink found",
    }  # fmt: skip
    assert FileResult(path="d.png", prediction=no_ink).describe() == "no digit (no ink found)"
    # The camera reports nothing for "not a digit": the frame's value is None.
    gone = camera_record(Reading(1.0, 0.0, 3, None, 0.0, 30.0))
    assert list(gone) == ["time", "t", "frame", "label", "score", "fps"]
    assert (gone["label"], gone["score"]) == (None, None)
    assert reading_record(None, 0.3, scored=True, reason="not a digit") == {
        "label": None, "score": 0.3, "reason": "not a digit",
    }  # fmt: skip


# -- the command line ------------------------------------------------------------------------


@pytest.fixture()
def bias_models(tmp_path) -> dict[str, Path]:
    made = {}
    for name, logits in (("none", NONE_WINS), ("digit", DIGIT_WINS)):
        content = bias_model(logits)
        made[name] = install(tmp_path, content, sidecar_for(content), name)
    return made


def test_classify_json_not_a_digit_and_a_digit(cli, bias_models):
    image = str(ROOT / "examples" / "mnist_test_0000_label7.png")
    p = softmax32(NONE_WINS)[0]
    result = cli("classify", "--json", "--top-k", "2", "--model", str(bias_models["none"]), image)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.records == [
        {
            "path": image, "label": None, "score": r6(p[7]),
            "top_k": [{"label": 7, "score": r6(p[7])}, {"label": 1, "score": r6(p[1])}],
            "reason": "not a digit", "none_score": r6(p[10]),
        }
    ]  # fmt: skip
    plain = cli("classify", "--model", str(bias_models["none"]), image)
    assert plain.stdout == f"{image}: not a digit (7 {p[7]:.3f})\n"
    q = softmax32(DIGIT_WINS)[0]
    result = cli("classify", "--json", "--model", str(bias_models["digit"]), image)
    assert result.records == [
        {
            "path": image, "label": 7, "score": r6(q[7]),
            "top_k": [{"label": 7, "score": r6(q[7])}], "none_score": r6(q[10]),
        }
    ]  # fmt: skip


def test_min_score_option_and_environment_variable(cli, monkeypatch, bias_models, tmp_path):
    image = str(ROOT / "examples" / "mnist_test_0000_label7.png")
    q = softmax32(DIGIT_WINS)[0]  # p(7) = 0.479
    below = {
        "path": image, "label": None, "score": r6(q[7]), "top_k": [{"label": 7, "score": r6(q[7])}],
        "reason": "score below 0.6", "none_score": r6(q[10]),
    }  # fmt: skip
    model = str(bias_models["digit"])
    assert cli("classify", "--json", "--min-score", "0.6", "-m", model, image).records == [below]
    monkeypatch.setenv("EDGE_DIGITS_MIN_SCORE", "0.6")
    assert cli("classify", "--json", "-m", model, image).records == [below]
    assert (
        cli("classify", "--json", "--min-score", "0.4", "-m", model, image).records[0]["label"] == 7
    )
    monkeypatch.delenv("EDGE_DIGITS_MIN_SCORE")
    # A 10-class model: as before, unless asked for more than it gives.
    ten = str(copy_ten_class_model(tmp_path))
    default = cli("classify", "--json", "-m", ten, image).records[0]
    assert set(default) == {"path", "label", "score", "top_k"} and default["label"] == 7
    strict = cli("classify", "--json", "--min-score", "1", "-m", ten, image).records[0]
    assert strict == {**default, "label": None, "reason": "score below 1"}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (["--min-score", "1.5"], "Invalid value for '--min-score' (env var: 'EDGE_DIGITS_MIN_SCORE'): "
         "1.5 is not in the range 0.0<=x<=1.0."),
        (["--min-score", "-0.1"], "Invalid value for '--min-score' (env var: 'EDGE_DIGITS_MIN_SCORE'): "
         "-0.1 is not in the range 0.0<=x<=1.0."),
        ({"EDGE_DIGITS_MIN_SCORE": "high"}, "Invalid value for '--min-score' (env var: "
         "'EDGE_DIGITS_MIN_SCORE'): 'high' is not a valid float range."),
        (["--min-score", "nan"], "min_score nan: give a score between 0 and 1"),
    ],
)  # fmt: skip
def test_a_wrong_min_score_exits_2_in_one_line(cli, monkeypatch, setting, message):
    args = setting if isinstance(setting, list) else []
    if isinstance(setting, dict):
        for key, value in setting.items():
            monkeypatch.setenv(key, value)
    result = cli("classify", *args, str(ROOT / "examples" / "mnist_test_0000_label7.png"))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.errors == [f"error: {message} (see: edge-digits classify --help)"]


def test_info_shows_the_classes_and_how_scores_are_made(cli, tmp_path):
    content = bias_model(NONE_WINS)
    model = install(tmp_path, content, sidecar_for(content, temperature=1.7, min_score=0.25))
    result = cli("info", "--json", "--model", str(model))
    assert result.exit_code == 0
    description = json.loads(result.stdout)
    shown = ("classes", "none_label", "output_values", "temperature", "min_score")
    assert [description[key] for key in shown] == [11, "none", "logits", 1.7, 0.25]
    assert description["sidecar"]["calibration"] == sidecar_for(content)["calibration"]
    table = cli("info", "--model", str(model)).stdout
    assert "none_label" in table and "logits" in table and "min_score" in table
    ten = json.loads(cli("info", "--json", "--model", str(copy_ten_class_model(tmp_path))).stdout)
    assert ten["classes"] == 10 and "none_label" not in ten  # a version 1 sidecar


# -- several digits --------------------------------------------------------------------------


@pytest.fixture()
def number_model(tmp_path, examples, block) -> tuple[Path, np.ndarray]:
    """A page "4 <block> 2" and a template model made from the very inputs preprocessing
    makes of its pieces (so 4 reads 4, 2 reads 2 and the block reads none)."""
    picture = page([examples[4], block, examples[2]])
    groups = [group for row in preprocess_number(picture) for group in row]
    assert [len(group[0]) for group in groups] == [1, 1, 1]  # each read whole (2 may be cut too)
    templates = np.stack([examples[d] / 255.0 for d in range(10)] + [np.zeros((28, 28))])
    templates[4], templates[10], templates[2] = (group[0][0][0] for group in groups)
    content = template_model(templates)
    return install(tmp_path, content, sidecar_for(content), "number"), picture


def test_number_leaves_out_what_is_not_a_digit(cli, tmp_path, number_model):
    model, picture = number_model
    path = tmp_path / "four block two.png"
    Image.fromarray(picture).save(path)
    result = cli("classify", "--number", "--json", "--model", str(model), str(path))
    assert result.exit_code == 0, result.stderr
    (line,) = result.records
    assert list(line) == ["path", "label", "text", "lines", "score", "digits"]
    assert (line["label"], line["text"], line["lines"]) == (None, "42", ["42"])
    assert [digit["label"] for digit in line["digits"]] == [4, None, 2]
    assert all(set(digit) == {"label", "score", "box"} for digit in line["digits"])
    assert line["score"] == min(line["digits"][0]["score"], line["digits"][2]["score"]) > 0.99
    lefts = [digit["box"][0] for digit in line["digits"]]
    assert lefts == sorted(lefts)
    plain = cli("classify", "--number", "--model", str(model), str(path)).stdout
    assert plain == f"{path}: 42 (1.000)\n"


def test_a_page_of_nothing_but_non_digits_reads_nothing(cli, tmp_path, number_model, block):
    model, _ = number_model
    path = tmp_path / "block.png"
    Image.fromarray(page([block])).save(path)
    (line,) = cli("classify", "--number", "--json", "--model", str(model), str(path)).records
    assert line == {
        "path": str(path), "label": None, "text": "", "lines": [], "score": None,
        "reason": "not a digit", "digits": [],
    }  # fmt: skip
    assert cli("classify", "--number", "--model", str(model), str(path)).stdout.endswith(
        ": not a digit\n"
    )


def scripted(rows: list[list[float]]) -> Any:
    """A `predict` that answers the candidate pieces, in the order read_number asks, with
    `rows` (probabilities of 0-9 then none)."""

    def predict(images: np.ndarray) -> np.ndarray:
        assert len(images) == len(rows)
        return np.asarray(rows, np.float32)

    return predict


def row(digit: int | None, p: float, none: float = 0.0) -> list[float]:
    """Probabilities: `digit` (or 0 when None) gets p, none gets `none`, the rest shares what is left."""
    values = np.full(11, (1.0 - p - none) / 9)
    values[10] = none
    values[digit if digit is not None else 0] = p
    return list(values)


def test_in_a_row_a_piece_is_not_a_digit_only_when_the_model_is_sure(examples, block):
    """In a row of digits a piece is a digit unless p(none) reaches NONE_IN_A_ROW (0.9): an
    odd 3 the model half calls none stays in the number instead of shortening it."""
    picture = page([examples[4], block, examples[2]])
    settings = PreprocessSettings()

    def read(middle: list[float]) -> Any:
        rows = [row(4, 0.98), middle, row(2, 0.97), row(2, 0.5), row(None, 0.0, none=0.99)]
        return read_number(picture, settings, scripted(rows), none_index=10)

    unsure = read(row(3, 0.1, none=0.85))
    assert (unsure.text, [d.label for d in unsure.digits]) == ("432", [4, 3, 2])
    assert unsure.digits[1].score == pytest.approx(0.1)
    sure = read(row(3, 0.04, none=0.95))
    assert (sure.text, [d.label for d in sure.digits]) == ("42", [4, None, 2])
    assert sure.digits[1].reason == "not a digit"


def test_segmentation_counts_none_pieces_as_unlikely(examples, block):
    """The page "4 <block> 2": the 2 is also offered cut in two (5 pieces asked in all:
    4; block; 2 whole; 2's left part, 2's right part)."""
    picture = page([examples[4], block, examples[2]])
    settings = PreprocessSettings()

    def read(two_whole: list[float], left: list[float], right: list[float]) -> Any:
        rows = [row(4, 0.98), row(None, 0.01, none=0.97), two_whole, left, right]
        return read_number(picture, settings, scripted(rows), none_index=10)

    # The 2 whole at 0.8 against a cut into a sure 2 and a fragment the model calls none at
    # 0.99: counting p(none) would make the cut "surer" (0.99 - 0.15 > 0.8); 1 - p(none)
    # makes it unlikely, and the 2 is read whole.
    whole = read(row(2, 0.8), row(2, 0.99), row(None, 0.0, none=0.99))
    assert (whole.text, [d.label for d in whole.digits]) == ("42", [4, None, 2])
    bar = whole.digits[1]
    assert (bar.reason, bar.score, bar.none_score) == ("not a digit", *approx(0.01, 0.97))
    assert whole.score == pytest.approx(0.8)
    # Whole, the group is none (as two touching digits can look); cut, two sure digits: cut.
    cut = read(row(None, 0.3, none=0.6), row(1, 0.95), row(7, 0.95))
    assert (cut.text, [d.label for d in cut.digits]) == ("417", [4, None, 1, 7])
    # A 10-class predict: as before (no none column, nothing left out).
    ten = [
        row(4, 0.98)[:10],
        row(0, 0.6)[:10],
        row(2, 0.9)[:10],
        row(1, 0.5)[:10],
        row(2, 0.5)[:10],
    ]
    assert read_number(picture, settings, scripted(ten)).text == "402"
    # The operating point: a digit below it is not dropped (that would read "42", another
    # number, with confidence): the number is unread, with the caller's reason.
    below = {"min_score": 0.7, "below_reason": "score below 0.7"}
    low = read_number(picture, settings, scripted(ten), **below)
    assert (low.text, [d.reason for d in low.digits]) == ("", [None, "score below 0.7", None])
    assert [d.doubtful for d in low.digits] == [False, True, False]
    assert (low.score, low.reason) == (0.0, "score below 0.7")
    unsure = [[0.6] + [0.4 / 9] * 9] * 5
    nothing = read_number(picture, settings, scripted(unsure), **below)
    assert (nothing.text, nothing.reason, nothing.score) == ("", "score below 0.7", 0.0)
    empty = read_number(np.full((40, 40), 255, np.uint8), settings, scripted([]), none_index=10)
    assert (empty.text, empty.reason) == ("", NO_DIGITS)


# -- the camera ------------------------------------------------------------------------------


def frames_of(pictures: list[np.ndarray], repeat: int) -> list[Frame]:
    """Each picture (light on black) as a camera frame, held for `repeat` frames."""
    rng = np.random.default_rng(3)
    rendered = [scene(picture, rng, size=SIZE, height=80) for picture in pictures]
    shown = [image for image in rendered for _ in range(repeat)]
    return [Frame(index, index / 30.0, image) for index, image in enumerate(shown)]


def test_camera_never_reports_a_non_digit(tmp_path, examples, block):
    frames = frames_of([examples[7], block, examples[2]], repeat=3)
    box = region(frames[0].image.shape, None)
    x, y, width, height = box
    inputs = [
        preprocess_gray(to_gray(frames[i].image[y : y + height, x : x + width])) for i in (0, 3, 6)
    ]
    templates = np.stack([examples[d] / 255.0 for d in range(10)] + [np.zeros((28, 28))])
    templates[7], templates[10], templates[2] = inputs
    content = template_model(templates)
    classifier = Classifier(
        ClassifierOptions(model=install(tmp_path, content, sidecar_for(content)))
    )
    results = list(classify_frames(frames, classifier, CameraOptions()))
    assert [result.value for result in results] == [7] * 3 + [None] * 3 + [2] * 3
    assert [result.reason for result in results[3:6]] == ["not a digit"] * 3
    assert all(result.score == 0.0 for result in results[3:6])  # nothing: never a reading
    stream = StringIO()
    watch(frames, classifier, CameraOptions(stable_frames=2), [JsonLines(stream)])
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["frame"], r["label"], r["score"] is None) for r in records] == [
        (1, 7, False), (4, None, True), (7, 2, False),
    ]  # fmt: skip
    assert all(set(r) == {"time", "t", "frame", "label", "score", "fps"} for r in records)


def test_camera_number_text_is_made_of_digits_only(tmp_path, examples, block):
    frames = frames_of([strip([examples[7], block, examples[2]])], repeat=3)
    roi = (20, 60, 280, 120)
    x, y, width, height = roi
    gray = to_gray(frames[0].image[y : y + height, x : x + width])
    groups = [group for line in preprocess_number(gray) for group in line]
    assert len(groups) == 3
    templates = np.stack([examples[d] / 255.0 for d in range(10)] + [np.zeros((28, 28))])
    templates[7], templates[10], templates[2] = (group[0][0][0] for group in groups)
    content = template_model(templates)
    classifier = Classifier(
        ClassifierOptions(model=install(tmp_path, content, sidecar_for(content)))
    )
    options = CameraOptions(roi=roi, number=True, stable_frames=2)
    results = list(classify_frames(frames, classifier, options))
    assert {result.value for result in results} == {"72"}
    assert [d.label for d in results[0].number.digits] == [7, None, 2]
    stream = StringIO()
    watch(frames, classifier, options, [JsonLines(stream, number=True)])
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (record["text"], record["lines"]) == ("72", ["72"])
    assert [digit["label"] for digit in record["digits"]] == [7, 2]  # the camera: digits only
    assert record["score"] > 0.99


# -- the sidecar inside the model ------------------------------------------------------------


def embedded(logits: list[float], **fields: Any) -> tuple[bytes, dict[str, Any]]:
    """A model carrying its sidecar inside, as `convert` writes it (the digest covers the
    model without the entry), and that sidecar."""
    plain = bias_model(logits)
    sidecar = sidecar_for(plain, **fields)
    text = json.dumps(sidecar, indent=2, sort_keys=True) + "\n"
    return bias_model(logits, metadata={SIDECAR_METADATA: text.encode()}), sidecar


@pytest.mark.pi
def test_a_model_copied_alone_knows_its_classes_from_inside(tmp_path, cli):
    content, _ = embedded(NONE_WINS, temperature=2.0)
    model = install(tmp_path, content, None)
    classifier = Classifier(ClassifierOptions(model=model))
    assert classifier.labels == tuple(ELEVEN) and classifier.sidecar is not None
    assert classifier.sidecar.temperature == 2.0
    (answer,) = classifier.classify_inputs([np.zeros((28, 28), np.float32)])
    p = softmax32(NONE_WINS, 2.0).ravel()
    assert (answer.label, answer.reason) == (None, "not a digit")
    assert answer.none_score == pytest.approx(float(p[10]))
    record = cli("classify", "--json", "-m", str(model), str(ROOT / "examples/page_label7.png"))
    assert record.exit_code == 0 and record.records[0]["reason"] == "not a digit"


@pytest.mark.pi
def test_a_json_beside_it_must_say_the_same(tmp_path, cli):
    content, sidecar = embedded(DIGIT_WINS)
    model = install(tmp_path, content, sidecar)  # the same sidecar: fine
    assert Classifier(ClassifierOptions(model=model)).labels == tuple(ELEVEN)
    model.with_suffix(".json").write_text(json.dumps({**sidecar, "min_score": 0.5}))
    expected = (
        f"{model.with_suffix('.json')}: disagrees with the sidecar inside m.tflite; delete "
        "m.json (the model carries its own) or re-run `edge-digits convert`"
    )
    with pytest.raises(ModelError) as error:
        Classifier(ClassifierOptions(model=model))
    assert str(error.value) == expected
    result = cli("classify", "--json", "-m", str(model), str(ROOT / "examples/page_label7.png"))
    assert (result.exit_code, result.stdout, result.errors) == (3, "", [f"error: {expected}"])


@pytest.mark.pi
def test_a_damaged_sidecar_inside_is_a_one_line_model_error(tmp_path):
    model = install(
        tmp_path, bias_model(DIGIT_WINS, metadata={SIDECAR_METADATA: b"{not json"}), None
    )
    with pytest.raises(ModelError, match=r"m\.tflite \(the sidecar inside it\): malformed sidecar"):
        Classifier(ClassifierOptions(model=model))
    model = install(
        tmp_path, bias_model(DIGIT_WINS, metadata={SIDECAR_METADATA: b"\xff\xfe"}), None
    )
    with pytest.raises(ModelError, match="the sidecar inside the model is not UTF-8 text"):
        Classifier(ClassifierOptions(model=model))
