"""`edge-digits bench`: how fast, how big and how accurate a model is on this machine.

    options = bench_options([Path("m.tflite")], batch_sizes=[1, 8, 64], threads=[1, 2])
    report = run_benchmark(options)
    report.to_dict()  # what `--json` prints

For every model and every setting (backend x XNNPACK on/off x threads) it measures what
TFLite's `benchmark_model` does: the file size, the time to import the interpreter, to
load the model and to run the first inference; warm batch-1 latency (p50, p90, p99, mean,
std over `runs` calls after `warmup`), both through `Classifier.predict` and with the
interpreter driven by hand (set_tensor, invoke, get_tensor on an input quantised once), so
the wrapper's overhead is visible; throughput through `Classifier.predict` at several batch
sizes; and peak RSS. With `accuracy`, the accuracy too, scored by `evaluate()`, the function
`convert` scores with, so the figures can be compared with the sidecar's.

Each setting is measured in a fresh child process (`python -m
edge_digits.runtime.bench.worker`), one at a time. Import and load times are only honest
in a process that has not imported or loaded anything of the kind before, and a peak RSS
only ever grows: a process that had measured another setting, or held MNIST, would report
that peak instead (the worker reads VmHWM, since Linux carries `ru_maxrss` over an exec,
from the parent into the child). A plain subprocess rather than multiprocessing's spawn,
because spawn re-imports the parent's `__main__` (here the CLI with Typer and Rich) into
the child, where it would count in the memory and the start-up. A child that has not
finished within `worker_timeout()` (a hung interpreter) is killed and the run ends with a
ModelError (exit 3). Accuracy is scored in this process, after the children, since it needs
the data set in memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..core.classifier import MAX_BATCH
from ..core.interpreter import BACKENDS, INSTALL_HINT, available_backends, resolve_backend
from ..errors import (
    DataError,
    EdgeDigitsError,
    InputError,
    MissingDependencyError,
    ModelError,
    OutputError,
    UsageError,
)
from .accuracy import Accuracy, load_scorer, score_all
from .defaults import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_RUNS,
    DEFAULT_THREADS,
    DEFAULT_WARMUP,
    DEFAULT_XNNPACK,
)

SCHEMA_VERSION = 1
# Classifier.predict hands the interpreter at most MAX_BATCH images per call; a larger batch
# would be measured as several calls, and reported as if it were one.
MAX_BATCH_SIZE = MAX_BATCH
MAX_THREADS = 64
# How long a worker may take: start-up and loading, then this much per image it classifies.
# Generous (a slow Pi, a large float model, XNNPACK off take a few ms per image): it is
# there to end a hung interpreter, not to judge a slow one.
WORKER_START_S = 120.0
WORKER_S_PER_IMAGE = 0.1
XNNPACK_CHOICES = {"on": True, "off": False}
WORKER_MODULE = "edge_digits.runtime.bench.worker"

Progress = Callable[[str, float, float], None]  # (what is being measured, done, total)
T = TypeVar("T")


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    """What to measure; `bench_options()` builds one from what the command line was given,
    checked. The defaults are defaults.py's.

    Fields:
        models: `.tflite` files; None stands for the embedded default model.
        runs: timed batch-1 calls per setting, through the Classifier and by hand each.
        warmup: untimed calls before the timed ones (and before each batch size).
        batch_sizes: batch sizes whose throughput is measured through `Classifier.predict`.
        threads: interpreter thread counts; each is a setting.
        backends: interpreter backends; None means every installed one.
        xnnpack: XNNPACK on (True) and/or off (False); each is a setting.
        accuracy: None, "mnist" (the 10,000 test images) or a folder of labelled images.
        data: a local MNIST (`mnist.npz` or a folder of IDX files) for accuracy="mnist";
            None: found as `edge-digits data` finds it.
    """

    models: tuple[Path | None, ...] = (None,)
    runs: int = DEFAULT_RUNS
    warmup: int = DEFAULT_WARMUP
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    threads: tuple[int, ...] = DEFAULT_THREADS
    backends: tuple[str, ...] | None = None
    xnnpack: tuple[bool, ...] = tuple(XNNPACK_CHOICES[name] for name in DEFAULT_XNNPACK)
    accuracy: str | None = None
    data: Path | None = None


def bench_options(
    models: Sequence[Path] = (),
    *,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    batch_sizes: Sequence[int] | None = None,
    threads: Sequence[int] | None = None,
    backends: Sequence[str] | None = None,
    xnnpack: Sequence[str] | None = None,
    accuracy: str | None = None,
    data: Path | None = None,
) -> BenchOptions:
    """BenchOptions from the command line's values, checked; UsageError (exit 2) says what
    is allowed. A list left None is the default (backends: every installed one); repeated
    values count once, in the order first given. `data` alone means `accuracy="mnist"` on it.
    """
    if runs < 1 or warmup < 0:
        raise UsageError(f"--runs must be 1 or more and --warmup 0 or more, got {runs}, {warmup}")
    if data is not None and accuracy is None:
        accuracy = "mnist"
    if accuracy is not None and accuracy != "mnist" and not Path(accuracy).is_dir():
        raise UsageError(
            f"--accuracy {accuracy!r}: expected 'mnist' or a folder of labelled images"
        )
    if data is not None and accuracy != "mnist":
        raise UsageError(
            f"--data is the MNIST that `--accuracy mnist` scores on; `--accuracy {accuracy}` "
            "scores that folder's images"
        )
    return BenchOptions(
        models=tuple(models) or (None,),
        runs=runs,
        warmup=warmup,
        batch_sizes=_whole_numbers(
            DEFAULT_BATCH_SIZES if batch_sizes is None else batch_sizes,
            "--batch",
            maximum=MAX_BATCH_SIZE,
            why="the largest batch per interpreter call",
        ),
        threads=_whole_numbers(
            DEFAULT_THREADS if threads is None else threads, "--threads", maximum=MAX_THREADS
        ),
        backends=None if backends is None else _choices(backends, "--backend", _names()),
        xnnpack=_choices(
            DEFAULT_XNNPACK if xnnpack is None else xnnpack, "--xnnpack", XNNPACK_CHOICES
        ),
        accuracy=accuracy,
        data=data,
    )


def _whole_numbers(
    values: Sequence[int], option: str, *, maximum: int, why: str = ""
) -> tuple[int, ...]:
    """Each value a whole number from 1 to `maximum` (`why` says why that is the limit)."""
    if not values:
        raise UsageError(f"{option}: give at least one value")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            limit = f"{maximum} ({why})" if why else f"{maximum}"
            raise UsageError(f"{option} {value!r}: expected a whole number from 1 to {limit}")
    return tuple(dict.fromkeys(values))


def _choices(values: Sequence[str], option: str, allowed: Mapping[str, T]) -> tuple[T, ...]:
    """The allowed values named, in order; UsageError names what is allowed."""
    if not values:
        raise UsageError(f"{option}: give at least one value")
    for name in values:
        if name not in allowed:
            raise UsageError(
                f"{option}: unknown value {name!r}; allowed: {', '.join(allowed)} "
                f"(repeat {option} for several)"
            )
    return tuple(dict.fromkeys(allowed[name] for name in values))


def _names() -> dict[str, str]:
    return {name: name for name in BACKENDS}


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in microseconds over `runs` timed calls (std: population, ddof=0)."""

    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    runs: int


def latency_stats(seconds: Sequence[float] | np.ndarray) -> LatencyStats:
    """Seconds per call -> LatencyStats in microseconds (percentiles interpolate linearly)."""
    values = np.asarray(seconds, dtype=np.float64) * 1e6
    if values.size == 0:
        raise ValueError("no timings to summarise")
    p50, p90, p99 = (float(v) for v in np.percentile(values, [50, 90, 99]))
    return LatencyStats(p50, p90, p99, float(values.mean()), float(values.std()), int(values.size))


@dataclass(frozen=True)
class Throughput:
    """Images per second through `Classifier.predict` at one batch size."""

    batch: int
    images_per_s: float
    batch_ms_p50: float  # median time of one call with `batch` images
    calls: int


@dataclass(frozen=True)
class SettingResult:
    """Everything measured for one model in one setting (backend, XNNPACK, threads)."""

    model: str
    model_name: str
    size_bytes: int
    precision: str
    backend: str
    backend_version: str | None
    xnnpack: bool
    threads: int
    import_ms: float
    load_ms: float
    first_inference_ms: float
    latency_us: dict[str, LatencyStats]  # "classifier" and "interpreter"
    overhead_p50: float
    throughput: tuple[Throughput, ...]
    base_rss_mib: float | None
    peak_rss_mib: float | None
    accuracy: Accuracy | None = None

    @classmethod
    def from_worker(cls, record: Mapping[str, Any]) -> SettingResult:
        """Rebuild a result from JSON: what the worker prints, or one of `results`."""
        fields = dict(record)
        fields["latency_us"] = {
            name: LatencyStats(**stats) for name, stats in record["latency_us"].items()
        }
        fields["throughput"] = tuple(Throughput(**item) for item in record["throughput"])
        if record.get("accuracy") is not None:
            fields["accuracy"] = Accuracy(**record["accuracy"])
        return cls(**fields)


@dataclass(frozen=True)
class BenchReport:
    """A benchmark run: when, on what, with which options, what it found."""

    when: str
    machine: dict[str, Any]
    options: BenchOptions
    results: tuple[SettingResult, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: what `edge-digits bench --json` prints (see the README)."""
        options = self.options
        return {
            "schema": SCHEMA_VERSION,
            "when": self.when,
            "machine": self.machine,
            "settings": {
                "runs": options.runs,
                "warmup": options.warmup,
                "batch_sizes": list(options.batch_sizes),
                "threads": list(options.threads),
                "backends": sorted({result.backend for result in self.results}),
                "xnnpack": list(options.xnnpack),
                "data": options.accuracy,  # the key the README documents
            },
            "notes": list(self.notes),
            "results": [asdict(result) for result in self.results],
        }


# -- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    path: Path
    precision: str


@dataclass(frozen=True)
class _Setting:
    model: _Model
    backend: str
    xnnpack: bool
    threads: int

    def describe(self) -> str:
        xnnpack = "on" if self.xnnpack else "off"
        return (
            f"{self.model.path.name}: {self.backend}, XNNPACK {xnnpack}, {self.threads} thread(s)"
        )


def run_benchmark(options: BenchOptions, progress: Progress | None = None) -> BenchReport:
    """Measure every setting of every model (see the module docstring).

    Errors come before any measuring: ModelError for a missing or unusable model, UsageError
    for an unknown backend, MissingDependencyError when none of those asked for is
    installed, DataError for data that cannot be loaded. A setting whose interpreter cannot
    run the model (an op only the other backend has) is skipped with a note."""
    from .machine import machine_info, now  # platform and git: only when benchmarking

    backends, notes = _select_backends(options.backends)
    models = [_check_model(model, backends[0]) for model in options.models]
    # The data before measuring: a wrong --data or --accuracy folder fails now, not after
    # minutes of work.
    scorer = load_scorer(options.accuracy, options.data) if options.accuracy else None
    settings = _settings(models, backends, options, notes)
    if not settings:
        raise UsageError(f"nothing to measure with these options ({'; '.join(notes)})")
    combinations = list(dict.fromkeys((s.model.path, s.backend, s.xnnpack) for s in settings))
    total = float(len(settings) + (len(combinations) if scorer else 0))
    report = progress or (lambda what, done, total: None)

    def say(what: str, done: float) -> None:
        report(what, done, total)

    results = _measure_all(settings, options, say, notes)
    if scorer is not None:
        measured = {_key(result) for result in results}
        wanted = [c for c in combinations if (str(c[0]), c[1], c[2]) in measured]
        scores = score_all(wanted, scorer, _within(say, "accuracy", len(settings)))
        results = [replace(result, accuracy=scores[_key(result)]) for result in results]
    say("done", total)
    return BenchReport(now(), machine_info(backends), options, tuple(results), tuple(notes))


def _settings(
    models: list[_Model], backends: list[str], options: BenchOptions, notes: list[str]
) -> list[_Setting]:
    """Every model x backend x XNNPACK x threads; XNNPACK off only where it can be."""
    xnnpack_choices = _xnnpack_choices(backends, options.xnnpack, notes)
    return [
        _Setting(model, backend, xnnpack, threads)
        for model in models
        for backend in backends
        for xnnpack in xnnpack_choices[backend]
        for threads in options.threads
    ]


def _measure_all(
    settings: list[_Setting],
    options: BenchOptions,
    say: Callable[[str, float], None],
    notes: list[str],
) -> list[SettingResult]:
    """Each setting in its own worker process, one after the other."""
    results, failures = [], []
    for index, setting in enumerate(settings):
        what = setting.describe()
        say(what, index)
        try:
            record = _run_worker(setting, options, _within(say, what, index))
        except BenchTimeoutError:
            raise  # a hung interpreter ends the run: the next setting could hang as long
        except ModelError as error:  # e.g. an op that only the other backend knows
            failures.append(error)
            notes.append(f"{what}: skipped ({error})")
            continue
        results.append(SettingResult.from_worker(record))
    if not results:
        raise failures[0]
    return results


def _within(say: Callable[[str, float], None], what: str, start: float) -> Callable[[float], None]:
    """Progress from `start`: `part` more of the work is done."""
    return lambda part: say(what, start + part)


def _select_backends(asked: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    """The backends to measure (those asked for that are installed), and notes on the rest."""
    wanted, installed = asked or tuple(BACKENDS), available_backends()
    chosen = [name for name in wanted if name in installed]
    notes = [f"{name}: not installed here; skipped" for name in wanted if name not in installed]
    if not chosen:
        raise MissingDependencyError(
            f"interpreter backend not installed here: {', '.join(wanted)}; {INSTALL_HINT}"
        )
    return chosen, notes


def _xnnpack_choices(
    backends: Iterable[str], asked: tuple[bool, ...], notes: list[str]
) -> dict[str, tuple[bool, ...]]:
    """XNNPACK off needs the backend's OpResolverType; where it is missing, only 'on' runs."""
    choices: dict[str, tuple[bool, ...]] = {}
    for name in backends:
        _, module = resolve_backend(name)
        if False in asked and not hasattr(module, "OpResolverType"):
            notes.append(f"{name}: XNNPACK cannot be switched off in this version; 'off' skipped")
            choices[name] = tuple(x for x in asked if x)
        else:
            choices[name] = asked
    return choices


def _check_model(model: Path | None, backend: str) -> _Model:
    """Load the model once here, so that a missing or bad one fails before any measuring."""
    from ..core.classifier import Classifier, ClassifierOptions

    classifier = Classifier(ClassifierOptions(model=model, backend=backend))
    dtype = np.dtype(classifier.input_details["dtype"]).name
    precision = classifier.sidecar.precision if classifier.sidecar else f"{dtype} input"
    return _Model(classifier.model_path, precision)


class BenchTimeoutError(ModelError):
    """A worker gave no result within `worker_timeout()`: the interpreter hung (exit 3)."""


def worker_timeout(options: BenchOptions) -> float:
    """Seconds one worker may take: WORKER_START_S, then WORKER_S_PER_IMAGE for each image
    it can classify (the worker: warm-up and timed batch-1 calls on both paths and the
    first inference; per batch size at most warmup + batch, then runs + 3 x batch)."""
    runs, warmup = options.runs, options.warmup
    images = 2 * (warmup + runs) + 1
    images += sum(warmup + runs + 4 * batch for batch in options.batch_sizes)
    return WORKER_START_S + WORKER_S_PER_IMAGE * images


_ERRORS: dict[int, type[EdgeDigitsError]] = {
    error.exit_code: error
    for error in (
        InputError,
        UsageError,
        ModelError,
        DataError,
        MissingDependencyError,
        OutputError,
    )
}


def _run_worker(
    setting: _Setting, options: BenchOptions, part_done: Callable[[float], None]
) -> dict[str, Any]:
    """Measure `setting` in a fresh worker process; its progress lines move the bar."""
    spec = {
        "model": str(setting.model.path),
        "precision": setting.model.precision,
        "backend": setting.backend,
        "xnnpack": setting.xnnpack,
        "threads": setting.threads,
        "runs": options.runs,
        "warmup": options.warmup,
        "batch_sizes": list(options.batch_sizes),
    }
    timeout = worker_timeout(options)
    expired = threading.Event()
    outcome: dict[str, Any] = {}
    # stderr goes to a file: a pipe nobody reads while stdout is read could fill and block.
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            _worker_command(spec), stdout=subprocess.PIPE, stderr=stderr, text=True
        )

        def expire() -> None:  # a hung child prints nothing: killing it ends the reading below
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            assert process.stdout is not None  # for mypy: stdout=PIPE above
            for line in process.stdout:
                message = _json_line(line)
                if "progress" in message:
                    done, steps = message["progress"]
                    part_done(done / steps)
                else:
                    outcome.update(message)
            process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:  # interrupted: do not leave the child running
                process.kill()
                process.wait()
        stderr.seek(0)
        errors = stderr.read().strip().splitlines()
    if "result" in outcome:
        result: dict[str, Any] = outcome["result"]
        return result
    if "error" in outcome:
        raise _ERRORS.get(int(outcome.get("exit_code", 1)), EdgeDigitsError)(outcome["error"])
    if expired.is_set():
        raise BenchTimeoutError(
            f"{setting.model.path}: no result within {timeout:.0f} s ({setting.describe()}); "
            "the interpreter hung, or this machine is far slower than expected: try fewer --runs"
        )
    last = errors[-1] if errors else "no message"
    raise ModelError(
        f"{setting.model.path}: benchmarking failed ({setting.describe()}; "
        f"exit {process.returncode}: {last[:200]})"
    )


def _worker_command(spec: Mapping[str, Any]) -> list[str]:
    return [sys.executable, "-m", WORKER_MODULE, json.dumps(spec)]


def _json_line(line: str) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:  # something native printed on stdout: not ours
        return {}
    return message if isinstance(message, dict) else {}


def _key(result: SettingResult) -> tuple[str, str, bool]:
    return result.model, result.backend, result.xnnpack
