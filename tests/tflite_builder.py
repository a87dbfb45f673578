"""Write small, valid TFLite models without TensorFlow, for tests and fuzz seeds.

`dense_model(height, width, classes)` is one FULLY_CONNECTED layer from a float32
(batch, height, width, 1) image to `classes` float32 scores: a real model that both
interpreters load and run, whose input shape and number of classes a test can choose
(e.g. 32x32 in, or 5 classes out, to check that the runtime refuses it clearly). A test may
also choose the weights and bias (so that it knows which class wins for a given input), and
add a QUANTIZE step that makes the output int8, as a full-integer model's is.

The flatbuffer is laid out front to back: each table's vtable just before it, its children
(vectors, strings, sub-tables) after it, so that every unsigned offset points forward as the
format requires. Field ids follow tensorflow/lite/schema/schema.fbs (schema version 3).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FULLY_CONNECTED = 9  # BuiltinOperator
QUANTIZE = 114  # BuiltinOperator
FULLY_CONNECTED_OPTIONS = 8  # BuiltinOptions union type
FLOAT32 = 0  # TensorType
INT8 = 9  # TensorType

_SCALARS = {"u8": "<B", "i8": "<b", "u16": "<H", "i32": "<i", "u32": "<I", "u64": "<Q"}


@dataclass
class Table:
    """A flatbuffer table: field id -> (kind, value). Kinds: the scalar formats above,
    "table", "tables" (vector of tables), "ints" (vector of int32), "floats" (vector of
    float32), "longs" (vector of int64), "bytes", "string"."""

    fields: dict[int, tuple[str, object]] = field(default_factory=dict)


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def pad(self, alignment: int, extra: int = 0) -> None:
        """Pad so that the next write at position + `extra` is aligned to `alignment`."""
        while (len(self.data) + extra) % alignment:
            self.data.append(0)

    def patch_offset(self, at: int, target: int) -> None:
        struct.pack_into("<I", self.data, at, target - at)

    def table(self, table: Table) -> int:
        ids = sorted(table.fields)
        slots = (max(ids) + 1) if ids else 0
        layout: list[tuple[int, int, str, object]] = []  # (field id, offset in table, kind, value)
        size = 4  # the soffset to the vtable
        for field_id in ids:
            kind, value = table.fields[field_id]
            width = struct.calcsize(_SCALARS[kind]) if kind in _SCALARS else 4
            size += -size % width
            layout.append((field_id, size, kind, value))
            size += width
        vtable = [0] * slots
        for field_id, offset, _, _ in layout:
            vtable[field_id] = offset
        vtable_bytes = struct.pack(f"<HH{slots}H", 4 + 2 * slots, size, *vtable)
        # The table starts 8-aligned (so 8-byte fields are), right after its vtable.
        self.pad(8, len(vtable_bytes))
        vtable_at = len(self.data)
        self.data += vtable_bytes
        start = len(self.data)
        self.data += bytes(size)
        struct.pack_into("<i", self.data, start, start - vtable_at)
        children = []
        for _, offset, kind, value in layout:
            if kind in _SCALARS:
                struct.pack_into(_SCALARS[kind], self.data, start + offset, value)
            else:
                children.append((start + offset, kind, value))
        for at, kind, value in children:
            self.patch_offset(at, self.child(kind, value))
        return start

    def child(self, kind: str, value: object) -> int:
        if kind == "table":
            assert isinstance(value, Table)
            return self.table(value)
        if kind == "tables":
            assert isinstance(value, list)
            self.pad(4)
            start = len(self.data)
            self.data += struct.pack("<I", len(value)) + bytes(4 * len(value))
            for index, item in enumerate(value):
                self.patch_offset(start + 4 + 4 * index, self.table(item))
            return start
        if kind in ("ints", "floats"):
            assert isinstance(value, (list, tuple))
            self.pad(4)
            start = len(self.data)
            code = "i" if kind == "ints" else "f"
            self.data += struct.pack(f"<I{len(value)}{code}", len(value), *value)
            return start
        if kind == "longs":  # the elements 8-aligned, after the 4-byte length
            assert isinstance(value, (list, tuple))
            self.pad(8, 4)
            start = len(self.data)
            self.data += struct.pack(f"<I{len(value)}q", len(value), *value)
            return start
        if kind in ("bytes", "string"):
            assert isinstance(value, (bytes, str))
            content = value.encode() if isinstance(value, str) else value
            self.pad(16, 4)  # buffers' data is force_align: 16
            start = len(self.data)
            self.data += struct.pack("<I", len(content)) + content
            if kind == "string":
                self.data.append(0)
            return start
        raise ValueError(kind)


def serialize(model: Table) -> bytes:
    """The model table as a `.tflite` file: root offset, "TFL3", then the tables."""
    writer = _Writer()
    writer.data += bytes(4) + b"TFL3"
    writer.patch_offset(0, writer.table(model))
    writer.pad(16)
    return bytes(writer.data)


def _tensor(
    name: str,
    shape: Sequence[int],
    buffer: int,
    signature: Sequence[int] | None = None,
    quantization: tuple[float, int] | None = None,
) -> Table:
    fields: dict[int, tuple[str, object]] = {
        0: ("ints", list(shape)),
        1: ("i8", FLOAT32 if quantization is None else INT8),
        2: ("u32", buffer),
        3: ("string", name),
    }
    if quantization is not None:  # QuantizationParameters: scale (2), zero_point (3)
        scale, zero_point = quantization
        fields[4] = ("table", Table({2: ("floats", [scale]), 3: ("longs", [zero_point])}))
    if signature is not None:
        fields[7] = ("ints", list(signature))
    return Table(fields)


def dense_model(
    height: int = 28,
    width: int = 28,
    classes: int = 10,
    seed: int = 0,
    fill: float | None = None,
    input_shape: Sequence[int] | None = None,
    weights: np.ndarray | None = None,
    bias: np.ndarray | Sequence[float] | None = None,
    int8_output: tuple[float, int] | None = None,
    metadata: dict[str, bytes] | None = None,
) -> bytes:
    """A valid float32 TFLite model: (batch, height, width, 1) -> FULLY_CONNECTED -> (batch, classes).

    The batch dimension is dynamic (shape signature -1), as in models from `edge-digits convert`.
    The weights are random, or all `fill` (e.g. NaN, as damaged weights can be), or `weights`
    (classes, height * width: score c is weights[c] . the flattened image + bias[c]); the bias
    is zero, or `bias` (classes). `input_shape` replaces the input's shape but not its
    signature, as a damaged file can. `int8_output` (scale, zero point) adds a QUANTIZE step:
    the scores come out as int8, round(score / scale) + zero point, clipped to -128..127.
    `metadata` entries (name -> bytes) are added as `Model.metadata`, each in a buffer of its
    own, as `convert` embeds the sidecar.
    """
    pixels = height * width
    rng = np.random.default_rng(seed)
    if weights is None:
        weights = rng.normal(0, 0.05, (classes, pixels))
    weights = np.array(weights, "<f4").reshape(classes, pixels)
    if fill is not None:
        weights[:] = fill
    bias = np.zeros(classes, "<f4") if bias is None else np.array(bias, "<f4").reshape(classes)
    scores = len(("image", "weights", "bias"))  # the index of the scores' tensor
    tensors = [
        _tensor("image", input_shape or [1, height, width, 1], 0, [-1, height, width, 1]),
        _tensor("dense/weights", [classes, pixels], 1),
        _tensor("dense/bias", [classes], 2),
        _tensor("scores", [1, classes], 0, [-1, classes]),
    ]
    operators = [
        Table(
            {
                0: ("u32", 0),
                1: ("ints", [0, 1, 2]),
                2: ("ints", [scores]),
                3: ("u8", FULLY_CONNECTED_OPTIONS),
                4: ("table", Table()),  # defaults: no fused activation, 2-D output
            }
        )
    ]
    opcodes = [Table({0: ("i8", FULLY_CONNECTED), 2: ("i32", 1), 3: ("i32", FULLY_CONNECTED)})]
    output = scores
    if int8_output is not None:
        output = len(tensors)
        tensors.append(_tensor("scores/int8", [1, classes], 0, [-1, classes], int8_output))
        operators.append(Table({0: ("u32", 1), 1: ("ints", [scores]), 2: ("ints", [output])}))
        opcodes.append(Table({0: ("i8", QUANTIZE), 2: ("i32", 1), 3: ("i32", QUANTIZE)}))
    subgraph = Table(
        {
            0: ("tables", tensors),
            1: ("ints", [0]),
            2: ("ints", [output]),
            3: ("tables", operators),
            4: ("string", "main"),
        }
    )
    model = Table(
        {
            0: ("u32", 3),
            1: ("tables", opcodes),
            2: ("tables", [subgraph]),
            3: ("string", "edge-digits test model"),
            4: (
                "tables",
                [
                    Table(),
                    Table({0: ("bytes", weights.tobytes())}),
                    Table({0: ("bytes", bias.tobytes())}),
                    *(Table({0: ("bytes", payload)}) for payload in (metadata or {}).values()),
                ],
            ),
        }
    )
    if metadata:
        entries = [
            Table({0: ("string", name), 1: ("u32", 3 + index)})
            for index, name in enumerate(metadata)
        ]
        model.fields[6] = ("tables", entries)
    return serialize(model)
