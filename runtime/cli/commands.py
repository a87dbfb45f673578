"""The `edge-digits` command: parse, call one library function, print.

Library errors (`EdgeDigitsError`) become one line on stderr and the exit code the README
documents. TensorFlow is imported only inside the bodies of `train` and `convert`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..bench.defaults import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    DEFAULT_XNNPACK,
)
from ..errors import (
    EdgeDigitsError,
    EdgeDigitsWarning,
    MissingDependencyError,
    OutputError,
    UsageError,
)
from ..files.atomic import ensure_output_dir
from ..native.stderr import quiet_tensorflow_startup
from . import deprecated
from .console import Output
from .deprecated import BENCH_MARKDOWN
from .options import (
    MAX_BATCH,
    REPEAT,
    Arch,
    BackendOption,
    BackendsOption,
    ClassifyMinScoreOption,
    DataOption,
    JsonOption,
    KerasModelOption,
    MaxPixelsOption,
    MnistOption,
    ModelOption,
    ModelsOption,
    NumberOption,
    OnOff,
    Precision,
    SaveBelowOption,
    SaveCropsOption,
    Strategy,
    ThreadsListOption,
    ThreadsOption,
    UserDataOption,
    WorkersOption,
    Xnnpack,
    out_option,
)
from .progress import FilesProgress

app = typer.Typer(
    name="edge-digits",
    help="Handwritten digits from Keras to a Raspberry Pi: train, convert to TFLite, classify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Output()
err = Output(stderr=True)
T = TypeVar("T")

EXIT_INTERRUPTED = 130
TRAIN_EXTRA = "pip install 'edge-digits[train]'"
HEAVY_PACKAGES = ("tensorflow", "keras", "matplotlib", "skimage")

# Where a command takes the deprecated positional model (`edge-digits info MODEL`): Typer
# leaves the arguments it does not declare in ctx.args (unknown options are still refused).
OLD_POSITIONAL_MODEL = {"allow_extra_args": True}


@contextmanager
def _user_errors(command: str, interrupted: str = "interrupted") -> Iterator[None]:
    """Map library errors to one line on stderr and their documented exit codes; a usage
    error ends, as Typer's own do, by pointing at the command's --help."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", EdgeDigitsWarning)
        others = warnings.showwarning

        def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, EdgeDigitsWarning):
                err.print(f"warning: {message}")
            else:
                others(message, category, *args, **kwargs)

        warnings.showwarning = show
        try:
            yield
        except EdgeDigitsError as error:
            hint = f" (see: edge-digits {command} --help)" if isinstance(error, UsageError) else ""
            err.print(f"error: {error}{hint}")
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err.print(interrupted)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # Whoever read stdout has had enough (`edge-digits camera | head -1`): not an
            # error. stdout now leads nowhere, so Python's last flush cannot fail either.
            with contextlib.suppress(OSError, ValueError, AttributeError):  # no real fd
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            raise typer.Exit(0) from None


def _heavy(importer: Callable[[], T], command: str) -> T:
    """Import the TensorFlow side of the package, or explain how to install it."""
    # TensorFlow's C++ logging (start-up info, "failed call to cuInit" on machines without a
    # GPU) is noise for a user; TF_CPP_MIN_LOG_LEVEL=0 in the environment brings it back.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with quiet_tensorflow_startup():
            return importer()
    except ImportError as error:
        missing = error.name or "tensorflow"
        if missing.split(".")[0] not in HEAVY_PACKAGES:
            raise  # a real bug, not a missing extra
        raise MissingDependencyError(
            f"`edge-digits {command}` needs TensorFlow and Keras ({missing} cannot be imported); "
            f"run: {TRAIN_EXTRA}"
        ) from None


def _progress(message: str) -> None:
    err.print(message, style="dim")


def _warn(lines: list[str]) -> None:
    """Deprecated spellings used: one line each (README: "Deprecated spellings")."""
    for line in lines:
        err.print(f"warning: {line}")


def _old_positional_models(ctx: typer.Context, command: str) -> list[Path]:
    models, old_spellings = deprecated.positional_models(command, ctx.args, several=True)
    _warn(old_spellings)
    return models


def _one_model(ctx: typer.Context, command: str, model: Path | None) -> Path | None:
    """--model, or the deprecated positional model (`edge-digits info MODEL`), not both."""
    models, old_spellings = deprecated.positional_models(command, ctx.args)
    _warn(old_spellings)
    if models and model is not None:
        raise UsageError("give the model once: --model (the argument is its old spelling)")
    return models[0] if models else model


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"edge-digits {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Handwritten digits from Keras to a Raspberry Pi."""


@app.command()
def data(path: DataOption = None) -> None:
    """Fetch and verify MNIST; print where it lives and its label counts."""
    from ..files.mnist import load_mnist

    with _user_errors("data"):
        mnist = load_mnist(path, progress=_progress)
    out.print(f"MNIST from {mnist.source}: {mnist.path}")
    out.print(f"sha256 of the arrays: {mnist.digest}")
    from rich.table import Table

    table = Table("label", "train", "test", title="label counts")
    train_counts, test_counts = mnist.label_counts("train"), mnist.label_counts("test")
    for digit in range(10):
        table.add_row(str(digit), str(train_counts[digit]), str(test_counts[digit]))
    table.add_row("all", str(len(mnist.x_train)), str(len(mnist.x_test)), style="bold")
    out.print(table)


@app.command()
def train(
    arch: Annotated[
        Arch,
        typer.Option(
            help="Model architecture: edge is built for int8, the others are the seed projects'."
        ),
    ] = Arch.edge,
    epochs: Annotated[
        int, typer.Option(min=1, help="Maximum epochs (early stopping may end sooner).")
    ] = 15,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 128,
    val_split: Annotated[
        float, typer.Option(help="Fraction of training images held out for validation.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for the split, weights and shuffling.")] = 0,
    patience: Annotated[
        int, typer.Option(min=1, help="Epochs without improvement before stopping.")
    ] = 4,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Train on only this many images.")
    ] = None,
    augment: Annotated[
        bool, typer.Option(help="Rotate, shift, zoom, thicken/thin and blur training digits.")
    ] = False,
    strategy: Annotated[
        Strategy,
        typer.Option(
            help="default: one device; mirrored: every GPU, else every CPU device; "
            "multiworker: several processes or machines (--cluster, or TF_CONFIG)."
        ),
    ] = Strategy.default,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="With --strategy multiworker: every worker's host:port, comma-separated, "
            "the same on each; the first is the chief, which writes --out.",
            show_default=False,
        ),
    ] = None,
    task_index: Annotated[
        int | None,
        typer.Option(min=0, help="With --cluster: this worker's position in it, from 0."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run in --out from its last epoch.")
    ] = False,
    negatives: Annotated[
        int,
        typer.Option(
            min=0,
            help="Add this many generated pictures of what is not a digit (letters, scribbles, "
            "textures, photographs...) as an 11th class, 'none'.",
        ),
    ] = 0,
    picture_digits: Annotated[
        int,
        typer.Option(
            min=0,
            help="Add this many training digits drawn as real pictures show them (European 1s, "
            "crossed 7s, 8 px captures, chalk, photos).",
        ),
    ] = 0,
    clean_epochs: Annotated[
        int,
        typer.Option(
            min=0,
            help="With --augment, train the last this many epochs on the images as they are.",
        ),
    ] = 0,
    ema: Annotated[
        bool,
        typer.Option(
            help="Keep a moving average of the weights over the last ~1,000 steps; validate "
            "and keep the average (one device only)."
        ),
    ] = False,
    out_dir: Annotated[Path, out_option("the run's files")] = Path("runs/latest"),
    user_data: UserDataOption = None,
    data_weight: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of each batch drawn from --data.")
    ] = 0.25,
    base: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="MODEL|default",
            help="Start from this trained Keras model (fine-tune); `default`: the shipped "
            "default model's own.",
            show_default=False,
        ),
    ] = None,
    mnist_path: MnistOption = None,
) -> None:
    """Train a model on MNIST (and your --data); write model.keras, history.json and run.json to --out."""
    resume_hint = (
        f"interrupted; `edge-digits train --resume --out {out_dir}` continues from the last epoch"
    )
    with _user_errors("train", resume_hint):
        folders, mnist_path, old_spellings = deprecated.train_data(user_data or [], mnist_path)
        _warn(old_spellings)
        training = _heavy(lambda: __import__("edge_digits.train.training", fromlist=["x"]), "train")
        addresses = () if cluster is None else training.multiworker.parse_cluster(cluster)
        config = training.TrainConfig(
            arch=arch.value, epochs=epochs, batch_size=batch_size, val_split=val_split, seed=seed,
            patience=patience, limit=limit, out=out_dir, mnist=mnist_path, augment=augment,
            strategy=strategy.value, resume=resume, negatives=negatives,
            picture_digits=picture_digits, clean_epochs=clean_epochs, ema=ema,
            user_data=tuple(folders), data_weight=data_weight,
            base=Path(base) if base is not None else None,
            cluster=addresses, task_index=task_index,
        )  # fmt: skip
        result = training.train(
            config,
            echo=lambda line: out.print(line),
            verbose=1 if sys.stdout.isatty() else 2,
        )
    if not result.chief:
        out.print(f"done: {result.epochs_run} epochs; the chief writes the run folder")
        return
    out.print(
        f"best epoch {result.best_epoch}/{result.epochs_run}: validation {result.val_accuracy:.2%}, "
        f"test {result.test_accuracy:.2%}; model: {result.model_path}",
        markup=False,
    )


@app.command(context_settings=OLD_POSITIONAL_MODEL)
def convert(
    ctx: typer.Context,
    model: KerasModelOption = None,
    precision: Annotated[
        list[Precision] | None,
        typer.Option("--precision", "-p", help="TFLite precision." + REPEAT, show_default="int8"),
    ] = None,
    calibration: Annotated[
        int, typer.Option(min=1, help="Training images used to calibrate int8.")
    ] = 500,
    out_dir: Annotated[
        Path | None,
        out_option("the .tflite files and their sidecars", show_default="the model's folder"),
    ] = None,
    data_path: DataOption = None,
) -> None:
    """Convert to TFLite; score each file on the MNIST test set; print the parity table."""
    with _user_errors("convert"):
        model = _one_model(ctx, "convert", model)
        if model is None:
            raise UsageError("Missing option '--model' / '-m': the Keras model to convert")
        converter = _heavy(
            lambda: __import__("edge_digits.convert.converter", fromlist=["x"]), "convert"
        )
        report = converter.convert(
            model,
            [p.value for p in precision or [Precision.int8]],
            out=out_dir or model.parent,
            calibration=calibration,
            data=data_path,
            echo=_progress,
        )
        # The run folder's report.html shows the new models: train renders its own report
        # (convert never imports train), composed here.
        reporting = _heavy(
            lambda: __import__("edge_digits.train.report", fromlist=["x"]), "convert"
        )
        reporting.refresh_report(out_dir or model.parent)
    from rich.table import Table

    table = Table(
        title=f"parity on {report.test_images} MNIST test images ({report.keras.path.parent})"
    )
    columns = ("model", "file", "size", "accuracy", "agreement with Keras", "ECE before → after")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "file") else "right")
    for row in (report.keras, *report.models):
        keras_row = row.precision == "keras"
        ece = (
            f"{row.ece_before:.2%} → {row.ece_after:.2%}"
            if row.ece_before is not None and row.ece_after is not None
            else "-"
        )
        table.add_row(
            row.precision, row.path.name, f"{row.size_bytes / 1024:.1f} KiB",
            f"{row.accuracy:.2%}", "-" if keras_row else f"{row.agreement:.2%}", ece,
        )  # fmt: skip
    out.print(table)


@app.command()
def classify(
    paths: Annotated[
        list[str], typer.Argument(help="Image files, folders and globs.", show_default=False)
    ],
    model: ModelOption = None,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=10, help="Labels to show per image.")
    ] = 1,
    number: NumberOption = False,
    min_score: ClassifyMinScoreOption = None,
    debug_dir: Annotated[
        Path | None, typer.Option("--debug-dir", help="Write each step's pictures here.")
    ] = None,
    workers: WorkersOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = None,
    as_json: JsonOption = False,
    max_pixels: MaxPixelsOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar (shown on a terminal only).")
    ] = False,
    save_crops: SaveCropsOption = None,
    save_below: SaveBelowOption = None,
) -> None:
    """Classify images. Exit code 1 if any file could not be read (the rest are still classified).

    A model with a not-a-digit class, or a best digit below --min-score, gives label null with its scores and a reason.
    """
    from ..core.batch import classify_paths
    from ..core.classifier import Classifier, ClassifierOptions

    failed = 0
    with _user_errors("classify"):
        if debug_dir is not None:
            ensure_output_dir(debug_dir)
        if workers is None:
            from ..core.pool import usable_cores

            workers = usable_cores()
        options = ClassifierOptions(
            model=model,
            num_threads=threads,
            backend=backend.value if backend else None,
            max_pixels=max_pixels,
            min_score=min_score,
        )
        classifier = Classifier(options)
        crops = _crop_options(save_crops, save_below, None)
        bar = FilesProgress(
            lambda: err.console, _write_line if as_json else out.print, show=not quiet
        )
        results = classify_paths(
            classifier, paths, top_k=top_k, number=number, debug_dir=debug_dir,
            workers=workers, progress=bar.update if bar.enabled else None, save_crops=crops,
        )  # fmt: skip
        try:
            for result in results:
                failed += not result.ok
                if result.error:
                    bar.flush()
                    err.print(f"error: {result.error}")
                if as_json:
                    bar.print(json.dumps(result.record()))
                elif result.ok:
                    bar.print(f"{result.path}: {result.describe(top_k)}")
        finally:
            results.close()  # the workers end with it, whatever happened
            bar.close()
    if failed:
        raise typer.Exit(1)


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")


def _crop_options(folder: Path | None, below: float | None, per_minute: int | None) -> Any:
    """--save-crops DIR with --save-below and --save-per-minute, or None."""
    if folder is None:
        if below is not None:
            raise UsageError("--save-below needs --save-crops DIR")
        return None
    from ..core.crops import CropOptions

    ensure_output_dir(folder)
    return CropOptions(folder, below=below, per_minute=per_minute)


@app.command()
def camera(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="Camera index (0), picamera, a video file, a stream URL or a folder of images.",
        ),
    ] = "0",
    roi: Annotated[
        str | None,
        typer.Option(help="Region to read, x,y,width,height in pixels (default: centred square)."),
    ] = None,
    number: NumberOption = False,
    stable: Annotated[
        int, typer.Option(min=1, help="Frames in a row that must agree before a reading.")
    ] = 3,
    min_score: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Frames scoring below this do not count.")
    ] = 0.8,
    width: Annotated[
        int | None, typer.Option(min=16, help="Ask the camera for this width.")
    ] = None,
    height: Annotated[
        int | None, typer.Option(min=16, help="Ask the camera for this height.")
    ] = None,
    max_fps: Annotated[
        float | None, typer.Option(min=0.1, help="Read at most this many frames a second.")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Open a window with the live view.")] = False,
    serve: Annotated[
        str | None,
        typer.Option(
            help="Serve the live view as a web page on PORT or HOST:PORT (default host: localhost)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds without a frame before a camera counts as gone.")
    ] = 5.0,
    model: ModelOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = None,
    max_pixels: MaxPixelsOption = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="EDGE_DIGITS_MQTT",
            help="Publish each reading to an MQTT broker: mqtt://\\[user:password@]host\\[:port]"
            "/prefix, or mqtts:// for TLS (also $EDGE_DIGITS_MQTT; needs the mqtt extra).",
        ),
    ] = None,
    device_id: Annotated[
        str | None,
        typer.Option(help="This camera's name in MQTT topics.", show_default="the host name"),
    ] = None,
    ha_discovery: Annotated[
        OnOff,
        typer.Option(help="With --mqtt, publish Home Assistant's discovery config."),
    ] = OnOff.on,
    save_crops: SaveCropsOption = None,
    save_below: SaveBelowOption = None,
    save_per_minute: Annotated[
        int, typer.Option(min=1, help="With --save-crops: keep at most this many a minute.")
    ] = 30,
) -> None:
    """Read digits from a camera, video or folder; print each steady reading as a JSON line.

    A value is reported once it has been read in --stable frames in a row, each scoring at least --min-score, and again only when it changes (taking the digit away reports null).

    Ends at the end of a video or folder, on Ctrl-C (exit 130) or SIGTERM (exit 0), with a one-line summary on stderr; exit 7 when the source cannot be opened or stops delivering frames.
    """
    from ..core.classifier import ClassifierOptions
    from ..live.mqtt import parse_mqtt_url
    from ..live.run import LiveOptions, run_camera
    from ..live.watch import CameraOptions, parse_roi

    with _user_errors("camera"):
        if device_id is not None and mqtt is None:
            raise UsageError("--device-id names the camera in MQTT topics: give --mqtt too")
        broker = (
            None
            if not mqtt
            else parse_mqtt_url(mqtt, device_id=device_id, discovery=ha_discovery is OnOff.on)
        )
        reading = CameraOptions(
            roi=parse_roi(roi) if roi else None, number=number, stable_frames=stable,
            min_score=min_score, trace=save_crops is not None,
        )  # fmt: skip
        classifier = ClassifierOptions(
            model=model, num_threads=threads, backend=backend.value if backend else None,
            max_pixels=max_pixels,
        )  # fmt: skip
        options = LiveOptions(
            source=source, reading=reading, classifier=classifier, width=width, height=height,
            max_fps=max_fps, timeout=timeout, show=show, serve=serve, mqtt=broker,
            save_crops=_crop_options(save_crops, save_below, save_per_minute),
        )  # fmt: skip
        run_camera(options, echo=err.print, report=lambda run: err.print(f"camera: {run.line()}"))


@app.command()
def review(
    folder: Annotated[
        Path, typer.Argument(help="The folder of --save-crops DIR.", show_default=False)
    ],
    host: Annotated[
        str, typer.Option(help="Address to serve on (127.0.0.1: this computer only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
) -> None:
    """Label kept crops in a local web page; each label is saved to DIR/labels.csv at once.

    Keys: 0-9 a digit, n not a digit, x drop, arrows move; Ctrl-C stops (exit 0).
    """
    from ..live.review import Review, serve

    with _user_errors("review"):
        session = Review(folder, echo=err.print)
        server = serve(session, host, port)
    shown_host = f"[{host}]" if ":" in host else host
    err.print(
        f"reviewing {len(session.items)} crops ({len(session.labels)} labelled) on "
        f"http://{shown_host}:{server.server_address[1]}/ ; Ctrl-C stops",
        markup=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    err.print(f"{len(session.labels)} labels in {folder / 'labels.csv'}", markup=False)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every network interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="EDGE_DIGITS_TOKEN",
            help="Ask for this bearer token on /classify and /metrics (also $EDGE_DIGITS_TOKEN).",
            show_default=False,
        ),
    ] = None,
    model: ModelOption = None,
    workers: WorkersOption = None,
    threads: ThreadsOption = None,
    backend: BackendOption = None,
    max_pixels: MaxPixelsOption = None,
    max_body: Annotated[
        int, typer.Option(min=1, help="Refuse larger request bodies unread (bytes; 413).")
    ] = 10 * 1024 * 1024,
    max_concurrent: Annotated[
        int, typer.Option(min=1, help="Requests read and classified at once; more get 503.")
    ] = 8,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a client may take to send a request (408).")
    ] = 10.0,
) -> None:
    """Classify images over HTTP: POST /classify, GET /healthz, GET /metrics (Prometheus).

    POST an image as the body, or several as multipart/form-data files (?number=1, ?top_k=K); the answer is the record `classify --json` prints (a JSON array for several). With --workers N, N processes answer on the port (the limits are each one's). Ends on Ctrl-C (exit 130) or SIGTERM (exit 0).
    """
    from ..core.classifier import ClassifierOptions
    from ..core.pool import usable_cores
    from ..serve.processes import serve as run_server
    from ..serve.service import ServeOptions

    with _user_errors("serve"):
        options = ServeOptions(
            host=host, port=port, token=token, max_body=max_body, max_concurrent=max_concurrent,
            timeout=timeout, workers=workers or usable_cores(), classifier=ClassifierOptions(
                model=model, num_threads=threads, backend=backend.value if backend else None,
                max_pixels=max_pixels,
            ),
        )  # fmt: skip
        run_server(options, echo=err.print)


@app.command(context_settings=OLD_POSITIONAL_MODEL)
def info(ctx: typer.Context, model: ModelOption = None, as_json: JsonOption = False) -> None:
    """Print a model's inputs, outputs, quantisation and sidecar."""
    from ..core.info import describe_model

    with _user_errors("info"):
        model = _one_model(ctx, "info", model)
        description = describe_model(model)
    if as_json:
        out.print(json.dumps(description, indent=2))
        return
    from rich.table import Table

    table = Table(show_header=False, title=str(description["path"]))
    for key, value in description.items():
        if key != "sidecar":
            table.add_row(key, str(value))
    out.print(table)
    sidecar = description.get("sidecar")
    out.print(json.dumps(sidecar, indent=2) if sidecar else "no sidecar")


@app.command(context_settings=OLD_POSITIONAL_MODEL)
def bench(
    ctx: typer.Context,
    model: ModelsOption = None,
    runs: Annotated[
        int, typer.Option(min=1, help="Timed batch-1 calls per setting.")
    ] = DEFAULT_RUNS,
    warmup: Annotated[
        int, typer.Option(min=0, help="Untimed calls before timing.")
    ] = DEFAULT_WARMUP,
    batch: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            max=MAX_BATCH,
            help=f"Batch size for throughput (at most {MAX_BATCH}).{REPEAT}",
            show_default=", ".join(str(size) for size in DEFAULT_BATCH_SIZES),
        ),
    ] = None,
    threads: ThreadsListOption = None,
    backend: BackendsOption = None,
    xnnpack: Annotated[
        list[Xnnpack] | None,
        typer.Option(
            help="The XNNPACK delegate." + REPEAT, show_default=", ".join(DEFAULT_XNNPACK)
        ),
    ] = None,
    accuracy: Annotated[
        str | None,
        typer.Option(
            metavar="mnist|FOLDER",
            help="Also score accuracy: on the MNIST test set (from --data, else found as "
            "`edge-digits data` finds it) or on a folder of labelled images.",
        ),
    ] = None,
    data: DataOption = None,
    data_path: Annotated[Path | None, typer.Option("--data-path", hidden=True)] = None,
    as_json: JsonOption = False,
    out_dir: Annotated[
        Path | None, out_option(f"appends a dated Markdown section to {BENCH_MARKDOWN} in it")
    ] = None,
) -> None:
    """Measure models: size, load, first inference, latency, throughput, peak RSS, accuracy.

    Each setting (backend x XNNPACK x threads) is measured in a fresh process; the README lists the JSON fields.
    """
    from ..bench.report import append_markdown, check_appendable, markdown_section, rich_tables
    from ..bench.runner import bench_options, run_benchmark

    with _user_errors("bench"):
        models = [*(model or []), *_old_positional_models(ctx, "bench")]
        accuracy, data, old_spellings = deprecated.bench_accuracy(accuracy, data, data_path)
        markdown, more = deprecated.bench_markdown(out_dir)
        _warn(old_spellings + more)
        options = bench_options(
            models, runs=runs, warmup=warmup, batch_sizes=batch, threads=threads,
            backends=None if backend is None else [choice.value for choice in backend],
            xnnpack=None if xnnpack is None else [choice.value for choice in xnnpack],
            accuracy=accuracy, data=data,
        )  # fmt: skip
        if markdown is not None:
            check_appendable(markdown)
        with _progress_bar() as update:
            report = run_benchmark(options, update)
        if markdown is not None:
            append_markdown(markdown, markdown_section(report))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        for table in rich_tables(report, out.width):
            out.print(table)
    for note in report.notes:
        err.print(f"note: {note}")
    if markdown is not None:
        err.print(f"appended to {markdown}")


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, float, float], None]]:
    """A progress bar on stderr while measuring, on a terminal only."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    console = err.console
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task("starting", total=None)

        def update(what: str, done: float, total: float) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield update


def run(args: list[str] | None = None) -> int:
    """Run the CLI on `args` (default: sys.argv[1:]); return the exit code.

    Usage errors (a wrong option, a missing argument) become one line on stderr, exit 2."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to put results
        err.print("error: cannot write the output (stdout is closed); redirect it instead")
        return OutputError.exit_code
    args, old_spellings = deprecated.split_comma_lists(sys.argv[1:] if args is None else args)
    _warn(old_spellings)
    try:
        code = _only_the_command(args)(args=args, prog_name="edge-digits", standalone_mode=False)
    except typer.TyperException as error:  # click's UsageError and friends
        if type(error).__name__ == "NoArgsIsHelpError":
            return 2  # the help has been printed: a command is needed
        context = getattr(error, "ctx", None)
        hint = f" (see: {context.command_path} --help)" if context is not None else ""
        err.print(f"error: {' '.join(error.format_message().split())}{hint}")
        return int(getattr(error, "exit_code", 2))
    except typer.Abort:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except ImportError as error:  # numpy, OpenCV, Pillow or the interpreter will not load
        from ..native.dependencies import import_failure

        failure = import_failure(error)
        if failure is None:
            raise
        err.print(f"error: {failure}")
        return failure.exit_code
    except BrokenPipeError:  # `edge-digits classify ... | head`: the reader has had enough
        sys.stderr.close()  # nothing more to say, and nowhere to say it
        return 0
    except OSError as error:  # stdout itself failed: a full disk, a closed terminal
        err.print(f"error: cannot write the output ({error.strerror or error})")
        return OutputError.exit_code
    return code if isinstance(code, int) else 0


def _only_the_command(args: list[str]) -> typer.Typer:
    """`app` with only the command `args` starts with, when it names one: Typer builds the
    Click parameters of every command it holds before parsing, a good part of a cold
    `edge-digits classify img.png`. Anything else (`--help`, a typo) gets the whole app."""
    import copy

    from typer.main import get_command_name

    named = [
        command
        for command in app.registered_commands
        if args
        and (command.name or get_command_name(getattr(command.callback, "__name__", ""))) == args[0]
    ]
    if len(named) != 1:
        return app
    narrowed = copy.copy(app)  # the callback (--version) and settings; a list of its own
    narrowed.registered_commands = named
    return narrowed


def main() -> None:
    """Console-script entry point."""
    # Before numpy is imported: OpenBLAS, its BLAS, would start a thread per core, and they
    # spin as it starts. No command here multiplies matrices big enough to gain from them;
    # a cold `classify img.png` used 0.25 s of CPU with them and 0.15 s without (median of
    # 15, this project's 2-core machine). A user's own setting stands.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = run()
    # The process ends now: every file and connection has been closed by its own `with`
    # (stdout is flushed by the interpreter, logging by its atexit). Frozen, the objects
    # left are not searched for cycles once more at exit, most of the interpreter's
    # shutdown: a cold `classify img.png` went from 0.148 s to 0.120 s (median of 9,
    # benchmarks/cold_start.py, on this project's 2-core machine).
    gc.freeze()
    sys.exit(code)
