"""The pictures of a training run, written as PNG files into the run folder.

- ``samples.png``: a grid of training images with their labels;
- ``curves.png``: accuracy and loss per epoch, training vs validation;
- ``confusion.png``: the confusion matrix on the test set;
- ``predictions.png``: test images with predicted and true labels, right in blue, wrong in red;
- ``mistakes.png``: the most confident wrong answers.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (servers, CI, a Pi over ssh)

import matplotlib.pyplot as plt
import numpy as np
from edge_digits.runtime.files.atomic import atomic_path

RIGHT, WRONG = "tab:blue", "tab:red"


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    return path


def _grid(count: int, columns: int) -> tuple[plt.Figure, np.ndarray]:
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3))
    axes = np.atleast_1d(axes).ravel()
    for axis in axes:
        axis.axis("off")
    return figure, axes


def sample_grid(images: np.ndarray, labels: np.ndarray, path: Path, count: int = 40) -> Path:
    figure, axes = _grid(min(count, len(images)), 10)
    for axis, image, label in zip(axes, images[:count], labels[:count], strict=False):
        axis.imshow(image, cmap="gray")
        axis.set_title(str(int(label)), fontsize=9)
    figure.suptitle("training images and their labels")
    return _save(figure, path)


def training_curves(history: dict[str, list[float]], path: Path) -> Path:
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    for axis, key, title in ((accuracy, "accuracy", "accuracy"), (loss, "loss", "loss")):
        axis.plot(epochs, history.get(key, []), marker="o", label="training")
        axis.plot(epochs, history.get(f"val_{key}", []), marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    return _save(figure, path)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, path: Path) -> Path:
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (true.astype(int), predicted.astype(int)), 1)
    figure, axis = plt.subplots(figsize=(6.4, 5.6))
    shown = axis.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), value in np.ndenumerate(matrix):
        if value:
            colour = "white" if row == column else "black"
            axis.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    accuracy = np.trace(matrix) / max(1, matrix.sum())
    axis.set_title(f"confusion matrix, {matrix.sum()} test images, accuracy {accuracy:.2%}")
    figure.colorbar(shown, ax=axis, label="log(1 + count)")
    return _save(figure, path)


def predictions_grid(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, path: Path, count: int = 50
) -> Path:
    figure, axes = _grid(min(count, len(images)), 10)
    for axis, image, label, guess in zip(axes, images[:count], true, predicted, strict=False):
        axis.imshow(image, cmap="gray")
        colour = RIGHT if label == guess else WRONG
        axis.set_title(f"{int(guess)} (true {int(label)})", fontsize=8, color=colour)
    figure.suptitle("test predictions: right in blue, wrong in red")
    return _save(figure, path)


def worst_mistakes(
    images: np.ndarray,
    true: np.ndarray,
    probabilities: np.ndarray,
    path: Path,
    count: int = 30,
) -> Path:
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != true)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:count]
    figure, axes = _grid(max(1, len(order)), 10)
    for axis, index in zip(axes, order, strict=False):
        axis.imshow(images[index], cmap="gray")
        score = probabilities[index, predicted[index]]
        axis.set_title(
            f"{predicted[index]} {score:.0%} (true {true[index]})", fontsize=7, color=WRONG
        )
    if not len(order):
        axes[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    figure.suptitle("most confident mistakes")
    return _save(figure, path)


def write_run_pictures(
    folder: Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    history: dict[str, list[float]],
    test_images: np.ndarray,
    test_labels: np.ndarray,
    test_probabilities: np.ndarray,
) -> dict[str, Path]:
    """All the pictures of the module doc, in `folder`; returns them by name."""
    predicted = test_probabilities.argmax(axis=1)
    return {
        "samples": sample_grid(train_images, train_labels, folder / "samples.png"),
        "curves": training_curves(history, folder / "curves.png"),
        "confusion": confusion_matrix(test_labels, predicted, folder / "confusion.png"),
        "predictions": predictions_grid(
            test_images, test_labels, predicted, folder / "predictions.png"
        ),
        "mistakes": worst_mistakes(
            test_images, test_labels, test_probabilities, folder / "mistakes.png"
        ),
    }
