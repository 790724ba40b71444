"""Acoustic models: features (batch, frames, input_dim) -> softmax over 29 classes per output frame.

Each builder returns a Keras model with

- ``model.output_length(frames)``: output frames for ``frames`` input frames (an int or a tensor),
  which the CTC loss needs when a convolution shortens the sequence;
- ``model.build_spec``: ``{"builder": name, "kwargs": {...}}``, enough to build the same model
  again with :func:`build_model` (saved beside the weights by ``train_utils.train_model``).

The seed notebook's calls give the seed's parameter counts: Keras 2.0 GRUs had no second bias, so
the GRUs here use ``reset_after=False`` (also the fastest variant on CPU). The seed wrapped its output
``Dense`` in ``TimeDistributed``; a ``Dense`` applied to a sequence is the same layer with the same
parameters, and avoids a Keras 3 TensorFlow-backend bug that gives wrong time dimensions when batch
lengths vary. Only ``keras.layers``/``keras.ops`` are used, so every backend (TensorFlow, JAX, torch)
runs the same code.

Where Keras 3 computes differently from the Keras 2 the seed ran on, the builders compute what the
seed did: GRU gates use Keras 2's hard sigmoid, batch normalisation a two-pass variance. One defect of
the original is fixed: the padded frames of a batch are masked (``PaddingMask``), so recurrent layers
no longer run over them and batch statistics leave them out; it was what made the seed's recipe go
NaN here. FIDELITY.md has the measurements.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Callable

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers

from char_map import NUM_CLASSES
from utils import SPECTROGRAM_DIM, conv_output_length

cnn_output_length = conv_output_length  # the original's name for it in this module

BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def enable_mixed_precision(enable: bool = True) -> str:
    """Build models that compute in float16 (GPUs with tensor cores: faster, half the activation
    memory) with float32 variables; call before building a model. Every builder's softmax is
    float32, so the CTC loss stays in float32, and Keras scales the loss against float16 underflow
    (compile wraps the optimizer in a LossScaleOptimizer). ``VUI_MIXED_PRECISION=1`` in the
    environment turns it on at import. Returns the policy now in force."""
    keras.mixed_precision.set_dtype_policy("mixed_float16" if enable else "float32")
    return keras.mixed_precision.dtype_policy().name


if os.environ.get("VUI_MIXED_PRECISION", "") == "1":
    enable_mixed_precision()


def _builder(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Register a builder and record its call (name + all arguments) on the model it returns."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, verbose: bool = True, **kwargs) -> keras.Model:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        model = fn(*bound.args, **bound.kwargs)
        model.build_spec = {"builder": fn.__name__, "kwargs": dict(bound.arguments)}
        if verbose:
            model.summary()
        return model

    BUILDERS[fn.__name__] = wrapper
    return wrapper


def build_model(config: dict, verbose: bool = False) -> keras.Model:
    """Build a model again from its ``build_spec`` (e.g. read from a saved ``.json``)."""
    name = config.get("builder")
    if name not in BUILDERS:
        raise ValueError(f"unknown model builder {name!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[name](**config.get("kwargs", {}), verbose=verbose)


@keras.saving.register_keras_serializable(package="vui")
def keras2_hard_sigmoid(x):
    """Keras 2's hard sigmoid, ``clip(0.2 x + 0.5, 0, 1)``: the default gate of every Keras 2 GRU,
    so the seed's GRUs gated with it. Keras 3's own ``hard_sigmoid`` is ``relu6(x + 3) / 6``, a
    different slope, and its GRUs default to the logistic sigmoid."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _gru(units: int, activation: str = "tanh", name: str | None = None,
         recurrent_activation: Callable | str = keras2_hard_sigmoid, **kwargs) -> layers.GRU:
    """The seed's GRU: no second bias (``reset_after=False``) and Keras 2's hard-sigmoid gates."""
    return FastGRU(units, activation=activation, recurrent_activation=recurrent_activation, return_sequences=True,
                   reset_after=False, name=name, **kwargs)


def _identity(x):
    return x


@keras.saving.register_keras_serializable(package="vui")
class PaddingMask(layers.Layer):
    """Marks the frames of a (batch, frames, dims) sequence that come from zero padding, so that the
    recurrent layers after it hold their state there and batch normalisation leaves them out of its
    statistics. Called on ``[x, features]``: returns ``x`` unchanged, masked where
    ``frame >= output_length(valid input frames)``; a feature frame is padding when all its values
    are exactly 0 (batches are zero-padded after normalisation, where real frames never are).

    The seed let its ReLU RNNs run over the padding of every batch (up to 90 % of a batch's frames):
    there their state grew without bound (1e15-1e36 within a dozen steps, FIDELITY.md), the batch
    statistics overflowed and training went NaN. Valid frames compute what the seed computed,
    except that batch normalisation now normalises them with their own statistics.
    """

    def __init__(self, output_length: Callable = _identity, **kwargs):
        super().__init__(**kwargs)
        self.output_length = output_length
        self.supports_masking = True

    def call(self, inputs):
        return inputs[0]

    def compute_mask(self, inputs, mask=None):
        x, features = inputs
        ops = keras.ops
        valid = ops.sum(ops.cast(ops.any(ops.not_equal(features, 0), axis=-1), "int32"), axis=1)
        frame = ops.cumsum(ops.ones_like(x[:, :, 0], dtype="int32"), axis=1) - 1  # (batch, frames): 0, 1, ...
        return frame < ops.expand_dims(ops.cast(self.output_length(valid), "int32"), 1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):  # output_length is code, not configuration: builders pass it again
        return super().get_config()


@keras.saving.register_keras_serializable(package="vui")
class BatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization whose batch variance is computed in two passes,
    ``mean((x - mean(x))^2)``, as TensorFlow's ``tf.nn.moments`` (which Keras 2 used) does.

    Keras 3's torch backend computes ``mean(x^2) - mean(x)^2``: it loses precision when the mean is
    large against the spread, and is NaN (inf - inf) once activations pass ~1.8e19, where the
    two-pass form gives an infinite variance and a finite output. The seed's ReLU RNNs reach such
    values on the zero padding of long batches (FIDELITY.md). Same weights and inference maths.
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


def _finish(input_data, x, output_dim: int, output_length: Callable, name: str) -> keras.Model:
    """Dense to `output_dim` classes per frame, softmax, and the model with its output_length."""
    x = layers.Dense(output_dim, name="time_dense")(x)
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(x)
    model = keras.Model(inputs=input_data, outputs=y_pred, name=name)
    model.output_length = output_length
    return model


MASK_PADDING: bool = True  # False builds the seed's models as the original did: recurrent layers run over padding


def _mask_padding(x, input_data, output_length: Callable = _identity):
    """`x` with the frames that come from the padding of `input_data` masked (see PaddingMask)."""
    return PaddingMask(output_length, name="padding_mask")([x, input_data]) if MASK_PADDING else x


@_builder
def simple_rnn_model(input_dim: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 0: one GRU with `output_dim` units straight into the softmax."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    simp_rnn = _gru(output_dim, name="rnn")(_mask_padding(input_data, input_data))
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(simp_rnn)
    model = keras.Model(inputs=input_data, outputs=y_pred, name="simple_rnn_model")
    model.output_length = _identity
    return model


@_builder
def rnn_model(input_dim: int, units: int, activation: str, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 1: GRU -> batch normalisation -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = _gru(units, activation, name="rnn")(_mask_padding(input_data, input_data))
    x = BatchNormalization(name="bn_rnn")(x)
    return _finish(input_data, x, output_dim, _identity, "rnn_model")


@_builder
def cnn_rnn_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    conv_stride: int,
    conv_border_mode: str,
    units: int,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """Model 2: Conv1D (relu) -> BN -> SimpleRNN (relu) -> BN -> per-frame Dense."""
    output_length = functools.partial(conv_output_length, filter_size=kernel_size, border_mode=conv_border_mode,
                                      stride=conv_stride)
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = BatchNormalization(name="bn_conv_1d")(_mask_padding(x, input_data, output_length))
    x = layers.SimpleRNN(units, activation="relu", return_sequences=True, name="rnn")(x)
    x = BatchNormalization(name="bn_rnn")(x)
    return _finish(input_data, x, output_dim, output_length, "cnn_rnn_model")


@_builder
def deep_rnn_model(input_dim: int, units: int, recur_layers: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 3: `recur_layers` x [GRU (relu) -> BN] -> per-frame Dense.

    With recur_layers=1 this is rnn_model(input_dim, units, activation='relu').
    """
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = _mask_padding(input_data, input_data)
    for i in range(recur_layers):
        x = _gru(units, "relu", name=f"rnn_{i}" if recur_layers > 1 else "rnn")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}" if recur_layers > 1 else "bn_rnn")(x)
    return _finish(input_data, x, output_dim, _identity, "deep_rnn_model")


@_builder
def bidirectional_rnn_model(input_dim: int, units: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 4: Bidirectional GRU (outputs concatenated) -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Bidirectional(_gru(units), merge_mode="concat", name="bidir_rnn")(_mask_padding(input_data, input_data))
    return _finish(input_data, x, output_dim, _identity, "bidirectional_rnn_model")


@_builder
def dilated_cnn_rnn_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    dilation_rates: tuple[int, ...] = (1, 2, 4),
    conv_border_mode: str = "valid",
    units: int = 200,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """Model 5: stacked dilated Conv1D (relu, BN) -> GRU -> BN -> per-frame Dense.

    Dilation widens the receptive field without striding: each 'valid' layer removes
    ``(kernel_size - 1) * dilation`` frames.
    """
    dilation_rates = tuple(dilation_rates)

    def output_length(frames):
        for rate in dilation_rates:
            frames = conv_output_length(frames, kernel_size, conv_border_mode, 1, dilation=rate)
        return frames

    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = input_data
    for i, rate in enumerate(dilation_rates):
        x = layers.Conv1D(filters, kernel_size, padding=conv_border_mode, dilation_rate=rate, activation="relu", name=f"conv1d_{i}")(x)
        x = BatchNormalization(name=f"bn_conv_{i}")(x)
    x = _gru(units, "relu", name="rnn")(_mask_padding(x, input_data, output_length))
    x = BatchNormalization(name="bn_rnn")(x)
    return _finish(input_data, x, output_dim, output_length, "dilated_cnn_rnn_model")


@_builder
def cnn_pool_rnn_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    pool_size: int = 2,
    conv_border_mode: str = "same",
    units: int = 200,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """Model 6: Conv1D (relu) -> BN -> max pooling over time -> GRU -> BN -> per-frame Dense."""
    def output_length(frames):
        frames = conv_output_length(frames, kernel_size, conv_border_mode, 1)
        return (frames - pool_size) // pool_size + 1

    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = BatchNormalization(name="bn_conv_1d")(x)
    x = layers.MaxPooling1D(pool_size=pool_size, strides=pool_size, padding="valid", name="pool")(x)
    x = _gru(units, "relu", name="rnn")(_mask_padding(x, input_data, output_length))
    x = BatchNormalization(name="bn_rnn")(x)
    return _finish(input_data, x, output_dim, output_length, "cnn_pool_rnn_model")


@_builder
def deep_bidirectional_rnn_model(
    input_dim: int, units: int, recur_layers: int = 2, output_dim: int = NUM_CLASSES
) -> keras.Model:
    """Model 7: `recur_layers` x [Bidirectional GRU -> BN] -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = _mask_padding(input_data, input_data)
    for i in range(recur_layers):
        x = layers.Bidirectional(_gru(units), merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}")(x)
    return _finish(input_data, x, output_dim, _identity, "deep_bidirectional_rnn_model")


@_builder
def final_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    conv_stride: int,
    conv_border_mode: str,
    units: int,
    recur_layers: int = 2,
    dropout: float = 0.5,
    recurrent_dropout: float = 0.5,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """The seed's final model: Conv1D -> BN -> recur_layers x [Bidirectional GRU (relu, dropout)
    -> BN] -> per-frame Dense; 1,572,429 parameters with the notebook's call."""
    output_length = functools.partial(conv_output_length, filter_size=kernel_size, border_mode=conv_border_mode,
                                      stride=conv_stride)
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = BatchNormalization(name="bn_conv_1d")(_mask_padding(x, input_data, output_length))
    for i in range(recur_layers):
        gru = _gru(units, "relu", dropout=dropout, recurrent_dropout=recurrent_dropout)
        x = layers.Bidirectional(gru, merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}")(x)
    return _finish(input_data, x, output_dim, output_length, "final_model")


@keras.saving.register_keras_serializable(package="vui")
class FastGRU(layers.GRU):
    """keras.layers.GRU with a faster time loop for the seed's GRUs under the torch backend.

    Keras runs a ``reset_after=False`` GRU (the seed's variant; no fused kernel implements it) step by
    step through its generic RNN loop, recomputing the input projection and dispatching a dozen
    backend ops per time step. Here the input projections of all T steps are one matrix product
    (batch, T, 3 units), split into steps with ``unbind`` (whose gradient is one ``stack``; indexing
    ``x[:, t]`` instead builds a full-size zero gradient per step: O(T^2) memory traffic, which made
    a first version of this loop 4.5x slower over a real epoch), and each step does only the
    recurrent part in plain torch. Same weights, same maths, same dropout masks as Keras.
    Masks (PaddingMask) are honoured as Keras does; other backends and configurations take Keras' path. Used by every GRU builder, so the
    seed's parameter counts are unchanged.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        activation = {keras.activations.tanh: "tanh", keras.activations.relu: "relu"}.get(cell.activation)
        gate_name = {keras.activations.sigmoid: "sigmoid", keras2_hard_sigmoid: "keras2_hard_sigmoid"}.get(
            cell.recurrent_activation)
        if (keras.backend.backend() != "torch" or cell.reset_after or self.unroll
                or not cell.use_bias or activation is None or gate_name is None):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch

        # Keras 2's hard sigmoid clip(0.2 t + 0.5, 0, 1): the 0.2 and 0.5 are folded into the gates'
        # input projections and recurrent kernel once per sequence, leaving one clamp per step
        hard = gate_name == "keras2_hard_sigmoid"
        gate = (lambda t: t.clamp(0.0, 1.0)) if hard else torch.sigmoid

        state = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        kernel, recurrent, bias = cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value
        units = cell.units

        def tensor(m):
            return keras.ops.convert_to_tensor(m).to(kernel.dtype)

        x, h = tensor(sequences), tensor(state)
        # Keras' dropout masks, fixed over the sequence: with recurrent dropout one per gate (z, r, h)
        # for the inputs and for the state; with input dropout only, one for all gates.
        in_masks = cell.get_dropout_mask(sequences[:, 0, :]) if training and 0 < cell.dropout < 1 else None
        rec_masks = ([tensor(m) for m in cell.get_recurrent_dropout_mask(state)]
                     if training and 0 < cell.recurrent_dropout < 1 else None)
        if isinstance(in_masks, (list, tuple)):
            projected = torch.cat([torch.matmul(x * tensor(m)[:, None, :], k)
                                   for m, k in zip(in_masks, kernel.split(units, dim=1))], dim=-1) + bias
        else:  # (batch, T, 3 units): z, r, h
            projected = torch.matmul(x if in_masks is None else x * tensor(in_masks)[:, None, :], kernel) + bias
        if hard:
            projected = torch.cat([projected[..., : 2 * units] * 0.2 + 0.5, projected[..., 2 * units:]], dim=-1)
        # per gate, then per step: unbind's gradient is one stack, where x[:, t] would build a
        # full-size zero gradient for every step
        gates = projected.split([2 * units, units] if rec_masks is None else [units] * 3, dim=-1)
        steps = list(zip(*(g.unbind(1) for g in gates)))
        # a masked step keeps the state; its output is the state, or zeros with zero_output_for_mask
        keep = [None] * len(steps) if mask is None else list(
            keras.ops.convert_to_tensor(mask).to(torch.bool)[:, :, None].unbind(1))
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            steps, keep = steps[::-1], keep[::-1]
        act = torch.relu if activation == "relu" else torch.tanh
        u_zr, u_h = recurrent[:, : 2 * units], recurrent[:, 2 * units:]
        if hard:
            u_zr = u_zr * 0.2
        u_z, u_r = u_zr.split(units, dim=-1)
        outputs = []
        for step, valid in zip(steps, keep):
            h_before = h
            if rec_masks is None:
                x_zr, x_h = step
                z, r = gate(torch.addmm(x_zr, h, u_zr)).chunk(2, dim=-1)
                hh = act(torch.addmm(x_h, r * h, u_h))
            else:
                x_z, x_r, x_h = step
                z = gate(torch.addmm(x_z, h * rec_masks[0], u_z))
                r = gate(torch.addmm(x_r, h * rec_masks[1], u_r))
                hh = act(torch.addmm(x_h, r * (h * rec_masks[2]), u_h))
            h = hh + z * (h - hh)  # = z * h + (1 - z) * hh
            if valid is not None:
                h = torch.where(valid, h, h_before)
            if self.return_sequences:
                outputs.append(h if valid is None or not self.zero_output_for_mask else torch.where(valid, h, 0.0))
        stacked = torch.stack(outputs, dim=1) if self.return_sequences else h[:, None]
        return h, stacked, [h]


@keras.saving.register_keras_serializable(package="vui")
class FastLSTM(layers.LSTM):
    """keras.layers.LSTM that runs PyTorch's fused LSTM kernel on every device under the torch backend.

    Keras 3 hands the torch backend's LSTM to ``torch._VF.lstm`` only on CUDA (cuDNN); on the CPU
    it loops over time steps in Python: 2.2-2.8 s against 1.2-1.7 s per
    training step of the shipped model here (BENCHMARKS.md). Same weights, same maths (gate order
    i, f, c, o in both), same outputs: any other backend, a mask or dropout takes Keras' own path.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if (keras.backend.backend() != "torch" or mask is not None or self.dropout or self.recurrent_dropout
                or self.unroll or not self.use_bias or self.activation is not keras.activations.tanh
                or self.recurrent_activation is not keras.activations.sigmoid):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import importlib

        import torch
        torch_rnn = importlib.import_module("keras.src.backend.torch.rnn")

        kernel = self.cell.kernel.value
        inputs = keras.ops.convert_to_tensor(sequences).to(kernel.dtype)
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            inputs = torch.flip(inputs, dims=[1])
        h, c = (keras.ops.convert_to_tensor(s).to(kernel.dtype) for s in initial_state)
        return torch_rnn._cudnn_lstm(inputs, h, c, kernel, self.cell.recurrent_kernel.value, self.cell.bias.value,
                                     return_sequences=self.return_sequences, device=inputs.device)


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


@_builder
def conv_bigru_model(
    input_dim: int,
    filters: int = 256,
    kernel_size: int = 11,
    conv_stride: int = 3,
    conv_layers: int = 2,
    units: int = 256,
    recur_layers: int = 3,
    dropout: float = 0.2,
    spec_augment: bool = True,
    cell: str = "gru",
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """vui's final model (see README, "The shipped model": the recipe uses cell='lstm').

    SpecAugment masking (training only) -> Conv1D (stride `conv_stride`, shortens the sequence the
    recurrent layers walk) -> BN -> ReLU -> (conv_layers - 1) x [Conv1D -> BN -> ReLU] -> recur_layers
    x [Bidirectional GRU or LSTM (`cell`, tanh) -> BN -> dropout] -> per-frame Dense -> softmax. All convolutions pad
    'same', so output frames = ceil(frames / conv_stride). Trained with Adam and a warm-up/cosine
    schedule (train_utils.recipe_optimizer); no recurrent dropout, which is slow on CPU.
    """
    if cell not in ("gru", "lstm"):
        raise ValueError(f"cell must be 'gru' or 'lstm', not {cell!r}")
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = SpecAugment(name="spec_augment")(input_data) if spec_augment else input_data
    for i in range(conv_layers):
        x = layers.Conv1D(filters, kernel_size if i == 0 else 5, strides=conv_stride if i == 0 else 1,
                          padding="same", use_bias=False, name=f"conv1d_{i}")(x)
        x = BatchNormalization(name=f"bn_conv_{i}")(x)
        x = layers.Activation("relu", name=f"relu_conv_{i}")(x)
    for i in range(recur_layers):
        rnn = _gru(units, recurrent_activation="sigmoid") if cell == "gru" else FastLSTM(units, return_sequences=True)
        x = layers.Bidirectional(rnn, merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return _finish(
        input_data, x, output_dim,
        functools.partial(conv_output_length, filter_size=kernel_size, border_mode="same", stride=conv_stride),
        "conv_bigru_model",
    )


# The models the notebook builds, with the notebook's calls (spectrogram input): name -> (builder, kwargs).
NOTEBOOK_MODELS: dict[str, tuple[str, dict]] = {
    "model_0": ("simple_rnn_model", dict(input_dim=SPECTROGRAM_DIM)),
    "model_1": ("rnn_model", dict(input_dim=SPECTROGRAM_DIM, units=200, activation="relu")),
    "model_2": ("cnn_rnn_model", dict(input_dim=SPECTROGRAM_DIM, filters=200, kernel_size=11, conv_stride=2,
                                      conv_border_mode="valid", units=200)),
    "model_3": ("deep_rnn_model", dict(input_dim=SPECTROGRAM_DIM, units=200, recur_layers=2)),
    "model_4": ("bidirectional_rnn_model", dict(input_dim=SPECTROGRAM_DIM, units=200)),
    "model_5": ("dilated_cnn_rnn_model", dict(input_dim=SPECTROGRAM_DIM, filters=200, kernel_size=3,
                                              dilation_rates=(1, 2, 4), units=200)),
    "model_6": ("cnn_pool_rnn_model", dict(input_dim=SPECTROGRAM_DIM, filters=200, kernel_size=11, pool_size=2, units=200)),
    "model_7": ("deep_bidirectional_rnn_model", dict(input_dim=SPECTROGRAM_DIM, units=200, recur_layers=2)),
    "model_end": ("final_model", dict(input_dim=SPECTROGRAM_DIM, filters=200, kernel_size=11, conv_stride=2,
                                      conv_border_mode="valid", units=200, recur_layers=2)),
}
