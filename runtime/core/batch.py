"""Classify files, folders and globs in batches; a bad file is reported and the rest go on."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EdgeDigitsWarning, InputError, UsageError
from ..files.paths import Unmatched, expand_paths
from .classifier import MAX_BATCH, Classifier, ClassifierOptions, Prediction
from .preprocess import NoDigit, load_gray, preprocess_gray
from .record import reading_record

if TYPE_CHECKING:
    from .crops import CropOptions, CropSaver
    from .number import NumberReading
    from .trace import Trace


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


@dataclass(frozen=True)
class Upload:
    """An image given as bytes (an HTTP request's body or part) rather than as a file;
    `name` stands for its path in the results."""

    name: str
    data: bytes


def classify_uploads(
    classifier: Classifier, uploads: Iterable[Upload], *, top_k: int = 1, number: bool = False
) -> list[FileResult]:
    """One FileResult per upload, in order, exactly as `classify_paths` gives for the same
    images as files (the same batches, records and errors, `path` being each one's name)."""
    items: list[tuple[int, Path | Unmatched | Upload]] = list(enumerate(uploads))
    return list(_classify_chunk(classifier, items, top_k, number, None))


def classify_paths(
    classifier: Classifier,
    arguments: Iterable[str | Path],
    *,
    top_k: int = 1,
    number: bool = False,
    debug_dir: Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    save_crops: CropOptions | None = None,
) -> Generator[FileResult, None, None]:
    """Yield one FileResult per file found in `arguments`, in order.

    Single digits are classified in batches of up to MAX_BATCH files; with `number=True`
    each file is read as a number (rows of digits). `debug_dir` receives the pictures of
    every input's preprocessing, drawn from the trace of the run that gave its answer (see
    `debug.py`).

    `workers` > 1 spreads the work over that many processes (at most one per chunk of
    files): this one, with `classifier`, and `workers - 1` spawned, each with its own
    `Classifier` built from this one's options (`worker_options`); the results are the same,
    in the same order, as with 1. A warning given about a file (in any of the processes) is
    given just before its chunk's results are yielded, where one process would give it.
    Close the generator (or let it finish) to stop the workers; stopping early (Ctrl-C, an
    exception) ends them.

    `progress(done, total)` is called before each result is yielded (`done` counts it).

    `save_crops` keeps each digit's model input and crop (see `crops.py`), in every process.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be 1 or more, got {workers!r}")
    items = expand_paths(arguments)
    size = NUMBER_CHUNK if number else MAX_BATCH
    chunks = (
        _Chunk(
            list(enumerate(items[start : start + size], start=start)),
            top_k,
            number,
            debug_dir,
            save_crops,
        )
        for start in range(0, len(items), size)
    )
    processes = min(workers, -(-len(items) // size))  # never more than there are chunks
    if processes > 1:
        from .pool import ordered_map

        outcomes = ordered_map(
            _work,
            chunks,
            workers=processes,
            local=functools.partial(_classify, classifier, record=True),
            initializer=_start_worker,
            initargs=(worker_options(classifier),),
        )
    else:
        outcomes = (_classify(classifier, chunk, record=False) for chunk in chunks)
    done = 0
    with contextlib.closing(outcomes):
        for results, said in outcomes:
            for category, message in said:
                warnings.warn(message, category, stacklevel=2)
            for result in results:
                done += 1
                if progress is not None:
                    progress(done, len(items))
                yield result


# -- in worker processes ------------------------------------------------------------------

NUMBER_CHUNK = 16  # files per chunk read as numbers: each is read alone, and may be slow
Said = tuple[type[Warning], str]  # a warning given in a worker: its category and message


@dataclass(frozen=True)
class _Chunk:
    """Consecutive files (with their positions among all the files) and how to read them."""

    items: list[tuple[int, Path | Unmatched]]
    top_k: int
    number: bool
    debug_dir: Path | None
    save_crops: CropOptions | None = None


_savers: dict[CropOptions, CropSaver] = {}  # one per folder and process: unique names


def _saver(options: CropOptions | None) -> CropSaver | None:
    if options is None:
        return None
    if options not in _savers:
        from .crops import CropSaver

        _savers[options] = CropSaver(options)
    return _savers[options]


def worker_options(classifier: Classifier) -> ClassifierOptions:
    """The options a worker process builds its own `Classifier` from: `classifier`'s, with
    what it resolved (model file, backend, pixel limit) fixed, and one interpreter thread
    unless threads were asked for (the processes share the cores)."""
    options = classifier.options
    return replace(
        options,
        model=classifier.model_path,
        backend=classifier.backend,
        max_pixels=classifier.max_pixels,
        num_threads=options.num_threads or 1,
    )


_options: ClassifierOptions | None = None  # the worker's, set by _start_worker
_classifier: Classifier | None = None  # built on the first chunk


def _start_worker(options: ClassifierOptions) -> None:
    global _options, _classifier
    _options = options
    # A forked worker starts with a copy of its parent's: its own are made here, and its
    # crops take names of its own (a saver's names carry its process id).
    _classifier = None
    _savers.clear()
    # One process per core: OpenCV's own threads would compete. Said to OpenCV rather than
    # by importing it: a worker given only plain pictures never needs it, and importing it
    # is a good part of a worker's start (`python -X importtime -c "import cv2"`).
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(1)
    else:  # read by OpenCV when it first spreads work over threads (core/src/parallel.cpp)
        os.environ["OPENCV_FOR_THREADS_NUM"] = "1"


def _work(chunk: _Chunk) -> tuple[list[FileResult], list[Said]]:
    """One chunk in a worker process."""
    global _classifier
    if _classifier is None:
        assert _options is not None, "_start_worker runs first"
        with warnings.catch_warnings():
            # The parent built the same classifier first and has given its warnings.
            warnings.simplefilter("ignore", EdgeDigitsWarning)
            _classifier = Classifier(_options)
    return _classify(_classifier, chunk, record=True)


def _classify(
    classifier: Classifier, chunk: _Chunk, *, record: bool
) -> tuple[list[FileResult], list[Said]]:
    """One chunk's results; with `record`, the warnings given on the way are returned
    instead, to be given again when its results are handed out."""

    def results() -> list[FileResult]:
        saver = _saver(chunk.save_crops)
        return list(
            _classify_chunk(
                classifier, chunk.items, chunk.top_k, chunk.number, chunk.debug_dir, saver
            )
        )

    if not record:
        return results(), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = results()
    return made, [(warning.category, str(warning.message)) for warning in caught]


def _classify_chunk(
    classifier: Classifier,
    chunk: Sequence[tuple[int, Path | Unmatched | Upload]],
    top_k: int,
    number: bool,
    debug_dir: Path | None,
    saver: CropSaver | None = None,
) -> Iterator[FileResult]:
    inputs: list[np.ndarray | NoDigit] = []
    waiting: list[int] = []  # positions in `outcomes` that the batched call fills
    outcomes: list[FileResult] = []
    traces: dict[int, tuple[str, Trace]] = {}  # position in `outcomes` -> debug name, trace
    kept: dict[int, tuple[np.ndarray, Trace]] = {}  # position -> picture, trace (--save-crops)
    if debug_dir is not None or saver is not None:
        from .trace import Trace  # here: only --debug-dir and --save-crops record preprocessing
    for index, item in chunk:
        if isinstance(item, Unmatched):
            outcomes.append(FileResult(path=item.argument, error=item.message))
            continue
        trace = Trace() if debug_dir is not None or saver is not None else None
        name = item.name if isinstance(item, Upload) else str(item)
        try:
            if isinstance(item, Upload):
                gray = load_gray(Path(item.name), classifier.max_pixels, data=item.data)
            else:
                gray = load_gray(item, classifier.max_pixels)
            if trace is not None and saver is not None:
                kept[len(outcomes)] = (gray, trace)
            if trace is not None and debug_dir is not None and isinstance(item, Path):
                # File systems limit names to 255 bytes.
                traces[len(outcomes)] = (f"{index:04d}-{item.stem[:80]}", trace)
            if number:
                reading = classifier.read_number(gray, trace)
                outcomes.append(FileResult(path=name, number=reading))
                continue
            inputs.append(preprocess_gray(gray, classifier.settings, trace))
        except InputError as error:
            outcomes.append(FileResult(path=name, error=str(error)))
            continue
        waiting.append(len(outcomes))
        outcomes.append(FileResult(path=name))
    for position, prediction in zip(
        waiting, classifier.classify_inputs(inputs, top_k), strict=True
    ):
        outcomes[position] = FileResult(path=outcomes[position].path, prediction=prediction)
    if saver is not None:
        for position, (gray, trace) in kept.items():
            _save_crops(saver, outcomes[position], gray, trace)
    if debug_dir is not None:
        from .debug import write_debug

        for name, trace in traces.values():
            write_debug(trace, classifier.settings, debug_dir, name)
    yield from outcomes


def _save_crops(saver: CropSaver, result: FileResult, gray: np.ndarray, trace: Trace) -> None:
    """Keep what the model saw for each digit of one file (`--save-crops`)."""
    if result.number is not None:
        for digit in result.number.digits:
            if digit.inputs is not None:
                saver.save(
                    digit.inputs, gray, source=result.path, box=digit.box, label=digit.label,
                    score=digit.score,
                )  # fmt: skip
        return
    prediction = result.prediction
    if prediction is None or not prediction.scored or not trace.inputs:
        return  # no digit found: nothing was shown to the model
    box = trace.boxes[0] if trace.boxes else (0, 0, gray.shape[1], gray.shape[0])
    saver.save(
        trace.inputs[0], gray, source=result.path, box=box, label=prediction.label,
        score=prediction.score,
    )  # fmt: skip
