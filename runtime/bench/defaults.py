"""What `edge-digits bench` measures when not told otherwise, in one place: `BenchOptions`
and `bench_options()` (runner.py) default to these, and `bench --help` shows them. A module
of its own, importing nothing, so that `--help` does not load numpy with runner.py."""

from __future__ import annotations

DEFAULT_RUNS = 1000  # timed batch-1 calls per setting
DEFAULT_WARMUP = 100  # untimed calls before them
DEFAULT_BATCH_SIZES = (1, 8, 64)  # throughput through Classifier.predict
DEFAULT_THREADS = (1,)
DEFAULT_XNNPACK = ("on", "off")  # names of runner.py's XNNPACK_CHOICES
# No default backend: every installed one is measured ($EDGE_DIGITS_BACKEND is not read).
