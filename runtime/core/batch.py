"""Classify files, folders and globs in batches; a bad file is reported and the rest go on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..files.paths import Unmatched, expand_paths
from .classifier import MAX_BATCH, Classifier, Prediction
from .preprocess import NoDigit, load_gray, preprocess_gray
from .record import reading_record
from .trace import Trace

if TYPE_CHECKING:
    from .number import NumberReading


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
        """The `--json` line: `path`, then the reading's fields (`record.reading_record`:
        label, score, top_k, reason, none_score; with a number text, lines, score and digits,
        and `label` the digit when exactly one was read), then `error` for a file not read."""
        line: dict[str, Any] = {"path": self.path}
        if self.number is not None:
            reading = self.number
            read = reading.read  # the digits kept: pieces that are not digits are listed only
            line["label"] = read[0].label if len(read) == 1 else None
            line.update(
                reading_record(
                    reading.text, reading.score, number=True, reading=reading, reason=reading.reason
                )
            )
        elif self.prediction is not None:
            prediction = self.prediction
            line.update(
                reading_record(
                    prediction.label,
                    prediction.score,
                    top_k=prediction.top_k,
                    reason=prediction.reason,
                    scored=prediction.scored,
                    none_score=prediction.none_score,
                )
            )
        else:
            line.update(reading_record(None, 0.0))
        if self.error:
            line["error"] = self.error
        return line

    def describe(self, top_k: int = 1) -> str:
        """The plain-output text after the path: `7 (0.996)`, the top k, or why nothing:
        `no digit (no ink found...)`, or the model's answer `not a digit (7 0.410)`."""
        if self.number:
            if not self.number.read:
                return self.number.reason or "no digits found"
            return f"{' / '.join(self.number.lines)} ({self.number.score:.3f})"
        prediction = self.prediction
        if prediction is None:
            return f"error: {self.error}"
        if prediction.label is None and prediction.scored:
            best = ", ".join(f"{label} {score:.3f}" for label, score in prediction.top_k[:top_k])
            return f"{prediction.reason} ({best})"
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
    each file is read as a number (rows of digits). `debug_dir` receives the pictures of
    every input's preprocessing, drawn from the trace of the run that gave its answer (see
    `debug.py`).
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
    traces: dict[int, tuple[str, Trace]] = {}  # position in `outcomes` -> debug name, trace
    for index, item in chunk:
        if isinstance(item, Unmatched):
            outcomes.append(FileResult(path=item.argument, error=item.message))
            continue
        trace = Trace() if debug_dir is not None else None
        try:
            gray = load_gray(item, classifier.max_pixels)
            if trace is not None:
                # File systems limit names to 255 bytes.
                traces[len(outcomes)] = (f"{index:04d}-{item.stem[:80]}", trace)
            if number:
                reading = classifier.read_number(gray, trace)
                outcomes.append(FileResult(path=str(item), number=reading))
                continue
            inputs.append(preprocess_gray(gray, classifier.settings, trace))
        except InputError as error:
            outcomes.append(FileResult(path=str(item), error=str(error)))
            continue
        waiting.append(len(outcomes))
        outcomes.append(FileResult(path=str(item)))
    for position, prediction in zip(
        waiting, classifier.classify_inputs(inputs, top_k), strict=True
    ):
        outcomes[position] = FileResult(path=outcomes[position].path, prediction=prediction)
    if debug_dir is not None:
        from .debug import write_debug

        for name, trace in traces.values():
            write_debug(trace, classifier.settings, debug_dir, name)
    yield from outcomes
