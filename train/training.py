"""Train a digit model on MNIST: seeded split, early stopping, best checkpoint, history.

`train(TrainConfig(...))` writes into `config.out`:

- ``model.keras``: the best model (highest validation accuracy), written atomically;
- ``checkpoints/best.keras``: the best so far, updated during training; beside it
  ``epoch-NNN.keras`` (the last epoch's model and optimizer) and ``state.json``, which
  `--resume` continues from (see `_Checkpoints`);
- ``history.json``: per-epoch loss and accuracy, training and validation;
- ``run.json``: the configuration, data digest, best epoch and test accuracy;
- the pictures of ``plots.py``: samples, curves, confusion matrix, predictions, mistakes;
- ``report.html``: all of it on one self-contained page (``report.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from edge_digits.runtime.core.evaluate import evaluate
from edge_digits.runtime.core.preprocess import scale_pixels
from edge_digits.runtime.errors import DataError, UsageError
from edge_digits.runtime.files.atomic import (
    atomic_path,
    atomic_write_text,
    ensure_output_dir,
    sha256_file,
)
from edge_digits.runtime.files.mnist import Mnist, load_mnist

from . import multiworker
from .architectures import ARCHITECTURES
from .plots import write_run_pictures
from .report import write_report

Echo = Callable[[str], None]
STRATEGIES = ("default", "mirrored", "multiworker")
STATE = "state.json"  # in the checkpoints folder: what `--resume` continues from
CALIBRATION = "calibration.npz"  # validation and representative inputs, for `convert`
REPRESENTATIVE = 1000  # training inputs kept for int8 calibration
EMA_MOMENTUM = 0.999  # with `ema`: an average over about the last thousand steps


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run.

    Fields:
        arch: architecture name (see `ARCHITECTURES`).
        epochs: maximum number of epochs; early stopping may end sooner.
        batch_size: images per gradient step.
        val_split: fraction of the training split held out for validation.
        seed: seeds the split, the weights and the shuffling.
        out: run folder.
        patience: epochs without a better validation accuracy before stopping.
        learning_rate: peak learning rate of Adam, decayed by a cosine schedule.
        limit: train on only this many images (after the split), for quick runs and tests.
        mnist: explicit MNIST path (see `load_mnist`); None uses the cache or fetches.
        augment: rotate, shift, zoom, thicken/thin and blur training digits (see augment.py).
        strategy: "default" (one device), "mirrored" (tf.distribute.MirroredStrategy over
            every visible GPU, else every logical CPU device) or "multiworker"
            (tf.distribute.MultiWorkerMirroredStrategy over several processes or machines,
            each running this with the same options: see multiworker.py).
        cluster: with "multiworker", every worker's host:port (else TF_CONFIG says).
        task_index: with `cluster`, this worker's position in it; 0 is the chief.
        resume: continue an interrupted run in `out` from its last completed epoch.
        negatives: add this many generated pictures of what is not a digit (letters,
            scribbles, textures, photographs...: see pictures.py) as an 11th class, "none";
            0 trains the 10 digits only. Validation gets an eighth as many, from another seed.
        picture_digits: add this many MNIST training digits drawn as real pictures show them
            (European 1s and crossed 7s, about 8 px tall then enlarged, chalk, photos).
        clean_epochs: with `augment`, the last this many epochs train on the inputs as they
            are, without augmentation.
        user_data: folders of your own labelled digits added to MNIST (see user_data.py);
            a seeded part of each is held out and scored before and after.
        data_weight: with `user_data`, their share of each batch (drawn at random).
        base: start from this trained Keras model instead of new weights (`--from`); its
            classes decide the run's (10, or 11 with "none").
        ema: keep an exponential moving average of the weights (Keras' `use_ema`, over about
            the last `1 / (1 - EMA_MOMENTUM)` steps) and validate, checkpoint and keep that
            average instead of the last step's weights.
    """

    arch: str = "edge"
    epochs: int = 15
    batch_size: int = 128
    val_split: float = 0.1
    seed: int = 0
    out: Path = Path("runs/latest")
    patience: int = 4
    learning_rate: float = 2e-3
    limit: int | None = None
    mnist: Path | None = None
    augment: bool = False
    strategy: str = "default"
    resume: bool = False
    negatives: int = 0
    picture_digits: int = 0
    clean_epochs: int = 0
    cluster: tuple[str, ...] = ()
    task_index: int | None = None
    user_data: tuple[Path, ...] = ()
    data_weight: float = 0.25
    base: Path | None = None
    ema: bool = False

    def check(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UsageError(
                f"unknown architecture {self.arch!r}; allowed: {', '.join(ARCHITECTURES)}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError("--epochs and --batch-size must be 1 or more")
        if not 0.0 < self.val_split < 0.5:
            raise UsageError(f"--val-split must be between 0 and 0.5, got {self.val_split}")
        if self.strategy not in STRATEGIES:
            raise UsageError(
                f"unknown strategy {self.strategy!r}; allowed: {', '.join(STRATEGIES)}"
            )
        if not 0 <= self.clean_epochs <= self.epochs:
            raise UsageError(f"--clean-epochs must be 0 to --epochs ({self.epochs})")
        if self.negatives < 0 or self.picture_digits < 0:
            raise UsageError("--negatives and --picture-digits must be 0 or more")
        if not 0.0 < self.data_weight < 1.0:
            raise UsageError(f"--data-weight must be between 0 and 1, got {self.data_weight}")
        if self.limit is not None and self.limit < self.batch_size:
            raise UsageError(f"--limit must be at least the batch size ({self.batch_size})")
        if self.ema and self.strategy != "default":
            raise UsageError("--ema trains on one device only; leave out --strategy or --ema")
        multiworker.check_options(self.strategy, self.cluster, self.task_index)


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    history_path: Path
    best_epoch: int  # 1-based
    epochs_run: int
    val_accuracy: float
    test_accuracy: float  # NaN on a multi-worker run's other workers: the chief tests
    parameters: int
    chief: bool = True  # False: a multi-worker run's other worker, which wrote no run folder
    user_held_out: int = 0  # your images held out (user_data), scored before and after
    user_before: float | None = None  # the --from model's accuracy on them
    user_after: float | None = None
    test_before: float | None = None  # the --from model's MNIST test accuracy


class _Checkpoints(keras.callbacks.Callback):
    """After every epoch, in an order that a kill between any two steps cannot break:

    1. the model, with its optimizer state, as ``epoch-NNN.keras`` (a new name);
    2. ``state.json``, the commit point: epoch, history, best validation accuracy, and which
       epoch files hold the last and the best model; `--resume` trusts only what it names;
    3. when this epoch is the best so far, ``best.keras``: the same file linked (or copied)
       into place; `--resume` does this again in case a kill came before;
    4. the epoch files that ``state.json`` no longer names are deleted.

    Each file is written to a temporary name and renamed, so each is complete; and because
    ``state.json`` only ever names files already complete, the model `--resume` loads always
    belongs to the epoch and history it reads (one file overwritten in place could not be).
    """

    def __init__(self, folder: Path, history: dict[str, list[float]]) -> None:
        super().__init__()
        self.folder, self.history = folder, history
        self.best, self.best_epoch, self.best_file = -np.inf, 0, ""

    def restore(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.best_file = str(state.get("best_file", ""))
        self.history.update(state["history"])
        if self.best_file and (self.folder / self.best_file).exists():
            _publish_best(self.folder, self.best_file)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        name = f"epoch-{epoch + 1:03d}.keras"
        with atomic_path(self.folder / name) as tmp:
            self.model.save(tmp)
        if logs.get("val_accuracy", -np.inf) > self.best:
            self.best, self.best_epoch = float(logs["val_accuracy"]), epoch + 1
            self.best_file = name
        state = {
            "epoch": epoch + 1,
            "last": name,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_file": self.best_file,
            "history": self.history,
        }
        atomic_write_text(self.folder / STATE, json.dumps(state) + "\n")
        if self.best_file == name:
            _publish_best(self.folder, name)
        for old in self.folder.glob("epoch-*.keras"):
            if old.name not in (name, self.best_file):
                old.unlink(missing_ok=True)


def _publish_best(folder: Path, name: str) -> None:
    """Make ``best.keras`` the epoch file `name`: a hard link (no copy of the weights), or a
    copy where links are not supported (a FAT-formatted stick), renamed into place."""
    best = folder / "best.keras"
    if best.exists() and os.path.samefile(best, folder / name):
        return
    with atomic_path(best) as tmp:
        tmp.unlink()
        try:
            os.link(folder / name, tmp)
        except OSError:
            shutil.copyfile(folder / name, tmp)


def _distribution(name: str, cluster: multiworker.Cluster | None = None) -> Any:
    """A context to build and compile the model in: nothing, or a strategy's scope."""
    if cluster is not None:
        return cluster.strategy.scope()
    if name == "default":
        return contextlib.nullcontext()
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in devices]).scope()


def split(mnist: Mnist, val_split: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded shuffle of the training split into (x_train, y_train, x_val, y_val), uint8."""
    order = np.random.default_rng(seed).permutation(len(mnist.x_train))
    n_val = round(len(order) * val_split)
    val, train = order[:n_val], order[n_val:]
    return mnist.x_train[train], mnist.y_train[train], mnist.x_train[val], mnist.y_train[val]


def _as_input(images: np.ndarray) -> np.ndarray:
    return scale_pixels(images)[..., None]


def _resume(folder: Path, checkpoints: _Checkpoints) -> tuple[keras.Model, int]:
    """The last completed epoch's model and state; restores the best-so-far and the history."""
    try:
        state = json.loads((folder / STATE).read_text())
        # "last.keras": runs checkpointed before epoch files existed.
        model = keras.models.load_model(folder / str(state.get("last", "last.keras")))
    except (OSError, ValueError) as error:
        raise UsageError(
            f"{folder}: nothing to resume ({' '.join(str(error).split())[:120]}); train without --resume"
        ) from None
    checkpoints.restore(state)
    if getattr(model.optimizer, "use_ema", False):
        # An epoch file holds the average as the model's weights and the last step's in the
        # optimizer's average (SwapEMAWeights saved it swapped): swap back to train on.
        swap_average(model)
    return model, int(state["epoch"])


def swap_average(model: keras.Model) -> None:
    """Exchange the model's weights with the moving average its optimizer keeps (`ema`)."""
    swap = keras.callbacks.SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()  # swaps: a new callback believes the model holds its own weights


def _counts(kinds: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(kinds, return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def _extra_pictures(
    config: TrainConfig,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    out: Path,
    echo: Echo,
) -> dict[str, Any]:
    """The generated pictures for training and validation (see pictures.py), as model
    inputs; each part's made from its own split's digits (validation pictures never hold a
    training digit). Made once per recipe and digits, kept in the run folder (``pictures/``)."""
    if not (config.negatives or config.picture_digits):
        return {}
    from . import pictures

    source = hashlib.sha256(Path(pictures.__file__).read_bytes()).hexdigest()[:12]
    sets: dict[str, Any] = {}
    for part, share, seed in (("train", 1, config.seed), ("validation", 8, config.seed + 1000)):
        digits, labels = splits[part]
        key = hashlib.sha256(digits.tobytes() + labels.tobytes()).hexdigest()[:8]
        made = [pictures.PictureSet.empty()]
        for side, count in (("negative", config.negatives), ("positive", config.picture_digits)):
            count = -(-count // share)  # at least one for validation whenever asked for
            if not count:
                continue
            cache = out / "pictures" / f"{part}-{side}-{count}-{seed}-{source}-{key}.npz"
            if cache.exists():
                with np.load(cache, allow_pickle=False) as data:
                    dropped = json.loads(str(data["dropped"]))
                    made.append(pictures.PictureSet(data["x"], data["y"], data["kind"], dropped))
                continue
            echo(f"making {count} {side} pictures for {part}")
            picture_set = pictures.make_set(side, count, seed, digits, labels, progress=echo)
            ensure_output_dir(cache.parent)
            with atomic_path(cache) as tmp, open(tmp, "wb") as file:
                np.savez_compressed(
                    file,
                    x=picture_set.x,
                    y=picture_set.y,
                    kind=picture_set.kind,
                    dropped=np.array(json.dumps(picture_set.dropped)),
                )
            made.append(picture_set)
        sets[part] = pictures.PictureSet(
            np.concatenate([m.x for m in made]),
            np.concatenate([m.y for m in made]),
            np.concatenate([m.kind for m in made]),
            {k: v for m in made for k, v in m.dropped.items()},
        )
    return sets


def _write_calibration(
    out: Path,
    train_in: np.ndarray,
    val_in: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    user_in: np.ndarray | None = None,
) -> None:
    """What `convert` needs from this run without importing train: the validation inputs and
    labels (to fit the temperature and choose the operating point) and a sample of training
    inputs (int8 calibration), as uint8 (N, 28, 28) in ``calibration.npz``."""
    pick = np.random.default_rng(seed).choice(
        len(train_in), min(REPRESENTATIVE, len(train_in)), replace=False
    )

    def as_uint8(inputs: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(inputs[..., 0] * 255), 0, 255).astype(np.uint8)

    with atomic_path(out / CALIBRATION) as tmp, open(tmp, "wb") as file:
        np.savez_compressed(
            file,
            validation_x=as_uint8(val_in),
            validation_y=y_val.astype(np.uint8),
            # Your own training images (user_data) all join MNIST's sample: int8's ranges
            # must hold them too.
            representative_x=np.concatenate(
                [as_uint8(train_in[np.sort(pick)])]
                + ([user_in[:REPRESENTATIVE]] if user_in is not None and len(user_in) else [])
            ),
        )


FINE_TUNE_RATE = 0.25  # `--from`: a quarter of the learning rate, not to undo what it knows


def _user_data(config: TrainConfig, classes: int, echo: Echo) -> Any:
    """Your folders (user_data.py), loaded and split; None without any."""
    if not config.user_data:
        return None
    from .user_data import combine, load_user_data, without_none

    folders = [load_user_data(folder, config.seed, echo) for folder in config.user_data]
    if classes == 10:
        folders = [without_none(folder, echo) for folder in folders]
    users = combine(folders)
    if not len(users.train[1]):
        raise DataError(
            f"{', '.join(map(str, config.user_data))}: too few labelled images to train on "
            "(label more with `edge-digits review DIR`)"
        )
    echo(
        f"your data: {len(users.train[1])} images to train on, {len(users.validation[1])} for "
        f"validation, {len(users.held_out[1])} held out, from {len(folders)} folder(s)"
    )
    return users


def _mixed(
    inputs: dict[str, Any], user: tuple[np.ndarray, np.ndarray], config: TrainConfig, count: int
) -> dict[str, Any]:
    """A phase's inputs with your images drawn into each batch, `data_weight` of it on
    average; an epoch is as many steps as MNIST's part alone would take."""
    import tensorflow as tf

    if "y" in inputs:
        main = tf.data.Dataset.from_tensor_slices((inputs["x"], inputs["y"]))
        main = main.shuffle(len(inputs["x"]), seed=config.seed, reshuffle_each_iteration=True)
    else:
        main = inputs["x"].unbatch()
    images, labels = user
    mine = tf.data.Dataset.from_tensor_slices((_as_input(images), labels.astype(np.int64)))
    mine = mine.shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True).repeat()
    mixed = tf.data.Dataset.sample_from_datasets(
        [main.repeat(), mine], weights=[1.0 - config.data_weight, config.data_weight],
        seed=config.seed,
    )  # fmt: skip
    return {
        "x": mixed.batch(config.batch_size).prefetch(2),
        "steps_per_epoch": int(np.ceil(count / config.batch_size)),
        "shuffle": False,
    }


def _scores(model: keras.Model, mnist: Mnist, users: Any) -> dict[str, float]:
    """MNIST test accuracy, and on your held-out images when there are some."""

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(batch))

    scores = {"test": evaluate(predict, mnist.x_test, mnist.y_test).accuracy}
    if users is not None and len(users.held_out[1]):
        scores["user"] = evaluate(predict, *users.held_out).accuracy
    return scores


def _user_lines(
    users: Any, before: dict[str, float], after: dict[str, float], test: float
) -> list[str]:
    """The summary: your held-out images and MNIST test, before (`--from`) and after."""
    held = len(users.held_out[1])
    if not held:
        return ["your data: too few images to hold any out (5 or more per folder)"]
    if "user" in before:
        return [
            f"your held-out images ({held}): {before['user']:.2%} before, {after['user']:.2%} after",
            f"MNIST test: {before['test']:.2%} before, {test:.2%} after",
        ]
    return [f"your held-out images ({held}): {after['user']:.2%}"]


def train(
    config: TrainConfig,
    *,
    mnist: Mnist | None = None,
    echo: Echo = print,
    verbose: int = 2,
) -> TrainResult:
    """Train `config.arch` on MNIST and write the run folder (see the module docstring)."""
    config.check()
    cluster = None
    if config.strategy == "multiworker":  # first: before TensorFlow runs anything
        cluster = multiworker.start(config.cluster, config.task_index)
        echo(f"multi-worker training: {cluster.task}" + (" (the chief)" if cluster.chief else ""))
    if cluster is None or cluster.chief:
        out = ensure_output_dir(Path(config.out))  # fail now, not after an hour of training
    else:  # another worker: writes what it must to a folder of its own, removed at the end
        out = Path(tempfile.mkdtemp(prefix="edge-digits-worker-"))
    try:
        return _train(config, cluster, out, mnist, echo, verbose)
    finally:
        if cluster is not None and not cluster.chief:
            shutil.rmtree(out, ignore_errors=True)


def _train(
    config: TrainConfig,
    cluster: multiworker.Cluster | None,
    out: Path,
    mnist: Mnist | None,
    echo: Echo,
    verbose: int,
) -> TrainResult:
    mnist = mnist or load_mnist(config.mnist, progress=echo)
    x_train, y_train, x_val, y_val = split(mnist, config.val_split, config.seed)
    base = None
    if config.base is not None and not config.resume:
        from .finetune import load_base, rehearsal

        base, base_path = load_base(config.base, config.negatives, echo)
        if int(base.output_shape[-1]) == 11 and not config.negatives:
            # Fine-tuned on digits alone, the not-a-digit class fades (measured: 94% of the
            # default run's validation non-digits answered none before, 56% after).
            config = replace(config, negatives=rehearsal(config.limit or len(x_train)))
            echo(
                f"note: {config.negatives} generated non-digits keep the model's not-a-digit "
                "class trained (--negatives N chooses how many)"
            )
    if config.limit is not None:
        x_train, y_train = x_train[: config.limit], y_train[: config.limit]
    digits_only = x_train  # MNIST's own, for the pictures of the run report
    train_in, val_in = _as_input(x_train), _as_input(x_val)
    extra = _extra_pictures(
        config, {"train": (x_train, y_train), "validation": (x_val, y_val)}, out, echo
    )
    if extra:
        train_in = np.concatenate([train_in, extra["train"].x[..., None]])
        y_train = np.concatenate([y_train.astype(np.int64), extra["train"].y])
        val_in = np.concatenate([val_in, extra["validation"].x[..., None]])
        y_val = np.concatenate([y_val.astype(np.int64), extra["validation"].y])
    classes = 11 if config.negatives else 10
    users = _user_data(config, classes, echo)
    if users is not None:
        val_in = np.concatenate([val_in, _as_input(users.validation[0])])
        y_val = np.concatenate([y_val.astype(np.int64), users.validation[1]])
    before: dict[str, float] = {}
    if base is not None:
        before = _scores(base, mnist, users)

    keras.utils.set_random_seed(config.seed)
    folder = ensure_output_dir(out / "checkpoints")
    history_so_far: dict[str, list[float]] = {}
    checkpoint = _Checkpoints(folder, history_so_far)
    initial_epoch = 0
    if not config.resume:
        # A fresh run: an earlier run's state must not describe this run's epoch files.
        (folder / STATE).unlink(missing_ok=True)
    with _distribution(config.strategy, cluster):
        if config.resume:  # every worker reads the chief's checkpoints (multiworker.py)
            model, initial_epoch = _resume(Path(config.out) / "checkpoints", checkpoint)
            echo(f"resuming after epoch {initial_epoch} of {config.epochs}")
        else:
            model = base if base is not None else ARCHITECTURES[config.arch].build(classes)
            steps = config.epochs * int(np.ceil(len(train_in) / config.batch_size))
            rate = config.learning_rate * (FINE_TUNE_RATE if base is not None else 1.0)
            schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
            optimizer = keras.optimizers.Adam(
                schedule, use_ema=config.ema, ema_momentum=EMA_MOMENTUM
            )
            model.compile(
                optimizer=optimizer,
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
    summary: list[str] = []
    model.summary(print_fn=lambda line, **_: summary.append(line))
    echo("\n".join(summary))

    plain: dict[str, Any] = {
        "x": train_in,
        "y": y_train.astype(np.int64),
        "batch_size": config.batch_size,
        "shuffle": True,
    }
    # Augmented epochs first, then `clean_epochs` on the inputs as they are: the model ends on
    # what preprocessing really gives (with augmentation throughout, BatchNorm's statistics
    # and the none class's boundary fit augmented inputs, and un-augmented non-digits were
    # refused far less often than augmented ones).
    augmented_until = config.epochs - config.clean_epochs if config.augment else 0
    phases: list[tuple[int, dict[str, Any]]] = []
    if augmented_until > initial_epoch:
        from .augment import augmented_dataset

        dataset = augmented_dataset(
            train_in,
            y_train.astype(np.int64),
            batch_size=config.batch_size,
            seed=config.seed + initial_epoch,
        )
        if cluster is not None:
            dataset = multiworker.shard_by_element(dataset)
        phases.append((augmented_until, {"x": dataset, "shuffle": False}))
    validation: Any = (val_in, y_val.astype(np.int64))
    if cluster is not None:  # tf.data pipelines, each worker's share taken by element
        plain = {
            "x": multiworker.dataset(
                train_in, plain["y"], config.batch_size, shuffle_seed=config.seed
            ),
            "shuffle": False,
        }
        validation = multiworker.dataset(
            val_in, validation[1], config.batch_size, shuffle_seed=None
        )
    phases.append((config.epochs, plain))
    if users is not None:  # each batch: MNIST (augmented or not) and your images, mixed
        phases = [
            (end, _mixed(inputs, users.train, config, len(train_in))) for end, inputs in phases
        ]
        plain = phases[-1][1]
    stopping = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.patience)
    callbacks: list[keras.callbacks.Callback] = [checkpoint, stopping]
    if config.ema:  # validation and the epoch files see the average, training the last step's;
        # each fit ends on the average (Keras), so the clean epochs start from it
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    with contextlib.ExitStack() as multi_worker:
        if cluster is not None:
            multi_worker.enter_context(multiworker.stopped_workers(config.out, cluster.others))
            multi_worker.enter_context(multiworker.keras_fixes(model, cluster.strategy))
        for end, inputs in phases:
            start = max(initial_epoch, phases[0][0] if inputs is plain and len(phases) > 1 else 0)
            if end <= start or stopping.stopped_epoch:
                continue
            model.fit(
                **inputs,
                validation_data=validation,
                epochs=end,
                initial_epoch=start,
                verbose=verbose,
                callbacks=callbacks,
            )
    if cluster is not None and not cluster.chief:  # the chief tests and writes the results
        return TrainResult(
            model_path=Path(config.out) / "model.keras",
            history_path=Path(config.out) / "history.json",
            best_epoch=checkpoint.best_epoch,
            epochs_run=len(history_so_far.get("loss", [])),
            val_accuracy=checkpoint.best,
            test_accuracy=float("nan"),
            parameters=int(model.count_params()),
            chief=False,
        )
    # The best epoch's model, wherever it was (before a resume, or before early stopping).
    model = keras.models.load_model(folder / "best.keras")

    if int(model.output_shape[-1]) != classes:
        raise UsageError(
            f"{out}: the model being resumed gives {model.output_shape[-1]} scores but this run "
            f"has {classes} classes (--negatives); resume with the options it started with"
        )
    model_path = out / "model.keras"
    # Beside the model it describes: an interrupted run never leaves it next to an older model.
    _write_calibration(
        out, train_in, val_in, y_val, config.seed, users.train[0] if users is not None else None
    )
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    test = evaluate(lambda batch: model.predict_on_batch(batch), mnist.x_test, mnist.y_test)
    echo(f"test accuracy: {test.accuracy:.2%} on {test.count} images")
    after = _scores(model, mnist, users) if users is not None else {}
    if users is not None:
        for line in _user_lines(users, before, after, test.accuracy):
            echo(line)

    epochs = history_so_far
    history_path = out / "history.json"
    atomic_write_text(history_path, json.dumps(epochs, indent=2) + "\n")
    probabilities = model.predict(_as_input(mnist.x_test), batch_size=1024, verbose=0)
    pictures = write_run_pictures(
        out,
        digits_only,
        y_train[: len(digits_only)],
        epochs,
        mnist.x_test,
        mnist.y_test,
        probabilities,
    )
    result = TrainResult(
        model_path=model_path,
        history_path=history_path,
        best_epoch=checkpoint.best_epoch,
        epochs_run=len(epochs.get("loss", [])),
        val_accuracy=checkpoint.best,
        test_accuracy=test.accuracy,
        parameters=int(model.count_params()),
        user_held_out=len(users.held_out[1]) if users is not None else 0,
        user_before=before.get("user"),
        user_after=after.get("user"),
        test_before=before.get("test"),
    )
    run = {
        "config": {
            **asdict(config),
            "out": str(config.out),
            "mnist": str(config.mnist or ""),
            "user_data": [str(folder) for folder in config.user_data],
            "base": str(config.base or ""),
        },
        "architecture": config.arch,
        "architecture_summary": ARCHITECTURES[config.arch].summary,
        "model_summary": "\n".join(summary),
        "training_images": len(train_in),
        "labels": [str(d) for d in range(10)] + (["none"] if classes == 11 else []),
        "none_label": "none" if classes == 11 else None,
        "pictures_made": {
            part: {"inputs": len(made.y), "by_kind": _counts(made.kind), "no_digit": made.dropped}
            for part, made in extra.items()
        },
        "test_images": len(mnist.x_test),
        "training_data_sha256": mnist.digest,
        "pictures": {name: str(path) for name, path in pictures.items()},
        "result": {
            **asdict(result),
            "model_path": str(model_path),
            "history_path": str(history_path),
        },
        "versions": {"keras": keras.__version__, "python": sys.version.split()[0]},
    }
    if base is not None:
        run["base_model"] = {"path": str(base_path), "sha256": sha256_file(base_path)}
    if users is not None:
        run["user_data"] = {
            "folders": [folder.describe() for folder in users.folders],
            "data_weight": config.data_weight,
            "held_out": len(users.held_out[1]),
            "held_out_accuracy": {"before": before.get("user"), "after": after.get("user")},
            "test_accuracy": {"before": before.get("test"), "after": test.accuracy},
        }
    atomic_write_text(out / "run.json", json.dumps(run, indent=2) + "\n")
    write_report(out)
    return result
