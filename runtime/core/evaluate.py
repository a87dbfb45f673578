"""One scoring function for every model: Keras, TFLite float32, float16 and int8 alike.

`convert` scores the Keras model and each `.tflite` with `evaluate`, on the same images
prepared the same way (uint8 * 1/255), so accuracies and agreement are comparable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .preprocess import scale_pixels

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # fraction correct, 0..1
    predictions: np.ndarray  # predicted label per image
    count: int
    scores: np.ndarray  # (N, 10) what `predict` returned, for probability differences


def evaluate(
    predict: Predict,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    scale: float = 1.0 / 255.0,
    batch_size: int = 1024,  # a multiple of the Classifier's batch: no tensor reallocation
) -> Evaluation:
    """Score `predict` (float images (N, 28, 28, 1) -> scores (N, 10)) on uint8 `images`."""
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = scale_pixels(images[start : start + batch_size], scale)
        chunks.append(np.asarray(predict(batch[..., None]), dtype=np.float32))
    scores = np.concatenate(chunks) if chunks else np.zeros((0, 10), dtype=np.float32)
    predicted = np.argmax(scores, axis=1)
    accuracy = float(np.mean(predicted == labels)) if len(labels) else 0.0
    return Evaluation(accuracy=accuracy, predictions=predicted, count=len(labels), scores=scores)


def agreement(first: Evaluation, second: Evaluation) -> float:
    """Top-1 agreement: the fraction of images on which both give the same label."""
    return float(np.mean(first.predictions == second.predictions)) if first.count else 0.0


def score_difference(first: Evaluation, second: Evaluation) -> tuple[float, float]:
    """The largest and the mean absolute difference between the two models' probabilities."""
    if not first.count:
        return 0.0, 0.0
    difference = np.abs(first.scores - second.scores)
    return float(difference.max()), float(difference.mean())
