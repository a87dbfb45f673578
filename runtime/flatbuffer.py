"""A structural check of a TFLite flatbuffer before any interpreter sees it.

tflite-runtime 2.14 does not verify the flatbuffers it is given: a truncated or damaged
`.tflite` crashes the process (segmentation fault). LiteRT verifies, but a clear message
naming the file is better than either. This walks the parts of the TFLite schema that the
interpreter dereferences (model, operator codes, subgraphs, tensors, operators, buffers) and
checks that every offset, vector and index stays inside the file and the model.

Field numbers follow tensorflow/lite/schema/schema.fbs (schema version 3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ModelError

# Field ids in schema.fbs.
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 2, 3, 4
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS = 0, 1, 2
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
QUANT_SCALE, QUANT_ZERO_POINT = 2, 3


class _Damaged(Exception):
    pass


@dataclass(frozen=True)
class _Reader:
    data: bytes

    def _unpack(self, fmt: str, position: int) -> int:
        if position < 0 or position + struct.calcsize(fmt) > len(self.data):
            raise _Damaged(f"offset {position} is outside the file ({len(self.data)} bytes)")
        value: int = struct.unpack_from(fmt, self.data, position)[0]
        return value

    def table(self, position: int) -> _Table:
        vtable = position - self._unpack("<i", position)
        vtable_size = self._unpack("<H", vtable)
        if vtable_size < 4 or vtable + vtable_size > len(self.data):
            raise _Damaged(f"table at {position} has a bad vtable")
        return _Table(self, position, vtable, vtable_size)

    def vector(self, position: int, element_size: int) -> tuple[int, int]:
        """(start of elements, length) of the vector at `position`, checked against the file."""
        length = self._unpack("<I", position)
        start = position + 4
        if start + length * element_size > len(self.data):
            raise _Damaged(f"vector at {position} runs past the end of the file")
        return start, length


@dataclass(frozen=True)
class _Table:
    reader: _Reader
    position: int
    vtable: int
    vtable_size: int

    def _field(self, field_id: int) -> int | None:
        slot = 4 + 2 * field_id
        if slot + 2 > self.vtable_size:
            return None
        offset = self.reader._unpack("<H", self.vtable + slot)
        return self.position + offset if offset else None

    def scalar(self, field_id: int, fmt: str, default: int = 0) -> int:
        position = self._field(field_id)
        return default if position is None else self.reader._unpack(fmt, position)

    def _target(self, field_id: int) -> int | None:
        position = self._field(field_id)
        return None if position is None else position + self.reader._unpack("<I", position)

    def vector(self, field_id: int, element_size: int) -> tuple[int, int]:
        target = self._target(field_id)
        return (0, 0) if target is None else self.reader.vector(target, element_size)

    def ints(self, field_id: int) -> list[int]:
        start, length = self.vector(field_id, 4)
        return [self.reader._unpack("<i", start + 4 * i) for i in range(length)]

    def tables(self, field_id: int) -> list[_Table]:
        start, length = self.vector(field_id, 4)
        return [
            self.reader.table(start + 4 * i + self.reader._unpack("<I", start + 4 * i))
            for i in range(length)
        ]

    def table(self, field_id: int) -> _Table | None:
        target = self._target(field_id)
        return None if target is None else self.reader.table(target)


def check_tflite(data: bytes, origin: str) -> None:
    """Raise ModelError naming `origin` unless `data` is a structurally sound TFLite model."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(
            f"{origin}: not a TFLite model; expected a .tflite file (e.g. from `edge-digits convert`)"
        )
    try:
        _walk(_Reader(data))
    except (_Damaged, struct.error) as error:
        raise ModelError(
            f"{origin}: damaged or truncated TFLite model ({error}); copy or convert it again"
        ) from None


def _walk(reader: _Reader) -> None:
    model = reader.table(reader._unpack("<I", 0))
    opcodes = model.tables(MODEL_OPERATOR_CODES)
    buffers = model.tables(MODEL_BUFFERS)
    for buffer in buffers:
        buffer.vector(BUFFER_DATA, 1)
        offset, size = buffer.scalar(BUFFER_OFFSET, "<Q"), buffer.scalar(BUFFER_SIZE, "<Q")
        if offset > 1 and offset + size > len(reader.data):
            raise _Damaged("a weight buffer lies past the end of the file")
    subgraphs = model.tables(MODEL_SUBGRAPHS)
    if not subgraphs:
        raise _Damaged("the model has no subgraph")
    for subgraph in subgraphs:
        tensors = subgraph.tables(SUBGRAPH_TENSORS)
        for tensor in tensors:
            tensor.ints(TENSOR_SHAPE)
            tensor.vector(TENSOR_NAME, 1)
            if tensor.scalar(TENSOR_BUFFER, "<I") >= max(len(buffers), 1):
                raise _Damaged("a tensor refers to a buffer that does not exist")
            quantization = tensor.table(TENSOR_QUANTIZATION)
            if quantization is not None:
                quantization.vector(QUANT_SCALE, 4)
                quantization.vector(QUANT_ZERO_POINT, 8)
        indices = subgraph.ints(SUBGRAPH_INPUTS) + subgraph.ints(SUBGRAPH_OUTPUTS)
        for operator in subgraph.tables(SUBGRAPH_OPERATORS):
            if operator.scalar(OPERATOR_OPCODE, "<I") >= len(opcodes):
                raise _Damaged("an operator refers to an operator code that does not exist")
            indices += operator.ints(OPERATOR_INPUTS) + operator.ints(OPERATOR_OUTPUTS)
        if any(index < -1 or index >= len(tensors) for index in indices):
            raise _Damaged("an operator refers to a tensor that does not exist")
