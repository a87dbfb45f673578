"""Hostile and broken inputs (issue 7): each gets one clear line, a documented exit code, no
traceback, and the rest of the batch is still classified.

Every input is made here. Each image case runs `edge-digits classify --json <case> <good>`,
where <good> is an MNIST test 7, and asserts the exit code, the exact shape of the one line
on stderr (it names the file and says what to do), the JSON lines, and that the good file
was still read as a 7. Each model case runs `classify --json --model <case> <good>`.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core import flatbuffer, preprocess
from edge_digits.runtime.core.classifier import Classifier, default_model_path
from edge_digits.runtime.core.preprocess import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from fixture_models import copy_ten_class_model
from PIL import Image
from tflite_builder import dense_model

GOOD_LABEL = 7  # mnist.x_test[0]
NOT_AN_IMAGE = (
    r"not an image Pillow can read \(PNG, JPEG, BMP, GIF, TIFF, WebP\.\.\.\); "
    r"check what the file is, or save it again as PNG or JPEG"
)
DAMAGED = r"damaged or truncated image \(.+\); re-export or re-copy it"


def too_many_pixels(pixels: int, limit: int = DEFAULT_MAX_PIXELS) -> str:
    return re.escape(
        f"too many pixels ({pixels:,}, over the limit of {limit:,}; a possible decompression "
        f"bomb); resize the image, or raise the limit with --max-pixels or {MAX_PIXELS_ENV} "
        "if you trust the file"
    )


@pytest.fixture()
def invoke(cli, monkeypatch):
    """The CLI, with the pixel limit at its default whatever the environment says."""
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    return cli


@pytest.fixture()
def good(example_pngs) -> str:
    path, label = example_pngs[0]
    assert label == GOOD_LABEL
    return str(path)


# --------------------------------------------------------------------------- making inputs


def paper(digit: np.ndarray, size: tuple[int, int] = (300, 240)) -> np.ndarray:
    """An MNIST digit drawn dark on a light page, as a scan or photo would show it."""
    page = np.full(size, 235, dtype=np.uint8)
    ink = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BICUBIC)
    top, left = (size[0] - 112) // 2, (size[1] - 112) // 2
    page[top : top + 112, left : left + 112] = np.minimum(
        page[top : top + 112, left : left + 112], np.asarray(ink)
    )
    return page


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A real grayscale PNG of width x height white pixels: a few hundred KB that would
    decode to width x height bytes. Rows are compressed one at a time (little memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * width  # filter type 0, then the pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def write(folder: Path, name: str | bytes, content: bytes) -> Path:
    path = folder / os.fsdecode(name)
    path.write_bytes(content)
    return path


@dataclass(frozen=True)
class Case:
    """An input, made in `tmp_path` from MNIST test digits (`example_digits`, by label), and
    what `classify` must say."""

    make: Callable[[Path, dict[int, np.ndarray]], Path]
    error: str | None = None  # regex for the message after "<path>: "; None: it is read
    label: int | None = GOOD_LABEL  # when read: the label, or None for "no digit"
    warning: str | None = None  # when read with a warning: regex after "<path>: "


def _seven(digits) -> np.ndarray:
    return digits[7]  # mnist.x_test[0]


def _two(digits) -> np.ndarray:
    return digits[2]  # mnist.x_test[1]


def _png(digits) -> bytes:
    return encoded(Image.fromarray(paper(_seven(digits))), "PNG")


def _jpeg(digits) -> bytes:
    return encoded(Image.fromarray(paper(_seven(digits))), "JPEG", quality=90)


def _animated(folder: Path, digits) -> Path:
    first, second = (Image.fromarray(paper(digit)) for digit in (_seven(digits), _two(digits)))
    path = folder / "animated.gif"
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    with Image.open(path) as image:
        assert image.n_frames == 2
    return path


def _sixteen_bit(folder: Path, digits) -> Path:
    path = folder / "deep.png"
    Image.fromarray(paper(_seven(digits)).astype(np.uint16) * 257).save(path)
    with Image.open(path) as image:
        assert image.mode == "I;16"
    return path


def _twelve_bit(folder: Path, digits) -> Path:
    path = folder / "twelve-bit.tif"  # sensors' 12-bit data in a 16-bit file
    Image.fromarray(paper(_seven(digits)).astype(np.uint16) * 16).save(path)
    return path


def _cmyk(suffix: str) -> Callable[[Path, np.ndarray], Path]:
    def make(folder: Path, digits) -> Path:
        path = folder / f"cmyk{suffix}"
        Image.fromarray(paper(_seven(digits))).convert("CMYK").save(path)
        with Image.open(path) as image:
            assert image.mode == "CMYK"
        return path

    return make


def _palette_transparent(folder: Path, digits) -> Path:
    # Index 0, the background, is transparent *and black*: without compositing over white
    # the page would be black and the ink invisible.
    ink = paper(_seven(digits)) < 128
    image = Image.fromarray(ink.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 0, 0, 0] + [0, 0, 0] * 254)
    path = folder / "palette.png"
    image.save(path, transparency=0)
    with Image.open(path) as reopened:
        assert reopened.mode == "P" and "transparency" in reopened.info
    return path


def _corrupt_exif(folder: Path, digits) -> Path:
    # A phone photo whose EXIF block claims 40 tags but holds 2: Pillow warns and reads it.
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation: upright
    exif[0x010F] = "PhoneMaker"
    content = bytearray(
        encoded(Image.fromarray(paper(_seven(digits))).convert("RGB"), "JPEG", exif=exif)
    )
    tiff = content.index(b"Exif\0\0") + 6
    order = "big" if content[tiff : tiff + 2] == b"MM" else "little"
    ifd = tiff + int.from_bytes(content[tiff + 4 : tiff + 8], order)
    assert int.from_bytes(content[ifd : ifd + 2], order) == 2
    content[ifd : ifd + 2] = (40).to_bytes(2, order)
    return write(folder, "bad exif.jpg", bytes(content))


def _unreadable(folder: Path, digits) -> Path:
    path = write(folder, "locked.png", _png(digits))
    path.chmod(0)
    return path


def _broken_link(folder: Path, digits) -> Path:
    path = folder / "link.png"
    path.symlink_to(folder / "deleted.png")
    return path


def _link_loop(folder: Path, digits) -> Path:
    path = folder / "loop.png"
    path.symlink_to(path)
    return path


def _blank(width: int, height: int) -> Callable[[Path, np.ndarray], Path]:
    def make(folder: Path, digits) -> Path:
        path = folder / f"{width}x{height}.png"
        line = np.full((height, width), 255, np.uint8)
        line.flat[::7] = 0  # a dotted line: ink, but no digit
        Image.fromarray(line).save(path)
        return path

    return make


IMAGE_CASES = {
    "empty file": Case(
        lambda d, m: write(d, "empty.png", b""), r"empty file, not an image; copy or save it again"
    ),
    "truncated PNG": Case(lambda d, m: write(d, "half.png", _png(m)[: len(_png(m)) // 2]), DAMAGED),
    "truncated JPEG": Case(
        lambda d, m: write(d, "half.jpg", _jpeg(m)[: len(_jpeg(m)) // 2]), DAMAGED
    ),
    "JPEG cut in its header": Case(lambda d, m: write(d, "head.jpg", _jpeg(m)[:200]), DAMAGED),
    "random bytes as .png": Case(
        lambda d, m: write(d, "noise.png", np.random.default_rng(1).bytes(5000)), NOT_AN_IMAGE
    ),
    "random bytes as .jpg": Case(
        lambda d, m: write(d, "noise.jpg", np.random.default_rng(2).bytes(5000)), NOT_AN_IMAGE
    ),
    "HTML saved as .png": Case(
        lambda d, m: write(d, "page.png", b"<!DOCTYPE html><html><body>404</body></html>\n"),
        NOT_AN_IMAGE,
    ),
    "decompression bomb, 100 MP": Case(
        lambda d, m: write(d, "bomb.png", png_bomb(10_000, 10_000)), too_many_pixels(10**8)
    ),
    "decompression bomb past Pillow's own limit": Case(
        lambda d, m: write(d, "bigger-bomb.png", png_bomb(20_000, 20_000)),
        too_many_pixels(4 * 10**8),
    ),
    "unreadable permissions": Case(
        _unreadable, re.escape("permission denied; check the file's read permission")
    ),
    "broken symlink": Case(
        _broken_link,
        re.escape("broken symbolic link (its target does not exist); fix or remove the link"),
    ),
    "symlink loop": Case(
        _link_loop, re.escape("cannot read (symbolic link loop); check the file and its links")
    ),
    "1x1": Case(_blank(1, 1), label=None),
    "100000x1": Case(_blank(100_000, 1), label=None),
    "1x100000": Case(_blank(1, 100_000), label=None),
    "animated GIF: the first frame": Case(_animated),
    "16-bit PNG": Case(_sixteen_bit),
    "12-bit data in a 16-bit TIFF": Case(_twelve_bit),
    "CMYK JPEG": Case(_cmyk(".jpg")),
    "CMYK TIFF": Case(_cmyk(".tif")),
    "palette with transparency": Case(_palette_transparent),
    "JPEG with corrupt EXIF": Case(
        _corrupt_exif,
        warning=re.escape("Corrupt EXIF data. Expecting to read 12 bytes but only got ")
        + r"\d+"
        + re.escape(".; read anyway"),
    ),
    "name with spaces": Case(lambda d, m: write(d, "my seven  (copy 2).png", _png(m))),
    "non-ASCII name": Case(lambda d, m: write(d, "sieben 七 çà.png", _png(m))),
    "name that is not UTF-8": Case(lambda d, m: write(d, b"latin1 \xe9t\xe9.png", _png(m))),
}


# The 400 MP bomb takes 2 s to make (compressing 400 MB): left out of the emulated Pi's run.
SLOW_IMAGE_CASES = {"decompression bomb past Pillow's own limit"}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=name, marks=() if name in SLOW_IMAGE_CASES else pytest.mark.pi)
        for name, case in IMAGE_CASES.items()
    ],
)
def test_a_hostile_image_is_reported_and_the_batch_goes_on(
    invoke, good, example_digits, tmp_path, monkeypatch, case
):
    path = case.make(tmp_path, example_digits)
    if case.make is _unreadable and os.geteuid() == 0:
        # Root reads any file (CI runs as root): the kernel's answer to anyone else is
        # played back instead, at the same place, so the same error path runs.
        real_open = preprocess.Image.open

        def denied(target, *args, **kwargs):
            if Path(target) == path:
                raise PermissionError(13, "Permission denied", str(target))
            return real_open(target, *args, **kwargs)

        monkeypatch.setattr(preprocess.Image, "open", denied)
    result = invoke("classify", "--json", str(path), good)
    hostile, other = result.records
    assert other == {**other, "path": good, "label": GOOD_LABEL} and "error" not in other
    assert hostile["path"] == str(path)
    if case.error is not None:
        assert result.exit_code == 1
        assert hostile["label"] is None and hostile["score"] is None
        assert re.fullmatch(re.escape(f"{path}: ") + case.error, hostile["error"])
        assert result.stderr.splitlines() == [f"error: {hostile['error']}"]
    else:
        assert result.exit_code == 0
        assert "error" not in hostile
        if case.warning is None:
            assert result.stderr == ""
        else:
            (line,) = result.stderr.splitlines()
            assert re.fullmatch(re.escape(f"warning: {path}: ") + case.warning, line), line
        assert hostile["label"] == case.label
        if case.label is None:
            assert hostile["reason"].startswith("no ")


@pytest.mark.pi
def test_odd_names_in_the_plain_output(invoke, example_digits, tmp_path):
    names = ["my seven  (copy 2).png", "sieben 七 çà.png", b"latin1 \xe9t\xe9.png"]
    paths = [write(tmp_path, name, _png(example_digits)) for name in names]
    result = invoke("classify", *map(str, paths))
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line, path in zip(lines[:2], paths, strict=False):
        assert line.startswith(f"{path}: 7 (")
    # Not UTF-8 (as a strict UTF-8 terminal has it): shown as stderr would, no encoding error.
    assert lines[2].startswith(f"{tmp_path}/latin1 \\udce9t\\udce9.png: 7 (")


# --------------------------------------------------------------------------- the pixel limit


@pytest.fixture()
def picture(example_digits, tmp_path) -> Path:
    """A 300x240 (72,000 px) picture of a 7."""
    path = tmp_path / "seven.png"
    Image.fromarray(paper(_seven(example_digits))).save(path)
    return path


@pytest.mark.pi
def test_the_pixel_limit_comes_from_the_environment(invoke, monkeypatch, good, picture):
    monkeypatch.setenv(MAX_PIXELS_ENV, "50000")
    result = invoke("classify", "--json", str(picture), good)
    assert result.exit_code == 1
    message = f"{picture}: " + too_many_pixels(72_000, 50_000)
    assert re.fullmatch(f"error: {message}\n", result.stderr)
    assert [line["label"] for line in result.records] == [None, GOOD_LABEL]


@pytest.mark.pi
def test_the_max_pixels_option_overrides_the_environment(invoke, monkeypatch, good, picture):
    monkeypatch.setenv(MAX_PIXELS_ENV, "50000")
    result = invoke("classify", "--json", "--max-pixels", "72000", str(picture), good)
    assert result.exit_code == 0 and result.stderr == ""
    assert [line["label"] for line in result.records] == [GOOD_LABEL, GOOD_LABEL]
    refused = invoke("classify", "--max-pixels", "71999", str(picture), good)
    assert refused.exit_code == 1
    assert re.fullmatch(
        f"error: {picture}: " + too_many_pixels(72_000, 71_999) + "\n", refused.stderr
    )


@pytest.mark.pi
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {MAX_PIXELS_ENV: "lots"},
            "error: EDGE_DIGITS_MAX_PIXELS must be a whole number of pixels from 1 to "
            "178956970 (Pillow's own hard limit), got 'lots'",
        ),
        (
            {MAX_PIXELS_ENV: "0"},
            "error: EDGE_DIGITS_MAX_PIXELS must be a whole number of pixels from 1 to "
            "178956970 (Pillow's own hard limit), got '0'",
        ),
        (
            {"--max-pixels": "200000000"},
            "error: max_pixels (--max-pixels) must be a whole number of pixels from 1 to "
            "178956970 (Pillow's own hard limit), got '200000000'",
        ),
        (
            {"--max-pixels": "0"},
            "error: Invalid value for '--max-pixels': 0 is not in the range x>=1. "
            "(see: edge-digits classify --help)",
        ),
    ],
    ids=["env-not-a-number", "env-zero", "option-over-pillow", "option-zero"],
)
def test_a_wrong_pixel_limit_is_a_usage_error(invoke, monkeypatch, good, setting, message):
    args = []
    for key, value in setting.items():
        if key.startswith("--"):
            args += [key, value]
        else:
            monkeypatch.setenv(key, value)
    result = invoke("classify", *args, good)
    assert result.exit_code == 2
    hint = "" if message.endswith("--help)") else " (see: edge-digits classify --help)"
    assert result.stderr.splitlines() == [message + hint] and result.stdout == ""


# --------------------------------------------------------------------------- models


def _copy_of_default(folder: Path, with_sidecar: bool = True) -> Path:
    """A ten-class model without the sidecar inside (0.2.0's default; see fixture_models)."""
    return copy_ten_class_model(folder, sidecar=with_sidecar)


def _model_file(content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        return write(folder, "model.tflite", content)

    return make


def _stale_sidecar(folder: Path) -> Path:
    # A valid model beside the sidecar of another (the default's): a re-converted model
    # whose old sidecar was left behind.
    model = write(folder, "model.tflite", dense_model())
    shutil.copyfile(default_model_path().with_suffix(".json"), model.with_suffix(".json"))
    return model


def _field_outside_its_table(folder: Path) -> Path:
    # The mutation atheris found that crashed tflite-runtime 2.14 (a segmentation fault): in
    # the default model, a tensor vtable's slot for the absent shape_signature set to 0x600,
    # so that the field is "present" far outside its table, past the end of the file.
    content = bytearray(default_model_path().read_bytes())
    reader = flatbuffer._Reader(bytes(content))
    model = reader.table(reader._unpack("<I", 0))
    tensors = model.tables(flatbuffer.MODEL_SUBGRAPHS)[0].tables(flatbuffer.SUBGRAPH_TENSORS)
    slot = 4 + 2 * flatbuffer.TENSOR_SHAPE_SIGNATURE
    tensor = next(t for t in tensors if t.vtable_size > slot and t._field(7) is None)
    struct.pack_into("<H", content, tensor.vtable + slot, 0x600)
    return write(folder, "model.tflite", bytes(content))


def _name_not_utf8(folder: Path) -> Path:
    # Found by the property tests on tflite-runtime 2.14: its Python side decodes tensor
    # names and raised UnicodeDecodeError, a traceback for the user.
    content = dense_model()
    at = content.index(b"image\0")
    return write(folder, "model.tflite", content[:at] + b"\x80" + content[at + 1 :])


def _malformed_sidecar(folder: Path) -> Path:
    model = _copy_of_default(folder)
    text = model.with_suffix(".json").read_text()
    model.with_suffix(".json").write_text(text[: len(text) // 2])  # cut short
    return model


@dataclass(frozen=True)
class ModelCase:
    make: Callable[[Path], Path]
    exit_code: int
    message: str  # regex for the whole stderr line, "{model}" and "{sidecar}" filled in
    no_sidecar: bool = False  # the model loads, without sidecar: a warning line comes first


MODEL_CASES = {
    "random bytes": ModelCase(
        _model_file(np.random.default_rng(3).bytes(20_000)),
        3,
        re.escape(
            "error: {model}: not a TFLite model; expected a .tflite file (e.g. from `edge-digits convert`)"
        ),
    ),
    "truncated flatbuffer": ModelCase(
        _model_file(default_model_path().read_bytes()[:30_000]),
        3,
        re.escape("error: {model}: damaged or truncated TFLite model (")
        + r".+"
        + re.escape("); copy or convert it again"),
    ),
    "wrong input shape (32x32)": ModelCase(
        _model_file(dense_model(32, 32, 10)),
        3,
        re.escape(
            "error: {model}: model takes input [32, 32, 1] and gives [10]; "
            "expected a 28x28x1 image in and 10 class scores out"
        ),
    ),
    "input shape that disagrees with its signature": ModelCase(
        _model_file(dense_model(input_shape=[1, 28, 28, 3])),
        3,
        re.escape(
            "error: {model}: model takes input [28, 28, 3] and gives [10]; "
            "expected a 28x28x1 image in and 10 class scores out"
        ),
    ),
    "wrong number of classes (5)": ModelCase(
        _model_file(dense_model(28, 28, 5)),
        3,
        re.escape(
            "error: {model}: model takes input [28, 28, 1] and gives [5]; "
            "expected a 28x28x1 image in and 10 class scores out"
        ),
    ),
    "a vtable field outside its table (crashed tflite-runtime)": ModelCase(
        _field_outside_its_table,
        3,
        re.escape("error: {model}: damaged or truncated TFLite model (table at ")
        + r"\d+"
        + re.escape(" has a field outside it); copy or convert it again"),
    ),
    "a tensor name that is not UTF-8": ModelCase(
        _name_not_utf8,
        3,
        re.escape("error: {model}: damaged or truncated TFLite model (string at ")
        + r"\d+"
        + re.escape(" is not UTF-8); copy or convert it again"),
    ),
    "weights that are NaN": ModelCase(
        _model_file(dense_model(fill=float("nan"))),
        3,
        re.escape(
            "error: {model}: the model gives NaN or infinite scores (damaged weights?); "
            "copy or convert it again"
        ),
        no_sidecar=True,
    ),
    "sidecar of another model": ModelCase(
        _stale_sidecar,
        3,
        re.escape(
            "error: {sidecar}: sidecar does not match model.tflite (sha256 differs); "
            "re-run `edge-digits convert` or delete the stale sidecar"
        ),
    ),
    "malformed JSON sidecar": ModelCase(
        _malformed_sidecar,
        3,
        re.escape("error: {sidecar}: malformed sidecar (")
        + r".+"
        + re.escape("); fix it, delete it, or re-run `edge-digits convert`"),
    ),
}


@pytest.mark.pi
@pytest.mark.parametrize("case", MODEL_CASES.values(), ids=MODEL_CASES.keys())
def test_a_bad_model_is_refused_with_its_exit_code(invoke, good, tmp_path, case):
    model = case.make(tmp_path)
    result = invoke("classify", "--json", "--model", str(model), good)
    assert result.exit_code == case.exit_code
    assert result.stdout == ""  # nothing is classified with a model that is not usable
    lines = result.stderr.splitlines()
    if case.no_sidecar:
        assert lines.pop(0) == (
            f"warning: {model}: no sidecar model.json; assuming MNIST preprocessing and labels 0-9"
        )
    (line,) = lines
    pattern = case.message.replace(re.escape("{model}"), re.escape(str(model)))
    pattern = pattern.replace(re.escape("{sidecar}"), re.escape(str(model.with_suffix(".json"))))
    assert re.fullmatch(pattern, line), line


@pytest.mark.pi
def test_a_model_without_sidecar_loads_with_a_warning(invoke, good, tmp_path):
    model = _copy_of_default(tmp_path, with_sidecar=False)
    result = invoke("classify", "--json", "--model", str(model), good)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {model}: no sidecar copy.json; assuming MNIST preprocessing and labels 0-9"
    ]
    assert [line["label"] for line in result.records] == [GOOD_LABEL]


@pytest.mark.pi
def test_the_models_made_without_tensorflow_are_valid(invoke, good, tmp_path):
    """The control for the wrong-shape cases: the same builder's 28x28 -> 10 model loads
    and classifies (random weights: any label), so those were refused for their shapes."""
    model = write(tmp_path, "dense.tflite", dense_model())
    result = invoke("classify", "--json", "--top-k", "10", "--model", str(model), good)
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {model}: no sidecar")
    (line,) = result.records
    assert line["label"] in range(10) and len(line["top_k"]) == 10
    assert abs(sum(entry["score"] for entry in line["top_k"]) - 1) < 1e-4


# --------------------------------------------------------------------------- a big folder


def test_a_folder_of_10000_mixed_files(invoke, mnist, tmp_path):
    """9,880 MNIST test digits as PNG and 120 bad files, in 10 subfolders, plus files that
    are not images by name (skipped): every file gets one JSON line, each bad one an error,
    and each digit the label its array gets."""
    folder = tmp_path / "mixed"
    bad_kinds = [
        ("empty.png", b""),
        ("cut.png", encoded(Image.fromarray(mnist.x_test[0]), "PNG")[:60]),
        ("page.png", b"<html>not a picture</html>"),
        ("noise.jpg", np.random.default_rng(4).bytes(700)),
    ]
    expected: dict[str, int | None] = {}  # path -> label of the digit, None for a bad file
    digit = 0
    for index in range(10_000):
        sub = folder / f"part{index // 1000}"
        sub.mkdir(parents=True, exist_ok=True)
        if index % 250 == 17 or index % 250 == 123 or index % 250 == 201:  # 120 bad files
            name, content = bad_kinds[index % len(bad_kinds)]
            path = write(sub, f"{index:05d}-{name}", content)
            expected[str(path)] = None
        else:
            path = sub / f"{index:05d}.png"
            Image.fromarray(mnist.x_test[digit]).save(path)
            expected[str(path)] = digit
            digit += 1
    for extra in ("README.txt", ".DS_Store", "Thumbs.db"):
        write(folder, extra, b"not an image by name")

    result = invoke("classify", "--json", str(folder))
    assert result.exit_code == 1
    lines = result.records
    assert [line["path"] for line in lines] == sorted(expected)
    failed = [line["path"] for line in lines if "error" in line]
    assert len(lines) == 10_000 and digit == 9_880
    assert failed == sorted(path for path, label in expected.items() if label is None)
    assert len(result.stderr.splitlines()) == 120
    assert all(line.startswith(f"error: {folder}") for line in result.stderr.splitlines())
    read = {line["path"]: line["label"] for line in lines if "error" not in line}
    indices = [expected[path] for path in sorted(read)]
    arrays = list(mnist.x_test[indices].astype(np.float32) / 255)
    answers = Classifier().classify_inputs(arrays)  # the model's rule, on the arrays themselves
    assert [read[path] for path in sorted(read)] == [answer.label for answer in answers]
    correct = sum(read[path] == mnist.y_test[expected[path]] for path in read)
    assert correct >= 0.99 * 9_880
