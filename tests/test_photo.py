"""Real-world inputs end to end, on the shipped default model: photos, paint files, boards,
odd file formats, pages with no digit, whole numbers and `--debug-dir`.

Every picture is generated here from MNIST *test* digits (numpy, Pillow, OpenCV), saved in the
format under test where a file is needed, and classified through the public runtime API.
The one real photo, a sheet of digits, is the repository's `examples/real/sheet.jpg`.

The single-digit styles are realistic, not exact: each style is tried on one chosen digit of
every class and may miss at most `MAX_MISSES` of the ten.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import Classifier
from edge_digits.runtime.core.number import NumberReading
from edge_digits.runtime.core.preprocess import NoDigit, load_gray, preprocess_file, preprocess_gray
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

# One MNIST test digit per class (index by label) that the model reads right as a plain array
# (checked by `test_chosen_digits_are_read_right_as_arrays`).
CHOSEN = (3, 2, 1, 30, 4, 8, 11, 0, 61, 7)
MAX_MISSES = 1  # per style, out of the ten chosen digits: these are realistic inputs
SHEET = Path(__file__).resolve().parents[1] / "examples" / "real" / "sheet.jpg"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture(scope="module")
def digits(mnist) -> list[tuple[np.ndarray, int]]:
    """The chosen MNIST test digits (28x28 uint8, light ink on black) with their labels."""
    return [(mnist.x_test[i], int(mnist.y_test[i])) for i in CHOSEN]


@pytest.fixture(scope="module")
def read_right(mnist, classifier) -> dict[int, list[int]]:
    """Per label, the indices of the first 2000 MNIST test digits the model reads right as
    plain arrays: the digits that number tests may use."""
    predicted = classifier.predict(mnist.x_test[:2000].astype(np.float32) / 255).argmax(axis=1)
    right = np.flatnonzero(predicted == mnist.y_test[:2000])
    return {label: [int(i) for i in right if mnist.y_test[i] == label] for label in range(10)}


# --------------------------------------------------------------------------- drawing


def ink_alpha(digit: np.ndarray, height: int, angle: float = 0.0) -> np.ndarray:
    """An MNIST digit as ink coverage in [0, 1], its ink about `height` px tall, rotated by
    `angle` degrees (counter-clockwise) about its centre."""
    size = max(4, round(28 * height / 20))  # MNIST ink is about 20 px tall in its 28 px frame
    alpha = cv2.resize(digit.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_CUBIC)
    if angle:
        rotation = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        alpha = cv2.warpAffine(alpha, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


def trim(alpha: np.ndarray) -> np.ndarray:
    """Cut `alpha` down to its ink's bounding box."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0.1)
    cols = np.flatnonzero(alpha.max(axis=0) > 0.1)
    return alpha[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def paste(page: np.ndarray, alpha: np.ndarray, top: int, left: int, ink) -> None:
    """Lay ink of colour `ink` with coverage `alpha` on `page` (float, H x W x C) in place."""
    h, w = alpha.shape
    region = page[top : top + h, left : left + w]
    a = alpha[: region.shape[0], : region.shape[1], None]
    region[:] = region * (1 - a) + np.asarray(ink, np.float32) * a


def centred(page: np.ndarray, alpha: np.ndarray, ink, dy: int = 0, dx: int = 0) -> np.ndarray:
    paste(
        page,
        alpha,
        (page.shape[0] - alpha.shape[0]) // 2 + dy,
        (page.shape[1] - alpha.shape[1]) // 2 + dx,
        ink,
    )
    return page


def lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A linear illumination gradient times a soft dark shadow blob (multiplicative, <= 1)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    ramp = (ramp - ramp.min()) / np.ptp(ramp)
    light = 1.0 - 0.3 * ramp
    shadow = np.zeros((height, width), np.float32)
    centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
    axes = (int(width * 0.35), int(height * 0.25))
    cv2.ellipse(shadow, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), width / 15)
    return light * (1.0 - 0.3 * shadow)


def camera(page: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Mild blur and sensor noise, as uint8."""
    page = cv2.GaussianBlur(page, (0, 0), blur)
    page = page + rng.normal(0, noise, page.shape)
    return np.clip(np.rint(page), 0, 255).astype(np.uint8)


def jpeg(image: Image.Image, quality: int = 80) -> Image.Image:
    """A JPEG round trip in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer)


# --------------------------------------------------------------------------- styles
# Each style: (MNIST digit, seeded generator) -> (Pillow image, file suffix).


def photo(digit, rng):
    """(a) a small dark digit (about 60 px tall) on a tinted 640x480 page, uneven light and a
    soft shadow, mild blur and noise, JPEG."""
    height, width = 480, 640
    page = np.ones((height, width, 3), np.float32) * np.array([228, 218, 190], np.float32)
    alpha = ink_alpha(digit, 60)
    top = int(rng.integers(120, height - 120 - alpha.shape[0]))
    left = int(rng.integers(160, width - 160 - alpha.shape[1]))
    paste(page, alpha, top, left, (35, 35, 60))
    page *= lighting(height, width, rng)[..., None]
    return Image.fromarray(camera(page, rng, blur=0.8, noise=3.0)), ".jpg"


def coloured_ink(ink):
    def style(digit, rng):
        page = np.full((300, 260, 3), 250, np.float32)
        centred(page, ink_alpha(digit, 170), ink)
        return Image.fromarray(camera(page, rng, blur=0.6, noise=2.0)), ".png"

    return style


def rgba_canvas(digit, rng):
    """(d) opaque black strokes on a fully transparent canvas whose colour is black too."""
    side = 280
    alpha = np.zeros((side, side), np.float32)
    stroke = ink_alpha(digit, 180)
    top, left = (side - stroke.shape[0]) // 2, (side - stroke.shape[1]) // 2
    alpha[top : top + stroke.shape[0], left : left + stroke.shape[1]] = stroke
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return Image.fromarray(rgba, mode="RGBA"), ".png"


def palette_png(digit, rng):
    """(e) a palette PNG: entry 0 transparent black (the ground), entry 1 opaque black (ink)."""
    side = 240
    alpha = centred(np.zeros((side, side, 1), np.float32), ink_alpha(digit, 160), (1.0,))
    image = Image.fromarray((alpha[..., 0] > 0.4).astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 0, 0, 0] + [0, 0, 0] * 254)
    image.info["transparency"] = 0
    return image, ".png"


def board(digit, rng):
    """(f) light chalk strokes on a dark green board, noisy, JPEG."""
    page = np.ones((360, 480, 3), np.float32) * np.array([35, 75, 45], np.float32)
    centred(page, ink_alpha(digit, 150), (225, 230, 225), dx=int(rng.integers(-80, 80)))
    return jpeg(Image.fromarray(camera(page, rng, blur=0.7, noise=5.0)), 85), ".jpg"


def sixteen_bit(digit, rng):
    """(g) a 16-bit grayscale scan (mode I;16): paper near white, ink near black."""
    page = np.full((320, 280, 1), 60000.0, np.float32)
    centred(page, ink_alpha(digit, 180), (4000.0,))
    values = page[..., 0] + rng.normal(0, 300, page.shape[:2])
    image = Image.fromarray(np.clip(values, 0, 65535).astype(np.uint16))
    assert image.mode == "I;16"
    return image, ".png"


def cmyk_jpeg(digit, rng):
    """(h) a CMYK JPEG (as some scanners and print workflows write)."""
    page = np.full((300, 260, 3), 245, np.float32)
    centred(page, ink_alpha(digit, 170), (20, 20, 30))
    return Image.fromarray(camera(page, rng, blur=0.6, noise=2.0)).convert("CMYK"), ".jpg"


def rotated(digit, rng):
    """(i) the digit written 10 degrees off upright, dark on white paper."""
    page = np.full((320, 320, 3), 240, np.float32)
    centred(page, ink_alpha(digit, 150, angle=10), (30, 30, 40))
    return Image.fromarray(camera(page, rng, blur=0.7, noise=2.0)), ".png"


def ruled(digit, rng):
    """(j) a digit on ruled paper: thin blue-grey lines across the page every 30 px."""
    height, width = 480, 640
    page = np.ones((height, width, 3), np.float32) * np.array([245, 245, 240], np.float32)
    for y in range(25, height, 30):
        page[y : y + 2] = (170, 190, 215)
    alpha = ink_alpha(digit, 90)
    top = int(rng.integers(110, height - 110 - alpha.shape[0]))
    left = int(rng.integers(150, width - 150 - alpha.shape[1]))
    paste(page, alpha, top, left, (30, 30, 70))
    return Image.fromarray(camera(page, rng, blur=0.7, noise=2.0)), ".jpg"


def page_edge(digit, rng):
    """(k) the page does not fill the frame: a dark table shows along one border."""
    height, width = 480, 640
    page = np.ones((height, width, 3), np.float32) * np.array([235, 232, 225], np.float32)
    side = int(rng.integers(0, 4))
    band = int(rng.integers(40, 90))
    table = (60, 45, 35)
    if side == 0:
        page[:, :band] = table
    elif side == 1:
        page[:, -band:] = table
    elif side == 2:
        page[:band] = table
    else:
        page[-band:] = table
    centred(page, ink_alpha(digit, 100), (25, 25, 35))
    page *= lighting(height, width, rng)[..., None]
    return Image.fromarray(camera(page, rng, blur=0.8, noise=3.0)), ".jpg"


STYLES = {
    "photo": photo,
    "blue-ink": coloured_ink((35, 60, 190)),
    "red-ink": coloured_ink((200, 35, 40)),
    "rgba-canvas": rgba_canvas,
    "palette-png": palette_png,
    "chalk-board": board,
    "16-bit": sixteen_bit,
    "cmyk-jpeg": cmyk_jpeg,
    "rotated-10": rotated,
    "ruled-paper": ruled,
    "page-edge": page_edge,
}


def test_chosen_digits_are_read_right_as_arrays(classifier, mnist, digits):
    assert [label for _, label in digits] == list(range(10))
    images = mnist.x_test[list(CHOSEN)].astype(np.float32) / 255
    assert list(classifier.predict(images).argmax(axis=1)) == list(range(10))


# The Pillow mode each file must really have when opened, where it is the point of the style.
FILE_MODES = {"rgba-canvas": "RGBA", "palette-png": "P", "16-bit": "I;16", "cmyk-jpeg": "CMYK"}


@pytest.mark.parametrize("style", STYLES)
def test_real_world_single_digits_are_read(classifier, digits, tmp_path, style):
    paths = []
    for seed, (digit, label) in enumerate(digits):
        image, suffix = STYLES[style](digit, np.random.default_rng(seed))
        path = tmp_path / f"{style}-{label}{suffix}"
        image.save(path, quality=85)  # `quality` matters only to JPEG
        if style in FILE_MODES:
            with Image.open(path) as saved:
                assert saved.mode == FILE_MODES[style]
        paths.append(path)
    results = list(classify_paths(classifier, paths))
    assert all(r.ok for r in results), [r.error for r in results]
    read = [r.prediction.label for r in results]
    misses = [(label, got) for label, got in zip(range(10), read, strict=True) if got != label]
    assert len(misses) <= MAX_MISSES, f"{style}: (label, read) misses {misses}"
    for r in results:
        assert r.prediction.label is None or 0 < r.prediction.score <= 1


# --------------------------------------------------------------------------- orientation


def test_exif_orientation_turns_the_photo_upright(classifier, digits, tmp_path):
    digit, label = digits[7]
    upright = np.full((360, 280, 3), 240, np.float32)
    centred(upright, ink_alpha(digit, 180), (30, 30, 40))
    upright_image = Image.fromarray(camera(upright, np.random.default_rng(0), 0.6, 2.0))
    # The sensor stored the picture turned 90 degrees counter-clockwise; the camera says
    # "rotate 90 degrees clockwise to view" (EXIF Orientation 6).
    stored = upright_image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    stored.save(path, quality=90, exif=exif)
    with Image.open(path) as saved:
        assert saved.size == (360, 280)  # stored sideways: 360 wide, 280 tall
        assert saved.getexif()[0x0112] == 6
        sideways = np.asarray(saved.convert("L"))
    gray = load_gray(path)
    np.testing.assert_array_equal(gray, np.rot90(sideways, k=-1))  # turned clockwise
    assert classifier.classify_file(path).label == label


# --------------------------------------------------------------------------- sizes


def test_a_tiny_12x12_digit_is_read(classifier, digits, tmp_path):
    misses = []
    for digit, label in digits:
        tiny = cv2.resize(255 - digit, (12, 12), interpolation=cv2.INTER_AREA)
        path = tmp_path / f"tiny-{label}.png"
        Image.fromarray(tiny).save(path)
        got = classifier.classify_file(path).label
        if got != label:
            misses.append((label, got))
    assert len(misses) <= MAX_MISSES, misses


def test_a_huge_12_megapixel_page_with_a_150_px_digit_is_read(classifier, digits, tmp_path):
    digit, label = digits[3]
    rng = np.random.default_rng(3)
    # Drawn at a tenth of the size (a lit page), enlarged, then the digit laid on at full size.
    small = np.ones((300, 400, 3), np.float32) * np.array([232, 226, 210], np.float32)
    small *= lighting(300, 400, rng)[..., None]
    page = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    top, left = 1700, 1300
    region = page[top - 50 : top + 300, left - 50 : left + 300]
    paste(region, ink_alpha(digit, 150), 50, 50, (30, 30, 50))
    noise = np.tile(rng.normal(0, 3, (300, 400, 1)).astype(np.float32), (10, 10, 1))
    path = tmp_path / "huge.jpg"
    Image.fromarray(np.clip(page + noise, 0, 255).astype(np.uint8)).save(path, quality=85)
    assert Image.open(path).size == (4000, 3000)  # 12 MP: under Pillow's bomb limit
    assert classifier.classify_file(path).label == label


# --------------------------------------------------------------------------- no digit


def blank_page(rng):
    return Image.fromarray(np.full((480, 640, 3), (238, 236, 230), np.uint8))


def noise_page(rng):
    page = np.ones((480, 640, 3), np.float32) * np.array([225, 220, 205], np.float32)
    return jpeg(Image.fromarray(camera(page, rng, blur=0.5, noise=5.0)), 60)


def ruled_page(rng):
    page = np.ones((480, 640, 3), np.float32) * np.array([245, 245, 240], np.float32)
    for y in range(25, 480, 30):
        page[y : y + 2] = (170, 190, 215)
    return jpeg(Image.fromarray(camera(page, rng, blur=0.7, noise=2.0)))


def shadow_page(rng):
    page = np.ones((480, 640, 3), np.float32) * np.array([228, 218, 190], np.float32)
    page *= lighting(480, 640, rng)[..., None]
    return jpeg(Image.fromarray(camera(page, rng, blur=0.8, noise=3.0)), 75)


@pytest.mark.pi
@pytest.mark.parametrize("page", [blank_page, noise_page, ruled_page, shadow_page])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_page_without_a_digit_gets_no_label(classifier, tmp_path, page, seed):
    path = tmp_path / f"{page.__name__}.jpg"
    page(np.random.default_rng(seed)).save(path, quality=85)
    prediction = classifier.classify_file(path)
    assert prediction.label is None, prediction
    assert prediction.score == 0.0 and prediction.reason
    assert isinstance(preprocess_file(path), NoDigit)


# --------------------------------------------------------------------------- MNIST parity


def test_500_mnist_pngs_read_exactly_as_the_arrays(classifier, mnist, tmp_path):
    paths = []
    for index in range(500):
        path = tmp_path / f"{index:04d}.png"
        Image.fromarray(mnist.x_test[index]).save(path)
        paths.append(path)
    results = list(classify_paths(classifier, paths))
    from_files = np.array([r.prediction.label for r in results])
    arrays = list(mnist.x_test[:500].astype(np.float32) / 255)
    from_arrays = np.array([p.label for p in classifier.classify_inputs(arrays)])
    truth = mnist.y_test[:500]
    # The issue asks for the same accuracy within 0.05 percentage points; in fact identical.
    assert abs((from_files == truth).mean() - (from_arrays == truth).mean()) <= 0.0005
    np.testing.assert_array_equal(from_files, from_arrays)


# --------------------------------------------------------------------------- numbers


def write_rows(
    rows: list[list[tuple[np.ndarray, int]]],
    *,
    height: int = 70,
    seed: int = 0,
    extras=None,
) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """Rows of digits (alpha, gap before it) dark on light paper -> (gray page, the column
    range of each digit per row). `extras(page, spans)` may draw more ink before the camera."""
    rng = np.random.default_rng(seed)
    widths = [sum(a.shape[1] + gap for a, gap in row) for row in rows]
    page_w = max(widths) + 2 * height
    page_h = len(rows) * height * 2 + height
    page = np.ones((page_h, page_w, 3), np.float32) * np.array([240, 236, 228], np.float32)
    spans = []
    for r, row in enumerate(rows):
        left, top, row_spans = height, height + r * 2 * height, []
        for alpha, gap in row:
            left += gap
            paste(page, alpha, top + (height - alpha.shape[0]) // 2, left, (30, 30, 60))
            row_spans.append((left, left + alpha.shape[1]))
            left += alpha.shape[1]
        spans.append(row_spans)
    if extras is not None:
        extras(page, spans)
    page *= lighting(page_h, page_w, rng)[..., None]
    gray = cv2.cvtColor(camera(page, rng, blur=0.6, noise=2.0), cv2.COLOR_RGB2GRAY)
    return gray, spans


def check_reading(reading: NumberReading, gray: np.ndarray, spans=None) -> None:
    """Structure: text = lines joined, one box per digit read (pieces that are not digits
    are listed too, left out of the text), boxes left to right within each row and inside the
    picture, scores in (0, 1]; with `spans`, each box covers its digit."""
    assert reading.text == "".join(reading.lines)
    assert len(reading.read) == len(reading.text)
    assert all(d.label is None or d in reading.read for d in reading.digits) or not reading.read
    height, width = gray.shape
    for digit in reading.digits:
        x, y, w, h = digit.box
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
    digits = iter(reading.read)
    for r, line in enumerate(reading.lines):
        row = [next(digits) for _ in line]
        assert "".join(str(d.label) for d in row) == line
        lefts = [d.box[0] for d in row]
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), lefts
        for k, digit in enumerate(row):
            x, y, w, h = digit.box
            assert x >= 0 and y >= 0 and w > 0 and h > 0, digit.box
            assert x + w <= width and y + h <= height, (digit.box, gray.shape)
            assert 0 < digit.score <= 1
            if spans is not None and len(spans[r]) == len(row):
                a, b = spans[r][k]
                assert a - 4 <= x + w / 2 <= b + 4, (digit.box, spans[r][k])


def row_alphas(mnist, read_right, text: str, height: int = 70) -> list[np.ndarray]:
    """Trimmed ink of MNIST test digits spelling `text`, each one the model reads right as an
    array (a repeated class uses a different digit each time)."""
    used: dict[int, int] = {}
    alphas = []
    for char in text:
        label = int(char)
        nth = used.get(label, 0)
        used[label] = nth + 1
        alphas.append(trim(ink_alpha(mnist.x_test[read_right[label][nth]], height)))
    return alphas


def test_2026_is_read(classifier, mnist, read_right):
    alphas = row_alphas(mnist, read_right, "2026")
    gray, spans = write_rows([[(a, 0 if k == 0 else 22) for k, a in enumerate(alphas)]])
    reading = classifier.read_number(gray)
    assert reading.text == "2026" and reading.lines == ("2026",)
    check_reading(reading, gray, spans)


def test_a_meter_reading_with_uneven_gaps_is_read(classifier, mnist, read_right):
    alphas = row_alphas(mnist, read_right, "40817", height=60)
    gaps = [0, 10, 35, 14, 50]
    gray, spans = write_rows([list(zip(alphas, gaps, strict=True))], height=60, seed=1)
    reading = classifier.read_number(gray)
    assert reading.text == "40817" and reading.lines == ("40817",)
    check_reading(reading, gray, spans)


def test_two_rows_read_top_to_bottom(classifier, mnist, read_right):
    first, second = row_alphas(mnist, read_right, "12"), row_alphas(mnist, read_right, "345")
    rows = [[(a, 20) for a in first], [(a, 20) for a in second]]
    gray, spans = write_rows(rows, seed=2)
    reading = classifier.read_number(gray)
    assert reading.lines == ("12", "345") and reading.text == "12345"
    check_reading(reading, gray, spans)
    tops = [d.box[1] for d in reading.digits]
    assert max(tops[:2]) < min(tops[2:])  # the first row lies above the second


def dark_components(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of each connected piece of dark ink (an independent check)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(
        (gray < 128).astype(np.uint8), connectivity=8
    )
    return [tuple(int(v) for v in stats[i, :4]) for i in range(1, count) if stats[i, 4] >= 20]


def touching_case(pair: str, reason: str):
    return pytest.param(pair, marks=pytest.mark.xfail(strict=True, reason=reason))


DETACHED_BAR = (
    "library weakness: the 5's detached top bar is joined to the touching 7, so the 5's "
    "body and the bar+7 blob are grouped apart and the bar is read as a digit of its own"
)


@pytest.mark.parametrize("overlap", [3, 4])
@pytest.mark.parametrize(
    "pair",
    [
        "47",
        "64",
        "89",
        "21",
        "17",  # failed with 0.2.0's model, whose read_right 1 was narrower (SPLIT_FROM)
        "36",
        touching_case("57", DETACHED_BAR),
    ],
)
def test_touching_digits_are_both_read(classifier, mnist, read_right, pair, overlap):
    first, second = row_alphas(mnist, read_right, pair)
    gray, spans = write_rows([[(first, 0), (second, -overlap)]], seed=3)
    # The two digits' ink is joined: one dark piece reaches well into both digits.
    (_, a1), (b0, _) = spans[0]
    assert any(
        x < a1 - overlap - 2 and x + w > b0 + overlap + 2 for x, _, w, _ in dark_components(gray)
    )
    reading = classifier.read_number(gray)
    assert reading.text == pair and reading.lines == (pair,)
    check_reading(reading, gray, spans)


def broken(alpha: np.ndarray) -> np.ndarray:
    """`alpha` with a 2-px horizontal band through its middle erased: two blobs."""
    alpha = alpha.copy()
    middle = alpha.shape[0] // 2
    alpha[middle - 1 : middle + 1] = 0
    return alpha


@pytest.mark.parametrize(
    "text",
    ["0", "8", "305", "182"],
)
def test_a_broken_digit_is_one_digit(classifier, mnist, read_right, text):
    alphas = row_alphas(mnist, read_right, text)
    target = text.index("0") if "0" in text else text.index("8")
    alphas[target] = broken(alphas[target])
    gray, spans = write_rows([[(a, 0 if k == 0 else 24) for k, a in enumerate(alphas)]], seed=4)
    # The broken digit really is two pieces of ink, one above the other.
    a, b = spans[0][target]
    pieces = [c for c in dark_components(gray) if a - 2 <= c[0] and c[0] + c[2] <= b + 2]
    assert len(pieces) == 2, pieces
    reading = classifier.read_number(gray)
    assert reading.text == text and reading.lines == (text,)
    check_reading(reading, gray, spans)


@pytest.mark.parametrize("mark", ["dot", "comma"])
def test_a_dot_or_comma_between_digits_is_ignored(classifier, mnist, read_right, mark):
    alphas = row_alphas(mnist, read_right, "125")
    height = 70

    def punctuate(page, spans):
        row = spans[0]
        x = (row[1][1] + row[2][0]) // 2
        base = height + height - 8  # the digits' baseline
        if mark == "dot":
            cv2.circle(page, (x, base), 4, (30, 30, 60), -1)
        else:
            cv2.line(page, (x + 2, base - 2), (x - 3, base + 9), (30, 30, 60), 4)

    gray, spans = write_rows(
        [[(a, 0 if k == 0 else 26) for k, a in enumerate(alphas)]], seed=5, extras=punctuate
    )
    # The mark is there, a piece of ink of its own between the 2 and the 5.
    row = spans[0]
    assert any(row[1][1] < x and x + w < row[2][0] for x, _, w, _ in dark_components(gray))
    reading = classifier.read_number(gray)
    assert reading.text == "125" and reading.lines == ("125",)
    check_reading(reading, gray, spans)


def test_the_real_sheet_reads_0_to_9(classifier):
    gray = load_gray(SHEET)
    reading = classifier.read_number(gray)
    assert reading.text == "0123456789"
    assert reading.lines == ("012", "345", "678", "9")
    check_reading(reading, gray)


# --------------------------------------------------------------------------- --debug-dir


def test_debug_dir_writes_every_step_of_a_number(classifier, mnist, read_right, tmp_path):
    gray, _ = write_rows(
        [[(a, 0 if k == 0 else 24) for k, a in enumerate(row_alphas(mnist, read_right, "47"))]]
    )
    path = tmp_path / "two digits.png"
    Image.fromarray(gray).save(path)
    debug = tmp_path / "debug"
    debug.mkdir()
    (result,) = classify_paths(classifier, [path], number=True, debug_dir=debug)
    assert result.ok and result.number is not None and result.number.text == "47"
    steps = ["1-gray", "2-ink", "3-blobs", "4-found", "5-input"]
    expected = {f"0000-two digits.{step}.png" for step in steps}
    assert {p.name for p in debug.iterdir()} == expected
    tiles = np.asarray(Image.open(debug / "0000-two digits.5-input.png"))
    assert tiles.shape[:2] == (30 * 8, 2 * 30 * 8)  # two 28x28 inputs, 1 px frame, 8x
    assert np.asarray(Image.open(debug / "0000-two digits.1-gray.png")).shape[:2] == gray.shape


# --------------------------------------------------------------------------- determinism


def test_preprocessing_a_photo_is_deterministic(digits):
    image, _ = photo(digits[4][0], np.random.default_rng(4))
    gray = np.asarray(image.convert("L"))
    first, second = preprocess_gray(gray), preprocess_gray(gray.copy())
    assert isinstance(first, np.ndarray)
    np.testing.assert_array_equal(first, second)


# --------------------------------------------------------------------------- property


@st.composite
def sketches(draw) -> np.ndarray:
    """A ground of one grey with up to eight rectangles of other greys: unlike uniform random
    arrays, these often hold blobs that the number reader takes for digits."""
    height, width = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    image = np.full((height, width), draw(st.integers(0, 255)), np.uint8)
    for _ in range(draw(st.integers(0, 8))):
        y0, x0 = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        y1, x1 = draw(st.integers(y0, height - 1)), draw(st.integers(x0, width - 1))
        image[y0 : y1 + 1, x0 : x1 + 1] = draw(st.integers(0, 255))
    return image


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        arrays(np.uint8, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=80)),
        sketches(),
    )
)
def test_read_number_never_raises_on_any_small_array(classifier, image):
    reading = classifier.read_number(image)
    assert isinstance(reading, NumberReading)
    assert len(reading.text) == len(reading.read) == sum(len(line) for line in reading.lines)
    assert all(line for line in reading.lines)
    check_reading(reading, image)


# --------------------------------------------------------------------------- review cases


def _ink_crop(digit: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(digit > 30)
    return digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def test_black_on_white_28x28_digits_read_like_mnist(classifier, mnist):
    # A paint program's 28x28 export: dark ink on white, the photo path (not passed through).
    inputs = [preprocess_gray(255 - mnist.x_test[i]) for i in range(300)]
    labels = [p.label for p in classifier.classify_inputs(inputs)]
    assert np.mean(np.array(labels) == mnist.y_test[:300]) >= 0.98


def test_tightly_cropped_digits_touching_every_border_are_read(classifier, mnist):
    pictures = [cv2.resize(255 - _ink_crop(mnist.x_test[i]), None, fx=5, fy=5) for i in range(200)]
    labels = [p.label for p in classifier.classify_inputs([preprocess_gray(p) for p in pictures])]
    assert np.mean(np.array(labels) == mnist.y_test[:200]) >= 0.9


def test_a_speck_does_not_beat_a_digit_that_touches_the_border(classifier, mnist, read_right):
    index = read_right[0][0]  # a 0
    digit = cv2.resize(255 - _ink_crop(mnist.x_test[index]), None, fx=6, fy=6)
    page = np.full((digit.shape[0] + 40, digit.shape[1] + 80), 255, np.uint8)
    page[20 : 20 + digit.shape[0], 0 : digit.shape[1]] = digit  # touching the left edge
    cv2.circle(page, (page.shape[1] - 25, page.shape[0] // 2), 4, 0, -1)  # a small dot
    assert classifier.classify_array(page).label == mnist.y_test[index]


def test_a_bold_digit_covering_most_of_the_picture_keeps_its_polarity(
    classifier, mnist, read_right
):
    index = read_right[8][0]  # an 8
    thick = cv2.dilate(mnist.x_test[index], np.ones((3, 3), np.uint8))  # MNIST ink is bright
    bold = 255 - cv2.resize(_ink_crop(thick), None, fx=6, fy=6)  # dark, thick, tightly cropped
    assert (bold < 128).mean() > 0.3
    inputs = preprocess_gray(bold)
    assert isinstance(inputs, np.ndarray)
    border = np.concatenate([inputs[0], inputs[-1], inputs[:, 0], inputs[:, -1]])
    assert border.max() < 0.1 and inputs.mean() < 0.5  # light ink on a dark ground, as MNIST
    # The best digit is the 8 (polarity kept). The default model calls so bold a blob "not a
    # digit" (p 0.92): far bolder than any digit it learned, README says so.
    assert classifier.classify_array(bold).top_k[0][0] == mnist.y_test[index]


def test_boxes_of_a_long_strip_lie_on_their_digits(classifier, mnist, read_right):
    digits = [255 - mnist.x_test[read_right[d][0]] for d in (2, 0, 2, 6, 1)]
    strip = np.full((90, 1800), 255, np.uint8)
    lefts = [60, 420, 780, 1140, 1500]
    for left, digit in zip(lefts, digits, strict=True):
        strip[5:89, left : left + 84] = cv2.resize(digit, (84, 84))
    reading = classifier.read_number(strip)
    assert reading.text == "20261"
    for left, digit in zip(lefts, reading.digits, strict=True):
        x, _, w, _ = digit.box
        assert left - 4 <= x and x + w <= left + 84 + 4


@pytest.mark.pi
@pytest.mark.parametrize(
    ("draw", "reason"),
    [
        (lambda page: cv2.line(page, (250, 240), (390, 240), 0, 6), "too flat for a digit"),
        (lambda page: cv2.circle(page, (320, 240), 6, 0, -1), "too small for a digit"),
    ],
    ids=["dash", "dot"],
)
def test_a_stray_mark_is_not_a_digit(classifier, draw, reason):
    page = np.full((480, 640), 240, np.uint8)
    draw(page)
    prediction = classifier.classify_array(page)
    assert prediction.label is None and reason in prediction.reason


def test_arrays_of_other_types_keep_their_meaning(classifier, mnist, read_right):
    index = read_right[7][0]
    digit, label = mnist.x_test[index], int(mnist.y_test[index])
    for array in (digit / 255.0, digit > 100, digit.astype(np.uint16) * 16, digit.astype(np.int64)):
        assert classifier.classify_array(array).label == label, array.dtype


def test_a_very_long_file_name_does_not_stop_the_debug_dir(classifier, mnist, tmp_path):
    path = tmp_path / ("d" * 240 + ".png")
    Image.fromarray(255 - mnist.x_test[0]).resize((112, 112)).save(path)
    results = list(classify_paths(classifier, [str(path)], debug_dir=tmp_path / "debug"))
    assert results[0].ok and results[0].prediction.label == mnist.y_test[0]
    assert len(list((tmp_path / "debug").iterdir())) == 5


# -- pieces of one digit, stacked ---------------------------------------------------------


def segments(lit: str, left: int = 40, slant: int = 0) -> np.ndarray:
    """A seven-segment digit's lit segments ("abc" is a 7), dark on white, 120x100, the
    middle segment's place a gap: the upper and lower segments are separate pieces.
    `slant` shifts the upper segments right by that many pixels (an italic display)."""
    page = np.full((120, 100 + 2 * left), 250, np.uint8)
    top, bottom = (lambda x: x + slant), (lambda x: x)
    boxes = {
        "a": (top(left + 6), 14, top(left + 34), 20),
        "b": (top(left + 36), 22, top(left + 42), 54),
        "f": (top(left), 22, top(left + 6), 54),
        "c": (bottom(left + 36), 66, bottom(left + 42), 98),
        "e": (bottom(left), 66, bottom(left + 6), 98),
        "d": (bottom(left + 6), 100, bottom(left + 34), 106),
    }
    for name in lit:
        x0, y0, x1, y1 = boxes[name]
        page[y0:y1, x0:x1] = 20
    return page


@pytest.mark.parametrize("lit, slant", [("abc", 0), ("abc", 4), ("bc", 0), ("abcdef", 3)])
def test_the_pieces_of_a_segmented_digit_are_kept_together(lit, slant):
    from edge_digits.runtime.core.photo import analyse, choose_digit, union_box

    picture = segments(lit, slant=slant)
    analysed = analyse(picture)
    assert analysed is not None
    chosen = choose_digit(analysed.blobs, analysed.ink.shape)
    assert len(chosen) == len(analysed.blobs)  # every piece, the gap notwithstanding
    height = union_box(chosen)[3]
    scale_y = picture.shape[0] / analysed.ink.shape[0]
    assert height * scale_y > 70  # from the top segments to the bottom ones (one is 32 tall)


def test_a_digit_beside_another_is_not_merged_into_it():
    from edge_digits.runtime.core.photo import analyse, choose_digit

    picture = np.concatenate([segments("bc", left=20), segments("abcdef", left=20)], axis=1)
    analysed = analyse(picture)
    assert analysed is not None
    chosen = choose_digit(analysed.blobs, analysed.ink.shape)
    lefts = sorted({blob.x < analysed.ink.shape[1] / 2 for blob in chosen})
    assert len(lefts) == 1  # pieces of one of the two digits only


def test_a_column_of_digits_is_not_taken_in_one_by_one():
    """Three 1s stacked with gaps of 2/3 of a digit's height: one piece at most joins from
    afar (the other half of a seven-segment digit), so never the whole column."""
    page = np.full((300, 120), 250, np.uint8)
    for top in (20, 120, 220):  # 60 tall, gaps of 40
        page[top : top + 60, 55:65] = 20
    from edge_digits.runtime.core.photo import analyse, choose_digit

    analysed = analyse(page)
    assert analysed is not None and len(analysed.blobs) == 3
    assert len(choose_digit(analysed.blobs, analysed.ink.shape)) < 3
