"""Train -> convert -> classify on a tiny model: files, sidecars and parity bounds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
from edge_digits.runtime.core.evaluate import agreement, evaluate
from edge_digits.runtime.core.sidecar import Sidecar
from edge_digits.runtime.errors import EdgeDigitsWarning, ModelError, UsageError
from edge_digits.runtime.files.atomic import sha256_file

pytestmark = pytest.mark.train


def test_train_writes_the_run_folder(tiny_run):
    out: Path = tiny_run["out"]
    result = tiny_run["train"]
    assert result.model_path == out / "model.keras" and result.model_path.stat().st_size > 0
    assert (out / "checkpoints" / "best.keras").is_file()
    history = json.loads((out / "history.json").read_text())
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == result.epochs_run == 1
    run = json.loads((out / "run.json").read_text())
    assert run["architecture"] == "edge"
    assert run["config"]["limit"] == 6000
    assert len(run["training_data_sha256"]) == 64
    # One epoch on 6000 images already learns digits.
    assert 0.9 < result.test_accuracy <= 1.0


def test_train_draws_the_pictures(tiny_run):
    from PIL import Image

    out: Path = tiny_run["out"]
    run = json.loads((out / "run.json").read_text())
    names = ("samples", "curves", "confusion", "predictions", "mistakes")
    assert sorted(run["pictures"]) == sorted(names)
    for name in names:
        with Image.open(out / f"{name}.png") as picture:
            picture.verify()  # a complete, valid PNG
        with Image.open(out / f"{name}.png") as picture:
            assert picture.format == "PNG"
            assert 300 <= picture.width <= 2000 and 150 <= picture.height <= 2000
            assert len(np.unique(np.asarray(picture.convert("L")))) > 8  # not a blank canvas


def test_the_report_shows_every_section_with_embedded_pictures(tiny_run):
    page = (Path(tiny_run["out"]) / "report.html").read_text()
    for section in (
        "data",
        "architecture",
        "conversion",
        "curves",
        "confusion",
        "mistakes",
        "predictions",
        "samples",
    ):
        assert f"id='{section}'" in page
    assert page.count('src="data:image/png;base64,') == 5
    assert (
        'src="http' not in page and "<link" not in page and "<script" not in page
    )  # self-contained
    # convert rewrote it with the parity table of the three converted models
    for name in ("model_float32.tflite", "model_float16.tflite", "model_int8.tflite"):
        assert name in page
    assert "test accuracy" in page and "Total params" in page


@pytest.mark.skipif(
    not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)"
)
def test_the_report_renders_its_images_in_headless_chromium(tiny_run, tmp_path):
    # Chromium prints the DOM after running a script that counts the images that decoded.
    page = (Path(tiny_run["out"]) / "report.html").read_text()
    probe = (
        "<script>addEventListener('load', () => { document.body.dataset.loaded = "
        "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length; });</script>"
    )
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    command = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
        "--dump-dom", probed.as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'data-loaded="5"' in dom


def test_no_temporary_files_are_left(tiny_run):
    leftovers = [p.name for p in Path(tiny_run["out"]).rglob(".*") if p.is_file()]
    assert leftovers == []


def test_float32_matches_keras_and_int8_agrees(tiny_run, mnist):
    report = tiny_run["report"]
    rows = {row.precision: row for row in report.models}
    assert report.test_images == 10_000
    # float32 is the same function as Keras: identical top-1 up to rare float ties.
    assert rows["float32"].agreement >= 0.999
    assert abs(rows["float32"].accuracy - report.keras.accuracy) <= 0.001
    # Full-integer int8 stays close to Keras.
    assert rows["int8"].agreement >= 0.98
    assert abs(rows["int8"].accuracy - report.keras.accuracy) <= 0.01
    assert rows["int8"].size_bytes < rows["float32"].size_bytes / 2
    # float16 weights: half the size, the same answers as float32 up to rare ties.
    assert rows["float16"].size_bytes < 0.6 * rows["float32"].size_bytes
    assert rows["float16"].agreement >= 0.998


def test_sidecars_describe_their_models(tiny_run, mnist):
    out = Path(tiny_run["out"])
    for precision in ("float32", "float16", "int8"):
        model = out / f"model_{precision}.tflite"
        sidecar = Sidecar.read(model.with_suffix(".json"))
        assert sidecar.model_sha256 == _digest_without_sidecar(model)
        assert sidecar.precision == precision
        assert sidecar.architecture == "edge"
        assert sidecar.input_shape == (-1, 28, 28, 1)
        assert sidecar.labels == tuple("0123456789")
        assert sidecar.preprocessing.size == 28 and sidecar.preprocessing.box == 20
        assert sidecar.training_data_sha256 == mnist.digest
        assert set(sidecar.accuracy) == {
            "test_images", "keras", "tflite", "agreement_with_keras", "interpreter",
        }  # fmt: skip
        assert {"tensorflow", "keras", "numpy", "edge_digits"} <= set(sidecar.versions)
        assert sidecar.provenance["keras_model_sha256"] == sha256_file(out / "model.keras")
    int8 = Sidecar.read(out / "model_int8.json")
    assert int8.input_dtype == "int8" and int8.output_dtype == "int8"
    assert int8.input_quantization is not None and int8.input_quantization.scale > 0
    assert int8.provenance["calibration_images"] == 100
    float32 = Sidecar.read(out / "model_float32.json")
    assert float32.input_dtype == "float32" and float32.input_quantization is None


def test_runtime_scores_like_the_sidecar_says(tiny_run, mnist):
    model = Path(tiny_run["out"]) / "model_int8.tflite"
    classifier = Classifier(ClassifierOptions(model=model))
    score = evaluate(classifier.predict, mnist.x_test, mnist.y_test)
    assert score.accuracy == pytest.approx(classifier.sidecar.accuracy["tflite"], abs=1e-9)


def test_batched_and_single_inference_agree(tiny_run, mnist):
    classifier = Classifier(ClassifierOptions(model=Path(tiny_run["out"]) / "model_int8.tflite"))
    images = mnist.x_test[:300].astype(np.float32) / 255
    batched = classifier.predict(images)
    singles = np.concatenate([classifier.predict(images[i : i + 1]) for i in range(0, 300, 37)])
    np.testing.assert_allclose(batched[::37], singles, atol=1e-6)
    assert batched.shape == (300, 10)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=0.02)


def test_same_function_scores_keras_and_tflite(tiny_run, mnist):
    import keras

    model = keras.models.load_model(Path(tiny_run["out"]) / "model.keras")
    classifier = Classifier(ClassifierOptions(model=Path(tiny_run["out"]) / "model_float32.tflite"))
    sample_x, sample_y = mnist.x_test[:500], mnist.y_test[:500]
    keras_score = evaluate(lambda batch: model.predict_on_batch(batch), sample_x, sample_y)
    tflite_score = evaluate(classifier.predict, sample_x, sample_y)
    assert agreement(keras_score, tflite_score) == 1.0


def test_convert_rejects_unknown_precision_and_bad_models(tiny_run, tmp_path):
    from edge_digits.convert.converter import convert

    with pytest.raises(UsageError, match="allowed: float32, float16, int8"):
        convert(Path(tiny_run["out"]) / "model.keras", ["int4"], out=tmp_path)
    bogus = tmp_path / "bogus.keras"
    bogus.write_bytes(b"not a keras file")
    with pytest.raises(ModelError, match=r"bogus\.keras: cannot load Keras model"):
        convert(bogus, ["float32"], out=tmp_path)


@pytest.fixture(scope="module")
def wrong_shape_models(tmp_path_factory):
    """Valid TFLite models that are not 28x28x1 -> 10 digit classifiers."""
    import keras
    from edge_digits.convert.converter import to_tflite

    folder = tmp_path_factory.mktemp("wrong_shapes")
    inputs = keras.Input((32, 32, 1))
    wrong_input = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    inputs = keras.Input((28, 28, 1))
    wrong_classes = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Flatten()(inputs)))
    inputs = keras.Input((28, 28, 1), batch_size=1)
    fixed_batch = keras.Model(
        inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    )
    calibration = np.zeros((1, 28, 28), np.uint8)
    paths = {}
    for name, model in (
        ("input32", wrong_input),
        ("classes5", wrong_classes),
        ("batch1", fixed_batch),
    ):
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(to_tflite(model, "float32", calibration))
    return paths


def test_models_of_the_wrong_shape_are_refused(wrong_shape_models):
    with pytest.raises(ModelError, match=r"input32\.tflite: model takes input \[32, 32, 1\]"):
        Classifier(ClassifierOptions(model=wrong_shape_models["input32"]))
    with pytest.raises(ModelError, match=r"gives \[5\]; expected a 28x28x1 image in and 10 class"):
        Classifier(ClassifierOptions(model=wrong_shape_models["classes5"]))


def test_a_model_with_a_fixed_batch_size_classifies_any_number_of_images(wrong_shape_models, mnist):
    with pytest.warns(EdgeDigitsWarning, match="no sidecar"):
        classifier = Classifier(ClassifierOptions(model=wrong_shape_models["batch1"]))
    assert list(classifier.input_details["shape_signature"]) == [1, 28, 28, 1]
    images = mnist.x_test[:5].astype(np.float32) / 255
    together = classifier.predict(images)
    one_by_one = np.concatenate([classifier.predict(images[i : i + 1]) for i in range(5)])
    assert together.shape == (5, 10)
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_augmentation_changes_images_not_labels(mnist):
    from edge_digits.train.augment import augmented_dataset

    images = mnist.x_test[:64, ..., None].astype(np.float32) / 255
    labels = mnist.y_test[:64].astype(np.int64)
    first = next(iter(augmented_dataset(images, labels, batch_size=64, seed=3)))
    again = next(iter(augmented_dataset(images, labels, batch_size=64, seed=3)))
    x, y = (np.asarray(t) for t in first)
    assert x.shape == (64, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    # Shuffled with their images: the same labels, in another order.
    assert sorted(y.tolist()) == sorted(labels.tolist())
    np.testing.assert_array_equal(np.asarray(again[0]), x)  # seeded: reproducible
    # Changed, not just reordered: the ink per image is not the originals' ink.
    ink, original = np.sort(x.sum(axis=(1, 2, 3))), np.sort(images.sum(axis=(1, 2, 3)))
    assert not np.allclose(ink, original, rtol=0.02)


@pytest.mark.parametrize("arch", ["edge", "cnn3", "mlp", "mlp_dropout", "convnet", "cnn_dropout"])
def test_every_architecture_trains_converts_to_int8_and_runs(arch, mnist, tmp_path):
    from edge_digits.convert.converter import to_tflite
    from edge_digits.train.architectures import ARCHITECTURES

    model = ARCHITECTURES[arch].build()
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(mnist.x_train[:256, ..., None] / 255, mnist.y_train[:256], epochs=1, verbose=0)
    path = tmp_path / f"{arch}.tflite"
    path.write_bytes(to_tflite(model, "int8", mnist.x_train[:32]))
    with pytest.warns(EdgeDigitsWarning, match="no sidecar"):
        classifier = Classifier(ClassifierOptions(model=path))
    probabilities = classifier.predict(mnist.x_test[:7] / 255)
    assert probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.05)


def test_resume_continues_from_the_saved_epoch(mnist, tmp_path):
    from edge_digits.train.training import TrainConfig, train

    config = TrainConfig(arch="mlp", epochs=1, limit=2000, batch_size=64, out=tmp_path, seed=2)
    first = train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    state = json.loads((tmp_path / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and first.epochs_run == 1
    lines: list[str] = []
    resumed = train(
        TrainConfig(arch="mlp", epochs=3, limit=2000, batch_size=64, out=tmp_path, seed=2, resume=True),
        mnist=mnist, echo=lines.append, verbose=0,
    )  # fmt: skip
    assert "resuming after epoch 1 of 3" in lines
    history = json.loads((tmp_path / "history.json").read_text())
    assert resumed.epochs_run == 3 and len(history["loss"]) == 3
    assert history["loss"][0] == state["history"]["loss"][0]  # the first epoch kept, not redone
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"] == 3


def test_ema_keeps_the_average_and_resume_trains_on_the_last_steps_weights(
    mnist, tmp_path, monkeypatch
):
    import keras
    from edge_digits.train import training

    def weights(model: keras.Model) -> list[np.ndarray]:
        return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]

    def swapped(model: keras.Model) -> list[np.ndarray]:
        training.swap_average(model)  # the other set of weights into the model
        return weights(model)

    class Stop(Exception):
        pass

    save = training._Checkpoints.on_epoch_end

    def save_then_stop(self, epoch, logs=None):  # a run killed after its first epoch
        save(self, epoch, logs)
        raise Stop

    config = training.TrainConfig(
        arch="mlp", epochs=3, limit=2000, batch_size=64, out=tmp_path, ema=True
    )
    with monkeypatch.context() as patch, pytest.raises(Stop):
        patch.setattr(training._Checkpoints, "on_epoch_end", save_then_stop)
        training.train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    folder = tmp_path / "checkpoints"
    saved = keras.models.load_model(folder / "epoch-001.keras")
    average, last_step = weights(saved), swapped(saved)
    assert not all(np.allclose(a, b) for a, b in zip(average, last_step, strict=True))
    resumed, epoch = training._resume(folder, training._Checkpoints(folder, {}))
    assert epoch == 1  # trains on from the last step's weights, the average kept aside
    for got, want in zip(weights(resumed), last_step, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(swapped(resumed), average, strict=True):
        np.testing.assert_array_equal(got, want)

    result = training.train(
        replace(config, resume=True), mnist=mnist, echo=lambda line: None, verbose=0
    )
    assert result.epochs_run == 3
    # The run's model is the best epoch's average, as validated.
    state = json.loads((folder / training.STATE).read_text())
    best = keras.models.load_model(folder / state["best_file"])
    kept = keras.models.load_model(tmp_path / "model.keras")
    for got, want in zip(weights(kept), weights(best), strict=True):
        np.testing.assert_array_equal(got, want)


def test_ema_is_for_one_device(tmp_path):
    from edge_digits.train.training import TrainConfig

    with pytest.raises(UsageError, match="--ema trains on one device only"):
        TrainConfig(strategy="mirrored", ema=True, out=tmp_path).check()


def test_resume_without_a_previous_run_says_so(tmp_path, mnist):
    from edge_digits.train.training import TrainConfig, train

    with pytest.raises(UsageError, match="nothing to resume"):
        train(TrainConfig(arch="mlp", epochs=1, out=tmp_path, resume=True), mnist=mnist, verbose=0)


def test_mirrored_training_on_two_logical_cpus_matches_one_device(tmp_path):
    # A fresh process: logical devices must be configured before TensorFlow starts.
    script = """
import json, sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from edge_digits.train.training import TrainConfig, train
results = {}
for strategy in ("mirrored", "default"):
    config = TrainConfig(arch="mlp", epochs=2, limit=4000, batch_size=64, seed=0,
                         out=Path(sys.argv[1]) / strategy, strategy=strategy)
    results[strategy] = train(config, echo=lambda line: None, verbose=0).test_accuracy
results["replicas"] = len(tf.config.list_logical_devices("CPU"))
print(json.dumps(results))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    assert results["mirrored"] > 0.85 and results["default"] > 0.85
    assert abs(results["mirrored"] - results["default"]) < 0.03  # within run-to-run noise


def _digest_without_sidecar(model: Path) -> str:
    """sha256 of a converted model without the sidecar it carries inside (what its
    sidecar's model_sha256 covers)."""
    from edge_digits.convert.metadata import strip_metadata
    from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA
    from edge_digits.runtime.files.atomic import sha256_bytes

    return sha256_bytes(strip_metadata(model.read_bytes(), SIDECAR_METADATA))
