"""Batch-1 latency of a model on one thread: the interpreter driven by hand, and through
edge-digits' Classifier (quantisation, checks, dequantisation included).

    .venv/bin/python benchmarks/latency.py [--model M] [--runs 3000] [--threads 1]
    .venv/bin/python benchmarks/latency.py [--model M] --against OTHER [--rounds 30]

Prints p50/p90/p99 in microseconds after a warm-up; the ratio Classifier / interpreter is the
wrapper's overhead. (The full suite, `edge-digits bench`, is issue 5.)

`--against OTHER`: both models in this one process, `Classifier.predict` batch 1, in
interleaved rounds of 300 calls; each round's p50 of one against the other's. On a shared
machine whose speed drifts, that ratio means more than either time alone.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from edge_digits.runtime import Classifier, ClassifierOptions
from edge_digits.runtime.bench.runner import latency_stats
from edge_digits.runtime.bench.worker import quantize_input


def percentiles(times: list[float]) -> dict[str, float]:
    """p50/p90/p99 in microseconds, as `edge-digits bench` computes them."""
    stats = latency_stats(times)
    return {"p50": stats.p50, "p90": stats.p90, "p99": stats.p99}


def timed(call: Callable[[], object], runs: int) -> list[float]:
    """Seconds taken by each of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def side_by_side(models: dict[str, Path | None], threads: int, rounds: int) -> dict:
    """Each model's p50 per round, rounds interleaved, and the ratio of the first to the
    second (median over rounds)."""
    classifiers = {
        name: Classifier(ClassifierOptions(model=model, num_threads=threads))
        for name, model in models.items()
    }
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    for classifier in classifiers.values():
        timed(lambda c=classifier: c.predict(image), 300)  # warm-up
    p50s: dict[str, list[float]] = {name: [] for name in classifiers}
    for _ in range(rounds):
        for name, classifier in classifiers.items():
            times = timed(lambda c=classifier: c.predict(image), 300)
            p50s[name].append(percentiles(times)["p50"])
    first, second = (np.array(values) for values in p50s.values())
    return {
        "rounds": rounds,
        "calls_per_round": 300,
        "p50_us_median_of_rounds": {name: float(np.median(v)) for name, v in p50s.items()},
        "p50_us_best_round": {name: float(np.min(v)) for name, v in p50s.items()},
        "ratio_first_to_second": float(np.median(first / second)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", type=Path, default=None, help="a second model, side by side")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if args.against is not None:
        models = {
            str(args.model or "embedded edge_int8.tflite"): args.model,
            str(args.against): args.against,
        }
        print(json.dumps(side_by_side(models, args.threads, args.rounds), indent=2))
        return
    classifier = Classifier(ClassifierOptions(model=args.model, num_threads=args.threads))
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    interpreter, index = classifier._interpreter, classifier.input_details["index"]
    tensor = quantize_input(image[..., None], classifier.input_details)

    def by_hand() -> None:
        interpreter.set_tensor(index, tensor)
        interpreter.invoke()

    results = {}
    for name, call in (
        ("interpreter", by_hand),
        ("Classifier.predict", lambda: classifier.predict(image)),
    ):
        timed(call, 300)  # warm-up
        results[name] = percentiles(timed(call, args.runs))
    results["model"] = str(classifier.model_path.name)
    results["size_bytes"] = classifier.model_path.stat().st_size
    results["backend"] = classifier.backend
    results["overhead_p50"] = results["Classifier.predict"]["p50"] / results["interpreter"]["p50"]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
