"""Shared fixtures: MNIST (through the project's loader), test digits as PNG files, and a tiny
model trained and converted once per session (only where TensorFlow is installed).

Tests marked `pi` (run on an emulated Raspberry Pi by `make pi-test`) have no MNIST there: they
use the MNIST test digits kept in examples/ (`example_pngs`, `example_digits`, `paper_digit`),
never `mnist`, `digit_pngs` or `tiny_run`."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edge_digits.runtime.cli import run
from edge_digits.runtime.files.mnist import Mnist, load_mnist
from PIL import Image

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs TensorFlow: pip install 'edge-digits[train]'")
    for item in items:
        if item.get_closest_marker("train") and not HAS_TENSORFLOW:
            item.add_marker(skip)


@dataclass
class CliResult:
    """What one `edge-digits` call did: its exit code and what it printed."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def records(self) -> list[dict[str, Any]]:
        """stdout as JSON lines (`--json`, `camera`)."""
        return [json.loads(line) for line in self.stdout.splitlines()]

    @property
    def errors(self) -> list[str]:
        return self.stderr.splitlines()


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the CLI in this process as the console script does. An exception escaping `run`
    fails the test, and so does a traceback in the output: either would reach a user."""

    def call(*args: str) -> CliResult:
        code = run(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return CliResult(code, captured.out, captured.err)

    return call


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    return load_mnist(keras_url=None)


@pytest.fixture(scope="session")
def mnist_file(mnist: Mnist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MNIST as one file for `--mnist`, so subprocesses (training workers, an interrupted
    run) never touch a cache."""
    if mnist.path.is_file():
        return Path(mnist.path)
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    np.savez(path, x_train=mnist.x_train, y_train=mnist.y_train,
             x_test=mnist.x_test, y_test=mnist.y_test)  # fmt: skip
    return path


@pytest.fixture(scope="session")
def digit_pngs(mnist: Mnist, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int]]:
    """The first 200 MNIST test digits written as 28x28 PNG files, with their labels."""
    folder = tmp_path_factory.mktemp("mnist_pngs")
    files = []
    for index in range(200):
        path = folder / f"{index:04d}_label{mnist.y_test[index]}.png"
        Image.fromarray(mnist.x_test[index]).save(path)
        files.append((path, int(mnist.y_test[index])))
    return files


@pytest.fixture(scope="session")
def example_pngs() -> list[tuple[Path, int]]:
    """The ten MNIST test digits of examples/ (28x28 PNG files, as MNIST stores them), with
    their labels, in MNIST order: the first three are `digit_pngs[:3]`, without MNIST."""
    files = sorted(EXAMPLES.glob("mnist_test_*_label*.png"))
    found = [(path, int(path.stem.rsplit("label", 1)[1])) for path in files]
    assert sorted(label for _, label in found) == list(range(10))
    return found


@pytest.fixture(scope="session")
def example_digits(example_pngs: list[tuple[Path, int]]) -> dict[int, np.ndarray]:
    """The same ten digits as 28x28 uint8 arrays (light ink on black), by label; each is the
    first of its class in the MNIST test set (`example_digits[7]` is `mnist.x_test[0]`)."""
    return {label: np.asarray(Image.open(path).convert("L")) for path, label in example_pngs}


@pytest.fixture(scope="session")
def paper_digit(tmp_path_factory: pytest.TempPathFactory, example_digits) -> Path:
    """An MNIST test digit (a 7) drawn dark on a large light page, as a user's scan would be."""
    page = np.full((300, 240), 235, dtype=np.uint8)
    digit = Image.fromarray(255 - example_digits[7]).resize((112, 112), Image.Resampling.BICUBIC)
    page[90:202, 60:172] = np.minimum(page[90:202, 60:172], np.asarray(digit))
    path = tmp_path_factory.mktemp("paper") / "seven on paper.png"
    Image.fromarray(page).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(mnist: Mnist, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train `edge` on 6000 images for one epoch and convert it to every precision, once."""
    if not HAS_TENSORFLOW:
        pytest.skip("needs TensorFlow")
    from edge_digits.convert.converter import convert
    from edge_digits.train.training import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_run")
    config = TrainConfig(arch="edge", epochs=1, limit=6000, batch_size=64, out=out, seed=1)
    result = train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    report = convert(
        result.model_path, ["float32", "float16", "int8"], out=out, calibration=100, mnist=mnist,
        echo=lambda line: None,
    )  # fmt: skip
    from edge_digits.train.report import refresh_report  # as the CLI's convert does

    refresh_report(out)
    return {"out": out, "train": result, "report": report}
