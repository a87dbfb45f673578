"""Classify files, folders and globs in batches; a bad file is reported and the rest go on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files.paths import Unmatched, expand_paths
from .classifier import MAX_BATCH, Classifier, NumberReading, Prediction
from .preprocess import NoDigit, load_gray, preprocess_gray


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

    def record(self) -> dict[str, Any]:
        """The `--json` line: path, label (None when no digit), score, top_k or reason;
        with a number also text, lines and digits; error for a file that was not read."""
        line: dict[str, Any] = {"path": self.path, "label": None, "score": None}
        if self.prediction:
            prediction = self.prediction
            if prediction.label is not None:
                line.update(label=prediction.label, score=round(prediction.score, 6))
                line["top_k"] = [
                    {"label": label, "score": round(score, 6)} for label, score in prediction.top_k
                ]
            else:
                line["reason"] = prediction.reason
        if self.number:
            reading = self.number
            # `label`: the digit when exactly one was read; `score`: the least sure digit's.
            if len(reading.digits) == 1:
                line["label"] = reading.digits[0].label
            if reading.digits:
                line["score"] = round(reading.score, 6)
            else:
                line["reason"] = "no digits found"
            line.update(text=reading.text, lines=list(reading.lines))
            line["digits"] = [
                {"label": d.label, "score": round(d.score, 6), "box": list(d.box)}
                for d in reading.digits
            ]
        if self.error:
            line["error"] = self.error
        return line

    def describe(self, top_k: int = 1) -> str:
        """The plain-output text after the path: `7 (0.996)`, the top k, or why nothing."""
        if self.number:
            if not self.number.digits:
                return "no digits found"
            return f"{' / '.join(self.number.lines)} ({self.number.score:.3f})"
        prediction = self.prediction
        if prediction is None:
            return f"error: {self.error}"
        if prediction.label is None:
            return f"no digit ({prediction.reason})"
        if top_k == 1:
            return f"{prediction.label} ({prediction.score:.3f})"
        return ", ".join(f"{label} ({score:.3f})" for label, score in prediction.top_k)


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
