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
from edge_digits.runtime.core.evaluate import agreement, evaluate
from edge_digits.runtime.core.interpreter import make_interpreter, resolve_backend
from edge_digits.runtime.core.preprocess import scale_pixels
from edge_digits.runtime.core.sidecar import PreprocessSettings, Quantization, Sidecar, sidecar_path
from edge_digits.runtime.errors import ModelError, UsageError
from edge_digits.runtime.files.atomic import (
    atomic_pair,
    ensure_output_dir,
    sha256_bytes,
    sha256_file,
)
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from edge_digits.runtime.native.stderr import capture_stderr

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

    # Calibration images come from the training split only, never from the test set.
    calibration_images = _pick(mnist.x_train, calibration, seed)
    keras_sha256, versions = sha256_file(Path(model_path)), _versions()  # the same for every file
    rows = []
    for precision in dict.fromkeys(precisions):  # keep the order, drop repeats
        echo(f"converting to {precision}")
        content = to_tflite(model, precision, calibration_images)
        target = Path(out) / f"{Path(model_path).stem}_{precision}.tflite"
        details = {
            "architecture": str(record.get("architecture") or model.name),
            "training_data_sha256": str(record.get("training_data_sha256") or mnist.digest),
            "versions": versions,
            "provenance": {
                "keras_model": str(model_path),
                "keras_model_sha256": keras_sha256,
                "calibration_images": len(calibration_images) if precision == "int8" else 0,
                "training": record.get("config", {}),
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
            classifier = Classifier(ClassifierOptions(model=model_tmp))
            score = evaluate(classifier.predict, mnist.x_test, mnist.y_test)
            agree = agreement(score, reference)
            accuracy = {
                "test_images": score.count,
                "keras": reference.accuracy,
                "tflite": score.accuracy,
                "agreement_with_keras": agree,
                "interpreter": classifier.backend,
            }
            sidecar_tmp.write_text(replace(sidecar, accuracy=accuracy).to_json(), encoding="utf-8")
        rows.append(Converted(precision, target, len(content), score.accuracy, agree))
        echo(f"{precision}: {score.accuracy:.2%}, agreement with Keras {agree:.2%}")
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
