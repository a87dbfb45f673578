"""Training-time augmentation that matches what preprocessing makes of real pictures.

`runtime/core/photo.py` turns a photo into a 28x28 digit that is never quite MNIST: a few degrees
of tilt left in, the box fit off by a pixel, strokes thickened to a target width or left a
little thin, edges softened by resizing. Training on MNIST digits changed in the same ways
makes the model read such inputs as well as clean ones. Applied per batch in a tf.data
pipeline, never inside the model, so the exported model is unchanged.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

ROTATION = 12 / 360  # +-12 degrees, as a fraction of a full turn
SHIFT = 2 / 28  # +-2 pixels
ZOOM = 0.12  # +-12% size
THICKEN, THIN = 0.25, 0.15  # chance of one pixel more / less stroke width
BLUR = 0.2  # chance of a slight blur
SHARE = 0.6  # share of each batch augmented; the rest is seen as preprocessing gives it


def _augmenter(seed: int) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.layers.RandomRotation(ROTATION, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(SHIFT, SHIFT, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom(ZOOM, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )


def _strokes_and_blur(images: tf.Tensor, seed: int) -> tf.Tensor:
    """Per image: maybe thicken (3x3 max), maybe thin (3x3 min), maybe blur (3x3 mean)."""
    count = tf.shape(images)[0]
    draw = tf.random.stateless_uniform([count, 3], seed=[seed, 0])
    thick = tf.nn.max_pool2d(images, 3, 1, "SAME")
    thin = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    blurred = tf.nn.avg_pool2d(images, 3, 1, "SAME")
    pick = lambda column, chance: tf.reshape(draw[:, column] < chance, [-1, 1, 1, 1])  # noqa: E731
    images = tf.where(pick(0, THICKEN), thick, images)
    images = tf.where(pick(1, THIN) & ~pick(0, THICKEN), thin, images)
    return tf.where(pick(2, BLUR), (images + blurred) / 2, images)


def augmented_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    share: float = SHARE,
) -> tf.data.Dataset:
    """Shuffled, batched, a `share` of each batch augmented (images float [0, 1]
    (N, 28, 28, 1), int labels)."""
    augment = _augmenter(seed)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    counter = tf.data.Dataset.counter(start=seed)

    def apply(batch: tuple[tf.Tensor, tf.Tensor], step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = batch
        changed = augment(x, training=True)
        changed = _strokes_and_blur(changed, tf.cast(step, tf.int32))
        # Only a share of each batch: BatchNorm's statistics and the none class's boundary
        # then also fit inputs as they are, all along (augmenting every input, the model
        # refused un-augmented non-digits far less often, and validation fell as it trained).
        draw = tf.random.stateless_uniform([tf.shape(x)[0]], seed=[tf.cast(step, tf.int32), 1])
        x = tf.where(tf.reshape(draw < share, [-1, 1, 1, 1]), changed, x)
        return tf.clip_by_value(x, 0.0, 1.0), y

    return (
        tf.data.Dataset.zip((dataset, counter))
        .map(apply, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
