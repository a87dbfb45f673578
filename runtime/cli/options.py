"""The command line's vocabulary: every option that more than one command has, defined once,
and the closed choices as Enums (Typer lists them in --help and refuses anything else, exit 2).

One word, one meaning, in every command:

    --model/-m   the model the command works on (a .tflite; convert: the Keras model)
    --data       a local MNIST: mnist.npz or a folder of the four IDX files
                 (train: a folder of your labelled digits; its MNIST is --mnist)
    --out        an output folder
    --threads    interpreter threads        --backend   the interpreter
    --json       print the results as JSON  --max-pixels, --number

A list is a repeated option (`--threads 1 --threads 2`), never a comma string.

Nothing here imports numpy, TensorFlow or the train package: `edge-digits --help` stays fast.
The values that live in those packages (architectures, strategies, precisions, backends,
limits) are repeated here, and tests/test_cli_vocabulary.py checks they are the same.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..bench.defaults import DEFAULT_THREADS

# -- closed choices --------------------------------------------------------------------------


class Arch(str, Enum):
    """train/architectures.py's ARCHITECTURES, in its order."""

    edge = "edge"
    cnn3 = "cnn3"
    mlp = "mlp"
    mlp_dropout = "mlp_dropout"
    convnet = "convnet"
    cnn_dropout = "cnn_dropout"


class Strategy(str, Enum):
    """train/training.py's STRATEGIES."""

    default = "default"
    mirrored = "mirrored"
    multiworker = "multiworker"


class Precision(str, Enum):
    """convert/converter.py's PRECISIONS."""

    float32 = "float32"
    float16 = "float16"
    int8 = "int8"


class Backend(str, Enum):
    """runtime/core/interpreter.py's BACKENDS, in the order they are tried."""

    litert = "litert"
    tflite_runtime = "tflite-runtime"


class Xnnpack(str, Enum):
    """The XNNPACK delegate on or off (runtime/bench/runner.py's XNNPACK_CHOICES)."""

    on = "on"
    off = "off"


class OnOff(str, Enum):
    """A feature on or off (`camera --ha-discovery`)."""

    on = "on"
    off = "off"


# Limits that live in modules importing numpy (runtime/bench/runner.py, core/classifier.py).
MAX_BATCH = 256  # the largest batch Classifier.predict gives the interpreter in one call
MAX_THREADS = 64

# -- help texts: one per shared option; a repeatable one adds REPEAT -------------------------

REPEAT = " Repeat for several."
HELP = {
    "--model": "A .tflite model.",
    "--data": "A local MNIST: mnist.npz or a folder of the four IDX files.",
    "--out": "Output folder",  # each command says what it writes there
    "--threads": "Interpreter threads.",
    "--workers": "Processes to work with (1: this one only); each one's interpreter gets "
    "1 thread unless --threads says otherwise.",
    "--backend": "The TFLite interpreter (also $EDGE_DIGITS_BACKEND).",
    "--max-pixels": "Refuse larger images unread (decompression bombs; "
    "default: $EDGE_DIGITS_MAX_PIXELS, else 89478485).",
    "--json": "Print the results as JSON.",
    "--number": "Read several digits (rows of them) per picture.",
}
EMBEDDED_MODEL = "the embedded int8 model"

# -- the shared options ----------------------------------------------------------------------

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", "-m", help=HELP["--model"], show_default=EMBEDDED_MODEL),
]
ModelsOption = Annotated[
    list[Path] | None,
    typer.Option("--model", "-m", help=HELP["--model"] + REPEAT, show_default=EMBEDDED_MODEL),
]
KerasModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="The Keras model (.keras) to convert, from `edge-digits train`.",
        show_default=False,
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help=HELP["--data"], show_default="the cache, else fetched"),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", min=1, help=HELP["--threads"], show_default="the backend's"),
]
WorkersOption = Annotated[  # classify's and serve's: local processes
    int | None,
    typer.Option("--workers", min=1, help=HELP["--workers"], show_default="the usable cores"),
]
ThreadsListOption = Annotated[  # bench's
    list[int] | None,
    typer.Option(
        "--threads",
        min=1,
        max=MAX_THREADS,
        help=HELP["--threads"] + REPEAT,
        show_default=", ".join(str(threads) for threads in DEFAULT_THREADS),
    ),
]
BackendOption = Annotated[
    Backend | None,
    typer.Option("--backend", help=HELP["--backend"], show_default="the first installed"),
]
BENCH_BACKEND_HELP = "A TFLite interpreter to measure ($EDGE_DIGITS_BACKEND is not read)."
BackendsOption = Annotated[  # bench's
    list[Backend] | None,
    typer.Option("--backend", help=BENCH_BACKEND_HELP + REPEAT, show_default="every installed one"),
]
MaxPixelsOption = Annotated[
    int | None, typer.Option("--max-pixels", min=1, help=HELP["--max-pixels"])
]
JsonOption = Annotated[bool, typer.Option("--json", help=HELP["--json"])]
MIN_SCORE_ENV = "EDGE_DIGITS_MIN_SCORE"
ClassifyMinScoreOption = Annotated[  # classify's; camera's --min-score is its stabiliser's
    float | None,
    typer.Option(
        "--min-score",
        min=0.0,
        max=1.0,
        envvar=MIN_SCORE_ENV,
        help="Answer 'not a digit' (label null, with its scores) when the best digit scores "
        f"below this (also ${MIN_SCORE_ENV}).",
        show_default="the model's own (its sidecar's min_score), else 0",
    ),
]
NumberOption = Annotated[bool, typer.Option("--number", help=HELP["--number"])]
SaveCropsOption = Annotated[
    Path | None,
    typer.Option(
        "--save-crops",
        help="Keep what the model saw for each digit in this folder (the 28x28 input, the "
        "crop of the picture, manifest.jsonl), to label with `edge-digits review`.",
    ),
]
SaveBelowOption = Annotated[
    float | None,
    typer.Option(
        "--save-below",
        min=0.0,
        max=1.0,
        help="With --save-crops: keep only answers scoring below this.",
    ),
]
UserDataOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--data",
        help="A folder of your labelled digits (labels.csv from `edge-digits review`, or "
        "sub-folders 0-9 and none), added to MNIST." + REPEAT,
        show_default=False,
    ),
]
MnistOption = Annotated[
    Path | None,
    typer.Option("--mnist", help=HELP["--data"], show_default="the cache, else fetched"),
]


def out_option(what: str, **settings: Any) -> Any:
    """--out, always a folder; `what` says what the command writes in it."""
    return typer.Option("--out", help=f"{HELP['--out']}: {what}.", **settings)
