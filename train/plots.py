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
    classes = max(10, int(predicted.max(initial=0)) + 1)  # 11 with "not a digit" (shown as n)
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true.astype(int), predicted.astype(int)), 1)
    figure, axis = plt.subplots(figsize=(6.4, 5.6))
    shown = axis.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), value in np.ndenumerate(matrix):
        if value:
            colour = "white" if row == column else "black"
            axis.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    ticks = [str(c) for c in range(10)] + ["n"] * (classes - 10)
    axis.set_xticks(range(classes), ticks)
    axis.set_yticks(range(classes), ticks)
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


def tradeoff_pictures(folder: Path) -> tuple[Path, Path, dict[str, float]] | None:
    """Draw ``not_a_digit.png`` (digits accepted and right against non-digits refused, as the
    threshold on the top digit's probability moves, on the validation inputs in
    ``calibration.npz``) and ``not_a_digit_examples.png`` (non-digits refused and accepted),
    from the folder's int8 model with a "none" class; None when there is none."""
    from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
    from edge_digits.runtime.core.sidecar import Sidecar
    from edge_digits.runtime.errors import ModelError

    models = [m for m in sorted(folder.glob("*_int8.tflite")) if m.with_suffix(".json").exists()]

    def has_none(model: Path) -> bool:
        try:
            return Sidecar.read(model.with_suffix(".json")).none_label is not None
        except ModelError:  # a broken json beside a model: not this section's business
            return False

    models = [m for m in models if has_none(m)]
    if not models or not (folder / "calibration.npz").exists():
        return None
    with np.load(folder / "calibration.npz", allow_pickle=False) as data:
        x, y = data["validation_x"], data["validation_y"].astype(np.int64)
    classifier = Classifier(ClassifierOptions(model=models[0], min_score=0.0))
    none = len(classifier.labels) - 1
    probabilities = classifier.predict(x.astype(np.float32)[..., None] / 255.0)
    predicted, top = probabilities.argmax(axis=1), probabilities[:, :none].max(axis=1)
    digits, negatives = y != none, y == none
    thresholds = np.linspace(0, 0.99, 100)
    right, refused = [], []
    for t in thresholds:
        accepted = (predicted != none) & (top >= t)
        right.append(float((accepted & (predicted == y))[digits].mean()))
        refused.append(float((~accepted)[negatives].mean()))
    sidecar = classifier.sidecar
    assert sidecar is not None
    chosen = sidecar.min_score
    accepted = (predicted != none) & (top >= chosen)
    point = {
        "min_score": chosen,
        "digits_right": float((accepted & (predicted == y))[digits].mean()),
        "non_digits_refused": float((~accepted)[negatives].mean()),
    }
    figure, axis = plt.subplots(figsize=(6.4, 4.8))
    axis.plot(np.array(refused) * 100, np.array(right) * 100, marker=".", markersize=3)
    axis.plot(
        [point["non_digits_refused"] * 100],
        [point["digits_right"] * 100],
        "o",
        color="red",
        label=f"operating point: min score {chosen:.2f}",
    )
    axis.set_xlabel("non-digits refused (%)")
    axis.set_ylabel("digits accepted and right (%)")
    axis.set_title(
        f"threshold 0 to 0.99 on {int(digits.sum())} digits, {int(negatives.sum())} non-digits (validation)"
    )
    axis.grid(alpha=0.3)
    axis.legend()
    curve = _save(figure, folder / "not_a_digit.png")

    rng = np.random.default_rng(0)
    shown = []
    for wanted in (True, False):  # refused first, then wrongly accepted
        pool = np.flatnonzero(negatives & (accepted != wanted))
        shown.append(rng.choice(pool, min(len(pool), 40 if wanted else 20), replace=False))
    figure, axes = _grid(max(1, sum(len(s) for s in shown)), 10)
    flat = list(np.ravel(axes))
    for axis, index in zip(flat, np.concatenate(shown).astype(int), strict=False):
        axis.imshow(x[index], cmap="gray")
        refused_here = not accepted[index]
        axis.set_title(
            "refused" if refused_here else f"read {predicted[index]}",
            fontsize=7,
            color="black" if refused_here else "red",
        )
    examples = _save(figure, folder / "not_a_digit_examples.png")
    return curve, examples, point
