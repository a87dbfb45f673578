"""One `edge-digits bench` setting, measured in this fresh process (runner.py says why).

    python -m edge_digits.runtime.bench.worker '{"model": "m.tflite", "backend": "litert",
        "precision": "int8", "xnnpack": true, "threads": 1, "runs": 1000, "warmup": 100,
        "batch_sizes": [1, 8, 64]}'

Prints JSON lines on stdout: `{"progress": [done, steps]}` while it works, then
`{"result": {...}}` (the fields of `runner.SettingResult`) or `{"error": "...",
"exit_code": n}`. The order of the steps matters: peak RSS is read after the Classifier has
run every batch size and before the hand-driven interpreter is built, so it is the memory
of a program that imports edge-digits and classifies, and nothing of the benchmark's own.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..core.classifier import Classifier, ClassifierOptions
from ..core.interpreter import backend_version, make_interpreter, resolve_backend
from ..core.quantize import quantize
from ..errors import EdgeDigitsError, EdgeDigitsWarning
from .runner import LatencyStats, latency_stats

ROUNDS = 10  # Classifier and interpreter alternate round by round: both see the same drift

Step = Callable[[], None]


def peak_rss_mib() -> float | None:
    """This process's peak resident memory so far, in MiB (None where unknown, e.g. Windows).

    On Linux from /proc/self/status (VmHWM), not `resource`: Linux carries ru_maxrss over
    an exec, so a child started by a 60 MiB parent would report at least 60 MiB."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB here


def random_images(count: int) -> np.ndarray:
    """Float images in [0, 1]; what the pixels are does not change how long inference takes."""
    return np.random.default_rng(0).random((count, 28, 28), dtype=np.float32)


def round_sizes(runs: int, rounds: int = ROUNDS) -> list[int]:
    """`runs` split into at most `rounds` near-equal rounds."""
    rounds = max(1, min(rounds, runs))
    return [runs // rounds + (index < runs % rounds) for index in range(rounds)]


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(spec: dict[str, Any], emit: Callable[[int, int], None]) -> dict[str, Any]:
    """Measure one setting; `emit(done, steps)` reports progress."""
    runs, warmup, batch_sizes = int(spec["runs"]), int(spec["warmup"]), spec["batch_sizes"]
    steps = 2 + len(batch_sizes) + len(round_sizes(runs))
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        emit(done, steps)

    model = Path(spec["model"])
    base_rss = peak_rss_mib()  # Python, numpy and edge-digits, before the interpreter
    import_s = timed(lambda: resolve_backend(spec["backend"]))
    options = ClassifierOptions(
        model=model, num_threads=spec["threads"], backend=spec["backend"], xnnpack=spec["xnnpack"]
    )
    start = time.perf_counter()
    classifier = Classifier(options)
    load_s = time.perf_counter() - start
    image = random_images(1)
    first_s = timed(lambda: classifier.predict(image))
    step()
    throughput = [_throughput(classifier, batch, runs, warmup, step) for batch in batch_sizes]
    peak_rss = peak_rss_mib()
    by_hand = _hand_driven(model, spec, image)
    step()
    latency = _latency(
        {"classifier": lambda: classifier.predict(image), "interpreter": by_hand},
        runs,
        warmup,
        step,
    )
    return {
        "model": str(model),
        "model_name": model.name,
        "size_bytes": model.stat().st_size,
        "precision": spec["precision"],
        "backend": spec["backend"],
        "backend_version": backend_version(spec["backend"]),
        "xnnpack": bool(spec["xnnpack"]),
        "threads": int(spec["threads"]),
        "import_ms": import_s * 1e3,
        "load_ms": load_s * 1e3,
        "first_inference_ms": first_s * 1e3,
        "latency_us": {name: asdict(stats) for name, stats in latency.items()},
        "overhead_p50": latency["classifier"].p50 / latency["interpreter"].p50,
        "throughput": throughput,
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss,
    }


def _throughput(
    classifier: Classifier, batch: int, runs: int, warmup: int, step: Step
) -> dict[str, Any]:
    """Images/s through `predict` at `batch`: about `runs` images, at least 3 calls."""
    images = random_images(batch)
    for _ in range(max(1, warmup // batch)):  # the first call also resizes the input tensor
        classifier.predict(images)
    calls = max(3, -(-runs // batch))
    times = [timed(lambda: classifier.predict(images)) for _ in range(calls)]
    step()
    return {
        "batch": batch,
        "images_per_s": batch * calls / sum(times),
        "batch_ms_p50": float(np.median(times)) * 1e3,
        "calls": calls,
    }


def quantize_input(images: np.ndarray, details: Mapping[str, Any]) -> np.ndarray:
    """Float model input -> the tensor an interpreter input with these `details` takes: a cast
    for a float input; for an integer one round(x / scale + zero point), clipped to the type's
    range (TFLite's affine quantisation: `core.quantize.quantize`, which `Classifier.predict`
    applies too)."""
    scale, zero_point = float(details["quantization"][0]), int(details["quantization"][1])
    return quantize(images, scale, zero_point, details["dtype"])


def _hand_driven(model: Path, spec: dict[str, Any], image: np.ndarray) -> Callable[[], object]:
    """The interpreter as a user would drive it with no edge-digits layer: its own instance
    with the same options, an input quantised once, set_tensor, invoke, get_tensor."""
    interpreter, _ = make_interpreter(
        model.read_bytes(),
        origin=str(model),
        num_threads=spec["threads"],
        backend=spec["backend"],
        xnnpack=spec["xnnpack"],
    )
    details = interpreter.get_input_details()[0]
    tensor = quantize_input(image, details).reshape(details["shape"])
    input_index = details["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    def by_hand() -> object:
        interpreter.set_tensor(input_index, tensor)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return by_hand


def _latency(
    calls: dict[str, Callable[[], object]], runs: int, warmup: int, step: Step
) -> dict[str, LatencyStats]:
    """Batch-1 latency of each call: warm-up, then alternating rounds of timed calls."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    clock = time.perf_counter
    for size in round_sizes(runs):
        for name, call in calls.items():
            record = times[name]
            for _ in range(size):
                start = clock()
                call()
                record.append(clock() - start)
        step()
    return {name: latency_stats(values) for name, values in times.items()}


def _print(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run one setting from the JSON spec in argv[1]; 0 on success, 1 on an error."""
    args = sys.argv[1:] if argv is None else argv
    warnings.simplefilter("ignore", EdgeDigitsWarning)  # the parent has reported them once
    try:
        result = measure(
            json.loads(args[0]), lambda done, steps: _print({"progress": [done, steps]})
        )
    except EdgeDigitsError as error:
        _print({"error": str(error), "exit_code": error.exit_code})
        return 1
    _print({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
