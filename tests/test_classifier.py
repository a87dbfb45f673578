"""The runtime's Classifier on the shipped default model: no TensorFlow needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions, default_model_path
from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA, embedded_metadata
from edge_digits.runtime.core.interpreter import BACKENDS, ENV_VAR, available_backends
from edge_digits.runtime.core.sidecar import Sidecar
from edge_digits.runtime.errors import (
    EdgeDigitsWarning,
    MissingDependencyError,
    ModelError,
    UsageError,
)
from edge_digits.runtime.files.paths import Unmatched, expand_paths
from fixture_models import copy_ten_class_model
from PIL import Image


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    """A ten-class model and its sidecar beside it (none inside), copied where a test may
    damage them."""
    return copy_ten_class_model(tmp_path)


@pytest.mark.pi
def test_default_model_ships_with_a_matching_sidecar(classifier):
    sidecar = classifier.sidecar
    assert sidecar is not None
    # The sidecar travels inside the model too, the same as the .json beside it; its digest
    # covers the model without that entry.
    inside = embedded_metadata(default_model_path().read_bytes(), SIDECAR_METADATA)
    assert inside is not None
    beside = default_model_path().with_suffix(".json").read_bytes()
    assert json.loads(inside) == json.loads(beside)
    assert sidecar.none_label == "none" and sidecar.labels[-1] == "none"
    assert sidecar.precision == "int8" and sidecar.architecture == "edge"
    assert sidecar.provenance["rebuild"].startswith("make default-model")
    assert sidecar.accuracy["test_images"] == 10_000
    assert sidecar.accuracy["tflite"] >= 0.99
    assert sidecar.accuracy["agreement_with_keras"] >= 0.998  # the parity target
    assert classifier.input_details["dtype"] == np.int8


def test_default_model_reads_mnist_test_pngs(classifier, digit_pngs):
    results = list(classify_paths(classifier, [str(path) for path, _ in digit_pngs]))
    correct = sum(
        r.prediction.label == label for r, (_, label) in zip(results, digit_pngs, strict=True)
    )
    assert len(results) == 200 and all(r.ok for r in results)
    assert correct >= 197, f"{correct}/200 correct"


def test_png_and_array_paths_give_identical_scores(classifier, digit_pngs, mnist):
    from_files = [classifier.classify_file(path) for path, _ in digit_pngs[:50]]
    probabilities = classifier.predict(mnist.x_test[:50].astype(np.float32) / 255)
    assert [p.label for p in from_files] == list(np.argmax(probabilities, axis=1))
    np.testing.assert_allclose([p.score for p in from_files], probabilities.max(axis=1), atol=1e-7)


@pytest.mark.pi
def test_a_digit_on_a_light_page_is_read(classifier, paper_digit):
    assert classifier.classify_file(paper_digit).label == 7


@pytest.mark.pi
def test_a_blank_page_gives_no_label(classifier, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 48), 230).save(blank)
    prediction = classifier.classify_file(blank)
    assert prediction.label is None and prediction.score == 0.0
    assert "no ink" in (prediction.reason or "")


@pytest.mark.pi
def test_top_k_is_ranked(classifier, example_pngs):
    prediction = classifier.classify_file(example_pngs[0][0], top_k=3)
    scores = [score for _, score in prediction.top_k]
    assert len(prediction.top_k) == 3 and scores == sorted(scores, reverse=True)
    assert prediction.top_k[0] == (prediction.label, prediction.score)
    assert len({label for label, _ in prediction.top_k}) == 3


@pytest.mark.pi
def test_predict_checks_shapes_and_handles_empty_batches(classifier):
    assert classifier.predict(np.zeros((0, 28, 28), np.float32)).shape == (0, classifier.classes)
    with pytest.raises(UsageError, match=r"expected images of shape \(N, 28, 28\[, 1\]\)"):
        classifier.predict(np.zeros((2, 32, 32), np.float32))


@pytest.mark.pi
def test_quantisation_uses_the_models_own_parameters(classifier):
    scale, zero_point = classifier.input_details["quantization"]
    values = np.array([0.0, 0.5, 1.0, 7.0], np.float32)
    quantized = classifier._quantize(values)
    assert quantized.dtype == np.int8
    assert quantized[0] == zero_point
    assert quantized[-1] == 127  # clipped, not wrapped
    np.testing.assert_allclose(
        (quantized[:3].astype(np.float32) - zero_point) * scale, values[:3], atol=scale
    )


@pytest.mark.pi
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a TFLite model"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a TFLite model"),
        (np.random.default_rng(0).bytes(4096), "not a TFLite model"),
    ],
)
def test_files_that_are_not_models_are_refused(tmp_path, content, message):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=rf"model\.tflite: {message}"):
        Classifier(ClassifierOptions(model=path))


@pytest.mark.pi
def test_a_truncated_model_is_refused(tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(default_model_path().read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"truncated\.tflite: damaged or truncated TFLite model"):
        Classifier(ClassifierOptions(model=path))


@pytest.mark.pi
def test_every_truncation_of_a_model_is_refused_without_a_crash(tmp_path):
    # tflite-runtime 2.14 does not verify flatbuffers and would crash on these; the structural
    # check must catch each one first.
    content = default_model_path().read_bytes()
    path = tmp_path / "cut.tflite"
    for cut in range(8, len(content), max(1, len(content) // 300)):
        path.write_bytes(content[:cut])
        with pytest.raises(ModelError, match=r"cut\.tflite: damaged or truncated TFLite model"):
            Classifier(ClassifierOptions(model=path))


@pytest.mark.pi
def test_a_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelError, match=r"nothing\.tflite: no such model file"):
        Classifier(ClassifierOptions(model=tmp_path / "nothing.tflite"))


@pytest.mark.pi
def test_a_model_without_sidecar_loads_with_a_warning(model_copy):
    model_copy.with_suffix(".json").unlink()
    with pytest.warns(
        EdgeDigitsWarning, match=r"copy\.tflite: no sidecar copy\.json; assuming MNIST"
    ):
        classifier = Classifier(ClassifierOptions(model=model_copy))
    assert classifier.sidecar is None and classifier.labels == tuple("0123456789")


@pytest.mark.pi
def test_a_sidecar_for_another_model_is_an_error(model_copy):
    sidecar = json.loads(model_copy.with_suffix(".json").read_text())
    sidecar["model_sha256"] = "0" * 64
    model_copy.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelError, match=r"copy\.json: sidecar does not match copy\.tflite"):
        Classifier(ClassifierOptions(model=model_copy))


@pytest.mark.pi
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "malformed sidecar"),
        ("[1, 2]", "malformed sidecar"),
        ('{"schema_version": 99}', "sidecar schema version 99 is not supported"),
        ('{"schema_version": 1}', "malformed sidecar"),
    ],
)
def test_malformed_sidecars_are_errors(model_copy, text, message):
    model_copy.with_suffix(".json").write_text(text)
    with pytest.raises(ModelError, match=rf"copy\.json: {message}"):
        Classifier(ClassifierOptions(model=model_copy))


@pytest.mark.pi
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preprocessing": {"size": 32}}, "sidecar says input size 32"),
        ({"labels": ["a", "b", "c"]}, "and 3 labels, but the model takes 28x28 and gives 10"),
        ({"preprocessing": {"box": 40}}, "preprocessing.box must be 1 to size"),
        ({"preprocessing": {"box": 0}}, "preprocessing.box must be 1 to size"),
        ({"preprocessing": {"size": "28"}}, "preprocessing.size must be a whole number"),
        ({"preprocessing": {"scale": 0}}, r"preprocessing.scale must be in \(0, 1\]"),
        ({"preprocessing": {"scale": "x"}}, r"preprocessing.scale must be in \(0, 1\]"),
        ({"preprocessing": {"polarity": "dark-on-light"}}, "not supported; allowed: light-on-dark"),
        ({"extra": 1}, "malformed sidecar"),
    ],
)
def test_sidecar_values_the_runtime_cannot_honour_are_refused(model_copy, change, message):
    path = model_copy.with_suffix(".json")
    sidecar = json.loads(path.read_text())
    for key, value in change.items():
        if isinstance(value, dict):
            sidecar[key].update(value)
        else:
            sidecar[key] = value
    path.write_text(json.dumps(sidecar))
    with pytest.raises(ModelError, match=rf"copy\.json: .*{message}"):
        Classifier(ClassifierOptions(model=model_copy))


@pytest.mark.pi
def test_sidecar_round_trips(classifier):
    assert Sidecar.from_json(classifier.sidecar.to_json(), "x") == classifier.sidecar


@pytest.mark.pi
def test_backend_choice(monkeypatch):
    with pytest.raises(
        UsageError, match="unknown interpreter backend 'tf'; allowed: litert, tflite-runtime"
    ):
        Classifier(ClassifierOptions(backend="tf"))
    installed = available_backends()
    assert installed, "at least one interpreter must be installed"
    for name in installed:
        assert Classifier(ClassifierOptions(backend=name)).backend == name
    monkeypatch.setenv(ENV_VAR, installed[-1])
    assert Classifier().backend == installed[-1]
    for name in set(BACKENDS) - set(installed):  # the other one, where only one is installed
        with pytest.raises(MissingDependencyError, match=f"backend '{name}' is not installed"):
            Classifier(ClassifierOptions(backend=name))


@pytest.mark.pi
def test_threads_must_be_positive():
    with pytest.raises(UsageError, match="threads must be 1 or more"):
        Classifier(ClassifierOptions(num_threads=0))


@pytest.mark.pi
def test_a_bad_file_does_not_stop_the_batch(classifier, example_pngs, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("<html><body>not an image</body></html>")
    paths = [str(example_pngs[0][0]), str(bad), str(tmp_path / "gone.png"), str(example_pngs[1][0])]
    results = list(classify_paths(classifier, paths))
    assert [r.path for r in results] == paths
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error.startswith(f"{bad}: not an image")
    assert results[2].error == f"{tmp_path / 'gone.png'}: no such file or folder"
    assert results[0].prediction.label == example_pngs[0][1]
    assert results[3].prediction.label == example_pngs[1][1]


@pytest.mark.pi
def test_paths_expand_from_folders_and_globs(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.PNG", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    folder = expand_paths([tmp_path])
    assert folder == [tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "sub" / "c.PNG"]
    assert expand_paths([str(tmp_path / "*.png")]) == [tmp_path / "b.png"]
    assert expand_paths([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    nothing = expand_paths([str(tmp_path / "*.gif"), tmp_path / "sub" / "x.png"])
    assert all(isinstance(item, Unmatched) for item in nothing)
    assert nothing[0].message.endswith("no files match this pattern")
    (tmp_path / "empty").mkdir()
    assert expand_paths([tmp_path / "empty"]) == [
        Unmatched(str(tmp_path / "empty"), f"{tmp_path / 'empty'}: folder has no image files")
    ]
