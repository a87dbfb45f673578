"""Keras -> TFLite float32, float16 and full-integer int8, each with its sidecar and scores.

For every precision asked for, `convert` writes ``<stem>_<precision>.tflite`` and its sidecar
``<stem>_<precision>.json``, loads the pair with the runtime's `Classifier`, and scores it on
the 10k MNIST test images with the same `evaluate` that scores the Keras model. The
accuracies and the top-1 agreement with Keras go into the sidecar; then the pair is published
under its final names together (`atomic_pair`), so a model never sits beside another's sidecar.

convert never imports train (docs/ARCHITECTURE.md): a run folder's `report.html` shows the
sidecars written here once the caller asks train for it (`train.report.refresh_report`, as
the CLI's `convert` command and `make default-model` do).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from edge_digits.runtime import __version__
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
from edge_digits.runtime.core.evaluate import (
    ECE_BINS,
    Evaluation,
    agreement,
    evaluate,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA
from edge_digits.runtime.core.interpreter import make_interpreter, resolve_backend
from edge_digits.runtime.core.preprocess import scale_pixels
from edge_digits.runtime.core.sidecar import PreprocessSettings, Quantization, Sidecar, sidecar_path
from edge_digits.runtime.errors import ModelError, UsageError, one_line
from edge_digits.runtime.files.atomic import (
    atomic_pair,
    ensure_output_dir,
    sha256_bytes,
    sha256_file,
)
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from edge_digits.runtime.native.stderr import capture_stderr

from .metadata import embed_metadata

PRECISIONS = ("float32", "float16", "int8")
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Converted:
    """One row of the parity table."""

    precision: str  # "keras" for the source model
    path: Path
    size_bytes: int
    accuracy: float
    agreement: float  # top-1 agreement with the Keras model on the test set
    ece_before: float | None = None  # expected calibration error on the test set, T = 1
    ece_after: float | None = None  # ... with the fitted temperature


@dataclass(frozen=True)
class ConversionReport:
    keras: Converted
    models: list[Converted]
    test_images: int


def _representative(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    def dataset() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [scale_pixels(image)[None, ..., None]]

    return dataset


def to_tflite(model: keras.Model, precision: str, calibration_images: np.ndarray) -> bytes:
    """Convert a Keras model; int8 is full-integer (int8 in and out), calibrated on the images."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        # Full-integer only: dynamic-range quantisation would emit FULLY_CONNECTED v12,
        # which tflite-runtime 2.14 cannot load.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    # The converter prints pages of progress (Python and C++); keep them for the error only.
    with capture_stderr() as captured, contextlib.redirect_stdout(io.StringIO()):
        try:
            content: bytes = converter.convert()
        except Exception as error:  # the converter raises many types; all mean "cannot convert"
            detail = "".join(captured.lines[-3:]).strip() or str(error)
            raise ModelError(
                f"{model.name}: TFLite conversion to {precision} failed: {' '.join(detail.split())[:300]}"
            ) from None
    return content


def _exported(model: keras.Model) -> tuple[keras.Model, str]:
    """The model to convert and what its output holds: a model ending in a separate
    `Softmax` layer (the `edge` architecture) is exported without it, as "logits", so that
    int8 quantises the logits and the runtime applies softmax (with the calibrated
    temperature) in float; other models keep their softmax ("probabilities")."""
    if isinstance(model.layers[-1], keras.layers.Softmax):
        return keras.Model(model.inputs, model.layers[-2].output, name=model.name), "logits"
    return model, "probabilities"


@dataclass(frozen=True)
class RunData:
    """What a training run left for convert in ``calibration.npz`` (uint8 28x28 inputs):
    validation inputs and labels (10 = not a digit) and training inputs for int8 calibration.
    None of it when the model was not trained by `edge-digits train` of this version."""

    validation_x: np.ndarray | None = None
    validation_y: np.ndarray | None = None
    representative_x: np.ndarray | None = None


def _run_data(model_path: Path, classes: int, echo: Echo) -> RunData:
    """The run's ``calibration.npz`` beside the model, checked against it; nothing (and one
    warning line) when it is missing, damaged, or written for another model."""
    path = model_path.parent / "calibration.npz"
    if not path.exists():
        return RunData()
    try:
        with np.load(path, allow_pickle=False) as data:
            run = RunData(data["validation_x"], data["validation_y"], data["representative_x"])
    except Exception as error:  # a damaged zip raises zipfile/EOF/OS/Value errors alike
        echo(f"warning: {path}: unreadable ({one_line(error, 120)}); calibrating on MNIST only")
        return RunData()
    arrays_ok = all(
        a is not None and a.dtype == np.uint8 and a.shape[1:] == (28, 28)
        for a in (run.validation_x, run.representative_x)
    )
    labels = run.validation_y
    if (
        not arrays_ok
        or labels is None
        or run.validation_x is None
        or len(labels) != len(run.validation_x)
        or (len(labels) and int(labels.max()) >= classes)
    ):
        echo(
            f"warning: {path}: not written for this {classes}-class model; calibrating on MNIST only"
        )
        return RunData()
    return run


REFUSAL_TARGET = 0.95  # the share of non-digits a model with a "none" class must refuse


def _operating_point(probabilities: np.ndarray, labels: np.ndarray, none: int) -> dict[str, float]:
    """The `min_score` (a threshold on the top digit's probability) chosen on the validation
    inputs: the lowest that refuses at least REFUSAL_TARGET of the non-digits, so that as
    many digits as possible are kept once that is met; where no threshold reaches it, the
    one maximising (digits accepted and right) + (non-digits refused). 0 when there are no
    non-digits to judge."""
    digits, negatives = labels != none, labels == none
    if not negatives.any() or not digits.any():
        return {"min_score": 0.0}
    predicted = probabilities.argmax(axis=1)
    top_digit = probabilities[:, :none].max(axis=1)
    points = []
    for threshold in np.round(np.arange(0.0, 0.96, 0.01), 2):
        accepted = (predicted != none) & (top_digit >= threshold)
        points.append(
            {
                "min_score": float(threshold),
                "digits_right": float((accepted & (predicted == labels))[digits].mean()),
                "non_digits_refused": float((~accepted)[negatives].mean()),
            }
        )
    meeting = [point for point in points if point["non_digits_refused"] >= REFUSAL_TARGET]
    if meeting:
        return meeting[0]
    return max(points, key=lambda point: point["digits_right"] + point["non_digits_refused"])


def _calibrate(
    classifier: Classifier,
    score: Evaluation,
    labels_test: np.ndarray,
    run: RunData,
    none: int | None,
) -> dict[str, Any]:
    """Fit a temperature on the validation inputs (the converted model's own scores), and
    measure the expected calibration error on the test set before and after; for a model
    with a "none" class, choose its operating point. softmax(log p / T) equals
    softmax(logits / T): the scores of the model at T = 1 are all that is needed."""
    ece_before = expected_calibration_error(score.scores, labels_test)
    result: dict[str, Any] = {"bins": ECE_BINS, "ece_before": ece_before, "temperature": 1.0}
    if run.validation_x is None or run.validation_y is None or not len(run.validation_y):
        result.update(
            ece_after=ece_before, fitted_on="nothing (no validation inputs from training)"
        )
        return result
    validation = evaluate(classifier.predict, run.validation_x, run.validation_y)
    log_p = np.log(np.maximum(validation.scores, 1e-30))
    if classifier.output != "logits":
        # The runtime applies a temperature to logits only: a model ending in its own
        # softmax keeps T = 1, and its operating point is chosen on the scores it gives.
        result.update(ece_after=ece_before, fitted_on="nothing (the model gives probabilities)")
        if none is not None:
            result["operating_point"] = _operating_point(validation.scores, run.validation_y, none)
        return result
    temperature = fit_temperature(log_p, run.validation_y.astype(np.int64))
    calibrated_test = softmax(np.log(np.maximum(score.scores, 1e-30)), temperature)
    result.update(
        temperature=temperature,
        ece_after=expected_calibration_error(calibrated_test, labels_test),
        fitted_on=f"{len(run.validation_y)} validation inputs"
        + (f" ({int((run.validation_y == none).sum())} not a digit)" if none is not None else ""),
    )
    if none is not None:
        point = _operating_point(softmax(log_p, temperature), run.validation_y, none)
        result["operating_point"] = point
    return result


def _quantization(details: dict[str, Any]) -> Quantization | None:
    scale, zero_point = details["quantization"]
    return Quantization(float(scale), int(zero_point)) if scale else None


def _versions() -> dict[str, str]:
    name, _ = resolve_backend()
    return {
        "edge_digits": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "interpreter": name,
    }


def _training_record(model_path: Path) -> dict[str, Any]:
    run = model_path.parent / "run.json"
    try:
        return dict(json.loads(run.read_text())) if run.exists() else {}
    except (OSError, ValueError):
        return {}


def _user_data(record: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's record of a run's own data: each folder's image count and sha256."""
    folders = (record.get("user_data") or {}).get("folders") or []
    if not folders:
        return {}
    return {
        "user_data": [
            {"folder": f.get("folder"), "images": f.get("images"), "sha256": f.get("sha256")}
            for f in folders
        ]
    }


def convert(
    model_path: Path,
    precisions: list[str],
    *,
    out: Path,
    calibration: int = 500,
    seed: int = 0,
    data: Path | None = None,
    mnist: Mnist | None = None,
    echo: Echo = print,
    provenance: dict[str, Any] | None = None,
) -> ConversionReport:
    """Convert `model_path` to each precision in `out`; score and record each (see module doc)."""
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise UsageError(
            f"unknown precision {', '.join(unknown) or '(none)'}; allowed: {', '.join(PRECISIONS)}"
        )
    if calibration < 1:
        raise UsageError(f"--calibration must be 1 or more, got {calibration}")
    ensure_output_dir(Path(out))  # fail now, not after loading and scoring
    try:
        model = keras.models.load_model(model_path)
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise ModelError(
            f"{model_path}: cannot load Keras model ({reason}); expected a .keras file from `edge-digits train`"
        ) from None

    mnist = mnist or load_mnist(data, progress=echo)
    record = _training_record(Path(model_path))
    reference = evaluate(lambda batch: model.predict_on_batch(batch), mnist.x_test, mnist.y_test)
    keras_row = Converted(
        "keras", Path(model_path), Path(model_path).stat().st_size, reference.accuracy, 1.0
    )
    echo(f"keras: {reference.accuracy:.2%} on {reference.count} test images")

    # Calibration images come from the training split only, never from the test set: the
    # training run's own inputs when it left them (with its not-a-digit pictures: the int8
    # ranges must hold those too), else MNIST's training digits.
    exported, output = _exported(model)
    classes = int(model.output_shape[-1])
    if classes not in (10, 11):
        raise ModelError(
            f"{model_path}: the model gives {classes} scores; expected 10 digits, or 10 and "
            "'not a digit' (`edge-digits train --negatives N`)"
        )
    # The model's own output decides the classes: 10 digits, then "none" as the 11th.
    labels = [*(str(d) for d in range(10)), *(["none"] if classes == 11 else [])]
    none_label, none = ("none", 10) if classes == 11 else (None, None)
    run = _run_data(Path(model_path), classes, echo)
    pool = run.representative_x if run.representative_x is not None else mnist.x_train
    calibration_images = _pick(pool, calibration, seed)
    keras_sha256, versions = sha256_file(Path(model_path)), _versions()  # the same for every file
    rows = []
    for precision in dict.fromkeys(precisions):  # keep the order, drop repeats
        echo(f"converting to {precision}")
        content = to_tflite(exported, precision, calibration_images)
        target = Path(out) / f"{Path(model_path).stem}_{precision}.tflite"
        details = {
            "labels": tuple(labels),
            "none_label": none_label,
            "output": output,
            "architecture": str(record.get("architecture") or model.name),
            "training_data_sha256": str(record.get("training_data_sha256") or mnist.digest),
            "versions": versions,
            "provenance": {
                "keras_model": str(model_path),
                "keras_model_sha256": keras_sha256,
                "calibration_images": len(calibration_images) if precision == "int8" else 0,
                "training": record.get("config", {}),
                # Your own images the run trained on (`train --data`); they are in the int8
                # calibration set too (calibration.npz's representative inputs).
                **_user_data(record),
                **(provenance or {}),
            },
        }
        # The pair is written and scored under temporary names, then published together
        # (atomic_pair: a `.tflite` under its final name always has its own sidecar beside
        # it, even if this process is killed or another `convert` writes the same folder).
        # The sidecar is written first without scores, so that the runtime's Classifier can
        # load the temporary pair, then again with the scores measured through it.
        with atomic_pair(target, sidecar_path(target)) as (model_tmp, sidecar_tmp):
            model_tmp.write_bytes(content)
            sidecar = _sidecar(content, str(target), precision, details)
            sidecar_tmp.write_text(sidecar.to_json(), encoding="utf-8")
            # min_score 0: every answer counted, whatever the operating point chosen below.
            classifier = Classifier(ClassifierOptions(model=model_tmp, min_score=0.0))
            score = evaluate(classifier.predict, mnist.x_test, mnist.y_test)
            agree = agreement(score, reference)
            calibration_figures = _calibrate(classifier, score, mnist.y_test, run, none)
            accuracy = {
                "test_images": score.count,
                "keras": reference.accuracy,
                "tflite": score.accuracy,
                "agreement_with_keras": agree,
                "interpreter": classifier.backend,
            }
            sidecar = replace(
                sidecar,
                accuracy=accuracy,
                temperature=calibration_figures["temperature"],
                min_score=calibration_figures.get("operating_point", {}).get("min_score", 0.0),
                calibration=calibration_figures,
            )
            sidecar_tmp.write_text(sidecar.to_json(), encoding="utf-8")
            # The sidecar travels inside the model too (a copy without its .json still
            # knows its classes); its model_sha256 covers the model without that entry.
            published = embed_metadata(content, SIDECAR_METADATA, sidecar.to_json().encode())
            model_tmp.write_bytes(published)
        rows.append(
            Converted(
                precision,
                target,
                len(published),
                score.accuracy,
                agree,
                calibration_figures["ece_before"],
                calibration_figures["ece_after"],
            )
        )
        echo(
            f"{precision}: {score.accuracy:.2%}, agreement with Keras {agree:.2%}, "
            f"ECE {calibration_figures['ece_before']:.2%} -> {calibration_figures['ece_after']:.2%} "
            f"(temperature {calibration_figures['temperature']:.3f})"
        )
    return ConversionReport(keras=keras_row, models=rows, test_images=reference.count)


def _pick(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` distinct images chosen at random (seeded) from `images`."""
    rng = np.random.default_rng(seed)
    return images[rng.choice(len(images), size=min(count, len(images)), replace=False)]


def _sidecar(content: bytes, origin: str, precision: str, details: dict[str, Any]) -> Sidecar:
    """Describe a converted model from what its own interpreter reports."""
    interpreter, _ = make_interpreter(content, origin=origin)
    inputs, outputs = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    return Sidecar(
        model_sha256=sha256_bytes(content),
        precision=precision,
        input_shape=tuple(int(d) for d in inputs["shape_signature"]),
        input_dtype=np.dtype(inputs["dtype"]).name,
        output_dtype=np.dtype(outputs["dtype"]).name,
        input_quantization=_quantization(inputs),
        output_quantization=_quantization(outputs),
        preprocessing=PreprocessSettings(),
        **details,
    )
