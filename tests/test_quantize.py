"""`core/quantize.py`: the one quantise/dequantise pair of `Classifier.predict` and `bench`."""

from __future__ import annotations

import numpy as np
import pytest
from edge_digits.runtime.bench.worker import quantize_input
from edge_digits.runtime.core.quantize import dequantize, limits, quantize
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@pytest.mark.pi
def test_rounds_half_to_even_and_adds_the_zero_point():
    values = np.array([0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001], np.float32)
    assert quantize(values, 1.0, 0, np.int8).tolist() == [0, 0, 2, 2, 0, -2, 2, 3]
    assert quantize(values, 1.0, 10, np.int8).tolist() == [10, 10, 12, 12, 10, 8, 12, 13]
    # The zero point is added before rounding: 0.5 + (-127) = -126.5 rounds to -126.
    assert quantize(np.float32([0.5]), 1.0, -127, np.int8).tolist() == [-126]


@pytest.mark.pi
@pytest.mark.parametrize(
    ("dtype", "zero_point", "low", "high"),
    [(np.int8, -128, -128, 127), (np.int8, 0, -128, 127), (np.uint8, 0, 0, 255)],
)
def test_clips_at_the_type_limits_never_wraps(dtype, zero_point, low, high):
    values = np.array([-1e9, -1000.0, 1000.0, 1e9, np.float32(high - zero_point)], np.float32)
    quantized = quantize(values, 1.0, zero_point, dtype)
    assert quantized.dtype == np.dtype(dtype)
    assert quantized.tolist() == [low, low, high, high, high]


@pytest.mark.pi
def test_the_mnist_input_range_of_an_int8_model():
    values = np.array([0.0, 1.0, 0.25, 2.0, -1.0], np.float32)
    assert quantize(values, 1 / 255, -128, np.int8).tolist() == [-128, 127, -64, 127, -128]
    assert quantize(values, 1 / 255, -128, "int8").tolist() == [-128, 127, -64, 127, -128]


@pytest.mark.pi
def test_a_float_type_is_a_plain_cast():
    values = np.array([0.1, 7.0, -3.0], np.float32)
    assert quantize(values, 0.0, 0, np.float32).tolist() == values.tolist()
    assert quantize(values, 0.0, 0, np.float16).dtype == np.float16
    assert limits(np.float32) is None and limits(np.int8) == (-128, 127)
    with pytest.raises(ValueError, match="integer or float"):
        limits(np.complex64)


@pytest.mark.pi
def test_out_is_worked_in_and_the_values_are_left_alone():
    values = np.array([[0.2, 0.4], [0.6, 0.8]], np.float32)
    kept = values.copy()
    work = np.full_like(values, np.nan)
    quantized = quantize(values, 1 / 255, -128, np.int8, out=work)
    np.testing.assert_array_equal(quantized, quantize(values, 1 / 255, -128, np.int8))
    np.testing.assert_array_equal(values, kept)
    assert not np.isnan(work).any() and quantized.base is not work
    assert quantize(np.float32(1.0), 1 / 255, -128, np.int8) == 127  # a scalar works too


@pytest.mark.pi
def test_dequantize():
    values = np.array([-128, 0, 127], np.int8)
    scores = dequantize(values, 1 / 256, -128)
    assert scores.dtype == np.float32
    assert scores.tolist() == [0.0, 0.5, 255 / 256]
    assert values.tolist() == [-128, 0, 127]  # a new array


@pytest.mark.pi
def test_the_bench_worker_quantises_with_the_same_function():
    values = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)
    details = {"dtype": np.int8, "quantization": (0.003921568859368563, -128)}
    np.testing.assert_array_equal(
        quantize_input(values, details), quantize(values, 0.003921568859368563, -128, np.int8)
    )


# Not marked pi: 300 examples are slow under emulation; the unit tests above run there.
@settings(max_examples=300, deadline=None)
@given(
    arrays(np.float32, st.integers(1, 40), elements=st.floats(-2.0, 2.0, width=32)),
    st.floats(1e-3, 0.1),
    st.sampled_from([np.int8, np.uint8]),
    st.integers(-128, 255),
)
def test_dequantize_inverts_quantize_within_half_a_step(values, scale, dtype, zero_point):
    low, high = limits(dtype)
    zero_point = min(max(zero_point, low), high)
    quantized = quantize(values, scale, zero_point, dtype)
    assert quantized.dtype == np.dtype(dtype)
    assert ((quantized >= low) & (quantized <= high)).all()
    back = dequantize(quantized, scale, zero_point)
    inside = (values >= (low - zero_point) * scale) & (values <= (high - zero_point) * scale)
    # In range: the nearest step (half a step, plus float32 rounding). Outside: the limit.
    assert (np.abs(back - values)[inside] <= scale * (0.5 + 1e-3)).all()
    clipped = np.clip(values, (low - zero_point) * scale, (high - zero_point) * scale)
    assert (np.abs(back - clipped) <= scale * (0.5 + 1e-3)).all()
