"""Your own labelled digits for `edge-digits train --data DIR` (repeatable).

A folder holds either

- ``labels.csv`` (``file,label``), as `edge-digits review DIR` writes it: ``label`` is a digit
  0-9, ``none`` (not a digit) or ``drop`` (reviewed, not to train on); or
- sub-folders ``0`` to ``9`` and ``none`` of images.

A 28x28 grayscale image is taken as a model input as it is (what `--save-crops` keeps);
any other picture is preprocessed as `classify` would (the digit found, fitted and centred).

Each folder is split with the run's seed into a training part, a validation part (10%) and a
held-out part (20%), which training never sees: the run reports accuracy on it before and
after. Nothing here ever changes a folder: a row with an unknown label or a missing file is
one warning line and left out.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edge_digits.runtime.core.preprocess import NoDigit, load_gray, preprocess_gray
from edge_digits.runtime.errors import DataError, InputError

LABELS_CSV = "labels.csv"
NONE = "none"
DROP = "drop"  # reviewed and left out of training (`x` in the review page)
NONE_CLASS = 10
HELD_OUT = 0.2
VALIDATION = 0.1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm")
FOLDER_HINT = "expected labels.csv (from `edge-digits review DIR`) or sub-folders 0-9 and none"

Echo = Callable[[str], None]


@dataclass(frozen=True)
class UserData:
    """One folder's labelled images as model inputs (uint8, N x 28 x 28), split."""

    folder: Path
    x: np.ndarray
    y: np.ndarray  # 0-9, NONE_CLASS for "none"
    sha256: str  # of the labels and the images' bytes, in file order
    train: np.ndarray  # indices
    validation: np.ndarray
    held_out: np.ndarray

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        index = getattr(self, name)
        return self.x[index], self.y[index]

    def describe(self) -> dict[str, Any]:
        labels, counts = np.unique(self.y, return_counts=True)
        return {
            "folder": str(self.folder),
            "images": len(self.y),
            "sha256": self.sha256,
            "train": len(self.train),
            "validation": len(self.validation),
            "held_out": len(self.held_out),
            "by_label": {
                (NONE if label == NONE_CLASS else str(label)): int(count)
                for label, count in zip(labels, counts, strict=True)
            },
        }


def _label(text: str) -> int | None:
    text = text.strip().lower()
    if text in {str(d) for d in range(10)}:
        return int(text)
    return NONE_CLASS if text == NONE else None


def _entries(folder: Path, echo: Echo) -> list[tuple[Path, int]]:
    """(file, class) pairs of `folder`, in a fixed order; one warning per row left out."""
    if not folder.exists():
        raise DataError(f"{folder}: no such folder; {FOLDER_HINT}")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; {FOLDER_HINT}")
    csv_path = folder / LABELS_CSV
    entries: list[tuple[Path, int]] = []
    try:
        if csv_path.exists():
            with open(csv_path, newline="", encoding="utf-8") as file:
                rows = list(csv.reader(file))
            for number, row in enumerate(rows, start=1):
                if not row or (number == 1 and len(row) > 1 and row[1].strip() == "label"):
                    continue  # the header: file,label (or filename,label,... as examples/real)
                if len(row) < 2:
                    echo(f"warning: {csv_path}:{number}: expected file,label; row left out")
                    continue
                name, text = row[0].strip(), row[1].strip()
                if text.lower() == DROP:
                    continue
                label = _label(text)
                if label is None:
                    echo(
                        f"warning: {csv_path}:{number}: unknown label {text!r} for {name} "
                        "(0-9, none or drop); left out"
                    )
                    continue
                path = folder / name
                if Path(name).name != name or not path.is_file():
                    echo(f"warning: {csv_path}:{number}: {name} is missing; left out")
                    continue
                entries.append((path, label))
            return entries
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            label = _label(sub.name)
            if label is None:
                continue
            for path in sorted(sub.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    entries.append((path, label))
    except PermissionError as error:
        raise DataError(f"{error.filename or folder}: cannot be read (permission denied)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(
            f"{folder}: cannot be read ({' '.join(str(error).split())[:120]})"
        ) from None
    return entries


def _model_input(path: Path) -> np.ndarray | None:
    """A 28x28 gray image as it is; any other picture preprocessed as `classify` does."""
    gray = load_gray(path, None)
    if gray.shape == (28, 28):
        return gray
    found = preprocess_gray(gray)
    if isinstance(found, NoDigit):
        return None
    return np.clip(np.rint(np.asarray(found) * 255), 0, 255).astype(np.uint8)


def load_user_data(folder: Path, seed: int, echo: Echo = print) -> UserData:
    """One folder (see the module docstring); DataError when nothing in it can be used."""
    folder = Path(folder)
    images, labels = [], []
    digest = hashlib.sha256()
    for path, label in _entries(folder, echo):
        try:
            model_input = _model_input(path)
        except InputError as error:
            echo(f"warning: {error}; left out")
            continue
        if model_input is None:
            echo(f"warning: {path}: no digit found in it; left out")
            continue
        digest.update(f"{path.relative_to(folder)},{label}\n".encode())
        digest.update(path.read_bytes())
        images.append(model_input)
        labels.append(label)
    if not images:
        raise DataError(f"{folder}: no labelled images; {FOLDER_HINT}")
    order = np.random.default_rng(seed).permutation(len(images))
    held = round(len(order) * HELD_OUT) if len(order) >= 5 else 0
    validation = round(len(order) * VALIDATION) if len(order) >= 10 else 0
    return UserData(
        folder=folder,
        x=np.stack(images).astype(np.uint8),
        y=np.asarray(labels, dtype=np.int64),
        sha256=digest.hexdigest(),
        held_out=np.sort(order[:held]),
        validation=np.sort(order[held : held + validation]),
        train=np.sort(order[held + validation :]),
    )


def without_none(data: UserData, echo: Echo) -> UserData:
    """For a model without the not-a-digit class: the `none` images left out, one line."""
    keep = data.y != NONE_CLASS
    if keep.all():
        return data
    echo(
        f"warning: {data.folder}: {int((~keep).sum())} images labelled none left out: this "
        "model has no not-a-digit class (train with --negatives N, or --from an 11-class model)"
    )

    def kept(index: np.ndarray) -> np.ndarray:
        return index[keep[index]]

    return UserData(
        data.folder, data.x, data.y, data.sha256,
        kept(data.train), kept(data.validation), kept(data.held_out),
    )  # fmt: skip


@dataclass(frozen=True)
class UserSets:
    """Several folders' parts put together: (inputs, labels) each."""

    folders: list[UserData]
    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    held_out: tuple[np.ndarray, np.ndarray]


def combine(folders: list[UserData]) -> UserSets:
    def joined(name: str) -> tuple[np.ndarray, np.ndarray]:
        parts = [folder.part(name) for folder in folders]
        return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])

    return UserSets(folders, joined("train"), joined("validation"), joined("held_out"))
