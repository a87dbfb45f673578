"""The models the benchmark suite compares, made with the project's own train() and convert().

- ``default``: the Keras source of the shipped model (``runs/default/model.keras``, made by
  ``make default-model``) with its float32 and int8 files from the same folder, and a
  float16 file converted into ``runs/bench/default/`` when missing.
- each seed architecture (cnn3, mlp, mlp_dropout, convnet, cnn_dropout): trained briefly
  (3 epochs by default) into ``runs/bench/<arch>/`` and converted to every precision there.

Everything present is reused; only what is missing is trained or converted.

    .venv/bin/python benchmarks/bench_models.py [--epochs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_digits.runtime.core.classifier import default_model_path
from edge_digits.runtime.files.atomic import sha256_file
from edge_digits.runtime.files.mnist import Mnist, load_mnist

ROOT = Path(__file__).resolve().parents[1]
BENCH_RUNS = ROOT / "runs" / "bench"
DEFAULT_KERAS = ROOT / "runs" / "default" / "model.keras"
SEED_ARCHITECTURES = ("cnn3", "mlp", "mlp_dropout", "convnet", "cnn_dropout")
PRECISIONS = ("float32", "float16", "int8")
QUICK_LIMIT = 6000  # training images for --quick: a smoke run, not a model worth comparing

Echo = Callable[[str], None]


@dataclass(frozen=True)
class BenchModel:
    """One Keras model and its TFLite files, by precision."""

    name: str  # "default" or a seed architecture
    keras: Path
    tflite: dict[str, Path] = field(default_factory=dict)
    epochs: int | None = None  # how long it was trained (None: the default model's recipe)
    shipped: bool = False  # its int8 file is byte-identical to the one inside the package


def _tflite_files(stem: str, folders: list[Path]) -> dict[str, Path]:
    """Each precision's file, from the first folder that has it (with its sidecar)."""
    found: dict[str, Path] = {}
    for precision in PRECISIONS:
        for folder in folders:
            path = folder / f"{stem}_{precision}.tflite"
            if path.exists() and path.with_suffix(".json").exists():
                found[precision] = path
                break
    return found


def _convert_missing(
    keras_path: Path, folders: list[Path], out: Path, mnist: Mnist, echo: Echo
) -> dict[str, Path]:
    files = _tflite_files(keras_path.stem, folders)
    missing = [p for p in PRECISIONS if p not in files]
    if missing:
        from edge_digits.convert.converter import convert

        echo(f"converting {keras_path} to {', '.join(missing)} in {out}")
        report = convert(keras_path, missing, out=out, mnist=mnist, echo=lambda _: None)
        files.update({row.precision: row.path for row in report.models})
    return {p: files[p] for p in PRECISIONS}


def default_model(mnist: Mnist, echo: Echo = print) -> BenchModel:
    """The shipped model's Keras source and its three TFLite files (float16 made if missing)."""
    if not DEFAULT_KERAS.exists():
        raise SystemExit(
            f"{DEFAULT_KERAS.relative_to(ROOT)}: no Keras source for the default model; "
            "run `make default-model` (about 10 minutes on 2 cores) first"
        )
    files = _convert_missing(
        DEFAULT_KERAS,
        [DEFAULT_KERAS.parent, BENCH_RUNS / "default"],
        BENCH_RUNS / "default",
        mnist,
        echo,
    )
    shipped = sha256_file(files["int8"]) == sha256_file(default_model_path())
    return BenchModel("default", DEFAULT_KERAS, files, shipped=shipped)


def seed_model(
    arch: str, mnist: Mnist, *, epochs: int, limit: int | None = None, echo: Echo = print
) -> BenchModel:
    """A seed architecture trained briefly into runs/bench/<arch>/ (reused when present)."""
    out = BENCH_RUNS / ("quick" if limit else "") / arch
    keras_path = out / "model.keras"
    if not keras_path.exists():
        from edge_digits.train.training import TrainConfig, train

        echo(f"training {arch} for {epochs} epoch(s) into {out}")
        config = TrainConfig(arch=arch, epochs=epochs, out=out, seed=0, limit=limit)
        train(config, mnist=mnist, echo=lambda _: None, verbose=0)
    files = _convert_missing(keras_path, [out], out, mnist, echo)
    return BenchModel(arch, keras_path, files, epochs=_epochs_run(out) or epochs)


def _epochs_run(out: Path) -> int | None:
    try:
        run = json.loads((out / "run.json").read_text())
        return int(run["result"]["epochs_run"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def bench_models(
    *, epochs: int = 3, quick: bool = False, mnist: Mnist | None = None, echo: Echo = print
) -> list[BenchModel]:
    """The default model and the seed models (with --quick: one MLP on 6000 images, 1 epoch)."""
    mnist = mnist or load_mnist(progress=echo)
    models = [default_model(mnist, echo)]
    if quick:
        models.append(seed_model("mlp", mnist, epochs=1, limit=QUICK_LIMIT, echo=echo))
    else:
        models.extend(
            seed_model(arch, mnist, epochs=epochs, echo=echo) for arch in SEED_ARCHITECTURES
        )
    return models


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for model in bench_models(epochs=args.epochs, quick=args.quick):
        files = ", ".join(str(path.relative_to(ROOT)) for path in model.tflite.values())
        print(f"{model.name}: {model.keras.relative_to(ROOT)} -> {files}")


if __name__ == "__main__":
    main()
