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


ECE_BINS = 15


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Expected calibration error: the gap between confidence (the top probability) and
    accuracy, averaged over `bins` equal-width confidence bins weighted by their images."""
    if not len(labels):
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += abs(float(correct[inside].mean()) - float(confidence[inside].mean())) * (
                inside.sum() / len(labels)
            )
    return total


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`, in float64 for fitting and scoring."""
    z = np.asarray(logits, np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    result: np.ndarray = z / z.sum(axis=1, keepdims=True)
    return result


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T): a
    one-dimensional search (golden section on log T over [1/20, 20]), no optimiser needed."""
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        p = softmax(logits, float(np.exp(log_t)))
        return float(-np.log(np.maximum(p[rows, labels], 1e-12)).mean())

    low, high = np.log(1 / 20), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return float(np.exp((low + high) / 2))
