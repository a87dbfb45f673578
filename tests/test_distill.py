"""`train --teacher`: targets made of the label and the teachers' answers, the loss that
weighs them, resuming, and a saved model that no reader needs distill.py for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.errors import UsageError

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def teacher(mnist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_digits.train.training import TrainConfig, train

    out = tmp_path_factory.mktemp("teacher")
    config = TrainConfig(arch="mlp", epochs=1, limit=2000, batch_size=64, out=out, seed=3)
    return train(config, mnist=mnist, echo=lambda line: None, verbose=0).model_path


def test_targets_are_the_label_then_the_teachers_averaged_answers(teacher, mnist):
    import keras
    from edge_digits.train import distill

    inputs = (mnist.x_test[:5] / 255.0).astype(np.float32)[..., None]
    labels = mnist.y_test[:5]
    one = distill.load_teachers([teacher], 10)
    two = distill.load_teachers([teacher, teacher], 10)
    got = distill.targets(two, inputs, labels, 10)
    assert got.shape == (5, 20) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, :10].argmax(axis=1), labels)
    np.testing.assert_array_equal(got[:, :10].sum(axis=1), 1.0)
    want = keras.models.load_model(teacher).predict(inputs, verbose=0)
    np.testing.assert_allclose(got[:, 10:], want, atol=1e-6)
    np.testing.assert_allclose(np.asarray(one(inputs)), want, atol=1e-6)


def test_an_augmented_batch_is_taught_as_augmented(teacher, mnist):
    import tensorflow as tf
    from edge_digits.train import distill

    inputs = (mnist.x_test[:8] / 255.0).astype(np.float32)[..., None]
    teach = distill.load_teachers([teacher], 10)
    stale = distill.targets(teach, inputs, mnist.y_test[:8], 10)
    flipped = (
        tf.data.Dataset.from_tensor_slices((inputs, stale))
        .batch(8)
        .map(
            lambda x, y: (x[:, ::-1], y)  # the batch changed after its targets were made
        )
    )
    ((x, y),) = list(distill.taught(flipped, teach, 10))
    np.testing.assert_array_equal(y[:, :10], stale[:, :10])
    np.testing.assert_allclose(y[:, 10:], np.asarray(teach(x)), atol=1e-6)
    assert not np.allclose(y[:, 10:], stale[:, 10:], atol=1e-3)


def test_the_loss_weighs_labels_and_teachers():
    from edge_digits.train.distill import DistillationLoss

    label = [1.0, 0.0]
    teachers = [0.5, 0.5]
    model = np.array([[0.8, 0.2]], np.float32)
    y = np.array([label + teachers], np.float32)
    loss = float(DistillationLoss(0.25, 2)(y, model))
    want = 0.75 * -np.log(0.8) + 0.25 * -(0.5 * np.log(0.8) + 0.5 * np.log(0.2))
    assert loss == pytest.approx(want, rel=1e-5)


def test_a_student_trains_resumes_and_is_saved_for_any_reader(teacher, mnist, tmp_path):
    from edge_digits.train.training import STATE, TrainConfig, train

    config = TrainConfig(
        arch="mlp", epochs=1, limit=2000, batch_size=64, out=tmp_path, teachers=(teacher,),
        augment=True,
    )  # fmt: skip
    train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    lines: list[str] = []
    result = train(
        TrainConfig(**{**config.__dict__, "epochs": 2, "resume": True}),
        mnist=mnist, echo=lines.append, verbose=0,
    )  # fmt: skip
    assert "resuming after epoch 1 of 2" in lines and result.epochs_run == 2
    state = json.loads((tmp_path / "checkpoints" / STATE).read_text())
    assert set(state["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.val_accuracy == max(state["history"]["val_accuracy"]) > 0.5
    # A fresh process that never imports distill.py loads the run's model.
    script = (
        "import sys, keras; m = keras.models.load_model(sys.argv[1]); "
        "assert m.loss == 'sparse_categorical_crossentropy', m.loss; "
        "assert 'edge_digits.train.distill' not in sys.modules; print(m.output_shape[-1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(result.model_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "10"


def test_a_teacher_of_other_classes_or_none_at_all_is_refused(teacher, mnist, tmp_path):
    from edge_digits.train.training import TrainConfig, train

    with pytest.raises(UsageError, match=r"teacher gives 10 scores but this run has 11 classes"):
        config = TrainConfig(
            arch="mlp", epochs=1, limit=500, batch_size=64, out=tmp_path, teachers=(teacher,),
            negatives=200,
        )  # fmt: skip
        train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    missing = tmp_path / "missing.keras"
    with pytest.raises(UsageError, match=r"missing.keras: not a Keras model to learn from"):
        config = TrainConfig(
            arch="mlp", epochs=1, limit=500, batch_size=64, out=tmp_path, teachers=(missing,)
        )
        train(config, mnist=mnist, echo=lambda line: None, verbose=0)
    with pytest.raises(UsageError, match="leave out --strategy and --data, or --teacher"):
        TrainConfig(strategy="mirrored", teachers=(teacher,)).check()
