"""How fast `edge-digits camera` reads 640x480 frames, and what it costs at a capped rate.

    .venv/bin/python benchmarks/camera_bench.py [--frames 3000] [--seconds 20]

1. processing: preprocess + classify + stabilise per frame (capture excluded), on one core
   (the process pinned to one CPU, one interpreter thread, OpenCV single-threaded), over
   frames rendered in memory: a digit held, moved, taken away, as in a video;
2. end to end: `watch` over a 640x480 MJPG video file (decoding included), one core;
3. CPU share: `edge-digits camera --max-fps 15` as a user runs it, on a long video: its CPU
   time over its wall time (100% = one core busy), measured by the OS for the child.

Writes benchmarks/results/camera.json, headed like the suite's result files (machine,
versions, git commit: benchmarks/environment.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from edge_digits.runtime import Classifier, ClassifierOptions
from edge_digits.runtime.live.sources import Frame, open_source
from edge_digits.runtime.live.watch import CameraOptions, Stabiliser, read_frame, watch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from environment import RESULTS, header, python_command, write_result  # noqa: E402 - sibling scripts
from synthetic import scene, write_video  # noqa: E402

EXAMPLES = HERE.parent / "examples"


def digits() -> list[np.ndarray]:
    return [np.asarray(Image.open(path)) for path in sorted(EXAMPLES.glob("mnist_test_*.png"))]


def plan(count: int) -> list[tuple[np.ndarray | None, int]]:
    """Digits held 30 frames each with 10 empty frames between, `count` frames in all."""
    steps: list[tuple[np.ndarray | None, int]] = []
    pool, total = digits(), 0
    while total < count:
        steps += [(pool[len(steps) // 2 % len(pool)], 30), (None, 10)]
        total += 40
    return steps


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)


def processing(classifier: Classifier, count: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    frames = []
    for digit, held in plan(count):
        for step in range(held):
            offset = (int(6 * np.sin(step / 3)), int(4 * np.cos(step / 4)))
            frames.append(Frame(len(frames), 0.0, scene(digit, rng, offset=offset)))
    frames = frames[:count]
    options, stabiliser = CameraOptions(), Stabiliser()
    for frame in frames[:50]:  # warm-up
        read_frame(classifier, frame, options)
    times = []
    start = time.perf_counter()
    for frame in frames:
        began = time.perf_counter()
        result = read_frame(classifier, frame, options)
        stabiliser.update(result.value, result.score)
        times.append(time.perf_counter() - began)
    seconds = time.perf_counter() - start
    return {
        "frames": len(frames),
        "fps": len(frames) / seconds,
        "ms_mean": float(np.mean(times) * 1000),
        "ms_p95": float(np.percentile(times, 95) * 1000),
    }


def end_to_end(classifier: Classifier, video: Path) -> dict[str, float]:
    with open_source(str(video)) as source:
        summary = watch(source, classifier, CameraOptions(), [])
    return {"frames": summary.frames, "readings": summary.readings, "fps": summary.fps}


def cpu_share(video: Path, seconds: float, max_fps: float = 15.0) -> dict[str, float]:
    """Run the CLI at --max-fps on the video for `seconds`; CPU time / wall time of the child."""
    command = [
        sys.executable, "-c", "from edge_digits.runtime.cli import main; main()",
        "camera", "--source", str(video), "--max-fps", str(max_fps), "--threads", "1",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.terminate()  # SIGTERM: a clean stop with its summary
    _, summary = child.communicate(timeout=30)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "max_fps": max_fps,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_percent_of_one_core": 100 * cpu / wall,
        "summary": summary.strip().splitlines()[-1] if summary.strip() else "",
        "note": "includes interpreter start-up and model load (about 0.3 s of CPU)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    command = python_command(
        "camera_bench.py", f"--frames {args.frames}", f"--seconds {args.seconds:g}"
    )
    results = header("camera", command)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "digits_640x480.avi"
        written = write_video(str(video), plan(args.frames), fps=30.0)
        results["video"] = {"frames": written, "size": "640x480", "codec": "MJPG"}
        results["cpu_share_at_15fps"] = cpu_share(video, args.seconds)
        one_core()
        classifier = Classifier(ClassifierOptions(num_threads=1))
        results["backend"] = classifier.backend
        results["processing_one_core"] = processing(classifier, args.frames)
        results["end_to_end_video_one_core"] = end_to_end(classifier, video)
    print(json.dumps(results, indent=2))
    print(f"wrote {write_result(results, RESULTS)}")


if __name__ == "__main__":
    main()
