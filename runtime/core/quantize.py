"""Quantisation: float values <-> the integers of a full-integer TFLite tensor.

TFLite's affine quantisation: a tensor of integers `q` with a `scale` and a `zero_point`
stands for the real numbers `(q - zero_point) * scale`. An int8 model's input is quantised
by `quantize` before each call and its scores are dequantised by `dequantize` after it;
`Classifier.predict` and `edge-digits bench` (the hand-driven interpreter) use this one pair,
so both give the model the same numbers.

    q = quantize(images, 1 / 255, -128, np.int8)     # 0.0 -> -128, 1.0 -> 127
    scores = dequantize(output, 1 / 256, -128)       # int8 -> float32
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import DTypeLike  # numpy.typing is not imported by numpy itself

# dtype (as given: np.int8 or np.dtype("int8")) -> (min, max), or None for a float type.
# Looked up on every call of `Classifier.predict`: np.dtype() and np.iinfo() would cost more
# than the rest of the quantisation of one image.
_LIMITS: dict[object, tuple[int, int] | None] = {}


def limits(dtype: DTypeLike) -> tuple[int, int] | None:
    """The smallest and largest value of an integer `dtype`; None for a float one."""
    try:
        return _LIMITS[dtype]
    except (KeyError, TypeError):  # not seen yet, or not hashable
        pass
    resolved = np.dtype(dtype)
    found = None
    if resolved.kind in "iu":
        info = np.iinfo(resolved)
        found = (int(info.min), int(info.max))
    elif resolved.kind != "f":
        raise ValueError(f"expected an integer or float tensor type, got {resolved}")
    with contextlib.suppress(TypeError):  # not hashable: resolved again next time
        _LIMITS[dtype] = found
    return found


def quantize(
    values: np.ndarray,
    scale: float,
    zero_point: int,
    dtype: DTypeLike,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Float `values` -> a new array of integer `dtype`: `round(values / scale + zero_point)`,
    rounded half to even (np.rint), then clipped to the type's range (so 7.0 at scale 1/255
    is 127 in int8, never a wrapped-around negative number). A float `dtype` (a float model's
    input) is a plain cast; `scale` and `zero_point` are then ignored.

    `out`: a float array of `values`' shape to work in, instead of allocating one per call
    (`Classifier.predict` keeps one per batch size); its content is overwritten. `values`
    itself is never changed."""
    try:  # `limits`, without a call's cost when the type has been seen
        bounds = _LIMITS[dtype]
    except (KeyError, TypeError):
        bounds = limits(dtype)
    if bounds is None:
        return np.asarray(values).astype(dtype)
    work = np.divide(values, scale, out=out)
    if not isinstance(work, np.ndarray):  # a scalar in, a scalar out of the division
        work = np.asarray(work)
    work += zero_point
    np.rint(work, out=work)
    np.maximum(work, bounds[0], out=work)  # np.clip, without its Python-level overhead
    np.minimum(work, bounds[1], out=work)
    quantized: np.ndarray = work.astype(dtype)
    return quantized


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers of a quantised tensor -> a new float32 array: `(values - zero_point) * scale`."""
    result = np.asarray(values).astype(np.float32)
    result -= zero_point
    result *= scale
    return result
