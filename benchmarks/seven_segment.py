"""Seven-segment digits as a phone photographs them: LCD (dark segments, faint unlit ones, on a
grey-green glass) and LED (glowing red, green or blue segments on a dark face), slanted, lit
unevenly, seen a little from the side, blurred, noisy and JPEG-compressed.

    python benchmarks/seven_segment.py --out runs/seven --count 300 --seed 1

writes PNGs into sub-folders 0-9 of --out (the layout `edge-digits train --data` also takes).
The README's worked example and benchmarks/own_digits.py use it; `picture(label, rng)` makes
one picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

# Which segments each digit lights: a top, b top right, c bottom right, d bottom,
# e bottom left, f top left, g middle.
SEGMENTS = {
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}  # fmt: skip


def _segment_polygons(width: float, height: float, thick: float) -> dict[str, np.ndarray]:
    """Each segment as a hexagon, in a digit box of `width` x `height` at the origin."""
    t, h2 = thick, height / 2

    def horizontal(y: float) -> np.ndarray:
        return np.array(
            [(t * 0.6, y), (t * 1.1, y - t / 2), (width - t * 1.1, y - t / 2), (width - t * 0.6, y),
             (width - t * 1.1, y + t / 2), (t * 1.1, y + t / 2)]
        )  # fmt: skip

    def vertical(x: float, top: float, bottom: float) -> np.ndarray:
        return np.array(
            [(x, top + t * 0.6), (x + t / 2, top + t * 1.1), (x + t / 2, bottom - t * 1.1),
             (x, bottom - t * 0.6), (x - t / 2, bottom - t * 1.1), (x - t / 2, top + t * 1.1)]
        )  # fmt: skip

    return {
        "a": horizontal(t / 2),
        "g": horizontal(h2),
        "d": horizontal(height - t / 2),
        "f": vertical(t / 2, 0, h2),
        "b": vertical(width - t / 2, 0, h2),
        "e": vertical(t / 2, h2, height),
        "c": vertical(width - t / 2, h2, height),
    }


def picture(label: int, rng: np.random.Generator) -> np.ndarray:
    """One photographed seven-segment digit, BGR uint8, about 90 x 120 pixels."""
    lcd = rng.random() < 0.5
    side_w, side_h = int(rng.integers(80, 110)), int(rng.integers(110, 140))
    scale = 4  # drawn large, then reduced: smooth edges
    canvas_w, canvas_h = side_w * scale, side_h * scale
    height = canvas_h * rng.uniform(0.55, 0.75)
    width = height * rng.uniform(0.45, 0.6)
    thick = height * rng.uniform(0.09, 0.15)
    slant = rng.uniform(-0.05, 0.22)  # most displays lean right
    x0 = (canvas_w - width - slant * height) / 2 + rng.uniform(-0.08, 0.08) * canvas_w
    y0 = (canvas_h - height) / 2 + rng.uniform(-0.06, 0.06) * canvas_h

    if lcd:
        glass = np.array([rng.uniform(150, 200), rng.uniform(170, 215), rng.uniform(150, 190)])
        lit = glass * rng.uniform(0.1, 0.3)
        unlit = glass * rng.uniform(0.9, 0.97)  # the faint ghost of unlit segments
    else:
        glass = np.array([rng.uniform(5, 35)] * 3) + rng.uniform(0, 15, 3)
        hue = rng.integers(3)
        lit = np.array([60.0, 60.0, 60.0])
        lit[[2, 1, 0][hue]] = 255.0  # red, green or blue (BGR)
        lit = lit * rng.uniform(0.8, 1.0)
        unlit = glass + rng.uniform(3, 15)
    image = np.ones((canvas_h, canvas_w, 3), np.float32) * glass
    mask_lit = np.zeros((canvas_h, canvas_w), np.uint8)
    mask_unlit = np.zeros((canvas_h, canvas_w), np.uint8)
    for name, polygon in _segment_polygons(width, height, thick).items():
        points = polygon.copy()
        points[:, 0] += x0 + slant * (height - points[:, 1])
        points[:, 1] += y0
        target = mask_lit if name in SEGMENTS[label] else mask_unlit
        cv2.fillPoly(target, [np.round(points).astype(np.int32)], 255)
    for mask, colour in ((mask_unlit, unlit), (mask_lit, lit)):
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        image = image * (1 - alpha) + colour * alpha
    if not lcd:  # the glow around lit segments
        glow = cv2.GaussianBlur(mask_lit.astype(np.float32) / 255.0, (0, 0), thick * 0.6)
        image = image + (lit * 0.5)[None, None, :] * glow[..., None]
    image = cv2.resize(image, (side_w, side_h), interpolation=cv2.INTER_AREA)

    # Light: a gradient across the picture; the camera: perspective, blur, noise, JPEG.
    ys, xs = np.mgrid[0:side_h, 0:side_w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / side_w + np.sin(angle) * ys / side_h) * rng.uniform(0.1, 0.4)
    image = image * (1 - ramp[..., None] + rng.uniform(0, 0.1))
    jitter = rng.uniform(-0.06, 0.06, (4, 2)) * [side_w, side_h]
    corners = np.float32([[0, 0], [side_w, 0], [side_w, side_h], [0, side_h]])
    warp = cv2.getPerspectiveTransform(corners, np.float32(corners + jitter))
    image = cv2.warpPerspective(image, warp, (side_w, side_h), borderMode=cv2.BORDER_REPLICATE)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.3))
    image = image + rng.normal(0, rng.uniform(2, 8), image.shape)
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 90))])
    assert ok
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))


def write_set(out: Path, count: int, seed: int) -> list[tuple[Path, int]]:
    """`count` pictures, the labels in turn, into out/<label>/; (path, label) each."""
    rng = np.random.default_rng(seed)
    written = []
    for index in range(count):
        label = index % 10
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"seven-{seed}-{index:04d}.png"
        cv2.imwrite(str(path), picture(label, rng))
        written.append((path, label))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    written = write_set(args.out, args.count, args.seed)
    print(f"{len(written)} pictures in {args.out}/0 ... {args.out}/9")


if __name__ == "__main__":
    main()
