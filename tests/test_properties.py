"""Property-based tests (hypothesis) of the runtime's input side: whatever arrays, bytes,
models or sidecars come in, the result is valid or the runtime's own one-line error
(InputError, ModelError), never another exception and never a crash of the interpreter.

tests/test_preprocess.py already covers 2-D uint8 arrays up to 64x64 and tests/test_photo.py
`read_number` on small arrays; these cover every dtype and shape, extreme aspect ratios,
arbitrary and mutated image bytes, mutated models (both interpreters: tflite-runtime 2.14
would crash on what the flatbuffer check lets through) and mutated sidecars.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions, default_model_path
from edge_digits.runtime.core.preprocess import NoDigit, load_gray, preprocess_gray
from edge_digits.runtime.errors import EdgeDigitsWarning, InputError, ModelError
from fixture_models import TEN_CLASS_MODEL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw
from tflite_builder import dense_model

FOLDER = Path(tempfile.mkdtemp(prefix="edge-digits-properties-"))  # hypothesis: no tmp_path


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    shutil.rmtree(FOLDER, ignore_errors=True)


def assert_model_input_or_no_digit(out: object) -> None:
    if isinstance(out, NoDigit):
        assert out.reason
        return
    assert isinstance(out, np.ndarray)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


# --------------------------------------------------------------------------- arrays

ANY_DTYPE = st.one_of(
    hnp.scalar_dtypes(),  # bool, (u)int 8-64, float 16-64, complex, datetime64, timedelta64
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
)
IMAGE_KINDS = "biuf"  # what an image can be made of: bool, signed, unsigned, float


@settings(max_examples=400, deadline=None)
@given(hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40)))
def test_any_array_gives_a_model_input_or_an_input_error(array):
    """Any dtype, any shape, any values (NaN, infinities, extremes): a 28x28 float in [0, 1]
    or NoDigit for a non-empty 2-D array of numbers, an InputError for anything else."""
    image_like = array.dtype.kind in IMAGE_KINDS and array.ndim == 2 and array.size > 0
    try:
        out = preprocess_gray(array)
    except InputError as error:
        assert not image_like, error
        assert str(error).startswith("expected ") and "\n" not in str(error)
        return
    assert image_like
    assert_model_input_or_no_digit(out)


@pytest.mark.pi
@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(200, 20_000),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.01, 0.3, 1.0]),
)
def test_extreme_aspect_ratios_are_handled(short, long, tall, seed, ink):
    """Slivers such as 1x100000 scans and 3-pixel strips, with and without ink."""
    shape = (long, short) if tall else (short, long)
    rng = np.random.default_rng(seed)
    image = np.where(rng.random(shape) < ink, 0, 255).astype(np.uint8)
    assert_model_input_or_no_digit(preprocess_gray(image))


def _drawn_seven() -> Image.Image:
    image = Image.new("L", (60, 72), 255)
    ImageDraw.Draw(image).line([(10, 10), (48, 10), (24, 62)], fill=0, width=7)
    return image


def _encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


IMAGE_SEEDS = {
    "png": _encoded(_drawn_seven(), "PNG"),
    "jpeg": _encoded(_drawn_seven().convert("RGB"), "JPEG", quality=85),
    "cmyk-jpeg": _encoded(_drawn_seven().convert("CMYK"), "JPEG"),
    "gif": _encoded(_drawn_seven(), "GIF", save_all=True, append_images=[_drawn_seven()]),
    "bmp": _encoded(_drawn_seven(), "BMP"),
    "tiff": _encoded(_drawn_seven(), "TIFF", compression="tiff_lzw"),
    "webp": _encoded(_drawn_seven(), "WEBP"),
    "pgm": _encoded(_drawn_seven(), "PPM"),
    "palette-png": _encoded(_drawn_seven().convert("P"), "PNG", transparency=255),
    "16-bit-png": _encoded(Image.fromarray(np.asarray(_drawn_seven(), np.uint16) * 257), "PNG"),
}
HEADERS = [b"", *(content[:16] for content in IMAGE_SEEDS.values())]


def _check_load(content: bytes, name: str) -> None:
    path = FOLDER / name
    path.write_bytes(content)
    try:
        gray = load_gray(path, max_pixels=4_000_000)
    except InputError as error:
        assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        return
    assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.size > 0
    assert_model_input_or_no_digit(preprocess_gray(gray))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(HEADERS), st.binary(max_size=4096))
def test_any_bytes_load_as_an_image_or_an_input_error(header, tail):
    """Random bytes, also behind the first bytes of each format (so that its decoder runs)."""
    _check_load(header + tail, "random.png")


@dataclass(frozen=True)
class Mutation:
    """Which seed, which bytes (or little-endian 32-bit words) to overwrite, where to cut.
    Hypothesis prints this when a test fails, rather than tens of kilobytes of bytes."""

    seed: str
    edits: tuple[tuple[int, int, bool], ...]  # (position, value, as a 32-bit word)
    cut: int | None

    def apply(self, seeds: dict[str, bytes]) -> bytes:
        content = bytearray(seeds[self.seed])
        for at, value, wide in self.edits:
            if wide and at + 4 <= len(content):
                content[at : at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
            else:
                content[at] = value & 0xFF
        return bytes(content[: self.cut])


@st.composite
def mutations(draw, seeds: dict[str, bytes], structure: int = 1024) -> Mutation:
    """Positions are drawn from anywhere, and more often from the first and last `structure`
    bytes, where headers, tables and offsets live."""
    seed = draw(st.sampled_from(sorted(seeds)))
    size = len(seeds[seed])
    position = st.one_of(
        st.integers(0, min(structure, size) - 1),
        st.integers(max(0, size - structure), size - 1),
        st.integers(0, size - 1),
    )
    words = st.sampled_from([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, size])
    edit = st.tuples(position, st.integers(0, 255) | words, st.booleans())
    edits = draw(st.lists(edit, max_size=6))
    return Mutation(seed, tuple(edits), draw(st.one_of(st.none(), st.integers(0, size))))


@settings(max_examples=400, deadline=None)
@given(mutations(IMAGE_SEEDS, structure=256))
def test_damaged_images_load_or_give_an_input_error(mutation):
    _check_load(mutation.apply(IMAGE_SEEDS), "mutated.img")


# --------------------------------------------------------------------------- models

MODEL_SEEDS = {
    "default": default_model_path().read_bytes(),
    "ten-class": TEN_CLASS_MODEL.read_bytes(),
    "dense": dense_model(),
}
IMAGES = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)


def _check_model(content: bytes) -> None:
    path = FOLDER / "model.tflite"  # no sidecar beside it
    path.write_bytes(content)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EdgeDigitsWarning)  # no sidecar: expected
            classifier = Classifier(ClassifierOptions(model=path, num_threads=1))
        scores = classifier.predict(IMAGES)
    except ModelError as error:
        inside = f"{path} (the sidecar inside it): "  # a damaged embedded sidecar
        assert str(error).startswith((f"{path}: ", inside)) and "\n" not in str(error)
        return
    assert scores.shape == (2, classifier.classes) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=0.06)


@pytest.mark.pi
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.booleans())
def test_any_bytes_as_a_model_give_a_model_error(content, magic):
    """Random bytes, also with TFLite's file identifier in place (so the structure is walked)."""
    if magic:
        content = content[:4].ljust(4, b"\0") + b"TFL3" + content[8:]
    _check_model(content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations(MODEL_SEEDS))
def test_damaged_models_work_or_give_a_model_error(mutation):
    _check_model(mutation.apply(MODEL_SEEDS))


# --------------------------------------------------------------------------- sidecars

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
SIDECAR = json.loads(TEN_CLASS_MODEL.with_suffix(".json").read_text())


@st.composite
def mutated_sidecar(draw) -> dict:
    sidecar = json.loads(json.dumps(SIDECAR))
    for key in draw(st.lists(st.sampled_from(sorted(SIDECAR)), max_size=3, unique=True)):
        if key == "preprocessing" and draw(st.booleans()):
            inner = draw(st.sampled_from(sorted(SIDECAR["preprocessing"])))
            sidecar[key][inner] = draw(JSON)
        elif draw(st.booleans()):
            sidecar[key] = draw(JSON)
        else:
            del sidecar[key]
    if draw(st.booleans()):
        sidecar[draw(st.text(max_size=8))] = draw(JSON)
    return sidecar


@settings(max_examples=300, deadline=None)
@given(mutated_sidecar())
def test_damaged_sidecars_load_or_give_a_model_error(sidecar):
    model = FOLDER / "sidecar-test.tflite"
    if not model.exists():
        shutil.copyfile(TEN_CLASS_MODEL, model)  # no sidecar inside: the .json is read
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    try:
        classifier = Classifier(ClassifierOptions(model=model))
    except ModelError as error:
        assert str(error).startswith(f"{model.with_suffix('.json')}: ")
        assert "\n" not in str(error)
        return
    assert len(classifier.labels) == 10
    assert_model_input_or_no_digit(preprocess_gray(np.asarray(_drawn_seven()), classifier.settings))
    assert classifier.classify_array(np.asarray(_drawn_seven())).label in range(10)
