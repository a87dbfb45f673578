"""Soak: classify 10,000 files in one process and watch its memory (issue 7: "peak RSS stays
flat"). The files are MNIST *test* digits as the users' pictures come (28x28 PNG, paint-style
PNG, transparent canvas PNG, phone-photo JPEG, chalk-board JPEG; benchmarks/synthetic.py) and
1 in 100 a bad file (empty, cut short, a web page); they are written first, by a separate
process, so that making them costs the measured process nothing.

    .venv/bin/python benchmarks/soak.py [--files 10000] [--folder DIR] [--keep]

`classify_paths` then reads them all in one process (as `edge-digits classify FOLDER` does).
After each thousand files: the resident set now (/proc/self/statm) and its peak so far
(getrusage ru_maxrss), the seconds taken, and the errors. Prints the table and first vs last
thousand; writes benchmarks/results/soak.json, headed like the suite's result files (machine,
versions, git commit: benchmarks/environment.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from environment import RESULTS, header, python_command, write_result  # noqa: E402

KINDS = ("mnist", "paint", "canvas", "photo", "board")


def make_files(folder: Path, count: int) -> None:
    """Write `count` pictures of MNIST test digits (label in the name) and bad files."""
    from io import BytesIO

    import synthetic
    from edge_digits.runtime.files.mnist import load_mnist
    from PIL import Image

    mnist = load_mnist(keras_url=None)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        sub = folder / f"{index // 1000:02d}"  # 10 folders of 1,000, read in this order
        sub.mkdir(exist_ok=True)
        if index % 100 == 99:  # a bad file: empty, a web page, or a PNG cut short
            name, content = (
                ("empty.png", b""),
                ("html.png", b"<!doctype html><title>404</title>"),
                ("cut.png", _png(mnist.x_test[index])[:40]),
            )[index // 100 % 3]
            (sub / f"{index:05d}-bad-{name}").write_bytes(content)
            continue
        digit, label = mnist.x_test[index], int(mnist.y_test[index])
        kind = KINDS[index % len(KINDS)]
        stem = sub / f"{index:05d}-{kind}-label{label}"
        if kind == "mnist":
            Image.fromarray(digit).save(stem.with_suffix(".png"))
        elif kind in ("paint", "canvas"):
            Image.fromarray(getattr(synthetic, kind)(digit, rng)).save(stem.with_suffix(".png"))
        else:  # photo and board come JPEG-compressed as a camera saves them
            picture = getattr(synthetic, kind)(digit, rng)
            buffer = BytesIO()
            Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
            stem.with_suffix(".jpg").write_bytes(buffer.getvalue())


def _png(digit: np.ndarray) -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    return buffer.getvalue()


def rss_mib() -> float:
    """The resident set now (not the peak), from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def soak(folder: Path) -> dict:
    from edge_digits.runtime import Classifier
    from edge_digits.runtime.core.batch import classify_paths

    classifier = Classifier()
    rows, block = [], {"errors": 0, "right": 0, "digits": 0, "no_digit": 0}
    start = last = time.perf_counter()
    before = {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()}
    for count, result in enumerate(classify_paths(classifier, [folder]), start=1):
        if result.error:
            block["errors"] += 1
        elif "-label" in result.path:
            label = int(result.path.split("-label")[1][0])
            block["digits"] += 1
            block["right"] += result.prediction is not None and result.prediction.label == label
            block["no_digit"] += result.prediction is not None and result.prediction.label is None
        if count % 1000 == 0:
            now = time.perf_counter()
            rows.append(
                {
                    "files": count,
                    "rss_mib": round(rss_mib(), 1),
                    "peak_rss_mib": round(peak_rss_mib(), 1),
                    "seconds": round(now - last, 2),
                    **block,
                }
            )
            block = dict.fromkeys(block, 0)
            last = now
    return {
        "backend": classifier.backend,
        "before_first_file": {key: round(value, 1) for key, value in before.items()},
        "thousands": rows,
        "total_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--make-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.files < 1000:
        parser.error("--files must be 1000 or more (memory is recorded per thousand)")
    if args.make_only:
        make_files(args.make_only, args.files)
        return
    record = header("soak", python_command("soak.py", f"--files {args.files}"))
    folder = args.folder or Path(tempfile.mkdtemp(prefix="edge-digits-soak-")) / "files"
    made = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--files", str(args.files), "--make-only", str(folder)],
        check=True,
    )
    print(f"{args.files} files written to {folder} in {time.perf_counter() - made:.0f} s")
    try:
        report = soak(folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    rows = report["thousands"]
    print(f"{'files':>6} {'RSS MiB':>8} {'peak MiB':>9} {'s':>6} {'errors':>6} {'right':>6}")
    for row in rows:
        print(
            f"{row['files']:>6} {row['rss_mib']:>8} {row['peak_rss_mib']:>9} {row['seconds']:>6}"
            f" {row['errors']:>6} {row['right']:>4}/{row['digits']}"
        )
    first, final = rows[0], rows[-1]
    report["first_vs_last_thousand"] = {
        "rss_mib": [first["rss_mib"], final["rss_mib"]],
        "peak_rss_mib": [first["peak_rss_mib"], final["peak_rss_mib"]],
        "growth_mib": round(final["rss_mib"] - first["rss_mib"], 1),
    }
    print(
        f"first vs last thousand: RSS {first['rss_mib']} -> {final['rss_mib']} MiB, peak "
        f"{first['peak_rss_mib']} -> {final['peak_rss_mib']} MiB "
        f"({report['total_seconds']} s for {rows[-1]['files']} files)"
    )
    record.update(files=args.files, kinds=[*KINDS, "1 in 100 bad"], **report)
    print(f"written: {write_result(record, RESULTS)}")


if __name__ == "__main__":
    main()
