"""Nothing lost: `train` and `convert` killed (SIGKILL) at seeded random points never leave a
partial file under a final name, `train --resume` continues, and two `convert` processes
writing one folder at once end with complete, matching pairs.

The commands run as real subprocesses, as a user runs them. A watcher polls the output folder
every couple of milliseconds and kills the process when a chosen event shows up (the n-th
temporary file of a kind: a write in progress; a model replaced under its final name: the
moment a pair is published), after a seeded random delay.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.core.classifier import Classifier, ClassifierOptions
from edge_digits.runtime.core.sidecar import Sidecar, sidecar_path
from edge_digits.runtime.files.atomic import is_temporary, sha256_file
from PIL import Image

pytestmark = pytest.mark.train

CLI = [sys.executable, "-c", "from edge_digits.runtime.cli import main; main()"]
TRAIN = ["train", "--arch", "mlp", "--limit", "2000", "--epochs", "3", "--batch-size", "64"]
CONVERT = ["-p", "float32", "-p", "int8", "--calibration", "100"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {
        **os.environ,
        "EDGE_DIGITS_CACHE": str(tmp_path_factory.mktemp("cache")),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONUNBUFFERED": "1",
    }


# --------------------------------------------------------------------------- kill points


@dataclass
class KillAt:
    """Kill `delay` seconds after the `count`-th write of a file whose name ends in `suffix`
    (seen as its temporary, a write in progress, or, if that lived too briefly to be seen,
    as a new file under the final name); or, with `replaced`, right after that file got a
    new inode (a pair published)."""

    delay: float
    suffix: str = ""
    count: int = 1
    replaced: str = ""
    _inodes: dict[Path, int | None] = field(default_factory=dict)
    _temporaries: set[Path] = field(default_factory=set)
    _pending: set[Path] = field(default_factory=set)  # final names whose temporary was seen
    _writes: int = 0

    def start(self, folder: Path) -> None:
        self._inodes = {path: _inode(path) for path in _files(folder)}

    def due(self, folder: Path) -> bool:
        if self.replaced:
            inode = _inode(folder / self.replaced)
            return inode is not None and inode != self._inodes.get(folder / self.replaced)
        for path in _files(folder):
            final = _final_name(path)
            if not final.name.endswith(self.suffix) or final.name == WRITE_CHECK:
                continue
            if final != path:
                if path not in self._temporaries:
                    self._temporaries.add(path)
                    self._pending.add(final)
                    self._writes += 1
            elif (inode := _inode(path)) != self._inodes.get(path):
                self._inodes[path] = inode
                if path in self._pending:
                    self._pending.discard(path)  # counted when its temporary was seen
                else:
                    self._writes += 1
        return self._writes >= self.count


WRITE_CHECK = "edge-digits-write-check"  # ensure_output_dir's probe: not a file written


def _final_name(path: Path) -> Path:
    """`.model.tmp-12-abcdefgh.keras` -> `model.keras`; a final name -> itself."""
    match = re.fullmatch(r"\.(.*)\.tmp-\d+-[a-z0-9_]{8}(\.[^.]+)?", path.name)
    return path.with_name(match[1] + (match[2] or "")) if match else path


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _files(folder: Path) -> list[Path]:
    found = []
    for current, _, names in os.walk(folder):
        found.extend(Path(current, name) for name in names)
    return found


def run(args: list[str], env: dict[str, str], log: Path, kill: KillAt | None = None,
        watch: Path | None = None) -> tuple[int, str]:  # fmt: skip
    """Run the CLI; with `kill`, SIGKILL it at that point (asserting it got there)."""
    with open(log, "w") as output:
        process = subprocess.Popen([*CLI, *args], stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            if kill is not None and watch is not None:
                kill.start(watch)
                while process.poll() is None and not kill.due(watch):
                    time.sleep(0.002)
                time.sleep(kill.delay)
                process.send_signal(signal.SIGKILL)
            code = process.wait(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = log.read_text()
    if kill is not None:
        assert code == -signal.SIGKILL, f"finished before the kill point {kill}:\n{text[-2000:]}"
    return code, text


# --------------------------------------------------------------------------- checks


def assert_complete(folder: Path) -> list[Path]:
    """Every file under a final name in `folder` is complete and valid; returns the
    temporaries (killed writers' leftovers), which must belong to no running process."""
    import keras

    temporaries = []
    for path in sorted(_files(folder)):
        if is_temporary(path):
            temporaries.append(path)
            continue
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None, path
            keras.models.load_model(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            with Image.open(path) as picture:
                picture.verify()
        elif path.suffix == ".html":
            assert path.read_text().endswith("</html>\n"), path
        elif path.suffix == ".tflite":
            # A model always has its own sidecar beside it: the runtime loads the pair
            # without a warning (a missing sidecar) or an error (a sidecar of another model).
            assert sidecar_path(path).is_file(), f"{path} has no sidecar"
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                Classifier(ClassifierOptions(model=path))
        elif path.suffix == ".npz":  # calibration.npz, pictures/: complete archives
            with np.load(path, allow_pickle=False) as archive:
                assert all(archive[name].size >= 0 for name in archive.files), path
        else:
            raise AssertionError(f"unexpected file {path}")
    return temporaries


# --------------------------------------------------------------------------- train


def test_killed_training_leaves_complete_files_and_resumes(tmp_path, mnist_file, env):
    rng = random.Random(7)
    out = tmp_path / "run"
    args = [*TRAIN, "--out", str(out), "--data", str(mnist_file)]

    # 1. While checkpointing: the 3rd-7th temporary is an epoch's model, state or best.keras.
    kill = KillAt(delay=rng.uniform(0, 0.02), count=rng.randint(3, 7))
    run(args, env, tmp_path / "1.log", kill, watch=out)
    assert_complete(out)
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert (out / "checkpoints" / state["last"]).is_file()

    # 2. Resumed, then killed while writing the results: a model, a json, a picture or the page.
    suffix = rng.choice([".keras", ".json", ".png", ".html"])
    kill = KillAt(delay=rng.uniform(0, 0.01), suffix=suffix, count=rng.randint(1, 2))
    _, log = run([*args, "--resume"], env, tmp_path / "2.log", kill, watch=out)
    assert f"resuming after epoch {state['epoch']} of 3" in log
    leftovers = assert_complete(out)

    # 3. Resumed again: it finishes, and the killed runs' temporaries are gone.
    code, log = run([*args, "--resume"], env, tmp_path / "3.log")
    assert code == 0, log[-3000:]
    assert "resuming after epoch" in log
    assert assert_complete(out) == []
    assert not any(path.exists() for path in leftovers)
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert history["loss"][: state["epoch"]] == state["history"]["loss"]  # kept, not redone
    run_record = json.loads((out / "run.json").read_text())
    assert run_record["result"]["epochs_run"] == 3
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert "best.keras" in checkpoints and "state.json" in checkpoints
    assert len(checkpoints) <= 4  # best.keras, state.json, the last and the best epoch


# --------------------------------------------------------------------------- convert


@pytest.fixture(scope="module")
def two_models(tiny_run, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny model, and a copy with slightly changed weights (so that its TFLite files
    differ): both named model.keras, so both convert to the same file names."""
    import keras

    folder = tmp_path_factory.mktemp("sources")
    first, second = folder / "a" / "model.keras", folder / "b" / "model.keras"
    first.parent.mkdir()
    second.parent.mkdir()
    shutil.copyfile(tiny_run["train"].model_path, first)
    model = keras.models.load_model(first)
    weights = model.get_weights()
    weights[-2] = weights[-2] * 1.05  # the last layer's kernel
    model.set_weights(weights)
    model.save(second)
    return first, second


def _assert_pairs_from(folder: Path, sources: tuple[Path, ...]) -> None:
    """Each precision present: its pair loads, and the sidecar names one of the sources."""
    hashes = {sha256_file(source) for source in sources}
    for model in folder.glob("model_*.tflite"):
        sidecar = Sidecar.read(sidecar_path(model))
        assert sidecar.model_sha256 == _digest_without_sidecar(model)
        assert sidecar.provenance["keras_model_sha256"] in hashes


def test_killed_conversions_leave_matching_pairs(tmp_path, two_models, tiny_run, mnist_file, env):
    rng = random.Random(11)
    out = tmp_path / "shared"
    out.mkdir()
    for name in ("run.json", "model_float32.tflite", "model_float32.json", "model_int8.tflite",
                 "model_int8.json"):  # fmt: skip
        shutil.copyfile(Path(tiny_run["out"]) / name, out / name)  # an earlier conversion
    first, second = two_models

    def args(source: Path) -> list[str]:
        return [
            "convert",
            "--model",
            str(source),
            *CONVERT,
            "--out",
            str(out),
            "--data",
            str(mnist_file),
        ]

    kills = [
        # right after a pair was replaced: where a model beside the old sidecar would show
        KillAt(delay=rng.uniform(0, 0.005), replaced="model_float32.tflite"),
        # while a temporary pair is scored
        KillAt(delay=rng.uniform(0, 0.5), suffix=".tflite", count=rng.randint(1, 2)),
        KillAt(delay=rng.uniform(0, 0.005), replaced="model_int8.tflite"),
    ]
    for number, kill in enumerate(kills):
        source = (second, first)[number % 2]
        run(args(source), env, tmp_path / f"{number}.log", kill, watch=out)
        assert_complete(out)
        _assert_pairs_from(out, (first, second))

    # A later conversion completes; it removes the killed runs' temporaries.
    again = [
        "convert",
        "--model",
        str(first),
        "-p",
        "float32",
        "--out",
        str(out),
        "--data",
        str(mnist_file),
    ]
    code, log = run(again, env, tmp_path / "end.log")
    assert code == 0, log[-3000:]
    assert assert_complete(out) == []
    page = (out / "report.html").read_text()
    assert ".tmp-" not in page and "model_float32.tflite" in page


def test_two_conversions_into_one_folder_end_with_complete_pairs(
    tmp_path, two_models, tiny_run, mnist_file, env
):
    out = tmp_path / "shared"
    out.mkdir()
    shutil.copyfile(Path(tiny_run["out"]) / "run.json", out / "run.json")
    logs = [open(tmp_path / f"{n}.log", "w") for n in range(2)]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                *CLI,
                "convert",
                "--model",
                str(source),
                *CONVERT,
                "--out",
                str(out),
                "--data",
                str(mnist_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for source, log in zip(two_models, logs, strict=True)
    ]
    try:
        codes = [process.wait(timeout=300) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    assert codes == [0, 0], [(tmp_path / f"{n}.log").read_text()[-2000:] for n in range(2)]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.json", "report.html", "model_float32.tflite", "model_float32.json",
         "model_int8.tflite", "model_int8.json"]
    )  # fmt: skip
    assert assert_complete(out) == []
    _assert_pairs_from(out, two_models)
    page = (out / "report.html").read_text()
    assert ".tmp-" not in page and page.count("model_int8.tflite") == 1


def _digest_without_sidecar(model: Path) -> str:
    """sha256 of a converted model without the sidecar it carries inside (what its
    sidecar's model_sha256 covers)."""
    from edge_digits.convert.metadata import strip_metadata
    from edge_digits.runtime.core.flatbuffer import SIDECAR_METADATA
    from edge_digits.runtime.files.atomic import sha256_bytes

    return sha256_bytes(strip_metadata(model.read_bytes(), SIDECAR_METADATA))
