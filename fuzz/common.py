"""What the two fuzz targets share: small valid seed inputs and the libFuzzer command line.

Each target is run as `python fuzz/fuzz_<name>.py [libFuzzer flags]` (see `make fuzz`): its
corpus grows in `runs/fuzz/<name>/corpus/`, seeded with the inputs below, and any crashing
input is written to `runs/fuzz/<name>/crash-<sha1>` (replay it by passing the file instead
of flags: `python fuzz/fuzz_image.py runs/fuzz/image/crash-...`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import atheris
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tflite_builder: valid models without TensorFlow


def _digit(mode: str = "L") -> Image.Image:
    image = Image.new("L", (40, 48), 255)
    pen = ImageDraw.Draw(image)
    pen.line([(8, 8), (32, 8), (16, 40)], fill=0, width=5)  # a 7
    return image.convert(mode)


def _encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def image_seeds() -> dict[str, bytes]:
    """One small picture of a 7 in each format and mode the loader has a branch for."""
    digit = _digit()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated, as phones save
    palette = _digit("P")
    rgba = _digit("RGBA")
    rgba.putalpha(_digit().point(lambda v: 255 - v))
    deep = Image.fromarray(np.asarray(digit, np.uint16) * 257)
    animation = _encode(
        digit, "GIF", save_all=True, append_images=[digit.rotate(90)], duration=50, loop=0
    )
    return {
        "digit.png": _encode(digit, "PNG"),
        "digit.jpg": _encode(digit.convert("RGB"), "JPEG", quality=80),
        "rotated.jpg": _encode(digit.convert("RGB"), "JPEG", exif=exif),
        "cmyk.jpg": _encode(digit.convert("CMYK"), "JPEG"),
        "digit.bmp": _encode(digit, "BMP"),
        "digit.tif": _encode(digit, "TIFF", compression="tiff_lzw"),
        "digit.webp": _encode(digit, "WEBP", quality=50),
        "digit.pgm": _encode(digit, "PPM"),
        "digit.ico": _encode(digit.convert("RGBA"), "ICO", sizes=[(32, 32)]),
        "palette.png": _encode(palette, "PNG", transparency=0),
        "alpha.png": _encode(rgba, "PNG"),
        "deep.png": _encode(deep, "PNG"),
        "animated.gif": animation,
    }


def model_seeds() -> dict[str, bytes]:
    """The shipped int8 model, and small float models from tests/tflite_builder.py."""
    from edge_digits.runtime.core.classifier import default_model_path
    from tflite_builder import dense_model

    return {
        "edge_int8.tflite": default_model_path().read_bytes(),
        "dense.tflite": dense_model(),
        "dense_12x12.tflite": dense_model(12, 12, 10),  # small; refused: wrong input shape
    }


def fuzz(name: str, test_one_input: Callable[[bytes], None], seeds: dict[str, bytes]) -> None:
    """Run libFuzzer on `test_one_input` with this target's corpus folder and crash prefix."""
    folder = ROOT / "runs" / "fuzz" / name
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for file_name, content in seeds.items():
        (corpus / file_name).write_bytes(content)
    flags = sys.argv[1:]
    replay = [flag for flag in flags if not flag.startswith("-")]  # files to run once
    extra = [] if replay else [str(corpus)]
    defaults = [f"-artifact_prefix={folder}/", "-timeout=30", "-rss_limit_mb=3072"]
    atheris.Setup([sys.argv[0], *defaults, *flags, *extra], test_one_input)
    atheris.Fuzz()
