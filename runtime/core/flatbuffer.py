"""A structural check of a TFLite flatbuffer before any interpreter sees it.

tflite-runtime 2.14 does not verify the flatbuffers it is given: a truncated or damaged
`.tflite` crashes the process (segmentation fault). LiteRT verifies, but a clear message
naming the file is better than either. This walks the parts of the TFLite schema that the
interpreter dereferences (model, operator codes, subgraphs, tensors and their quantisation,
sparsity and variants, operators and their options, buffers, metadata, signatures) and checks
that every table, field, offset, vector, string and index stays inside the file and the model.
Fuzzing found that checking less is not enough: one byte changed in a vtable (a field that
was absent now "present" past the end of the file) crashed tflite-runtime 2.14.

It also reads a custom metadata entry (`embedded_metadata`), such as the sidecar JSON that
`convert` embeds under `SIDECAR_METADATA`, with the same bounds checks.

Field numbers follow tensorflow/lite/schema/schema.fbs (schema version 3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ModelError

# Field ids in schema.fbs.
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 1, 2, 3, 4
MODEL_METADATA_BUFFER, MODEL_METADATA, MODEL_SIGNATURE_DEFS = 5, 6, 7
OPCODE_CUSTOM_CODE = 1
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
SUBGRAPH_NAME = 4
TENSOR_SHAPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 2, 3, 4
TENSOR_SPARSITY, TENSOR_SHAPE_SIGNATURE, TENSOR_VARIANTS = 6, 7, 9
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS = 0, 1, 2
OPERATOR_OPTIONS_TYPE, OPERATOR_OPTIONS, OPERATOR_CUSTOM_OPTIONS = 3, 4, 5
OPERATOR_MUTATING_INPUTS, OPERATOR_INTERMEDIATES = 6, 7
OPERATOR_LARGE_OPTIONS_OFFSET, OPERATOR_LARGE_OPTIONS_SIZE = 8, 9
OPERATOR_OPTIONS_2_TYPE, OPERATOR_OPTIONS_2 = 10, 11
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
QUANT_MIN, QUANT_MAX, QUANT_SCALE, QUANT_ZERO_POINT = 0, 1, 2, 3
QUANT_DETAILS_TYPE, QUANT_DETAILS, CUSTOM_QUANTIZATION = 4, 5, 1
SPARSITY_TRAVERSAL, SPARSITY_BLOCK_MAP, SPARSITY_DIMENSIONS = 0, 1, 2
DIMENSION_SEGMENTS_TYPE, DIMENSION_SEGMENTS, DIMENSION_INDICES_TYPE, DIMENSION_INDICES = 2, 3, 4, 5
SPARSE_VECTOR_ELEMENT = {1: 4, 2: 2, 3: 1}  # SparseIndexVector: Int32, Uint16, Uint8 vectors
VARIANT_SHAPE = 0
METADATA_NAME, METADATA_BUFFER = 0, 1
SIGNATURE_INPUTS, SIGNATURE_OUTPUTS, SIGNATURE_KEY, SIGNATURE_SUBGRAPH = 0, 1, 2, 4
TENSOR_MAP_NAME, TENSOR_MAP_INDEX = 0, 1

# The name of the `Model.metadata` entry whose buffer holds the model's sidecar JSON, embedded
# by `convert` (edge_digits.convert.metadata), so that a `.tflite` copied alone keeps it.
SIDECAR_METADATA = "edge_digits.sidecar"

# The operator options that hold vectors or strings (all others hold scalars only), by union
# type: (field id, element size in bytes; strings as 1). From schema.fbs' BuiltinOptions and
# BuiltinOptions2; the interpreter's parsers read these fields for their operator.
OPTION_VECTORS: dict[int, tuple[tuple[int, int], ...]] = {
    3: ((1, 4), (2, 4)),  # ConcatEmbeddingsOptions
    17: ((0, 4),),  # ReshapeOptions.new_shape
    30: ((0, 4),),  # SqueezeOptions.squeeze_dims
    111: ((0, 1), (1, 1)),  # VarHandleOptions: container, shared_name
    115: ((0, 4),),  # BucketizeOptions.boundaries
}
OPTION_2_VECTORS: dict[int, tuple[tuple[int, int], ...]] = {  # StableHLO operators
    2: ((0, 8),),
    3: ((0, 8), (1, 8), (2, 8)),
    4: ((0, 8), (1, 8), (2, 8), (3, 8), (4, 1), (7, 8), (10, 8), (13, 8), (16, 4)),
    5: ((0, 1), (2, 1), (4, 4), (5, 1)),
    6: ((0, 8),),
    7: ((1, 8), (2, 8), (3, 8)),
    9: ((0, 8),),
    10: ((0, 8), (1, 8), (2, 8)),
    12: ((0, 8), (1, 8), (2, 8), (3, 8), (4, 4)),
    13: ((0, 8), (1, 8), (2, 8), (3, 8), (4, 8)),
    16: ((0, 8), (1, 8), (2, 8), (4, 8)),
    17: ((0, 8),),
    21: ((0, 1), (2, 1)),
    23: ((0, 4),),
}


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
        if vtable_size < 4 or vtable_size % 2 or vtable + vtable_size > len(self.data):
            raise _Damaged(f"table at {position} has a bad vtable")
        # Every field the vtable says is present must lie inside the table, and the table
        # inside the file: the interpreter reads fields without asking.
        table_size = self._unpack("<H", vtable + 2)
        fields = struct.unpack_from(f"<{vtable_size // 2 - 2}H", self.data, vtable + 4)
        if position + table_size > len(self.data) or any(
            offset and not 4 <= offset < table_size for offset in fields
        ):
            raise _Damaged(f"table at {position} has a field outside it")
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

    def string(self, field_id: int) -> bytes | None:
        """Check a string field: inside the file, ended by NUL (C++ reads it as a C string)
        and UTF-8 (the interpreters' Python side decodes tensor names, and fails otherwise).
        Return its bytes (without the NUL); None when the field is absent."""
        start, length = self.vector(field_id, 1)
        if start and self.reader._unpack("<B", start + length) != 0:
            raise _Damaged(f"string at {start} is not terminated")
        text = self.reader.data[start : start + length]
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise _Damaged(f"string at {start} is not UTF-8") from None
        return text if start else None

    def table_at(self, field_id: int, index: int) -> _Table | None:
        """Table `index` of the vector of tables `field_id`; None when there is no such one."""
        start, length = self.vector(field_id, 4)
        if not 0 <= index < length:
            return None
        at = start + 4 * index
        return self.reader.table(at + self.reader._unpack("<I", at))


def _check_identifier(data: bytes, origin: str) -> None:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(
            f"{origin}: not a TFLite model; expected a .tflite file (e.g. from `edge-digits convert`)"
        )


def _damaged(origin: str, error: Exception) -> ModelError:
    return ModelError(
        f"{origin}: damaged or truncated TFLite model ({error}); copy or convert it again"
    )


def check_tflite(data: bytes, origin: str) -> None:
    """Raise ModelError naming `origin` unless `data` is a structurally sound TFLite model."""
    _check_identifier(data, origin)
    try:
        _walk(_Reader(data))
    except (_Damaged, struct.error) as error:
        raise _damaged(origin, error) from None


def embedded_metadata(content: bytes, name: str, *, origin: str = "model") -> bytes | None:
    """The bytes of the buffer of the first `Model.metadata` entry called `name` in the TFLite
    model `content`; None when it has no such entry.

    Reads the model table, its metadata entries and that one buffer only (not a whole
    `check_tflite`), every read bounds-checked: a file that is not TFLite, or whose structure
    on that path is damaged, raises ModelError naming `origin`, in check_tflite's words.
    """
    _check_identifier(content, origin)
    wanted = name.encode("utf-8")
    try:
        return _find_metadata(_Reader(content), wanted)
    except (_Damaged, struct.error) as error:
        raise _damaged(origin, error) from None


def _find_metadata(reader: _Reader, wanted: bytes) -> bytes | None:
    model = reader.table(reader._unpack("<I", 0))
    for metadata in model.tables(MODEL_METADATA):
        if metadata.string(METADATA_NAME) != wanted:
            continue
        buffer = model.table_at(MODEL_BUFFERS, metadata.scalar(METADATA_BUFFER, "<I"))
        if buffer is None:
            raise _Damaged("a metadata entry refers to a buffer that does not exist")
        start, length = buffer.vector(BUFFER_DATA, 1)
        if start:
            return bytes(reader.data[start : start + length])
        offset, size = buffer.scalar(BUFFER_OFFSET, "<Q"), buffer.scalar(BUFFER_SIZE, "<Q")
        if offset > 1:  # stored after the flatbuffer, as models over 2 GB do
            if offset + size > len(reader.data):
                raise _Damaged("a metadata buffer lies past the end of the file")
            return bytes(reader.data[offset : offset + size])
        return b""
    return None


def _walk(reader: _Reader) -> None:
    model = reader.table(reader._unpack("<I", 0))
    opcodes = model.tables(MODEL_OPERATOR_CODES)
    for opcode in opcodes:
        opcode.string(OPCODE_CUSTOM_CODE)
    model.string(MODEL_DESCRIPTION)
    buffers = model.tables(MODEL_BUFFERS)
    for buffer in buffers:
        buffer.vector(BUFFER_DATA, 1)
        offset, size = buffer.scalar(BUFFER_OFFSET, "<Q"), buffer.scalar(BUFFER_SIZE, "<Q")
        if offset > 1 and offset + size > len(reader.data):
            raise _Damaged("a weight buffer lies past the end of the file")
    model.ints(MODEL_METADATA_BUFFER)
    for metadata in model.tables(MODEL_METADATA):
        metadata.string(METADATA_NAME)
        if metadata.scalar(METADATA_BUFFER, "<I") >= len(buffers):
            raise _Damaged("a metadata entry refers to a buffer that does not exist")
    subgraphs = model.tables(MODEL_SUBGRAPHS)
    if not subgraphs:
        raise _Damaged("the model has no subgraph")
    tensor_counts = [_walk_subgraph(subgraph, len(opcodes), len(buffers)) for subgraph in subgraphs]
    for signature in model.tables(MODEL_SIGNATURE_DEFS):
        signature.string(SIGNATURE_KEY)
        index = signature.scalar(SIGNATURE_SUBGRAPH, "<I")
        if index >= len(subgraphs):
            raise _Damaged("a signature refers to a subgraph that does not exist")
        for tensor_map in signature.tables(SIGNATURE_INPUTS) + signature.tables(SIGNATURE_OUTPUTS):
            tensor_map.string(TENSOR_MAP_NAME)
            if tensor_map.scalar(TENSOR_MAP_INDEX, "<I") >= tensor_counts[index]:
                raise _Damaged("a signature refers to a tensor that does not exist")


def _walk_subgraph(subgraph: _Table, opcode_count: int, buffer_count: int) -> int:
    """Check one subgraph; return its number of tensors."""
    tensors = subgraph.tables(SUBGRAPH_TENSORS)
    for tensor in tensors:
        _walk_tensor(tensor, buffer_count)
    subgraph.string(SUBGRAPH_NAME)
    indices = subgraph.ints(SUBGRAPH_INPUTS) + subgraph.ints(SUBGRAPH_OUTPUTS)
    for operator in subgraph.tables(SUBGRAPH_OPERATORS):
        if operator.scalar(OPERATOR_OPCODE, "<I") >= opcode_count:
            raise _Damaged("an operator refers to an operator code that does not exist")
        indices += operator.ints(OPERATOR_INPUTS) + operator.ints(OPERATOR_OUTPUTS)
        indices += operator.ints(OPERATOR_INTERMEDIATES)
        operator.vector(OPERATOR_CUSTOM_OPTIONS, 1)
        operator.vector(OPERATOR_MUTATING_INPUTS, 1)
        for type_field, field, vectors in (
            (OPERATOR_OPTIONS_TYPE, OPERATOR_OPTIONS, OPTION_VECTORS),
            (OPERATOR_OPTIONS_2_TYPE, OPERATOR_OPTIONS_2, OPTION_2_VECTORS),
        ):
            options = operator.table(field)
            if options is not None:
                for vector_field, element_size in vectors.get(
                    operator.scalar(type_field, "<B"), ()
                ):
                    options.vector(vector_field, element_size)
        offset = operator.scalar(OPERATOR_LARGE_OPTIONS_OFFSET, "<Q")
        if offset and offset + operator.scalar(OPERATOR_LARGE_OPTIONS_SIZE, "<Q") > len(
            operator.reader.data
        ):
            raise _Damaged("an operator's options lie past the end of the file")
    if any(index < -1 or index >= len(tensors) for index in indices):
        raise _Damaged("an operator refers to a tensor that does not exist")
    return len(tensors)


def _walk_tensor(tensor: _Table, buffer_count: int) -> None:
    tensor.ints(TENSOR_SHAPE)
    tensor.ints(TENSOR_SHAPE_SIGNATURE)
    tensor.string(TENSOR_NAME)
    if tensor.scalar(TENSOR_BUFFER, "<I") >= max(buffer_count, 1):
        raise _Damaged("a tensor refers to a buffer that does not exist")
    quantization = tensor.table(TENSOR_QUANTIZATION)
    if quantization is not None:
        quantization.vector(QUANT_MIN, 4)
        quantization.vector(QUANT_MAX, 4)
        quantization.vector(QUANT_SCALE, 4)
        quantization.vector(QUANT_ZERO_POINT, 8)
        details = quantization.table(QUANT_DETAILS)
        if (
            details is not None
            and quantization.scalar(QUANT_DETAILS_TYPE, "<B") == CUSTOM_QUANTIZATION
        ):
            details.vector(0, 1)
    sparsity = tensor.table(TENSOR_SPARSITY)
    if sparsity is not None:
        sparsity.ints(SPARSITY_TRAVERSAL)
        sparsity.ints(SPARSITY_BLOCK_MAP)
        for dimension in sparsity.tables(SPARSITY_DIMENSIONS):
            for type_field, field in (
                (DIMENSION_SEGMENTS_TYPE, DIMENSION_SEGMENTS),
                (DIMENSION_INDICES_TYPE, DIMENSION_INDICES),
            ):
                values = dimension.table(field)
                size = SPARSE_VECTOR_ELEMENT.get(dimension.scalar(type_field, "<B"))
                if values is not None and size is not None:
                    values.vector(0, size)
    for variant in tensor.tables(TENSOR_VARIANTS):
        variant.ints(VARIANT_SHAPE)
