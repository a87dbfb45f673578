"""Classify files, folders and globs in batches; a bad file is reported and the rest go on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classifier import MAX_BATCH, Classifier, NumberReading, Prediction
from .errors import InputError
from .preprocess import NoDigit, load_gray, preprocess_gray
from .sources import Unmatched, expand_paths


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input path: a prediction, or the one-line error that stopped it."""

    path: str
    prediction: Prediction | None = None
    number: NumberReading | None = None  # with `number=True`
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def classify_paths(
    classifier: Classifier,
    arguments: Iterable[str | Path],
    *,
    top_k: int = 1,
    number: bool = False,
    debug_dir: Path | None = None,
) -> Iterator[FileResult]:
    """Yield one FileResult per file found in `arguments`, in order.

    Single digits are classified in batches of up to MAX_BATCH files; with `number=True`
    each file is read as a number (rows of digits). `debug_dir` receives the intermediate
    pictures of every input (see `runtime/debug.py`).
    """
    items = expand_paths(arguments)
    for start in range(0, len(items), MAX_BATCH):
        chunk = list(enumerate(items[start : start + MAX_BATCH], start=start))
        yield from _classify_chunk(classifier, chunk, top_k, number, debug_dir)


def _classify_chunk(
    classifier: Classifier,
    chunk: list[tuple[int, Path | Unmatched]],
    top_k: int,
    number: bool,
    debug_dir: Path | None,
) -> Iterator[FileResult]:
    inputs: list[np.ndarray | NoDigit] = []
    waiting: list[int] = []  # positions in `outcomes` that the batched call fills
    outcomes: list[FileResult] = []
    for index, item in chunk:
        if isinstance(item, Unmatched):
            outcomes.append(FileResult(path=item.argument, error=item.message))
            continue
        try:
            gray = load_gray(item, classifier.max_pixels)
            reading = classifier.read_number(gray) if number else None
            if debug_dir is not None:
                from .debug import write_debug

                name = f"{index:04d}-{item.stem[:80]}"  # file systems limit names to 255 bytes
                write_debug(gray, classifier.settings, debug_dir, name, number=reading)
            if reading is not None:
                outcomes.append(FileResult(path=str(item), number=reading))
                continue
            inputs.append(preprocess_gray(gray, classifier.settings))
        except InputError as error:
            outcomes.append(FileResult(path=str(item), error=str(error)))
            continue
        waiting.append(len(outcomes))
        outcomes.append(FileResult(path=str(item)))
    for position, prediction in zip(
        waiting, classifier.classify_inputs(inputs, top_k), strict=True
    ):
        outcomes[position] = FileResult(path=outcomes[position].path, prediction=prediction)
    yield from outcomes
