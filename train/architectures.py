"""The model zoo: the seed projects' five tutorial architectures and `edge`, the default.

Every builder returns an uncompiled `keras.Model` that takes (28, 28, 1) float32 images in
[0, 1] (ink bright on black, as MNIST) and ends in a softmax over `classes` (10 digits, or 11
with "not a digit"), so every model converts and runs the same way. `edge` keeps its logits
as a layer of their own (``logits``, then a ``Softmax``): `convert` exports the logits, and
the runtime applies the softmax in float with the calibrated temperature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def _inputs() -> keras.KerasTensor:
    return keras.Input(shape=INPUT_SHAPE, name="image")


def _softmax(x: keras.KerasTensor, classes: int) -> keras.KerasTensor:
    return layers.Dense(classes, activation="softmax", name="probabilities")(x)


def cnn3(classes: int = NUM_CLASSES) -> keras.Model:
    """Seed CNN: three Conv64/MaxPool blocks, then Dense 64 and 32."""
    inputs = _inputs()
    x = inputs
    for _ in range(3):
        x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(inputs, _softmax(x, classes), name="cnn3")


def mlp(classes: int = NUM_CLASSES) -> keras.Model:
    """Seed MLP: Flatten, Dense 128."""
    inputs = _inputs()
    x = layers.Flatten()(inputs)
    x = layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, _softmax(x, classes), name="mlp")


def mlp_dropout(classes: int = NUM_CLASSES) -> keras.Model:
    """Seed MLP with dropout: Flatten, Dense 512, Dropout, Dense 512, Dropout."""
    inputs = _inputs()
    x = layers.Flatten()(inputs)
    for _ in range(2):
        x = layers.Dense(512, activation="relu")(x)
        x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, _softmax(x, classes), name="mlp_dropout")


def convnet(classes: int = NUM_CLASSES) -> keras.Model:
    """Keras-example convnet: Conv32, pool, Conv64, pool, Flatten, Dropout 0.5, Dense 10."""
    inputs = _inputs()
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax(x, classes), name="convnet")


def cnn_dropout(classes: int = NUM_CLASSES) -> keras.Model:
    """Seed CNN with dropout after its blocks: (Conv32, Conv32, pool, Dropout) x2-ish, Dense 128."""
    inputs = _inputs()
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax(x, classes), name="cnn_dropout")


def _conv_bn_relu(x: keras.KerasTensor, filters: int, padding: str = "same") -> keras.KerasTensor:
    # No bias: BatchNorm's shift replaces it, and the converter folds BN into the conv.
    x = layers.Conv2D(filters, 3, padding=padding, use_bias=False)(x)
    # momentum 0.9 (PyTorch's default) rather than Keras' 0.99: the moving statistics settle
    # within tens of steps, so short runs (demo, tests) evaluate as well as they train.
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def edge(classes: int = NUM_CLASSES) -> keras.Model:
    """The default: a small all-conv network designed for full-integer int8 on a Pi.

    Conv+BatchNorm+ReLU blocks (BN folds into the conv at conversion; ReLU is exact in
    int8), max-pooling and one dense layer: only ops that the int8 kernels of LiteRT and
    of tflite-runtime 2.14 have. About 78k parameters with 11 classes: about 85 KiB as
    int8 (benchmarks/latency.py measures its speed).
    """
    inputs = _inputs()
    x = _conv_bn_relu(inputs, 16)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D()(x)  # 14x14
    x = _conv_bn_relu(x, 64)
    x = layers.MaxPooling2D()(x)  # 7x7
    x = _conv_bn_relu(x, 64, padding="valid")  # 5x5
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    logits = layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, layers.Softmax(name="probabilities")(logits), name="edge")


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., keras.Model]  # (classes=10) -> model
    summary: str


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "edge",
            edge,
            "default: four Conv-BN-ReLU blocks, two max-pools, one dense layer; built for int8",
        ),
        Architecture("cnn3", cnn3, "seed: three Conv64/MaxPool blocks, Dense 64/32"),
        Architecture("mlp", mlp, "seed: Flatten, Dense 128"),
        Architecture("mlp_dropout", mlp_dropout, "seed: Dense 512 x2 with dropout"),
        Architecture("convnet", convnet, "seed: Conv32-pool-Conv64-pool-Flatten-Dropout-Dense10"),
        Architecture("cnn_dropout", cnn_dropout, "seed: CNN with dropout after its blocks"),
    )
}
