"""Tests of edge_digits.runtime.core.preprocess: image file or array -> the 28x28 model input.

Every image is drawn in the test with Pillow (thick strokes on a large canvas), saved in the
format under test where a file is needed, and compared with the plain 8-bit black-on-white
version of the same drawing.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.preprocess import (
    NoDigit,
    load_gray,
    pil_to_gray,
    preprocess_file,
    preprocess_gray,
)
from edge_digits.runtime.core.sidecar import PreprocessSettings
from edge_digits.runtime.errors import InputError
from hypothesis import given, settings
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image, ImageDraw

CENTRE = 13.5  # (28 - 1) / 2

# --------------------------------------------------------------------------- drawing


def draw(shape: str, *, mode: str = "L", bg=255, ink=0, size=None) -> Image.Image:
    """A digit-like shape drawn with thick strokes on a large canvas."""
    sizes = {"one": (300, 400), "zero": (300, 400), "seven": (240, 320), "bar": (400, 300)}
    image = Image.new(mode, size or sizes[shape], bg)
    pen = ImageDraw.Draw(image)
    if shape == "one":
        pen.line([(150, 60), (150, 340)], fill=ink, width=28)
        pen.line([(150, 60), (105, 110)], fill=ink, width=24)
    elif shape == "zero":
        pen.ellipse([70, 60, 230, 340], outline=ink, width=24)
    elif shape == "seven":
        pen.line([(50, 60), (190, 60)], fill=ink, width=22)
        pen.line([(185, 60), (90, 270)], fill=ink, width=22)
    elif shape == "bar":
        pen.rectangle([40, 90, 360, 210], fill=ink)  # wide, but not dash-flat (< 3:1)
    else:
        raise ValueError(shape)
    return image


def gray(shape: str) -> np.ndarray:
    return np.asarray(draw(shape), dtype=np.uint8)


def ink_box(values: np.ndarray, threshold: float) -> tuple[int, int]:
    """(height, width) of the bounding box of pixels above `threshold`."""
    rows = np.flatnonzero((values > threshold).any(axis=1))
    cols = np.flatnonzero((values > threshold).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(values: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(values.shape)
    total = float(values.sum())
    return float((rows * values).sum()) / total, float((cols * values).sum()) / total


def assert_model_input(out, size: int = 28) -> np.ndarray:
    assert isinstance(out, np.ndarray), out
    assert out.shape == (size, size)
    assert out.dtype == np.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    return out


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


# --------------------------------------------------------------------------- geometry


@pytest.mark.pi
@pytest.mark.parametrize("shape", ["one", "zero", "seven", "bar"])
def test_output_is_a_28x28_float32_in_unit_range(shape):
    out = assert_model_input(preprocess_gray(gray(shape)))
    assert float(out.max()) == 1.0  # the ink is stretched to full range
    assert float(out.min()) == 0.0
    # values are whole grey levels scaled by 1/255, like the training data
    np.testing.assert_allclose(out * 255, np.rint(out * 255), atol=1e-4)


@pytest.mark.pi
@pytest.mark.parametrize("shape", ["one", "zero", "seven", "bar"])
def test_ink_is_fitted_into_a_20_pixel_box_keeping_the_aspect_ratio(shape):
    source = gray(shape)
    in_height, in_width = ink_box(255 - source, 127)
    out = assert_model_input(preprocess_gray(source))
    height, width = ink_box(out, 0.0)
    assert max(height, width) <= 20
    assert abs(max(height, width) - 20) <= 1
    # the shorter side keeps the source's proportion (within a pixel of rounding and blur)
    expected_short = 20 * min(in_height, in_width) / max(in_height, in_width)
    assert abs(min(height, width) - expected_short) <= 1.5
    assert (height >= width) == (in_height >= in_width)


@pytest.mark.pi
@pytest.mark.parametrize("shape", ["one", "zero", "seven", "bar"])
def test_centre_of_mass_is_at_the_centre(shape):
    out = assert_model_input(preprocess_gray(gray(shape)))
    row, col = centre_of_mass(out)
    assert abs(row - CENTRE) <= 1.0
    assert abs(col - CENTRE) <= 1.0


@pytest.mark.pi
def test_off_centre_digit_on_a_large_canvas_is_recentred():
    image = draw("zero", size=(900, 700))  # the ring sits in the top-left corner
    out = assert_model_input(preprocess_gray(np.asarray(image)))
    np.testing.assert_allclose(centre_of_mass(out), (CENTRE, CENTRE), atol=1.0)
    assert max(ink_box(out, 0.0)) == 20


@pytest.mark.pi
def test_other_settings_are_honoured():
    custom = PreprocessSettings(size=32, box=24)
    out = assert_model_input(preprocess_gray(gray("seven"), custom), size=32)
    assert abs(max(ink_box(out, 0.0)) - 24) <= 1
    np.testing.assert_allclose(centre_of_mass(out), (15.5, 15.5), atol=1.0)


# --------------------------------------------------------------------------- polarity


@pytest.mark.pi
@pytest.mark.parametrize("shape", ["one", "zero", "seven", "bar"])
def test_black_on_white_equals_white_on_black(shape):
    black_on_white = gray(shape)
    white_on_black = 255 - black_on_white
    a = assert_model_input(preprocess_gray(black_on_white))
    b = assert_model_input(preprocess_gray(white_on_black))
    assert float(np.abs(a - b).max()) <= 1 / 255 + 1e-6


@pytest.mark.pi
def test_grey_ink_on_off_white_paper_gives_the_same_digit():
    """Background level and ink contrast are normalised away (a typical photo); only the
    thresholded edge may move by a pixel."""
    photo = np.asarray(draw("seven", bg=215, ink=70))
    clean = np.asarray(draw("seven"))
    difference = np.abs(
        assert_model_input(preprocess_gray(photo)) - assert_model_input(preprocess_gray(clean))
    )
    assert float(difference.mean()) <= 0.01
    assert int((difference > 0.1).sum()) <= 8  # 1% of the 784 pixels


@pytest.mark.pi
@pytest.mark.parametrize(("bg", "ink"), [(100, 0), (140, 255)], ids=["dark-paper", "chalk"])
def test_digit_on_mid_grey_background_is_found(bg, ink):
    image = np.asarray(draw("seven", bg=bg, ink=ink))
    out = assert_model_input(preprocess_gray(image))
    expected = preprocess_gray(np.asarray(draw("seven")))
    assert float(np.abs(out - expected).max()) <= 2 / 255 + 1e-6


@pytest.mark.pi
def test_small_digit_on_a_large_canvas_is_found():
    image = Image.new("L", (1000, 1000), 255)
    ImageDraw.Draw(image).line([(500, 440), (500, 560)], fill=0, width=6)  # 0.07% of pixels
    out = assert_model_input(preprocess_gray(np.asarray(image)))
    assert max(ink_box(out, 0.0)) == 20


# --------------------------------------------------------------------------- file formats


@pytest.fixture
def black_on_white_png(tmp_path) -> Path:
    return save(draw("seven"), tmp_path / "plain.png")


@pytest.mark.pi
def test_png_file_equals_the_array(black_on_white_png):
    loaded = load_gray(black_on_white_png)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, gray("seven"))
    np.testing.assert_array_equal(
        preprocess_file(black_on_white_png), preprocess_gray(gray("seven"))
    )


@pytest.mark.pi
@pytest.mark.parametrize(
    ("mode", "bg", "ink"),
    [("RGBA", (0, 0, 0, 0), (0, 0, 0, 255)), ("LA", (0, 0), (0, 255))],
)
def test_transparent_background_is_composited_over_white(tmp_path, mode, bg, ink):
    # the transparent pixels are black underneath: ignoring alpha would give a black square
    path = save(draw("seven", mode=mode, bg=bg, ink=ink), tmp_path / "alpha.png")
    with Image.open(path) as image:
        assert image.mode == mode
    np.testing.assert_array_equal(load_gray(path), gray("seven"))
    np.testing.assert_array_equal(preprocess_file(path), preprocess_gray(gray("seven")))


@pytest.mark.pi
def test_palette_png_with_transparency(tmp_path):
    image = draw("seven", mode="P", bg=0, ink=1)
    image.putpalette([0, 0, 0, 0, 0, 0] + [255, 255, 255] * 254)  # both entries are black
    path = save(image, tmp_path / "palette.png", transparency=0)
    with Image.open(path) as reopened:
        assert reopened.mode == "P" and "transparency" in reopened.info
    np.testing.assert_array_equal(load_gray(path), gray("seven"))
    np.testing.assert_array_equal(preprocess_file(path), preprocess_gray(gray("seven")))


@pytest.mark.pi
def test_sixteen_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    wide = gray("seven").astype(np.uint16) * 257  # 0 -> 0, 255 -> 65535
    path = save(Image.fromarray(wide), tmp_path / "deep.png")
    with Image.open(path) as image:
        assert image.mode == "I;16"
    loaded = load_gray(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, gray("seven"))
    np.testing.assert_array_equal(preprocess_file(path), preprocess_gray(gray("seven")))


@pytest.mark.pi
def test_sixteen_bit_mid_grey_is_scaled_proportionally():
    values = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(pil_to_gray(Image.fromarray(values)), [[0, 64, 128, 255]])


@pytest.mark.pi
def test_rgb_jpeg_is_read_as_luminance(tmp_path):
    image = draw("seven", mode="RGB", bg=(255, 255, 255), ink=(0, 0, 0))
    path = save(image, tmp_path / "colour.jpg", quality=95)
    loaded = load_gray(path)
    assert loaded.shape == (320, 240)
    assert float(np.abs(loaded.astype(int) - gray("seven")).mean()) < 2


@pytest.mark.pi
def test_exif_orientation_is_applied(tmp_path):
    stored = draw("seven")  # 240 wide, 320 high
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = save(stored, tmp_path / "phone.jpg", quality=95, exif=exif)
    displayed = np.rot90(np.asarray(stored), k=-1)  # clockwise

    loaded = load_gray(path)
    assert loaded.shape == displayed.shape == (240, 320)
    assert float(np.abs(loaded.astype(int) - displayed).mean()) < 3

    out = assert_model_input(preprocess_file(path))
    upright = preprocess_gray(np.ascontiguousarray(displayed))
    as_stored = preprocess_gray(np.asarray(stored))
    close = float(np.abs(out - upright).mean())
    assert close < 0.02
    assert float(np.abs(out - as_stored).mean()) > 5 * close


@pytest.mark.pi
def test_first_frame_of_an_animation_is_used(tmp_path):
    frames = [draw("one"), draw("zero")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(path) as image:
        assert image.n_frames == 2
    np.testing.assert_array_equal(load_gray(path), gray("one"))


# --------------------------------------------------------------------------- MNIST-like input


@pytest.fixture
def mnist_like() -> np.ndarray:
    rng = np.random.default_rng(7)
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:23, 9:19] = rng.integers(0, 256, (18, 10), dtype=np.uint8)
    digit[6, 10] = 255
    return digit


@pytest.mark.pi
def test_mnist_like_array_passes_through_unchanged(mnist_like):
    out = assert_model_input(preprocess_gray(mnist_like))
    # exactly the uint8 value times the settings' float32 scale (as evaluate.py scores arrays)
    np.testing.assert_array_equal(out, mnist_like.astype(np.float32) * np.float32(1 / 255))
    np.testing.assert_array_equal(np.rint(out * 255).astype(np.uint8), mnist_like)
    np.testing.assert_allclose(out, mnist_like / 255, rtol=1e-6, atol=0)


@pytest.mark.pi
def test_mnist_like_png_scores_as_the_array(tmp_path, mnist_like):
    path = save(Image.fromarray(mnist_like), tmp_path / "mnist.png")
    np.testing.assert_array_equal(preprocess_file(path), preprocess_gray(mnist_like))


@pytest.mark.pi
def test_28x28_with_light_border_is_not_passed_through(mnist_like):
    inverted = 255 - mnist_like
    out = assert_model_input(preprocess_gray(inverted))
    assert abs(max(ink_box(out, 0.0)) - 20) <= 1


# --------------------------------------------------------------------------- no digit


@pytest.mark.pi
@pytest.mark.parametrize(
    "image",
    [
        pytest.param(np.full((120, 90), 255, np.uint8), id="white"),
        pytest.param(np.zeros((120, 90), np.uint8), id="black"),
        pytest.param(np.full((64, 64), 128, np.uint8), id="mid-grey"),
        pytest.param(np.full((28, 28), 200, np.uint8), id="light-28x28"),
        pytest.param(np.full((1, 1), 0, np.uint8), id="one-pixel"),
        pytest.param(
            np.random.default_rng(1).integers(240, 256, (100, 100), dtype=np.uint8),
            id="faint-noise",
        ),
    ],
)
def test_blank_image_gives_no_digit_with_a_reason(image):
    out = preprocess_gray(image)
    assert isinstance(out, NoDigit)
    assert isinstance(out.reason, str) and out.reason.strip()
    assert "no ink" in out.reason


@pytest.mark.pi
@pytest.mark.parametrize("level", [0, 20])
def test_blank_28x28_dark_image_gives_no_digit(level):
    assert isinstance(preprocess_gray(np.full((28, 28), level, np.uint8)), NoDigit)


@pytest.mark.pi
def test_blank_png_file_gives_no_digit(tmp_path):
    path = save(Image.new("L", (200, 200), 255), tmp_path / "blank.png")
    assert isinstance(preprocess_file(path), NoDigit)


# --------------------------------------------------------------------------- bad input


def _png_bytes() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (128, 128), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.pi
@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.png", b"", "not an image"),
        (
            "noise.png",
            bytes(np.random.default_rng(2).integers(0, 256, 4096, np.uint8)),
            "not an image",
        ),
        ("page.png", b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", "not an image"),
        ("half.png", _png_bytes()[: len(_png_bytes()) // 2], "truncated"),
        ("notes.jpg", b"digits: 7 2 1\n" * 50, "not an image"),
    ],
    ids=["empty", "random-bytes", "html", "truncated-png", "text-as-jpg"],
)
def test_unreadable_file_raises_input_error_naming_it(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    for call in (load_gray, preprocess_file):
        with pytest.raises(InputError) as info:
            call(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ")
        assert fragment in message
        assert "\n" not in message
        assert info.value.exit_code == 1


@pytest.mark.pi
def test_missing_file_raises_input_error_naming_it(tmp_path):
    path = tmp_path / "nowhere" / "digit.png"
    with pytest.raises(InputError) as info:
        load_gray(path)
    assert str(info.value) == f"{path}: no such file"


@pytest.mark.pi
def test_directory_raises_input_error_naming_it(tmp_path):
    folder = tmp_path / "digits.png"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        load_gray(folder)
    assert str(info.value).startswith(f"{folder}: ")
    assert "folder" in str(info.value)


@pytest.mark.pi
def test_decompression_bomb_is_an_input_error(tmp_path, monkeypatch):
    path = save(draw("one"), tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 120,000 px is over twice that
    with pytest.raises(InputError) as info:
        load_gray(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "too many pixels" in str(info.value)


@pytest.mark.pi
@pytest.mark.parametrize(
    "shape", [(28, 28, 3), (28, 28, 1), (1, 28, 28), (784,), (), (0, 28), (28, 0)]
)
def test_preprocess_gray_rejects_arrays_that_are_not_2d_images(shape):
    with pytest.raises(InputError) as info:
        preprocess_gray(np.zeros(shape, dtype=np.uint8))
    assert str(shape) in str(info.value) or str(shape).replace(" ", "") in str(info.value)


@pytest.mark.pi
def test_preprocess_gray_accepts_other_numeric_dtypes():
    expected = preprocess_gray(gray("seven"))
    for dtype in (np.float64, np.int32, np.uint16):
        np.testing.assert_array_equal(preprocess_gray(gray("seven").astype(dtype)), expected)


# --------------------------------------------------------------------------- property


@settings(max_examples=200, deadline=None)
@given(arrays(np.uint8, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=64)))
def test_any_2d_uint8_array_gives_no_digit_or_a_valid_input(image):
    out = preprocess_gray(image)
    if isinstance(out, NoDigit):
        assert out.reason
    else:
        assert_model_input(out)


# -- colour pictures: luma, or the channel that shows the digit ------------------------------

SEVEN = Path(__file__).resolve().parents[1] / "examples" / "mnist_test_0000_label7.png"


def coloured(background: tuple[int, int, int], ink: tuple[int, int, int]) -> Image.Image:
    """examples/mnist_test_0000_label7.png's 7, in `ink` on `background`, 4x larger."""
    strength = np.asarray(Image.open(SEVEN).convert("L").resize((112, 112)), np.float32) / 255
    back, front = np.array(background, np.float32), np.array(ink, np.float32)
    pixels = back + strength[..., None] * (front - back)
    return Image.fromarray(pixels.round().astype(np.uint8), "RGB")


def test_a_blue_led_digit_on_a_dark_face_is_read_from_its_blue_channel():
    picture = coloured((18, 20, 28), (60, 70, 250))  # luma: 19 to 81; blue: 28 to 250
    gray = pil_to_gray(picture)
    assert np.array_equal(gray, np.asarray(picture)[..., 2])
    large = Image.open(SEVEN).convert("L").resize((112, 112))
    plain = assert_model_input(preprocess_gray(np.asarray(large)))
    seen = assert_model_input(preprocess_gray(gray))
    assert np.corrcoef(plain.ravel(), seen.ravel())[0, 1] > 0.9  # the same 7


def test_contrasted_colour_and_gray_pictures_keep_luma():
    pictures = [
        coloured((250, 250, 245), (30, 40, 150)),  # blue ink on white paper
        coloured((0, 0, 0), (255, 255, 255)),  # white on black
        coloured((120, 120, 120), (170, 170, 170)),  # grey on grey: no channel does better
    ]
    for picture in pictures:
        assert np.array_equal(pil_to_gray(picture), np.asarray(picture.convert("L")))
