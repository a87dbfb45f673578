"""The folder fast paths change speed, not results: a plain grayscale PNG skips the EXIF work
but an oriented one is still turned; the border median is np.median's; and a folder of
several batches classifies as one file at a time does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime import Classifier
from edge_digits.runtime.core.batch import classify_paths
from edge_digits.runtime.core.classifier import MAX_BATCH
from edge_digits.runtime.core.preprocess import _median, load_gray, pil_to_gray
from PIL import Image, ImageOps, PngImagePlugin

GRADIENT = (np.arange(28 * 40).reshape(28, 40) % 251).astype(np.uint8)  # 40 wide, 28 tall


def _reference(path: Path) -> np.ndarray:
    """The general path: EXIF orientation applied, then grayscale."""
    with Image.open(path) as image:
        image.seek(0)
        ImageOps.exif_transpose(image, in_place=True)
        return pil_to_gray(image)


def _orientation_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    return exif


@pytest.mark.pi
@pytest.mark.parametrize("how", ["plain", "exif", "xmp", "4-bit"])
def test_grayscale_png_reads_as_the_general_path_reads_it(tmp_path, how):
    path = tmp_path / f"{how}.png"
    image = Image.fromarray(GRADIENT)
    if how == "exif":
        image.save(path, exif=_orientation_exif())
    elif how == "xmp":
        info = PngImagePlugin.PngInfo()
        xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
        info.add_itxt("XML:com.adobe.xmp", xmp)
        image.save(path, pnginfo=info)
    elif how == "4-bit":
        image.save(path, bits=4)
    else:
        image.save(path)
    gray = load_gray(path)
    assert gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, _reference(path))
    turned = how in ("exif", "xmp")
    assert gray.shape == ((40, 28) if turned else (28, 40))


@pytest.mark.pi
def test_border_median_is_numpys():
    rng = np.random.default_rng(0)
    for length in range(1, 130):
        values = rng.integers(0, 256, length).astype(np.uint8)
        assert _median(values) == float(np.median(values))


def test_folder_results_match_one_file_at_a_time(tmp_path, mnist):
    """More files than one batch, a bad file among them: order, labels and the error kept."""
    count = MAX_BATCH * 2 + 7
    for index in range(count):
        Image.fromarray(mnist.x_test[index]).save(tmp_path / f"{index:04d}.png")
    (tmp_path / "0100b.png").write_bytes(b"not a png")
    classifier = Classifier()
    results = list(classify_paths(classifier, [tmp_path]))
    assert [Path(r.path).name for r in results] == sorted(p.name for p in tmp_path.iterdir())
    bad = [r for r in results if not r.ok]
    assert [Path(r.path).name for r in bad] == ["0100b.png"]
    for result in results:
        if result.ok:
            assert result.prediction == classifier.classify_file(result.path)
    labels = [r.prediction.label for r in results if r.ok and r.prediction]
    assert np.mean(np.array(labels) == mnist.y_test[:count]) > 0.98
