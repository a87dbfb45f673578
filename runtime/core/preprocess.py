"""From an image file or array to the 28x28 input the model was trained on.

Step by step (each step is one small function, all deterministic):

1. ``load_gray``: decode with Pillow, apply the EXIF orientation, composite any alpha over
   white, take the first frame of an animation, and convert to 8-bit grayscale (16-bit
   images are scaled, not clipped). Coloured ink stays dark (see ``pil_to_gray``).
2. ``photo.find_digit``: find the digit in the picture: polarity, illumination flattening,
   thresholding and speck removal, choosing the dominant ink region, stroke-width
   normalisation (see ``core/photo.py``).
3. ``fit_box``: resize so the longer side is ``box`` pixels (20), keeping the aspect ratio.
4. ``center_by_mass``: paste into ``size`` x ``size`` (28) with the centre of mass at the centre.
5. ``scale_pixels``: float32, exactly as the training data (``settings.scale``).

An input that is already MNIST-like (28x28, dark border, bright ink) skips steps 2-4 so that
MNIST test digits saved as PNG score exactly as the arrays do. A picture with no ink gives
``NoDigit`` instead of a guess.
"""

from __future__ import annotations

import errno
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import EdgeDigitsWarning, InputError, UsageError, one_line
from .sidecar import PreprocessSettings

if TYPE_CHECKING:
    from .trace import Trace

# Decompression bombs: an image with more pixels than this is refused before it is decoded
# (a 100 KB PNG can hold 10,000 x 10,000 pixels, 300 MB once decoded). The default is
# Pillow's own warning threshold (about 9,500 x 9,500); `max_pixels`, `--max-pixels` or the
# environment variable change it, up to Pillow's hard limit (twice that), which stays on.
MAX_PIXELS_ENV = "EDGE_DIGITS_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 89_478_485
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


def pixel_limit(max_pixels: int | None = None) -> int:
    """The largest image (width x height) `load_gray` decodes: `max_pixels`, else
    $EDGE_DIGITS_MAX_PIXELS, else DEFAULT_MAX_PIXELS. UsageError for a value out of range."""
    ceiling = None if Image.MAX_IMAGE_PIXELS is None else 2 * int(Image.MAX_IMAGE_PIXELS)
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS if ceiling is None else min(DEFAULT_MAX_PIXELS, ceiling)
        name, value = MAX_PIXELS_ENV, text
    else:
        name, value = "max_pixels (--max-pixels)", str(max_pixels)
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1 or (ceiling is not None and limit > ceiling):
        allowed = f"from 1 to {ceiling} (Pillow's own hard limit)" if ceiling else "of 1 or more"
        raise UsageError(f"{name} must be a whole number of pixels {allowed}, got {value!r}")
    return limit


def load_gray(
    path: Path, max_pixels: int | None = None, *, data: bytes | None = None
) -> np.ndarray:
    """Decode an image file to a uint8 grayscale array (H, W); InputError names the file.

    An image with more than `max_pixels` pixels (see `pixel_limit`) is refused unread.
    `data`: the image's bytes (an HTTP body), decoded instead of the file; `path` names it."""
    limit = pixel_limit(max_pixels)
    caught: list[warnings.WarningMessage] = []
    try:
        # Pillow warns about damaged files it reads anyway (corrupt EXIF, odd TIFF tags), as
        # several lines naming its own source; they are passed on below as one line each
        # naming the file.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path if data is None else io.BytesIO(data)) as image:
                if image.width * image.height > limit:
                    raise _too_many_pixels(path, image.width * image.height, limit)
                image.seek(0)  # the first frame of an animation
                if not _plain_gray_png(image):  # most digit files: nothing to turn
                    from PIL import ImageOps  # here: ~5 ms of imports plain digits never need

                    ImageOps.exif_transpose(image, in_place=True)
                gray = pil_to_gray(image)
    except InputError:
        raise
    except FileNotFoundError:
        if Path(path).is_symlink():
            raise InputError(
                f"{path}: broken symbolic link (its target does not exist); fix or remove the link"
            ) from None
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; check the file's read permission") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        if (len(data) == 0) if data is not None else _is_empty(path):
            raise InputError(f"{path}: empty file, not an image; copy or save it again") from None
        raise InputError(
            f"{path}: not an image Pillow can read (PNG, JPEG, BMP, GIF, TIFF, WebP...); "
            "check what the file is, or save it again as PNG or JPEG"
        ) from None
    except Image.DecompressionBombError as error:  # Pillow's hard limit, or a frame over it
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_many_pixels(path, int(pixels.group(1)) if pixels else None, limit) from None
    except MemoryError:
        raise InputError(
            f"{path}: not enough memory to decode this image; resize it or lower {MAX_PIXELS_ENV}"
        ) from None
    except OSError as error:
        if error.filename is not None:  # opening the path failed; not a decoder's complaint
            what = "symbolic link loop" if error.errno == errno.ELOOP else error.strerror
            raise InputError(
                f"{path}: cannot read ({what}); check the file and its links"
            ) from None
        raise InputError(_damaged(path, error)) from None
    except Exception as error:
        # Pillow's decoders raise many types on damaged data (struct.error, IndexError,
        # TypeError...); its own fuzz tests accept any Exception there. Each is a bad file.
        raise InputError(_damaged(path, error)) from None
    for message in dict.fromkeys(
        " ".join(str(warning.message).split())
        for warning in caught
        if not issubclass(warning.category, Image.DecompressionBombWarning)  # the limit decides
    ):
        warnings.warn(f"{path}: {message}; read anyway", EdgeDigitsWarning, stacklevel=2)
    return gray


def _too_many_pixels(path: Path, pixels: int | None, limit: int) -> InputError:
    count = f"{pixels:,}" if pixels is not None else "more than Pillow allows"
    return InputError(
        f"{path}: too many pixels ({count}, over the limit of {limit:,}; a possible "
        f"decompression bomb); resize the image, or raise the limit with --max-pixels or "
        f"{MAX_PIXELS_ENV} if you trust the file"
    )


def _is_empty(path: Path) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def _damaged(path: Path, error: Exception) -> str:
    reason = one_line(error)
    if not isinstance(error, (OSError, SyntaxError, ValueError)):  # name the unusual ones
        kind = type(error)
        name = (
            kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        )
        reason = f"{name}: {reason}"
    return f"{path}: damaged or truncated image ({reason[:200]}); re-export or re-copy it"


# Where Pillow finds an orientation (Image.getexif): a file with none of these has none.
_ORIENTATION_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp")


def _plain_gray_png(image: Image.Image) -> bool:
    """An 8-bit grayscale PNG without orientation metadata, for which exif_transpose would
    change nothing: skipping it saves ~15 us per file, a tenth of a folder's time per image."""
    if image.format != "PNG" or image.mode != "L":
        return False
    image.load()  # an eXIf chunk may follow the pixels; it is read with them
    return not any(key in image.info for key in _ORIENTATION_KEYS)


def pil_to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow image to uint8 grayscale, transparency composited over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return as_gray(np.asarray(image))  # 16-bit, 32-bit and float: scaled by their range
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    luma = np.asarray(image.convert("L"), dtype=np.uint8)
    if image.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV"):
        return _colour_to_gray(image, luma)
    return luma


LOW_CONTRAST = 96  # luma spread (levels) under which a single colour channel may do better
CHANNEL_GAIN = 1.5  # ... if its spread is at least this many times the luma's


def _colour_to_gray(image: Image.Image, luma: np.ndarray) -> np.ndarray:
    """`luma` (Pillow's "L" of the colour `image`), unless it has little contrast and one
    colour channel has much more: a blue or red LED glowing on a dark face, a coloured pen
    on coloured paper, where luma all but erases the digit (blue counts 11%). The colour
    channels are only made for a picture of little contrast."""
    luma_spread = _spread(luma)
    if luma_spread >= LOW_CONTRAST:
        return luma
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    spreads = [_spread(rgb[..., channel]) for channel in range(3)]
    best = int(np.argmax(spreads))
    if spreads[best] >= CHANNEL_GAIN * max(luma_spread, 1.0):
        return np.ascontiguousarray(rgb[..., best])
    return luma


def _spread(values: np.ndarray) -> float:
    """Levels between the darkest and the brightest 0.5% of the pixels (from a sample of at
    most about 64k pixels: the same answer, at a fixed cost for large photos)."""
    step = max(1, int(np.sqrt(values.size / 65536)))
    sample = values[::step, ::step]
    histogram = np.bincount(sample.ravel(), minlength=256).cumsum()
    total = histogram[-1]
    low = int(np.searchsorted(histogram, total * 0.005))
    high = int(np.searchsorted(histogram, total * 0.995))
    return float(high - low)


def _median(values: np.ndarray) -> float:
    """np.median of a short 1-D array of numbers (no NaN), without its generic machinery:
    the same value, in a third of the time (it runs once per file of a folder)."""
    ordered = np.sort(values, axis=None)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (float(ordered[middle - 1]) + float(ordered[middle])) / 2


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
    background = _median(_border(gray))
    return background < 32 and float(gray.max()) - background >= MIN_CONTRAST


def as_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.dtype.kind not in "biuf":  # bool, int, uint, float; not complex, time, text...
        raise InputError(f"expected an image of numbers, got an array of {gray.dtype}")
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
    gray: np.ndarray, settings: PreprocessSettings | None = None, trace: Trace | None = None
) -> np.ndarray | NoDigit:
    """uint8 grayscale (H, W) -> float32 (size, size) model input in [0, 255 * scale].

    `trace` (see `trace.Trace`) records each step: the picture analysed, the ink, the blobs
    kept and set aside, the mark found, the input produced, or why there is none."""
    settings = settings or PreprocessSettings()
    gray = as_gray(gray)
    if is_mnist_like(gray, settings):
        passed = scale_pixels(gray, settings.scale)
        if trace is not None:
            trace.gray, trace.passed_through = gray, True
            trace.boxes, trace.inputs = [(0, 0, gray.shape[1], gray.shape[0])], [passed]
        return passed
    from .photo import find_digit  # OpenCV: imported only for pictures that need it

    found = find_digit(gray, trace)
    result: np.ndarray | NoDigit = NO_INK
    if found is not None:
        _, _, width, height = found.box
        if width > FLATTEST * height:
            result = NoDigit("no digit: the mark found is a dash or a line, too flat for a digit")
        elif height < TINIEST and height < gray.shape[0] / 4:
            result = NoDigit("no digit: the mark found is a dot or a speck, too small for a digit")
        else:
            result = model_input(found.crop, settings)
    if trace is not None:
        trace.boxes = [found.box] if found is not None else []
        if isinstance(result, NoDigit):
            trace.reason = result.reason
        else:
            trace.inputs = [result]
    return result


def preprocess_file(path: Path, settings: PreprocessSettings | None = None) -> np.ndarray | NoDigit:
    """Image file -> model input (see `preprocess_gray`); InputError names unreadable files."""
    return preprocess_gray(load_gray(path), settings)
