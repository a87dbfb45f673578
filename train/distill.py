"""Learning from teachers (knowledge distillation): `train --teacher MODEL` (repeatable).

Each training input's target is its label *and* what trained models (the teachers) answer
for that very input, augmented or not: their probabilities, averaged. The loss is

    (1 - w) x cross-entropy(label, model) + w x cross-entropy(teachers, model)

with w = `teacher_weight`. A teacher's probabilities say how much a 7 looks like a 1, or a
piece of a 4 like no digit at all, where a label says only "7": a small model learns more
from them than from the labels alone (Hinton et al., 2015).

The targets travel with the inputs as one array (N, 2 x classes): the label one-hot, then
the teachers' probabilities. The model itself is unchanged, and `train` saves it compiled
with the plain loss, so `convert`, `--from` and the runtime never meet this module; the
checkpoints `--resume` loads keep the loss, which is registered with Keras for that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from edge_digits.runtime.errors import UsageError

Teacher = Callable[[Any], Any]  # a batch of inputs -> the teachers' averaged probabilities
BATCH = 2048  # inputs per teacher call when the targets are computed ahead


def load_teachers(paths: Sequence[Path], classes: int) -> Teacher:
    """A function of a batch of inputs giving the teachers' averaged probabilities."""
    import tensorflow as tf

    models = []
    for path in paths:
        try:
            model = keras.models.load_model(path, compile=False)
        except (OSError, ValueError) as error:
            raise UsageError(
                f"{path}: not a Keras model to learn from ({' '.join(str(error).split())[:120]}); "
                "give --teacher a model.keras that `train` wrote"
            ) from None
        if int(model.output_shape[-1]) != classes:
            raise UsageError(
                f"{path}: the teacher gives {model.output_shape[-1]} scores but this run has "
                f"{classes} classes (--negatives); give teachers trained with the same classes"
            )
        models.append(model)

    @tf.function(reduce_retracing=True)
    def teach(inputs: Any) -> Any:
        return tf.add_n([model(inputs, training=False) for model in models]) / len(models)

    return teach


def targets(teacher: Teacher, inputs: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(N, 2 x classes) float32: each label one-hot, then the teachers' probabilities."""
    taught = [np.asarray(teacher(inputs[at : at + BATCH])) for at in range(0, len(inputs), BATCH)]
    hard = np.eye(classes, dtype=np.float32)[labels.astype(np.int64)]
    return np.concatenate([hard, np.concatenate(taught).astype(np.float32)], axis=1)


def taught(dataset: Any, teacher: Teacher, classes: int) -> Any:
    """`dataset`'s batches of (inputs, targets) with the teachers' half recomputed on the
    inputs as the batch has them (augmented), not as they were before."""
    import tensorflow as tf

    def teach(inputs: Any, target: Any) -> tuple[Any, Any]:
        return inputs, tf.concat([target[:, :classes], teacher(inputs)], axis=1)

    return dataset.map(teach)


@keras.saving.register_keras_serializable(package="edge_digits")
class DistillationLoss(keras.losses.Loss):
    """Cross-entropy with the labels and with the teachers, weighted (see the module)."""

    def __init__(self, teacher_weight: float = 0.5, classes: int = 11, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", "distillation"), **kwargs)
        self.teacher_weight, self.classes = float(teacher_weight), int(classes)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        entropy = keras.losses.categorical_crossentropy
        hard, soft = y_true[:, : self.classes], y_true[:, self.classes :]
        return (1.0 - self.teacher_weight) * entropy(hard, y_pred) + (
            self.teacher_weight * entropy(soft, y_pred)
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "teacher_weight": self.teacher_weight,
            "classes": self.classes,
        }


@keras.saving.register_keras_serializable(package="edge_digits")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against the label half of the targets, logged as "accuracy" (and
    "val_accuracy", which early stopping and the best checkpoint follow)."""

    def __init__(self, classes: int = 11, name: str = "accuracy", **kwargs: Any) -> None:
        self.classes = int(classes)
        super().__init__(self._right, name=name, **kwargs)

    def _right(self, y_true: Any, y_pred: Any) -> Any:
        label = keras.ops.argmax(y_true[:, : self.classes], axis=-1)
        return keras.metrics.sparse_categorical_accuracy(label, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "classes": self.classes}
