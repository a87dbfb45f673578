"""From an image file or array to the 28x28 input the model was trained on.

Step by step (each step is one small function, all deterministic):

1. ``load_gray``: decode with Pillow, apply the EXIF orientation, composite any alpha over
   white, take the first frame of an animation, and convert to 8-bit grayscale (16-bit
   images are scaled, not clipped). Coloured ink stays dark (see ``pil_to_gray``).
2. ``photo.find_digit``: find the digit in the picture: polarity, illumination flattening,
   thresholding and speck removal, choosing the dominant ink region, stroke-width
   normalisation (see ``runtime/photo.py``).
3. ``fit_box``: resize so the longer side is ``box`` pixels (20), keeping the aspect ratio.
4. ``center_by_mass``: paste into ``size`` x ``size`` (28) with the centre of mass at the centre.
5. ``scale_pixels``: float32, exactly as the training data (``settings.scale``).

An input that is already MNIST-like (28x28, dark border, bright ink) skips steps 2-4 so that
MNIST test digits saved as PNG score exactly as the arrays do. A picture with no ink gives
``NoDigit`` instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .sidecar import PreprocessSettings

# Pillow's own guard against decompression bombs (about 179 megapixels by default) stays on;
# an image above it is reported as an input error, not read.
MIN_CONTRAST = 24  # grey levels between an MNIST-like input's background and its ink
FLATTEST = 3.0  # a mark wider than this times its height is a dash or a line, not a digit
TINIEST = 15  # px tall (in the picture); smaller marks are dots, unless the picture is tiny


@dataclass(frozen=True)
class NoDigit:
    """Preprocessing found no digit to classify; `reason` says why."""

    reason: str


def scale_pixels(values: np.ndarray, scale: float = 1.0 / 255.0) -> np.ndarray:
    """Pixel values (0-255) -> float32 model input. Training, conversion, evaluation and the
    runtime all call this one function, so a digit is the same numbers everywhere."""
    return np.asarray(values, dtype=np.float32) * np.float32(scale)


def load_gray(path: Path) -> np.ndarray:
    """Decode an image file to a uint8 grayscale array (H, W); InputError names the file."""
    try:
        with Image.open(path) as image:
            image.seek(0)  # the first frame of an animation
            ImageOps.exif_transpose(image, in_place=True)
            return pil_to_gray(image)
    except FileNotFoundError:
        if Path(path).is_symlink():
            raise InputError(f"{path}: broken symbolic link (its target does not exist)") from None
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; check the file's read permission") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise InputError(
            f"{path}: not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP...)"
        ) from None
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: image has too many pixels (over Pillow's {Image.MAX_IMAGE_PIXELS} limit); resize it first"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise InputError(
            f"{path}: damaged or truncated image ({reason}); re-export or re-copy it"
        ) from None


def pil_to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow image to uint8 grayscale, transparency composited over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _as_gray(np.asarray(image))  # 16-bit, 32-bit and float: scaled by their range
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]])


def fit_box(values: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is `box` pixels, keeping the aspect ratio (antialiased)."""
    height, width = values.shape
    factor = box / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    image = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32).clip(0, 255)


def center_by_mass(digit: np.ndarray, size: int) -> np.ndarray:
    """Place `digit` in a size x size canvas with its centre of mass at the centre."""
    height, width = digit.shape
    total = float(digit.sum())
    rows, cols = np.indices(digit.shape)
    mass_row = float((rows * digit).sum()) / total if total else (height - 1) / 2
    mass_col = float((cols * digit).sum()) / total if total else (width - 1) / 2
    top = int(np.clip(round((size - 1) / 2 - mass_row), 0, size - height))
    left = int(np.clip(round((size - 1) / 2 - mass_col), 0, size - width))
    canvas = np.zeros((size, size), dtype=np.float32)
    canvas[top : top + height, left : left + width] = digit
    return canvas


def is_mnist_like(gray: np.ndarray, settings: PreprocessSettings) -> bool:
    """Already model-ready: the input size, a dark border and bright ink (as MNIST digits)."""
    if gray.shape != (settings.size, settings.size):
        return False
    background = float(np.median(_border(gray)))
    return background < 32 and float(gray.max()) - background >= MIN_CONTRAST


def _as_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.size == 0:
        raise InputError(f"expected a 2-D grayscale image, got an array of shape {gray.shape}")
    if gray.dtype == np.uint8:
        return gray
    # Other arrays keep their meaning: bool masks and floats in [0, 1] are scaled to 0-255;
    # wider values (16-bit files and frames often hold 10-, 12- or 14-bit data) by their own
    # range, not by 65535; negative values are clipped.
    values = np.nan_to_num(gray.astype(np.float64))
    top = float(values.max())
    if gray.dtype == np.bool_ or (np.issubdtype(gray.dtype, np.floating) and 0 < top <= 1.0):
        values = values * 255.0
    elif top > 255:
        values = values * (255.0 / top)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def model_input(crop: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """A digit's ink crop (float [0, 1]) -> model input: fit the box, centre by mass, scale."""
    centred = center_by_mass(fit_box(crop * np.float32(255), settings.box), settings.size)
    return scale_pixels(np.rint(centred), settings.scale)


NO_INK = NoDigit("no ink found: nothing stands out from the background")


def preprocess_gray(
    gray: np.ndarray, settings: PreprocessSettings | None = None
) -> np.ndarray | NoDigit:
    """uint8 grayscale (H, W) -> float32 (size, size) model input in [0, 255 * scale]."""
    settings = settings or PreprocessSettings()
    gray = _as_gray(gray)
    if is_mnist_like(gray, settings):
        return scale_pixels(gray, settings.scale)
    from .photo import find_digit  # OpenCV: imported only for pictures that need it

    found = find_digit(gray)
    if found is None:
        return NO_INK
    _, _, width, height = found.box
    if width > FLATTEST * height:
        return NoDigit("no digit: the mark found is a dash or a line, too flat for a digit")
    if height < TINIEST and height < gray.shape[0] / 4:
        return NoDigit("no digit: the mark found is a dot or a speck, too small for a digit")
    return model_input(found.crop, settings)


Box = tuple[int, int, int, int]  # x, y, width, height in the picture's pixels


def preprocess_number(
    gray: np.ndarray, settings: PreprocessSettings | None = None
) -> list[list[list[list[tuple[np.ndarray, Box]]]]]:
    """uint8 grayscale -> rows (top to bottom) of ink groups (left to right) of the ways to
    read each group (one digit, or several touching ones) of (model input, box) per digit."""
    from .number import find_number

    settings = settings or PreprocessSettings()
    return [
        [
            [
                [(model_input(found.crop, settings), found.box) for found in reading]
                for reading in group
            ]
            for group in row
        ]
        for row in find_number(_as_gray(gray))
    ]


def preprocess_file(path: Path, settings: PreprocessSettings | None = None) -> np.ndarray | NoDigit:
    """Image file -> model input (see `preprocess_gray`); InputError names unreadable files."""
    return preprocess_gray(load_gray(path), settings)
