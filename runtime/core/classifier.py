"""`Classifier`: a `.tflite` digit model plus its sidecar, behind one small typed interface.

    classifier = Classifier()                      # the embedded default int8 model
    prediction = classifier.classify_file("img.png")
    prediction.label, prediction.score             # 7, 0.998

Batches run through one interpreter call each (`resize_tensor_input`); int8/uint8 models
are quantised and dequantised (`quantize.py`) with the scale and zero point the model itself
declares. Reading several digits is `number.read_number`, with this classifier's `predict`.

A model gives 10 scores (the digits), or 11 when its sidecar names a not-a-digit class
(`none_label`); its output is probabilities, or logits that are turned into probabilities
here (softmax(logits / temperature), `output: "logits"` in the sidecar). One image is
answered "not a digit" (label None, reason NOT_A_DIGIT) when that class is the likeliest, or
when the likeliest digit scores below the operating point (`min_score`: the sidecar's, or
the caller's, whose reason is then "score below S").
"""

from __future__ import annotations

import contextlib
import numbers
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EdgeDigitsWarning, ModelError, UsageError, one_line
from ..files.atomic import sha256_bytes
from .flatbuffer import SIDECAR_METADATA, embedded_metadata
from .interpreter import make_interpreter
from .preprocess import NoDigit, load_gray, pixel_limit, preprocess_gray
from .quantize import dequantize, quantize
from .sidecar import MNIST_LABELS, NONE_LABEL, PreprocessSettings, Sidecar, sidecar_path

if TYPE_CHECKING:
    from .number import NumberReading
    from .trace import Trace

DEFAULT_MODEL_NAME = "edge_int8.tflite"
PAIR_RETRIES = (0.05, 0.2)  # seconds: a model and sidecar being replaced settle within these
MAX_BATCH = 256  # images per interpreter call: bounded memory, most of the batching gain
DIGITS = 10
OUTPUT_SIZES = (DIGITS, DIGITS + 1)  # the digits, and the digits then a not-a-digit class
OUTPUT_SHAPES = [[size] for size in OUTPUT_SIZES]
NOT_A_DIGIT = "not a digit"  # the reason of an answer the model gave as not a digit


def default_model_path() -> Path:
    """The int8 `edge` model shipped inside the package."""
    # Beside this module: the package is always installed as files (setuptools package
    # data), and importing importlib.resources would cost ~5 ms of a cold `classify`.
    return Path(__file__).parents[1] / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class ClassifierOptions:
    """How to build a `Classifier`.

    Fields:
        model: a `.tflite` file; None means the embedded default model.
        num_threads: interpreter threads; None lets the backend choose.
        backend: "litert" or "tflite-runtime"; None takes the first installed.
        xnnpack: False runs the builtin kernels without the XNNPACK delegate.
        max_pixels: images with more pixels are refused unread (decompression bombs);
            None: $EDGE_DIGITS_MAX_PIXELS, else preprocess.DEFAULT_MAX_PIXELS.
        min_score: in [0, 1]: a digit whose probability is below it is answered with label
            None (reason "score below S"); None: the sidecar's `min_score` (reason "not a
            digit"), else 0.
    """

    model: Path | None = None
    num_threads: int | None = None
    backend: str | None = None
    xnnpack: bool = True
    max_pixels: int | None = None
    min_score: float | None = None


@dataclass(frozen=True)
class Prediction:
    """One classification. `label` is None when no digit was found or read (`reason` says
    why): preprocessing found no digit (score 0, no `top_k`), or the model answered "not a
    digit" or scored its best digit below `min_score` (`score` and `top_k` are then still
    the digits' own). `top_k` holds digits only; `none_score` is the probability of the
    not-a-digit class (None for a model without one)."""

    label: int | None
    score: float
    top_k: tuple[tuple[int, float], ...] = ()
    reason: str | None = None
    none_score: float | None = None

    @property
    def scored(self) -> bool:
        """Whether the model was asked (False: preprocessing found no digit to show it)."""
        return bool(self.top_k)


class Classifier:
    """A TFLite digit classifier: `.tflite` + sidecar, preprocessing included."""

    def __init__(self, options: ClassifierOptions | None = None) -> None:
        options = options or ClassifierOptions()
        self.options = options  # as given: what another process builds the same one from
        self.max_pixels = pixel_limit(options.max_pixels)  # a wrong value fails before any work
        if options.num_threads is not None and options.num_threads < 1:
            raise UsageError(f"threads must be 1 or more, got {options.num_threads}")
        given = options.min_score
        if given is not None and (
            isinstance(given, bool)
            or not isinstance(given, numbers.Real)
            or not 0.0 <= float(given) <= 1.0
        ):
            raise UsageError(f"min_score {given!r}: give a score between 0 and 1")
        self.model_path = Path(options.model) if options.model else default_model_path()
        content = self._read_model()
        for _ in range(2):  # a second time only if the model was replaced while being read
            self._interpreter, self.backend = make_interpreter(
                content,
                origin=str(self.model_path),
                num_threads=options.num_threads,
                backend=options.backend,
                xnnpack=options.xnnpack,
            )
            self._input, self._output = self._check_tensors()
            self.sidecar, matched = self._read_sidecar(content)
            if matched == content:
                break
            content = matched
        else:
            raise ModelError(
                f"{self.model_path}: the model changed twice while being loaded (is "
                "`edge-digits convert` writing it?); try again when it has finished"
            )
        self._check_sidecar()
        # A model exported with a fixed batch size cannot be resized: feed it batches of
        # exactly that size (the last one padded). -1 is a dynamic batch dimension.
        batch = int(self._input.get("shape_signature", self._input["shape"])[0])
        self._fixed_batch = batch if batch > 0 else None
        self._batch = int(self._input["shape"][0])
        # Worked out once, not per call: on one image the interpreter takes ~25 us, and every
        # dict lookup, np.iinfo() or extra numpy call in predict() adds to each prediction.
        self._input_index = int(self._input["index"])
        self._output_index = int(self._output["index"])
        self._input_dtype = np.dtype(self._input["dtype"])
        self._input_tail = tuple(int(d) for d in self._input["shape"][1:])
        self._input_range = _integer_range(self._input)
        self._output_range = _integer_range(self._output)
        self._work: np.ndarray | None = None  # quantize() works in it, reused per batch size
        # An integer output whose zero point is its type's minimum never dequantises below 0.
        self._output_may_be_negative = self._output_range is None or (
            self._output_range[1] > self._output_range[2] or self._output_range[0] <= 0
        )
        sidecar = self.sidecar
        self._logits = sidecar is not None and sidecar.output == "logits"
        self._temperature = np.float32(sidecar.temperature if sidecar else 1.0)
        self.none_index: int | None = sidecar.none_index if sidecar else None
        # The operating point: the caller's, else the model's own (its sidecar's).
        # A number's pieces are held only to a threshold the caller gives: the model's own
        # operating point separates a picture of a digit from a picture of something else,
        # while a piece in a row of digits is a digit unless the none class says otherwise.
        self._number_min_score = 0.0 if given is None else float(given)
        if given is None:
            self.min_score = float(sidecar.min_score) if sidecar else 0.0
            self.below_reason = NOT_A_DIGIT
        else:
            self.min_score = float(given)
            self.below_reason = f"score below {given:g}"

    # -- loading ---------------------------------------------------------------------------

    def _check_tensors(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The one input and one output, checked: 28x28(x1) image in, 10 scores out (or 11,
        a not-a-digit class, which its sidecar must name: `_read_sidecar`)."""
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.model_path}: model has {len(inputs)} inputs and {len(outputs)} outputs; "
                "expected one 28x28x1 image in and 10 class scores out"
            )
        # The signature (batch -1) and the shape are separate fields of the file: a damaged
        # one can make them disagree, and predict() relies on both.
        for key in ("shape_signature", "shape"):
            in_shape = [int(d) for d in inputs[0].get(key, inputs[0]["shape"])[1:]]
            out_shape = [int(d) for d in outputs[0].get(key, outputs[0]["shape"])[1:]]
            if in_shape not in ([28, 28, 1], [28, 28]) or out_shape not in OUTPUT_SHAPES:
                raise ModelError(
                    f"{self.model_path}: model takes input {in_shape} and gives {out_shape}; "
                    "expected a 28x28x1 image in and 10 class scores out"
                )
            if [int(d) for d in outputs[0]["shape"][1:]] != out_shape:
                raise ModelError(
                    f"{self.model_path}: model gives {out_shape} scores by its signature but "
                    f"{[int(d) for d in outputs[0]['shape'][1:]]} by its shape; copy or convert it again"
                )
        batch = int(inputs[0].get("shape_signature", inputs[0]["shape"])[0])
        if batch == 0 or batch > MAX_BATCH or not 1 <= int(inputs[0]["shape"][0]) <= MAX_BATCH:
            raise ModelError(
                f"{self.model_path}: model takes batches of {batch}; "
                f"expected a dynamic batch or a fixed one of 1 to {MAX_BATCH}"
            )
        for details, role in ((inputs[0], "input"), (outputs[0], "output")):
            if np.issubdtype(details["dtype"], np.integer) and not details["quantization"][0]:
                raise ModelError(
                    f"{self.model_path}: integer {role} without quantisation parameters; "
                    "expected a float model or a full-integer model from `edge-digits convert`"
                )
        return inputs[0], outputs[0]

    @property
    def classes(self) -> int:
        """How many scores the model gives: 10 digits, or 11 with a not-a-digit class."""
        return int(self._output["shape"][-1])

    def _check_sidecar(self) -> None:
        if self.sidecar is None:
            return
        settings, where = self.sidecar.preprocessing, sidecar_path(self.model_path)
        labels, classes = self.sidecar.labels, self.classes
        if settings.size != 28 or len(labels) != classes:
            raise ModelError(
                f"{where}: sidecar says input size {settings.size} and {len(labels)} labels, "
                f"but the model takes 28x28 and gives {classes} scores; re-run `edge-digits convert`"
            )
        none_label = self.sidecar.none_label
        if labels != MNIST_LABELS + ((none_label,) if none_label is not None else ()):
            shown = ", ".join(labels)
            if none_label is None and len(labels) > len(MNIST_LABELS):
                raise ModelError(
                    f"{where}: sidecar has {len(labels)} labels ({shown}) but no none_label "
                    f"naming the not-a-digit class; set none_label (e.g. {NONE_LABEL!r})"
                )
            then = f", then none_label {none_label!r}" if none_label is not None else ""
            raise ModelError(
                f"{where}: sidecar labels ({shown}) must be the digits 0 to 9 in order{then}; "
                "fix the sidecar or re-run `edge-digits convert`"
            )

    def _read_model(self) -> bytes:
        try:
            return self.model_path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{self.model_path}: no such model file") from None
        except OSError as error:
            raise ModelError(f"{self.model_path}: cannot read model ({error.strerror})") from None

    def _read_sidecar(self, content: bytes) -> tuple[Sidecar | None, bytes]:
        """The sidecar of the model read as `content` (None, with a warning, when there is
        none), and the model bytes it matches.

        `convert` replaces a pair sidecar first, then model, under a lock on the folder;
        a reader that read the old model just before may then find the new sidecar. So a
        mismatch is read again, briefly, before it counts as a stale sidecar; the bytes
        returned are then the new model's.

        A model from `convert` also carries its sidecar inside (`embedded_metadata`): that one
        belongs to the file by construction, and a `.json` beside it must say the same."""
        path = sidecar_path(self.model_path)
        inside = self._embedded_sidecar(content)
        if inside is not None:
            return self._agreeing(inside, content, path)
        if not path.exists():
            if self.classes != DIGITS:
                raise ModelError(
                    f"{self.model_path}: gives {self.classes} scores but has no sidecar naming "
                    f"its classes; put its sidecar {path.name} beside it (labels 0-9 and "
                    "none_label), or re-run `edge-digits convert`"
                )
            warnings.warn(
                f"{self.model_path}: no sidecar {path.name}; assuming MNIST preprocessing and labels 0-9",
                EdgeDigitsWarning,
                stacklevel=3,
            )
            return None, content
        sidecar = Sidecar.read(path)
        for pause in PAIR_RETRIES:
            if sidecar.model_sha256 == sha256_bytes(content):
                return sidecar, content
            time.sleep(pause)
            with contextlib.suppress(ModelError):  # between the two renames: no model yet
                content = self._read_model()
            inside = self._embedded_sidecar(content)
            if inside is not None:  # replaced meanwhile by a model carrying its sidecar
                return self._agreeing(inside, content, path)
            sidecar = Sidecar.read(path)
        if sidecar.model_sha256 == sha256_bytes(content):
            return sidecar, content
        raise ModelError(
            f"{path}: sidecar does not match {self.model_path.name} (sha256 differs); "
            "re-run `edge-digits convert` or delete the stale sidecar"
        )

    def _embedded_sidecar(self, content: bytes) -> Sidecar | None:
        payload = embedded_metadata(content, SIDECAR_METADATA, origin=str(self.model_path))
        if payload is None:
            return None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError(
                f"{self.model_path}: the sidecar inside the model is not UTF-8 text; "
                "copy or convert it again"
            ) from None
        return Sidecar.from_json(text, f"{self.model_path} (the sidecar inside it)")

    def _agreeing(self, inside: Sidecar, content: bytes, path: Path) -> tuple[Sidecar, bytes]:
        """The embedded sidecar, once the `.json` beside the model (if any) agrees with it;
        read again briefly first, as `convert` may be replacing the pair."""
        for pause in (*PAIR_RETRIES, None):
            if not path.exists() or Sidecar.read(path) == inside:
                return inside, content
            if pause is None:
                break
            time.sleep(pause)
            with contextlib.suppress(ModelError):  # between the two renames: no model yet
                content = self._read_model()
                inside = self._embedded_sidecar(content) or inside
        raise ModelError(
            f"{path}: disagrees with the sidecar inside {self.model_path.name}; delete "
            f"{path.name} (the model carries its own) or re-run `edge-digits convert`"
        )

    @property
    def settings(self) -> PreprocessSettings:
        return self.sidecar.preprocessing if self.sidecar else PreprocessSettings()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.sidecar.labels if self.sidecar else MNIST_LABELS

    @property
    def has_none(self) -> bool:
        """Whether the model has a not-a-digit class (`none_index` is its column)."""
        return self.none_index is not None

    @property
    def output(self) -> str:
        """What the output tensor holds: "probabilities" or "logits" (its sidecar says)."""
        return "logits" if self._logits else "probabilities"

    @property
    def input_details(self) -> dict[str, Any]:
        return dict(self._input)

    @property
    def output_details(self) -> dict[str, Any]:
        return dict(self._output)

    # -- inference -------------------------------------------------------------------------

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Float images (N, 28, 28[, 1]) in the model's input range -> probabilities (N, C),
        C = `classes` (10 digits; 11 with the not-a-digit class last)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
            raise UsageError(f"expected images of shape (N, 28, 28[, 1]), got {images.shape}")
        if np.count_nonzero(np.isfinite(images)) != images.size:  # cheaper than .all()
            raise UsageError("images contain NaN or infinity; expected values in the input range")
        if len(images) <= MAX_BATCH:  # the common case, without a copy by concatenate
            if len(images):
                return self._invoke(images)
            return np.zeros((0, self.classes), np.float32)
        chunks = [
            self._invoke(images[start : start + MAX_BATCH])
            for start in range(0, len(images), MAX_BATCH)
        ]
        return np.concatenate(chunks)

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        count = len(batch)
        if self._fixed_batch is not None:
            if count < self._fixed_batch:  # pad to the model's batch; padding is dropped below
                padding = np.zeros((self._fixed_batch - count, *batch.shape[1:]), batch.dtype)
                batch = np.concatenate([batch, padding])
            return np.concatenate(
                [
                    self._run(batch[i : i + self._fixed_batch])
                    for i in range(0, len(batch), self._fixed_batch)
                ]
            )[:count]
        if count != self._batch:
            self._interpreter.resize_tensor_input(self._input_index, [count, *self._input_tail])
            self._interpreter.allocate_tensors()
            self._batch = count
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape[1:] != self._input_tail:  # a model that takes (N, 28, 28)
            batch = batch.reshape((len(batch), *self._input_tail))
        try:
            self._interpreter.set_tensor(self._input_index, self._quantize(batch))
            self._interpreter.invoke()
            output = self._interpreter.get_tensor(self._output_index)
        except (RuntimeError, ValueError) as error:
            reason = one_line(error, 200)
            raise ModelError(f"{self.model_path}: inference failed ({reason})") from None
        scores = self._dequantize(output)
        # Damaged weights: never print a NaN as a score. (Dequantised integers are finite by
        # construction, and so is the softmax of finite values: only float outputs need it.)
        if self._output_range is None and not np.isfinite(scores).all():
            raise ModelError(
                f"{self.model_path}: the model gives NaN or infinite scores (damaged weights?); "
                "copy or convert it again"
            )
        return scores

    def _quantize(self, values: np.ndarray) -> np.ndarray:
        """Float32 model input -> the input tensor's dtype (quantised for an integer one)."""
        if self._input_range is None:
            return values.astype(self._input_dtype)
        scale, zero_point, _, _ = self._input_range
        work = self._work
        if work is None or work.shape != values.shape:  # a new batch size: a new work array
            work = self._work = np.empty(values.shape, np.float32)
        return quantize(values, scale, zero_point, self._input_dtype, out=work)

    def _dequantize(self, values: np.ndarray) -> np.ndarray:
        """The output tensor (the model's declared dtype) -> float32 probabilities."""
        if self._output_range is not None:
            scale, zero_point, _, _ = self._output_range
            values = dequantize(values, scale, zero_point)
        else:
            values = values.astype(np.float32)
        if self._logits:  # the sidecar says so: softmax(logits / temperature), every row
            if self._temperature != 1:
                values /= self._temperature
            values -= values.max(axis=1, keepdims=True)  # stable: exp() of values <= 0
            np.exp(values, out=values)
            values /= values.sum(axis=1, keepdims=True)
            return values
        # Our models end in softmax. A foreign model that emits logits gets one here, so that
        # scores are always probabilities; decided per row, so that no image's score depends
        # on the others in its batch.
        logits = np.abs(values.sum(axis=1) - 1.0) > 0.05
        if self._output_may_be_negative:
            logits |= values.min(axis=1) < -1e-3
        if np.count_nonzero(logits):  # cheaper than .any()
            shifted = np.exp(values[logits] - values[logits].max(axis=1, keepdims=True))
            values[logits] = shifted / shifted.sum(axis=1, keepdims=True)
        return values

    # -- classification --------------------------------------------------------------------

    def classify_inputs(
        self, inputs: list[np.ndarray | NoDigit], top_k: int = 1
    ) -> list[Prediction]:
        """Preprocessed inputs (28x28 arrays or NoDigit) -> one Prediction each, batched."""
        arrays = [item for item in inputs if not isinstance(item, NoDigit)]
        rows = iter(self.predict(np.stack(arrays)) if arrays else ())
        return [
            Prediction(label=None, score=0.0, reason=item.reason)
            if isinstance(item, NoDigit)
            else self._prediction(next(rows), top_k)
            for item in inputs
        ]

    def _prediction(self, probabilities: np.ndarray, top_k: int) -> Prediction:
        """One row of `predict` -> Prediction (see the module's docstring for the rule)."""
        none_score = None
        if self.none_index is not None:
            none_score = float(probabilities[self.none_index])
            probabilities = probabilities[:DIGITS]  # the none class is last: the digits
        order = np.argsort(-probabilities, kind="stable")[: max(1, top_k)]
        ranked = tuple((int(label), float(probabilities[label])) for label in order)
        label, score = ranked[0]
        if none_score is not None and none_score > score:
            return Prediction(None, score, ranked, NOT_A_DIGIT, none_score)
        if score < self.min_score:
            return Prediction(None, score, ranked, self.below_reason, none_score)
        return Prediction(label, score, ranked, None, none_score)

    def classify_array(self, gray: np.ndarray, top_k: int = 1) -> Prediction:
        """A uint8 grayscale image (H, W), e.g. a camera frame, -> Prediction."""
        return self.classify_inputs([preprocess_gray(gray, self.settings)], top_k)[0]

    def classify_file(self, path: Path | str, top_k: int = 1) -> Prediction:
        """An image file -> Prediction (InputError if it cannot be read)."""
        gray = load_gray(Path(path), self.max_pixels)
        return self.classify_inputs([preprocess_gray(gray, self.settings)], top_k)[0]

    def read_number(self, gray: np.ndarray, trace: Trace | None = None) -> NumberReading:
        """A uint8 grayscale picture of several digits (rows of them) -> NumberReading (see
        `number.read_number`: each way to read touching digits is scored, the surest kept).
        `trace` records what preprocessing did and the digits read (`--debug-dir`)."""
        from .number import read_number  # OpenCV: imported only when a number is read

        return read_number(
            gray,
            self.settings,
            self.predict,
            trace,
            none_index=self.none_index,
            min_score=self._number_min_score,
            below_reason=self.below_reason,
        )

    def read_number_file(self, path: Path | str) -> NumberReading:
        """An image file of several digits -> NumberReading (InputError if it cannot be read)."""
        return self.read_number(load_gray(Path(path), self.max_pixels))


def _integer_range(details: dict[str, Any]) -> tuple[float, int, int, int] | None:
    """(scale, zero point, type minimum, type maximum) of an integer tensor; None if float."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind not in "iu":
        return None
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return float(scale), int(zero_point), int(info.min), int(info.max)
