"""A sidecar embedded in its model: a `Model.metadata` entry (`SIDECAR_METADATA`) whose buffer
holds the sidecar JSON, so that a `.tflite` copied without its `.json` keeps it.

Reading (`runtime/core/flatbuffer.py`: `embedded_metadata`) needs no TensorFlow: those tests
build their models here with tests/tflite_builder.py's `Table` and `serialize`, and also run
on tflite-runtime 2.14 (`make pytest-legacy`). Writing (`convert/metadata.py`:
`embed_metadata`, `strip_metadata`) uses TensorFlow's TFLite schema: those tests are `train`.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import default_model_path
from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA, check_tflite, embedded_metadata
from edge_digits.runtime.core.interpreter import make_interpreter
from edge_digits.runtime.errors import ModelError
from fixture_models import TEN_CLASS_MODEL
from tflite_builder import FLOAT32, FULLY_CONNECTED, FULLY_CONNECTED_OPTIONS, Table, serialize

SIDECAR_JSON = default_model_path().with_suffix(".json").read_bytes()
DAMAGED = re.compile(
    r"model: damaged or truncated TFLite model \([^\n]+\); copy or convert it again"
)
NOT_TFLITE = "model: not a TFLite model; expected a .tflite file (e.g. from `edge-digits convert`)"


# --------------------------------------------------------------------------- models


def _tensor(name: str, shape: list[int], buffer: int) -> Table:
    return Table({0: ("ints", shape), 1: ("i8", FLOAT32), 2: ("u32", buffer), 3: ("string", name)})


def tiny_model(
    entries: dict[str, bytes] | None = None,
    *,
    metadata: list[Table] | None = None,
    buffers: list[Table] | None = None,
) -> bytes:
    """A valid float32 model, x (1, 4) -> FULLY_CONNECTED -> y (1, 2), with metadata.

    `entries` become metadata entries, each with its payload in a buffer after the weights';
    `metadata` and `buffers` are added as given (buffers 0-2 are the model's own).
    """
    rng = np.random.default_rng(5)
    weights = rng.normal(0, 1, (2, 4)).astype("<f4")
    bias = np.array([0.5, -0.25], "<f4")
    model_buffers = [
        Table(),
        Table({0: ("bytes", weights.tobytes())}),
        Table({0: ("bytes", bias.tobytes())}),
        *(buffers or []),
    ]
    model_metadata = list(metadata or [])
    for name, payload in (entries or {}).items():
        model_metadata.append(entry(name, len(model_buffers)))
        model_buffers.append(Table({0: ("bytes", payload)}))
    operator = Table(
        {
            0: ("u32", 0),
            1: ("ints", [0, 1, 2]),
            2: ("ints", [3]),
            3: ("u8", FULLY_CONNECTED_OPTIONS),
            4: ("table", Table()),
        }
    )
    tensors = [
        _tensor("x", [1, 4], 0),
        _tensor("w", [2, 4], 1),
        _tensor("b", [2], 2),
        _tensor("y", [1, 2], 0),
    ]
    subgraph = Table(
        {
            0: ("tables", tensors),
            1: ("ints", [0]),
            2: ("ints", [3]),
            3: ("tables", [operator]),
            4: ("string", "main"),
        }
    )
    opcode = Table({0: ("i8", FULLY_CONNECTED), 2: ("i32", 1), 3: ("i32", FULLY_CONNECTED)})
    fields: dict[int, tuple[str, object]] = {
        0: ("u32", 3),
        1: ("tables", [opcode]),
        2: ("tables", [subgraph]),
        4: ("tables", model_buffers),
    }
    if model_metadata:
        fields[6] = ("tables", model_metadata)
    return serialize(Table(fields))


def entry(name: str, buffer: int) -> Table:
    return Table({0: ("string", name), 1: ("u32", buffer)})


def outputs(content: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """What the current backend's interpreter gives for each input."""
    interpreter, _ = make_interpreter(content, origin="model")
    given = interpreter.get_input_details()[0]
    results = []
    for values in inputs:
        interpreter.set_tensor(given["index"], values.astype(given["dtype"]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    return results


def random_inputs(content: bytes, count: int = 3, seed: int = 0) -> list[np.ndarray]:
    interpreter, _ = make_interpreter(content, origin="model")
    given = interpreter.get_input_details()[0]
    rng = np.random.default_rng(seed)
    if given["dtype"] == np.int8:
        return [rng.integers(-128, 128, given["shape"]) for _ in range(count)]
    return [rng.random(given["shape"], dtype=np.float32) for _ in range(count)]


# --------------------------------------------------------------------------- reading


def test_the_entry_is_read_by_name():
    content = tiny_model({"min_runtime_version": b"1.5.0", SIDECAR_METADATA: SIDECAR_JSON})
    check_tflite(content, "model")
    assert embedded_metadata(content, SIDECAR_METADATA) == SIDECAR_JSON
    assert embedded_metadata(content, "min_runtime_version") == b"1.5.0"
    assert embedded_metadata(content, "edge_digits") is None  # whole names only
    assert embedded_metadata(content, SIDECAR_METADATA + ".old") is None


def test_a_model_without_the_entry_has_none():
    assert embedded_metadata(tiny_model(), SIDECAR_METADATA) is None  # no metadata at all
    # A model converted before the sidecar went inside has TensorFlow's metadata entries only.
    older = TEN_CLASS_MODEL.read_bytes()
    assert embedded_metadata(older, SIDECAR_METADATA) is None
    assert embedded_metadata(older, "min_runtime_version") is not None


def test_the_first_entry_of_a_name_counts_and_an_empty_one_is_empty():
    content = tiny_model(
        metadata=[entry(SIDECAR_METADATA, 3), entry(SIDECAR_METADATA, 4), entry("empty", 5)],
        buffers=[Table({0: ("bytes", b"first")}), Table({0: ("bytes", b"second")}), Table()],
    )
    assert embedded_metadata(content, SIDECAR_METADATA) == b"first"
    assert embedded_metadata(content, "empty") == b""


def test_a_payload_stored_after_the_flatbuffer_is_read():
    # As models over 2 GB store their buffers: offset (from the file's start) and size.
    def model(offset: int) -> bytes:
        external = Table({1: ("u64", offset), 2: ("u64", len(SIDECAR_JSON))})
        return tiny_model(metadata=[entry(SIDECAR_METADATA, 3)], buffers=[external])

    flatbuffer_size = len(model(2))
    content = model(flatbuffer_size) + SIDECAR_JSON
    check_tflite(content, "model")
    assert embedded_metadata(content, SIDECAR_METADATA) == SIDECAR_JSON
    with pytest.raises(ModelError, match="a metadata buffer lies past the end of the file"):
        embedded_metadata(content[:-1], SIDECAR_METADATA)


def test_a_model_with_the_entry_loads_and_computes_as_without():
    """On the current backend: LiteRT, or tflite-runtime 2.14 under `make pytest-legacy`."""
    plain = tiny_model()
    embedded = tiny_model({SIDECAR_METADATA: SIDECAR_JSON})
    inputs = random_inputs(plain)
    np.testing.assert_array_equal(outputs(plain, inputs), outputs(embedded, inputs))


def test_an_entry_pointing_at_no_buffer_is_a_damaged_model():
    content = tiny_model(metadata=[entry(SIDECAR_METADATA, 7)])
    with pytest.raises(ModelError) as caught:
        embedded_metadata(content, SIDECAR_METADATA)
    assert str(caught.value) == (
        "model: damaged or truncated TFLite model (a metadata entry refers to a buffer that "
        "does not exist); copy or convert it again"
    )


def test_not_a_model_is_refused_as_check_tflite_refuses_it():
    for content in (b"", b"{}", np.random.default_rng(1).bytes(300)):
        with pytest.raises(ModelError) as caught:
            embedded_metadata(content, SIDECAR_METADATA)
        assert str(caught.value) == NOT_TFLITE


def test_a_payload_running_past_the_end_is_a_damaged_model():
    content = bytearray(tiny_model({SIDECAR_METADATA: SIDECAR_JSON}))
    at = bytes(content).index(SIDECAR_JSON) - 4  # the vector's length
    content[at : at + 4] = (len(content)).to_bytes(4, "little")
    with pytest.raises(ModelError, match=r"vector at \d+ runs past the end of the file"):
        embedded_metadata(bytes(content), SIDECAR_METADATA)


def test_a_name_that_is_not_utf8_is_a_damaged_model():
    content = tiny_model({SIDECAR_METADATA: b"{}"})
    at = content.index(SIDECAR_METADATA.encode())
    damaged = content[:at] + b"\xff" + content[at + 1 :]
    with pytest.raises(ModelError, match=r"string at \d+ is not UTF-8"):
        embedded_metadata(damaged, SIDECAR_METADATA)


def test_every_truncation_and_byte_change_reads_or_is_refused_in_one_line():
    """Hostile files: the entry, None, or a one-line ModelError; never another exception."""
    content = tiny_model({"min_runtime_version": b"1.5.0", SIDECAR_METADATA: SIDECAR_JSON})
    rng = np.random.default_rng(2)
    mutants = [content[:length] for length in range(len(content))]
    for _ in range(2000):
        mutant = bytearray(content)
        for position in rng.integers(0, len(content), rng.integers(1, 4)):
            mutant[position] = rng.integers(0, 256)
        mutants.append(bytes(mutant))
    for mutant in mutants:
        try:
            found = embedded_metadata(mutant, SIDECAR_METADATA)
        except ModelError as error:
            message = str(error)
            assert message == NOT_TFLITE or DAMAGED.fullmatch(message), message
        else:
            assert found is None or isinstance(found, bytes)


# --------------------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def writer() -> ModuleType:
    from edge_digits.convert import metadata

    return metadata


def _schema_model(content: bytes) -> Any:
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.convert_bytearray_to_object(bytearray(content))


def _data_alignments(content: bytes) -> dict[int, int]:
    """Buffer index -> where its data starts in the file, modulo 16 (buffers with data only)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    found = {}
    for index in range(model.BuffersLength()):
        buffer = model.Buffers(index)
        if buffer.DataLength():
            found[index] = buffer._tab.Vector(buffer._tab.Offset(4)) % 16
    return found


def _names(content: bytes) -> list[bytes]:
    return [entry.name for entry in _schema_model(content).metadata or []]


@pytest.mark.train
def test_an_embedded_entry_reads_back_and_the_model_computes_as_before(writer):
    plain = tiny_model()
    embedded = writer.embed_metadata(plain, SIDECAR_METADATA, SIDECAR_JSON)
    assert embedded_metadata(embedded, SIDECAR_METADATA) == SIDECAR_JSON
    assert _names(embedded) == [SIDECAR_METADATA.encode()]
    inputs = random_inputs(plain, seed=3)
    np.testing.assert_array_equal(outputs(plain, inputs), outputs(embedded, inputs))
    stripped = writer.strip_metadata(embedded, SIDECAR_METADATA)
    assert embedded_metadata(stripped, SIDECAR_METADATA) is None
    assert _schema_model(stripped).metadata is None
    assert len(_schema_model(stripped).buffers) == 3  # the payload's buffer went with it


@pytest.mark.train
def test_a_converted_model_keeps_its_bytes_under_the_entry(writer, example_digits):
    """The default model, from TensorFlow's converter (int8, its own metadata entries): the
    entry is added last, and stripping it gives back the very bytes, the ones the sidecar's
    model_sha256 covers."""
    original = writer.strip_metadata(default_model_path().read_bytes(), SIDECAR_METADATA)
    assert embedded_metadata(original, SIDECAR_METADATA) is None
    embedded = writer.embed_metadata(original, SIDECAR_METADATA, SIDECAR_JSON)
    assert writer.strip_metadata(embedded, SIDECAR_METADATA) == original
    assert _names(embedded) == [*_names(original), SIDECAR_METADATA.encode()]
    for name in _names(original):
        found = embedded_metadata(embedded, name.decode())
        assert found is not None and found == embedded_metadata(original, name.decode())
    assert len(embedded) - len(original) < len(SIDECAR_JSON) + 128  # the payload, and little more
    # The weights stay where the converter aligned them; the payload is 16-byte aligned.
    alignments = _data_alignments(embedded)
    assert alignments.pop(max(alignments)) == 0
    assert alignments == _data_alignments(original)

    interpreter, _ = make_interpreter(original, origin="model")
    scale, zero_point = interpreter.get_input_details()[0]["quantization"]
    digits = [
        np.clip(np.round(digit / 255 / scale + zero_point), -128, 127).reshape(1, 28, 28, 1)
        for digit in example_digits.values()
    ]
    before, after = outputs(original, digits), outputs(embedded, digits)
    np.testing.assert_array_equal(before, after)
    assert len({int(np.argmax(scores)) for scores in before}) > 1  # the digits told apart


@pytest.mark.train
def test_embedding_again_replaces_the_entry(writer):
    original = default_model_path().read_bytes()
    once = writer.embed_metadata(original, SIDECAR_METADATA, b'{"old": true}')
    twice = writer.embed_metadata(once, SIDECAR_METADATA, SIDECAR_JSON)
    assert embedded_metadata(twice, SIDECAR_METADATA) == SIDECAR_JSON
    assert _names(twice).count(SIDECAR_METADATA.encode()) == 1
    assert twice == writer.embed_metadata(original, SIDECAR_METADATA, SIDECAR_JSON)
    assert len(_schema_model(twice).buffers) == len(_schema_model(once).buffers)


@pytest.mark.train
def test_duplicate_entries_are_all_replaced_and_shared_buffers_kept(writer):
    # Two entries of the name, one sharing its buffer with another entry: that buffer stays.
    content = tiny_model(
        {"other": b"kept"},
        metadata=[entry(SIDECAR_METADATA, 3), entry(SIDECAR_METADATA, 4)],
        buffers=[Table({0: ("bytes", b"first")}), Table({0: ("bytes", b"second")})],
    )
    shared = tiny_model(
        {"other": b"kept"}, metadata=[entry(SIDECAR_METADATA, 3)]
    )  # `other` is buffer 3 here
    for model in (content, shared):
        embedded = writer.embed_metadata(model, SIDECAR_METADATA, SIDECAR_JSON)
        assert _names(embedded).count(SIDECAR_METADATA.encode()) == 1
        assert embedded_metadata(embedded, SIDECAR_METADATA) == SIDECAR_JSON
        assert embedded_metadata(embedded, "other") == b"kept"
        check_tflite(embedded, "model")


@pytest.mark.train
def test_stripping_a_model_without_the_entry_changes_nothing(writer):
    original = writer.strip_metadata(default_model_path().read_bytes(), SIDECAR_METADATA)
    assert writer.strip_metadata(original, SIDECAR_METADATA) is original
    empty = writer.embed_metadata(tiny_model(), SIDECAR_METADATA, b"")
    assert embedded_metadata(empty, SIDECAR_METADATA) == b""


@pytest.mark.train
def test_a_damaged_model_with_the_entry_is_refused_in_one_line(writer):
    embedded = writer.embed_metadata(
        default_model_path().read_bytes(), SIDECAR_METADATA, SIDECAR_JSON
    )
    for damaged in (embedded[: len(embedded) // 2], embedded[: -len(SIDECAR_JSON)], embedded[:40]):
        for action in (
            lambda content: make_interpreter(content, origin="model"),
            lambda content: writer.embed_metadata(content, SIDECAR_METADATA, b"{}"),
            lambda content: writer.strip_metadata(content, SIDECAR_METADATA),
        ):
            with pytest.raises(ModelError) as caught:
                action(damaged)
            assert DAMAGED.fullmatch(str(caught.value)), str(caught.value)
        # The reader follows only the path to the entry, bounds-checked: where that path was
        # cut it refuses the file in the same words; where it is whole it reads the entry,
        # and loading the model (check_tflite) refuses the file.
        try:
            assert embedded_metadata(damaged, SIDECAR_METADATA) == SIDECAR_JSON
        except ModelError as error:
            assert DAMAGED.fullmatch(str(error)), str(error)
    with pytest.raises(ModelError) as caught:
        writer.embed_metadata(b"not a model at all", SIDECAR_METADATA, b"{}")
    assert str(caught.value) == NOT_TFLITE
