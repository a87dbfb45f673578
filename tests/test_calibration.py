"""Scores with meaning: the expected calibration error and the temperature fit (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest
from edge_digits.runtime.core.evaluate import (
    expected_calibration_error,
    fit_temperature,
    softmax,
)

pytestmark = pytest.mark.pi


def _sample(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row, drawn with the row's probabilities (vectorised: fast when emulated)."""
    draws = rng.random((len(probabilities), 1))
    return np.minimum(
        (draws > probabilities.cumsum(axis=1)).sum(axis=1), probabilities.shape[1] - 1
    )


def test_ece_is_zero_when_confidence_equals_accuracy():
    # 10 images at confidence 0.8 of which 8 are right: one bin, no gap.
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_ece_weighs_each_bin_by_its_images():
    # 5 images at 0.99 all wrong (gap 0.99), 15 at 0.6 all right (gap 0.4): weights 1/4, 3/4.
    probabilities = np.array([[0.99, 0.01]] * 5 + [[0.6, 0.4]] * 15)
    labels = np.array([1] * 5 + [0] * 15)
    expected = 0.25 * 0.99 + 0.75 * 0.4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_ece_of_nothing_is_zero():
    assert expected_calibration_error(np.zeros((0, 10)), np.zeros(0, int)) == 0.0


def test_a_confidence_of_one_falls_in_the_last_bin():
    probabilities = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(probabilities, np.array([0, 1])) == pytest.approx(0.5)


def test_softmax_matches_the_definition_and_is_stable():
    logits = np.array([[1000.0, 1001.0, 999.0], [0.0, 0.0, 0.0]])
    p = softmax(logits, temperature=2.0)
    z = np.array([0.0, 0.5, -0.5])
    assert np.allclose(p[0], np.exp(z) / np.exp(z).sum())
    assert np.allclose(p[1], 1 / 3)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_is_the_one_that_made_the_labels(true_temperature):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (20_000, 5))
    labels = _sample(softmax(logits, true_temperature), rng)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_calibrating_an_overconfident_model_lowers_its_ece():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (5_000, 10))
    labels = _sample(softmax(logits), rng)
    overconfident = logits * 3  # as if trained too long
    before = expected_calibration_error(softmax(overconfident), labels)
    after = expected_calibration_error(
        softmax(overconfident, fit_temperature(overconfident, labels)), labels
    )
    assert before > 0.1 and after < 0.02
