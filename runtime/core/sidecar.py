"""The sidecar: `<model>.json` beside every `.tflite`, so the model travels with its preprocessing.

Written by `convert`, read by the runtime. A model without a sidecar loads with MNIST
defaults and a warning; a sidecar whose sha256 does not match its model is an error.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError, one_line
from ..files.atomic import atomic_write_text

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: no none class, probabilities out (the fields of version 2 absent)
MNIST_LABELS: tuple[str, ...] = tuple(str(digit) for digit in range(10))
NONE_LABEL = "none"  # the not-a-digit class's label, by convention the last of `labels`
OUTPUTS = ("probabilities", "logits")  # what a model's output tensor holds
VERSION_2_FIELDS = ("none_label", "output", "temperature", "min_score", "calibration")
POLARITIES = ("light-on-dark",)  # the model's input convention (MNIST: bright ink on black)
CENTERINGS = ("mass",)


@dataclass(frozen=True)
class PreprocessSettings:
    """How images were turned into model input at training time; the runtime repeats it.

    Fields:
        size: side of the square model input, in pixels.
        box: the digit's longer side is fitted into a box of this many pixels (MNIST: 20).
        polarity: "light-on-dark": ink is bright, background black (MNIST's convention).
        centering: "mass": the digit's centre of mass is placed at the image centre (MNIST).
        scale: multiply uint8 pixel values by this to get the float input (1/255: [0, 1]).
    """

    size: int = 28
    box: int = 20
    polarity: str = "light-on-dark"
    centering: str = "mass"
    scale: float = 1.0 / 255.0

    def __post_init__(self) -> None:
        # Sidecars are files users can edit: refuse values the runtime cannot honour.
        def whole(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(self.size) or not 8 <= self.size <= 1024:
            raise ValueError(
                f"preprocessing.size must be a whole number of pixels, got {self.size!r}"
            )
        if not whole(self.box) or not 1 <= self.box <= self.size:
            raise ValueError(f"preprocessing.box must be 1 to size ({self.size}), got {self.box!r}")
        if self.polarity not in POLARITIES or self.centering not in CENTERINGS:
            raise ValueError(
                f"preprocessing polarity {self.polarity!r} / centering {self.centering!r} not "
                f"supported; allowed: {', '.join(POLARITIES)} / {', '.join(CENTERINGS)}"
            )
        if not isinstance(self.scale, (int, float)) or not 0 < self.scale <= 1:
            raise ValueError(f"preprocessing.scale must be in (0, 1], got {self.scale!r}")


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class Sidecar:
    """Everything the runtime and a person need to know about one `.tflite` file.

    Version 2 fields (their defaults are what a version 1 file means):
        none_label: the label of the not-a-digit class, when the model has one (then one of
            `labels`, after the digits: conventionally "none", the eleventh); None: no such class.
        output: "probabilities" (the model ends in softmax) or "logits" (the runtime applies
            softmax(logits / temperature) in float32).
        temperature: > 0; divides the logits (calibration); applied to logits only.
        min_score: the model's own operating point, in [0, 1): a digit whose probability is
            below it is answered "not a digit".
        calibration: free-form figures of the calibration (ece_before, ece_after, bins...).
    """

    model_sha256: str
    precision: str  # "float32", "float16" or "int8"
    architecture: str
    input_shape: tuple[int, ...]  # batch dimension is -1 (dynamic)
    input_dtype: str
    output_dtype: str
    input_quantization: Quantization | None = None
    output_quantization: Quantization | None = None
    labels: tuple[str, ...] = MNIST_LABELS
    preprocessing: PreprocessSettings = field(default_factory=PreprocessSettings)
    training_data_sha256: str = ""
    accuracy: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    none_label: str | None = None
    output: str = "probabilities"
    temperature: float = 1.0
    min_score: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Sidecars are files users can edit: refuse values the runtime cannot honour (one
        # line each; `from_json` names the file). The labels themselves are checked against
        # the model's output by the classifier.
        def number(value: object) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if self.none_label is not None and (
            not isinstance(self.none_label, str) or self.none_label not in self.labels
        ):
            raise ValueError(
                f"none_label {self.none_label!r} is not one of the labels "
                f"({', '.join(self.labels)}); add it to labels or set none_label to null"
            )
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if not number(self.temperature) or not 0 < self.temperature < float("inf"):
            raise ValueError(f"temperature must be a number above 0, got {self.temperature!r}")
        if not number(self.min_score) or not 0 <= self.min_score < 1:
            raise ValueError(f"min_score must be in [0, 1), got {self.min_score!r}")
        if not isinstance(self.calibration, dict):
            raise ValueError(f"calibration must be an object, got {self.calibration!r}")

    @property
    def none_index(self) -> int | None:
        """The not-a-digit class's position in `labels` (None without one)."""
        return None if self.none_label is None else self.labels.index(self.none_label)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data, as the file has them (version 1: without version 2's)."""
        fields = asdict(self)
        if self.schema_version == 1:
            for key in VERSION_2_FIELDS:
                del fields[key]
        return fields

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str, origin: str) -> Sidecar:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("top level is not an object")
            version = data.get("schema_version")
            if isinstance(version, bool) or version not in READABLE_VERSIONS:
                raise ModelError(
                    f"{origin}: sidecar schema version {version!r} is not supported "
                    f"(this edge-digits reads versions {READABLE_VERSIONS[0]} to "
                    f"{READABLE_VERSIONS[-1]}); re-run `edge-digits convert`"
                )
            newer = [key for key in VERSION_2_FIELDS if key in data]
            if version == 1 and newer:
                raise ValueError(f"{', '.join(newer)} needs schema_version 2, the file says 1")
            fields = dict(data)
            for key in ("input_quantization", "output_quantization"):
                fields[key] = Quantization(**data[key]) if data.get(key) else None
            fields["input_shape"] = tuple(data["input_shape"])
            fields["labels"] = tuple(str(label) for label in data.get("labels", MNIST_LABELS))
            fields["preprocessing"] = PreprocessSettings(**data.get("preprocessing", {}))
            return cls(**fields)
        except ModelError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            reason = one_line(error)
            raise ModelError(
                f"{origin}: malformed sidecar ({reason}); fix it, delete it, or re-run `edge-digits convert`"
            ) from None

    @classmethod
    def read(cls, path: Path) -> Sidecar:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelError(f"{path}: cannot read sidecar ({error})") from None
        return cls.from_json(text, str(path))


def sidecar_path(model_path: Path) -> Path:
    """`model_int8.tflite` -> `model_int8.json`."""
    return model_path.with_suffix(".json")
