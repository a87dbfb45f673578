"""Custom entries in a `.tflite` file's `Model.metadata`: how a model carries its own sidecar.

`embed_metadata` adds (or replaces) an entry `Metadata { name, buffer }` whose buffer holds
the given bytes; `strip_metadata` removes it again. `convert` embeds the sidecar JSON under
`SIDECAR_METADATA`; the runtime reads it back without TensorFlow
(`runtime/core/flatbuffer.py`: `embedded_metadata`).

The model is unpacked and packed again with TensorFlow's own object API for the TFLite schema
(`schema_py_generated`, through `flatbuffer_utils`), so every table the schema knows is kept
as it was; only the layout of the bytes may change. For a model TensorFlow's converter
wrote, packing again gives the very same bytes, and the entry is added as the last metadata
entry with its payload in a new last buffer: `strip_metadata(embed_metadata(x, ...), ...)`
is `x` byte for byte, so the sidecar's `model_sha256` (of the model before embedding) can
be checked against the stripped file. The payload starts 16-byte aligned and the model's own
buffers keep their alignment in the file (see `_AlignedBuffer`).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from edge_digits.runtime.core.flatbuffer import check_tflite, embedded_metadata
from edge_digits.runtime.errors import ModelError, one_line
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

# What TensorFlow's generated readers raise on a flatbuffer the structural check let through
# but they cannot read (fields that check does not walk).
_UNREADABLE = (IndexError, struct.error, ValueError, TypeError, AttributeError, UnicodeError)


def embed_metadata(content: bytes, name: str, payload: bytes, *, origin: str = "model") -> bytes:
    """The TFLite model `content` with the metadata entry `name` holding `payload`.

    An entry of that name already there is replaced (all of them, if several). Everything
    else keeps its meaning: the model loads and computes as before. `content` that is not a
    sound TFLite model raises ModelError naming `origin` (`check_tflite`'s message).
    """
    model = _unpack(content, origin)
    _remove_entries(model, name)
    if not model.buffers:
        # Buffer 0 is the empty sentinel every non-constant tensor refers to: never the payload's.
        model.buffers = [schema.BufferT()]
    model.buffers.append(_AlignedBuffer(bytes(payload)))
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    result = _pack(model, origin)
    if embedded_metadata(result, name, origin=origin) != payload:  # pragma: no cover
        raise RuntimeError(f"{origin}: the metadata entry {name!r} did not read back as written")
    return result


def strip_metadata(content: bytes, name: str, *, origin: str = "model") -> bytes:
    """The TFLite model `content` without its metadata entries called `name`, and without
    their buffers where nothing else uses them. Without such an entry: `content` itself."""
    model = _unpack(content, origin)
    if not _remove_entries(model, name):
        return content
    return _pack(model, origin)


class _AlignedBuffer(schema.BufferT):  # type: ignore[misc]
    """A buffer whose data starts 16-byte aligned, as schema.fbs asks (`force_align: 16`) and
    TensorFlow's generated Python code does not do. It also makes the packed file a multiple
    of 16 bytes long, so the buffers packed before it (all the model's own) keep their
    alignment in the file as the converter made it, their distance from its end unchanged."""

    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self.data = payload

    def Pack(self, builder: Any) -> int:
        builder.Prep(16, len(self.data))  # then the 4-byte length, already aligned
        data = builder.CreateByteVector(self.data)
        schema.BufferStart(builder)
        schema.BufferAddData(builder, data)
        offset: int = schema.BufferEnd(builder)
        return offset


def _unpack(content: bytes, origin: str) -> Any:
    """The model as TensorFlow's object API (`ModelT`), checked first by the runtime's
    structural check, with any data stored after the flatbuffer moved inside it."""
    check_tflite(content, origin)
    try:
        # Not flatbuffer_utils.read_model_from_bytearray: it treats offset 1 (the schema's
        # "not used") as data stored outside, and byte-swaps weights on big-endian hosts.
        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
        # Models over 2 GB keep buffers (and large custom options) after the flatbuffer, at
        # offsets from the file's start that packing again would invalidate: take them in.
        # The structural check has kept these offsets inside the file.
        for buffer in model.buffers or []:
            if buffer.offset > 1:
                buffer.data = np.frombuffer(content, np.uint8, buffer.size, buffer.offset)
                buffer.offset = buffer.size = 0
        for subgraph in model.subgraphs or []:
            for operator in subgraph.operators or []:
                offset = operator.largeCustomOptionsOffset
                if offset > 1:
                    size = operator.largeCustomOptionsSize
                    operator.customOptions = np.frombuffer(content, np.uint8, size, offset)
                    operator.largeCustomOptionsOffset = operator.largeCustomOptionsSize = 0
    except _UNREADABLE as error:
        raise ModelError(
            f"{origin}: damaged or truncated TFLite model ({one_line(error, 200)}); copy or convert it again"
        ) from None
    return model


def _pack(model: Any, origin: str) -> bytes:
    result: bytes = flatbuffer_utils.convert_object_to_bytearray(model)
    check_tflite(result, origin)
    return result


def _remove_entries(model: Any, name: str) -> bool:
    """Remove the metadata entries called `name`; empty their buffers where no tensor and no
    other entry uses them, and drop such buffers from the end of the list. Whether any was."""
    wanted = name.encode("utf-8")
    entries = model.metadata or []
    kept = [entry for entry in entries if _text(entry.name) != wanted]
    if len(kept) == len(entries):
        return False
    removed = [entry for entry in entries if _text(entry.name) == wanted]
    model.metadata = kept or None
    used = {0} | {entry.buffer for entry in kept}
    if model.metadataBuffer is not None:
        used |= {int(index) for index in model.metadataBuffer}
    for subgraph in model.subgraphs or []:
        used |= {tensor.buffer for tensor in subgraph.tensors or []}
    orphans = {entry.buffer for entry in removed} - used
    buffers = model.buffers
    for index in orphans:
        buffers[index] = schema.BufferT()
    while buffers and len(buffers) - 1 in orphans:
        buffers.pop()
    return True


def _text(value: bytes | str | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value
