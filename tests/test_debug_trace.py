"""`--debug-dir` draws the trace of the run that gave the answer (`core/trace.py`), never a
copy of the preprocessing: no input picture where the model was given no input, and the
input picture is exactly what the classifier was given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import Classifier
from edge_digits.runtime.core.debug import ENLARGE
from edge_digits.runtime.core.preprocess import NoDigit, preprocess_gray, scale_pixels
from edge_digits.runtime.core.sidecar import PreprocessSettings
from edge_digits.runtime.core.trace import Trace
from PIL import Image

STEPS = ("1-gray", "2-ink", "3-blobs", "4-found", "5-input")


@pytest.fixture()
def given(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every batch of images `Classifier.predict` is given, in order, during the test."""
    calls: list[np.ndarray] = []
    predict = Classifier.predict

    def spy(self: Classifier, images: np.ndarray) -> np.ndarray:
        calls.append(np.array(images, dtype=np.float32))
        return predict(self, images)

    monkeypatch.setattr(Classifier, "predict", spy)
    return calls


def dash_picture(folder: Path) -> Path:
    """A 120x10 bar of ink on white: a mark, but too flat for a digit."""
    page = np.full((200, 200), 255, np.uint8)
    page[95:105, 40:160] = 0
    path = folder / "dash.png"
    Image.fromarray(page).save(path)
    return path


def on_paper(digits: list[np.ndarray], folder: Path, name: str) -> Path:
    """MNIST digits (light on black, 28x28) drawn dark on light paper, 4x, side by side."""
    page = np.full((200, 60 + 150 * len(digits)), 235, np.uint8)
    for k, digit in enumerate(digits):
        big = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BICUBIC)
        x = 40 + 150 * k
        page[40:152, x : x + 112] = np.minimum(page[40:152, x : x + 112], np.asarray(big))
    path = folder / f"{name}.png"
    Image.fromarray(page).save(path)
    return path


def tiles(path: Path) -> list[np.ndarray]:
    """The 28x28 inputs drawn in a `5-input.png`, checked to be 8x enlargements of them
    (each pixel an 8x8 square), each framed by 1 px of grey."""
    picture = np.asarray(Image.open(path))
    assert picture.ndim == 2 and picture.shape[0] == 30 * ENLARGE
    count, rest = divmod(picture.shape[1], 30 * ENLARGE)
    assert rest == 0 and count >= 1
    small = picture[::ENLARGE, ::ENLARGE]
    np.testing.assert_array_equal(picture, np.kron(small, np.ones((ENLARGE, ENLARGE), np.uint8)))
    found = []
    for k in range(count):
        framed = small[:, 30 * k : 30 * (k + 1)]
        assert (framed[0] == 128).all() and (framed[-1] == 128).all()
        assert (framed[:, 0] == 128).all() and (framed[:, -1] == 128).all()
        found.append(framed[1:-1, 1:-1])
    return found


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.pi
def test_a_dash_gives_no_digit_and_no_input_picture(cli, tmp_path, given):
    path = dash_picture(tmp_path)
    folder = tmp_path / "debug"
    result = cli("classify", "--json", "--debug-dir", str(folder), str(path))
    assert result.exit_code == 0, result.stderr
    (record,) = result.records
    assert record["label"] is None and record["score"] is None
    assert "too flat" in record["reason"]
    assert not list(folder.glob("*.5-input.png"))
    assert names(folder) == {f"0000-dash.{step}.png" for step in STEPS[:4]}
    assert not given  # the model was given nothing: no picture may say it saw something


@pytest.mark.pi
def test_a_digit_on_paper_draws_every_step_and_exactly_the_input_given(
    cli, tmp_path, example_digits, given
):
    path = on_paper([example_digits[7]], tmp_path, "seven")
    folder = tmp_path / "debug"
    result = cli("classify", "--json", "--debug-dir", str(folder), str(path))
    assert result.exit_code == 0, result.stderr
    assert result.records[0]["label"] == 7
    assert names(folder) == {f"0000-seven.{step}.png" for step in STEPS}
    (batch,) = given
    (tile,) = tiles(folder / "0000-seven.5-input.png")
    np.testing.assert_array_equal(scale_pixels(tile, PreprocessSettings().scale), batch[0])
    gray = np.asarray(Image.open(folder / "0000-seven.1-gray.png"))
    assert gray.shape == (200, 210)  # small enough to be analysed at its own size


@pytest.mark.pi
def test_a_number_of_three_digits_draws_three_inputs(cli, tmp_path, example_digits, given):
    path = on_paper([example_digits[d] for d in (4, 1, 7)], tmp_path, "number")
    folder = tmp_path / "debug"
    result = cli("classify", "--json", "--number", "--debug-dir", str(folder), str(path))
    assert result.exit_code == 0, result.stderr
    (record,) = result.records
    assert len(record["digits"]) == 3 and len(record["text"]) == 3
    assert names(folder) == {f"0000-number.{step}.png" for step in STEPS}
    drawn = tiles(folder / "0000-number.5-input.png")
    assert len(drawn) == 3
    (batch,) = given  # every way to read each group, in one call: the chosen are among them
    for tile in drawn:
        as_input = scale_pixels(tile, PreprocessSettings().scale)
        assert any(np.array_equal(as_input, candidate) for candidate in batch)


@pytest.mark.pi
def test_an_mnist_like_input_passes_through_and_draws_only_what_it_has(
    cli, tmp_path, example_pngs, given
):
    path, label = example_pngs[0]
    folder = tmp_path / "debug"
    result = cli("classify", "--json", "--debug-dir", str(folder), str(path))
    assert result.records[0]["label"] == label
    stem = f"0000-{path.stem}"
    assert names(folder) == {f"{stem}.1-gray.png", f"{stem}.5-input.png"}
    (tile,) = tiles(folder / f"{stem}.5-input.png")
    np.testing.assert_array_equal(tile, np.asarray(Image.open(path).convert("L")))
    np.testing.assert_array_equal(scale_pixels(tile, PreprocessSettings().scale), given[0][0])


@pytest.mark.pi
def test_a_blank_page_draws_only_the_picture(cli, tmp_path):
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((60, 80), 230, np.uint8)).save(path)
    folder = tmp_path / "debug"
    result = cli("classify", "--json", "--debug-dir", str(folder), str(path))
    assert result.records[0]["label"] is None and "no ink" in result.records[0]["reason"]
    assert names(folder) == {"0000-blank.1-gray.png"}


@pytest.mark.pi
def test_the_trace_records_the_run_and_changes_nothing(tmp_path, example_digits):
    gray = np.asarray(Image.open(on_paper([example_digits[3]], tmp_path, "three")))
    trace = Trace()
    traced = preprocess_gray(gray, trace=trace)
    untraced = preprocess_gray(gray)
    assert isinstance(traced, np.ndarray) and isinstance(untraced, np.ndarray)
    np.testing.assert_array_equal(traced, untraced)
    assert trace.gray is not None and trace.gray.shape == gray.shape
    assert trace.ink is not None and trace.labels is not None and trace.kept
    assert not set(trace.kept) & set(trace.set_aside)
    assert len(trace.boxes) == 1 and len(trace.inputs) == 1 and trace.inputs[0] is traced
    x, y, w, h = trace.boxes[0]
    assert x >= 40 and y >= 40 and x + w <= 152 and y + h <= 152  # inside the digit's square
    assert trace.reason is None and not trace.passed_through

    dash = np.asarray(Image.open(dash_picture(tmp_path)))
    trace = Trace()
    refused = preprocess_gray(dash, trace=trace)
    assert isinstance(refused, NoDigit) and trace.reason == refused.reason
    assert (
        trace.inputs == [] and len(trace.boxes) == 1 and trace.boxes[0][2] > 3 * trace.boxes[0][3]
    )


@pytest.mark.pi
def test_preprocess_number_takes_the_default_settings():
    # As the fuzzer and library callers call it: no settings given.
    from edge_digits.runtime.core.number import preprocess_number

    page = np.full((60, 90), 255, np.uint8)
    page[15:45, 20:26] = 0  # a stroke: a 1
    rows = preprocess_number(page)
    assert len(rows) == 1 and rows[0][0][0][0][0].shape == (28, 28)
