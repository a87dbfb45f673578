"""Classify files, folders and globs in batches; a bad file is reported and the rest go on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classifier import Classifier, Prediction
from .errors import InputError
from .preprocess import NoDigit, preprocess_file
from .sources import Unmatched, expand_paths

CHUNK = 256  # files decoded before each batched inference call


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input path: a prediction, or the one-line error that stopped it."""

    path: str
    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def classify_paths(
    classifier: Classifier, arguments: Iterable[str | Path], *, top_k: int = 1
) -> Iterator[FileResult]:
    """Yield one FileResult per file found in `arguments`, in order, classifying in batches."""
    items = expand_paths(arguments)
    for start in range(0, len(items), CHUNK):
        yield from _classify_chunk(classifier, items[start : start + CHUNK], top_k)


def _classify_chunk(
    classifier: Classifier, items: list[Path | Unmatched], top_k: int
) -> Iterator[FileResult]:
    inputs: list[np.ndarray | NoDigit] = []
    positions: list[int] = []
    outcomes: list[FileResult | None] = []
    for item in items:
        if isinstance(item, Unmatched):
            outcomes.append(FileResult(path=item.argument, error=item.message))
            continue
        try:
            inputs.append(preprocess_file(item, classifier.settings))
        except InputError as error:
            outcomes.append(FileResult(path=str(item), error=str(error)))
            continue
        positions.append(len(outcomes))
        outcomes.append(None)
    for position, prediction in zip(
        positions, classifier.classify_inputs(inputs, top_k), strict=True
    ):
        outcomes[position] = FileResult(path=str(items[position]), prediction=prediction)
    for outcome in outcomes:
        assert outcome is not None  # every slot was filled above
        yield outcome
