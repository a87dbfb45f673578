"""Realistic renderings of MNIST *test* digits, for measuring preprocessing (never training).

Each renderer takes 28x28 MNIST digits (light ink on black) and a seeded random generator
and returns an RGB or RGBA uint8 picture of the kind users feed `edge-digits classify`:

- ``photo``: a small dark digit on a large, tinted, unevenly lit page with a soft shadow,
  rotated up to +-12 degrees, blurred, noisy and JPEG-compressed;
- ``paint``: black strokes on white, thick or thin, as a paint program saves them;
- ``canvas``: black strokes on a transparent background (RGBA), as a web canvas exports them;
- ``board``: light strokes on a dark board (chalk, whiteboard negatives), with noise;
- ``row``: several digits side by side on paper (a meter reading, a house number).
"""

from __future__ import annotations

import cv2
import numpy as np

Rng = np.random.Generator


def _digit_alpha(digit: np.ndarray, height: int, angle: float, thickness: int = 0) -> np.ndarray:
    """The digit as an ink-coverage map in [0, 1], scaled to `height` px and rotated."""
    scale = height / 20.0  # MNIST digits are about 20 px tall in their 28 px frame
    size = max(8, round(28 * scale))
    alpha = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    if thickness:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(thickness) + 1,) * 2)
        alpha = cv2.dilate(alpha, kernel) if thickness > 0 else cv2.erode(alpha, kernel)
    rotation = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    alpha = cv2.warpAffine(alpha, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return np.clip(alpha, 0, 1)


def _paste(page: np.ndarray, alpha: np.ndarray, top: int, left: int, ink: np.ndarray) -> None:
    h, w = alpha.shape
    region = page[top : top + h, left : left + w]
    a = alpha[: region.shape[0], : region.shape[1], None]
    region[:] = region * (1 - a) + ink * a


def _lighting(shape: tuple[int, int], rng: Rng) -> np.ndarray:
    """Uneven light: a gradient across the page and a soft shadow."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    light = 1.0 - rng.uniform(0.1, 0.35) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    shadow = np.zeros(shape, np.float32)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    cv2.ellipse(
        shadow,
        (int(cx), int(cy)),
        (int(width * 0.4), int(height * 0.3)),
        rng.uniform(0, 180),
        0,
        360,
        1.0,
        -1,
    )
    shadow = cv2.GaussianBlur(shadow, (0, 0), width / 15)
    return light * (1.0 - rng.uniform(0.1, 0.35) * shadow)


def _camera(
    image: np.ndarray,
    rng: Rng,
    blur: tuple[float, float],
    noise: tuple[float, float],
    quality: tuple[int, int],
) -> np.ndarray:
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*blur))
    image = image + rng.normal(0, rng.uniform(*noise), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    _ok, encoded = cv2.imencode(
        ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(*quality))]
    )
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


def photo(digit: np.ndarray, rng: Rng) -> np.ndarray:
    height, width = 480, 640
    paper = np.array([rng.uniform(170, 245), rng.uniform(170, 240), rng.uniform(150, 235)])
    page = np.ones((height, width, 3), np.float32) * paper
    ink = np.array([rng.uniform(0, 70), rng.uniform(0, 70), rng.uniform(0, 120)])
    alpha = _digit_alpha(
        digit, int(rng.integers(40, 140)), rng.uniform(-12, 12), int(rng.integers(0, 2))
    )
    top = int(rng.integers(height // 6, height - alpha.shape[0] - height // 6))
    left = int(rng.integers(width // 6, width - alpha.shape[1] - width // 6))
    _paste(page, alpha, top, left, ink)
    page *= _lighting((height, width), rng)[..., None]
    return _camera(page, rng, blur=(0.3, 1.2), noise=(1, 6), quality=(55, 92))


def paint(digit: np.ndarray, rng: Rng) -> np.ndarray:
    side = int(rng.integers(120, 400))
    page = np.full((side, side, 3), 255, np.float32)
    alpha = _digit_alpha(digit, int(side * rng.uniform(0.5, 0.8)), 0.0, int(rng.integers(-1, 4)))
    alpha = np.clip((alpha - 0.3) * 3, 0, 1)  # hard-edged brush strokes
    top = (side - alpha.shape[0]) // 2 + int(rng.integers(-side // 12, side // 12 + 1))
    left = (side - alpha.shape[1]) // 2 + int(rng.integers(-side // 12, side // 12 + 1))
    _paste(page, alpha, max(0, top), max(0, left), np.zeros(3))
    return page.astype(np.uint8)


def canvas(digit: np.ndarray, rng: Rng) -> np.ndarray:
    """RGBA: the strokes opaque black, the rest fully transparent (colour channels black too)."""
    side = int(rng.integers(140, 360))
    alpha_page = np.zeros((side, side), np.float32)
    alpha = _digit_alpha(digit, int(side * rng.uniform(0.5, 0.8)), 0.0, int(rng.integers(0, 3)))
    top, left = (side - alpha.shape[0]) // 2, (side - alpha.shape[1]) // 2
    h, w = alpha.shape
    alpha_page[max(0, top) : max(0, top) + h, max(0, left) : max(0, left) + w] = alpha[
        : side - max(0, top), : side - max(0, left)
    ]
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 3] = np.clip(alpha_page * 255, 0, 255).astype(np.uint8)
    return rgba


def board(digit: np.ndarray, rng: Rng) -> np.ndarray:
    height, width = 360, 480
    ground = np.array([rng.uniform(20, 70), rng.uniform(30, 80), rng.uniform(20, 60)])
    page = np.ones((height, width, 3), np.float32) * ground
    chalk = np.array([rng.uniform(200, 255)] * 3)
    alpha = _digit_alpha(
        digit, int(rng.integers(60, 200)), rng.uniform(-8, 8), int(rng.integers(0, 3))
    )
    top = int(rng.integers(10, height - alpha.shape[0] - 10)) if height - alpha.shape[0] > 20 else 0
    left = int(rng.integers(10, width - alpha.shape[1] - 10))
    _paste(page, alpha * rng.uniform(0.7, 1.0), top, left, chalk)
    return _camera(page, rng, blur=(0.3, 1.0), noise=(2, 8), quality=(70, 95))


def row(digits: list[np.ndarray], rng: Rng) -> np.ndarray:
    """Digits side by side, same height, gaps of 15-60% of the height, on lit paper."""
    height = int(rng.integers(50, 110))
    alphas = [_digit_alpha(d, height, rng.uniform(-5, 5), int(rng.integers(0, 2))) for d in digits]
    # Trim each digit to its ink columns, so the gaps are the ones chosen here.
    trimmed = []
    for alpha in alphas:
        cols = np.flatnonzero(alpha.max(axis=0) > 0.1)
        trimmed.append(alpha[:, cols[0] : cols[-1] + 1] if cols.size else alpha)
    gaps = [int(height * rng.uniform(0.15, 0.6)) for _ in trimmed]
    width = sum(a.shape[1] for a in trimmed) + sum(gaps) + 2 * height
    page_h = max(a.shape[0] for a in trimmed) + 2 * height
    paper = np.array([rng.uniform(190, 245)] * 3) - np.array([0, 5, 15])
    page = np.ones((page_h, width, 3), np.float32) * paper
    ink = np.array([rng.uniform(0, 60), rng.uniform(0, 60), rng.uniform(0, 100)])
    left = height
    for alpha, gap in zip(trimmed, gaps, strict=False):
        _paste(page, alpha, height + (page_h - 2 * height - alpha.shape[0]) // 2, left, ink)
        left += alpha.shape[1] + gap
    page *= _lighting(page.shape[:2], rng)[..., None]
    return _camera(page, rng, blur=(0.3, 0.9), noise=(1, 4), quality=(70, 95))


def scene(
    digit: np.ndarray | None,
    rng: Rng,
    *,
    size: tuple[int, int] = (640, 480),
    height: int = 150,
    offset: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """One BGR camera frame: a digit (or none) dark on a lit page near the middle, shifted by
    `offset` (hand or camera motion), with sensor noise: what a Pi camera sees of a sheet."""
    width, frame_height = size
    page = np.ones((frame_height, width, 3), np.float32) * np.array([205.0, 212.0, 218.0])
    if digit is not None:
        alpha = _digit_alpha(digit, height, 0.0)
        top = (frame_height - alpha.shape[0]) // 2 + offset[1]
        left = (width - alpha.shape[1]) // 2 + offset[0]
        _paste(page, alpha, top, left, np.array([40.0, 35.0, 30.0]))
    ys = np.linspace(0.9, 1.0, frame_height, dtype=np.float32)[:, None, None]
    page = page * ys + rng.normal(0, 4, page.shape)
    return np.clip(page, 0, 255).astype(np.uint8)


def write_video(
    path: str,
    plan: list[tuple[np.ndarray | None, int]],
    *,
    seed: int = 0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    height: int = 150,
) -> int:
    """An MJPG .avi of `plan`: each (digit or None, frames) held for that many frames while
    it drifts a few pixels, as a hand-held sheet does. Returns the number of frames written."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    count = 0
    for digit, frames in plan:
        for step in range(frames):
            drift = (int(6 * np.sin(step / 3)), int(4 * np.cos(step / 4)))
            writer.write(scene(digit, rng, size=size, height=height, offset=drift))
            count += 1
    writer.release()
    return count
