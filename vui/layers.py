"""Keras layers the capstone's models need beyond keras.layers: Keras 2's GRU gate, a two-pass batch
normalisation, and SpecAugment. Each runs on every backend (keras.ops only).

Shapes: sequences are (batch, frames, dims); masks (batch, frames) booleans.
"""

from __future__ import annotations

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers


@keras.saving.register_keras_serializable(package="vui")
def keras2_hard_sigmoid(x):
    """Keras 2's hard sigmoid, ``clip(0.2 x + 0.5, 0, 1)``: the default gate of every Keras 2 GRU,
    so the seed's GRUs gated with it. Keras 3's own ``hard_sigmoid`` is ``relu6(x + 3) / 6``, a
    different slope, and its GRUs default to the logistic sigmoid."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="vui")
class BatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization whose batch variance is computed in two passes,
    ``mean((x - mean(x))^2)``, as TensorFlow's ``tf.nn.moments`` (which Keras 2 used) does.

    Keras 3's torch backend computes ``mean(x^2) - mean(x)^2``: it loses precision when the mean is
    large against the spread, and is NaN (inf - inf) once activations pass ~1.8e19, where the
    two-pass form gives an infinite variance and a finite output. The seed's ReLU RNNs reach such
    values on the zero padding of long batches when it is not masked (FIDELITY.md). Same weights and inference maths.
    """

    def _moments(self, inputs, mask):
        if mask is not None:
            return super()._moments(inputs, mask)
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=axes)
        return ops.cast(ops.squeeze(mean, axis=axes), inputs.dtype), ops.cast(variance, inputs.dtype)


@keras.saving.register_keras_serializable(package="vui")
class SpecAugment(layers.Layer):
    """SpecAugment-style masking (Park et al., 2019), active only while training.

    Each utterance gets `freq_masks` bands of up to `freq_width` feature bins and `time_masks` spans
    of up to `time_width` frames (never more than `max_time_fraction` of the clip's frames each)
    set to 0, the training mean of the normalised features. Input and output (batch, frames, dims);
    at inference it passes features through unchanged, so evaluation and transcription see the
    same features as without it. Uses only keras.ops/keras.random, so it runs on every backend.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 20, time_masks: int = 2, time_width: int = 40,
                 max_time_fraction: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.max_time_fraction = max_time_fraction
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _mask(self, batch, size, count: int, max_width):
        """(batch, size) float mask: 0 inside `count` random spans of width < max_width, else 1."""
        ops = keras.ops
        positions = ops.arange(size, dtype="float32")[None, :]
        keep = ops.ones((batch, size), dtype="float32")
        size_f = ops.cast(size, "float32")
        for _ in range(count):
            width = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator) * max_width)
            start = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator) * ops.maximum(size_f - width, 1.0))
            inside = ops.logical_and(positions >= start, positions < start + width)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, inputs, training=None):
        if not training:
            return inputs
        ops = keras.ops
        shape = ops.shape(inputs)
        batch, frames, dims = shape[0], shape[1], shape[2]
        x = inputs
        if self.freq_masks:
            x = x * ops.cast(self._mask(batch, dims, self.freq_masks, float(self.freq_width)), x.dtype)[:, None, :]
        if self.time_masks:
            max_width = ops.minimum(float(self.time_width), self.max_time_fraction * ops.cast(frames, "float32"))
            x = x * ops.cast(self._mask(batch, frames, self.time_masks, max_width), x.dtype)[:, :, None]
        return x

    def compute_output_shape(self, input_shape):
        return input_shape
