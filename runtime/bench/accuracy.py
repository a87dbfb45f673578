"""Accuracy for `edge-digits bench --accuracy`: MNIST's test set or a folder of labelled images,
scored by `evaluate()`, the function `convert` scores with, so the figures can be compared
with those in a model's sidecar."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError, EdgeDigitsWarning, InputError

if TYPE_CHECKING:
    from ..core.classifier import Classifier

Scorer = Callable[["Classifier"], "Accuracy"]


@dataclass(frozen=True)
class Accuracy:
    """The share of `images` labelled right; `no_digit` and `unreadable` files count as wrong."""

    data: str  # "mnist" or the folder
    images: int
    correct: int
    accuracy: float
    no_digit: int = 0
    unreadable: int = 0


def score_all(
    combinations: Sequence[tuple[Path, str, bool]], scorer: Scorer, step: Callable[[int], None]
) -> dict[tuple[str, str, bool], Accuracy]:
    """Accuracy per (model, backend, XNNPACK), keyed by (str(model), backend, xnnpack).
    Threads do not change a model's answers, so they are not part of the key."""
    from ..core.classifier import Classifier, ClassifierOptions

    scores = {}
    for index, (model, backend, xnnpack) in enumerate(combinations):
        step(index)
        with warnings.catch_warnings():  # a missing sidecar was reported when it was checked
            warnings.simplefilter("ignore", EdgeDigitsWarning)
            classifier = Classifier(ClassifierOptions(model, backend=backend, xnnpack=xnnpack))
        scores[(str(model), backend, xnnpack)] = scorer(classifier)
    return scores


def load_scorer(accuracy: str, data: Path | None = None) -> Scorer:
    """Load the images now (a wrong path fails before any measuring); return a function that
    scores a Classifier on them. `accuracy`: "mnist" (the 10,000 test images, from `data`, a
    local MNIST, else found as `edge-digits data` finds it) or a folder of labelled images."""
    from ..core.evaluate import evaluate

    if accuracy == "mnist":
        from ..files.mnist import load_mnist

        mnist = load_mnist(data)

        def score_mnist(classifier: Classifier) -> Accuracy:
            scored = evaluate(classifier.predict, mnist.x_test, mnist.y_test)
            correct = int(np.sum(scored.predictions == mnist.y_test))
            return Accuracy("mnist", scored.count, correct, scored.accuracy)

        return score_mnist
    files = labelled_files(Path(accuracy))
    return lambda classifier: score_folder(classifier, files, accuracy)


def labelled_files(folder: Path) -> list[tuple[Path, int]]:
    """The image files under `folder` and their labels: a name containing `label<d>`
    (`mnist_test_0000_label7.png`), else a parent folder named `0`-`9` (`7/photo.jpg`).
    DataError when there are none."""
    from ..files.paths import expand_paths

    found = []
    for path in expand_paths([folder]):
        if isinstance(path, Path):
            label = _label_of(path, folder)
            if label is not None:
                found.append((path, label))
    if not found:
        raise DataError(
            f"{folder}: no labelled images; name files like 'x_label7.png' or put them in "
            "folders named 0-9"
        )
    return found


def _label_of(path: Path, root: Path) -> int | None:
    named = re.search(r"label([0-9])", path.stem)
    if named:
        return int(named.group(1))
    for parent in path.relative_to(root).parents:
        if re.fullmatch(r"[0-9]", parent.name):
            return int(parent.name)
    return None


def score_folder(classifier: Classifier, files: Sequence[tuple[Path, int]], name: str) -> Accuracy:
    """Preprocess each file as `classify` does and score the digits found with `evaluate`;
    a file without a digit or that cannot be read counts as wrong."""
    from ..core.evaluate import evaluate
    from ..core.preprocess import NoDigit, load_gray, preprocess_gray

    inputs: list[np.ndarray] = []
    labels: list[int] = []
    no_digit = unreadable = 0
    for path, label in files:
        try:
            item = preprocess_gray(load_gray(path, classifier.max_pixels), classifier.settings)
        except InputError:
            unreadable += 1
            continue
        if isinstance(item, NoDigit):
            no_digit += 1
        else:
            inputs.append(item)
            labels.append(label)
    correct = 0
    if inputs:  # already model input: scale 1 leaves it as it is
        truth = np.asarray(labels)
        scored = evaluate(classifier.predict, np.stack(inputs), truth, scale=1.0)
        correct = int(np.sum(scored.predictions == truth))
    return Accuracy(name, len(files), correct, correct / len(files), no_digit, unreadable)
