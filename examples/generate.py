"""Write the example images in this folder from the MNIST test set (run from the repo root).

    .venv/bin/python examples/generate.py

One 28x28 test digit per class, as MNIST stores them (light ink on black): the first of its
class that the shipped model reads right (the examples show the steps at work; the model's
0.6 % of test errors are in `mistakes.png` of a run); and the same kind of digit drawn
dark-on-light on a larger page, to show the polarity and crop steps; and a short video of
three of those digits held in front of a camera, for `edge-digits camera`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from edge_digits.runtime import Classifier
from edge_digits.runtime.files.mnist import load_mnist
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
from synthetic import write_video  # noqa: E402 - the benchmarks' renderer, not a package


def main() -> None:
    mnist = load_mnist()
    read = Classifier().predict(mnist.x_test[:1000] / 255.0).argmax(axis=1)
    for path in HERE.glob("mnist_test_*.png"):
        path.unlink()
    for digit in range(10):
        index = int(np.flatnonzero((mnist.y_test[:1000] == digit) & (read == digit))[0])
        Image.fromarray(mnist.x_test[index]).save(HERE / f"mnist_test_{index:04d}_label{digit}.png")
    # A test "7" enlarged and drawn dark on a light grey page, off centre.
    page = np.full((240, 320), 228, dtype=np.uint8)
    digit = Image.fromarray(255 - mnist.x_test[0]).resize((120, 120), Image.Resampling.BICUBIC)
    page[40:160, 150:270] = np.minimum(page[40:160, 150:270], np.asarray(digit))
    Image.fromarray(page).save(HERE / "page_label7.png")
    # 7, then nothing, then 2, then 1, each held about half a second (12 fps), drifting.
    digits = {label: mnist.x_test[index] for index, label in ((0, 7), (1, 2), (2, 1))}
    plan = [(None, 4), (digits[7], 8), (None, 5), (digits[2], 8), (digits[1], 8)]
    write_video(str(HERE / "camera_7_2_1.avi"), plan, fps=12.0, size=(320, 240), height=80)


if __name__ == "__main__":
    main()
