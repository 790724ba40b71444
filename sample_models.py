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
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import backend_setup  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers

from char_map import NUM_CLASSES
from utils import conv_output_length

BUILDERS: dict[str, Callable[..., keras.Model]] = {}


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


def _gru(units: int, activation: str = "tanh", name: str | None = None, **kwargs) -> layers.GRU:
    return layers.GRU(units, activation=activation, return_sequences=True, reset_after=False, name=name, **kwargs)


def _finish(input_data, x, output_dim: int, output_length: Callable, name: str) -> keras.Model:
    """Dense to `output_dim` classes per frame, softmax, and the model with its output_length."""
    x = layers.Dense(output_dim, name="time_dense")(x)
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(x)
    model = keras.Model(inputs=input_data, outputs=y_pred, name=name)
    model.output_length = output_length
    return model


def _identity(x):
    return x


@_builder
def simple_rnn_model(input_dim: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 0: one GRU with `output_dim` units straight into the softmax."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    simp_rnn = _gru(output_dim, name="rnn")(input_data)
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(simp_rnn)
    model = keras.Model(inputs=input_data, outputs=y_pred, name="simple_rnn_model")
    model.output_length = _identity
    return model


@_builder
def rnn_model(input_dim: int, units: int, activation: str, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 1: GRU -> batch normalisation -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = _gru(units, activation, name="rnn")(input_data)
    x = layers.BatchNormalization(name="bn_rnn")(x)
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
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = layers.BatchNormalization(name="bn_conv_1d")(x)
    x = layers.SimpleRNN(units, activation="relu", return_sequences=True, name="rnn")(x)
    x = layers.BatchNormalization(name="bn_rnn")(x)
    return _finish(
        input_data, x, output_dim,
        functools.partial(conv_output_length, filter_size=kernel_size, border_mode=conv_border_mode, stride=conv_stride),
        "cnn_rnn_model",
    )


@_builder
def deep_rnn_model(input_dim: int, units: int, recur_layers: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 3: `recur_layers` x [GRU (relu) -> BN] -> per-frame Dense.

    With recur_layers=1 this is rnn_model(input_dim, units, activation='relu').
    """
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = input_data
    for i in range(recur_layers):
        x = _gru(units, "relu", name=f"rnn_{i}" if recur_layers > 1 else "rnn")(x)
        x = layers.BatchNormalization(name=f"bn_rnn_{i}" if recur_layers > 1 else "bn_rnn")(x)
    return _finish(input_data, x, output_dim, _identity, "deep_rnn_model")


@_builder
def bidirectional_rnn_model(input_dim: int, units: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 4: Bidirectional GRU (outputs concatenated) -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Bidirectional(_gru(units), merge_mode="concat", name="bidir_rnn")(input_data)
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
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = input_data
    for i, rate in enumerate(dilation_rates):
        x = layers.Conv1D(filters, kernel_size, padding=conv_border_mode, dilation_rate=rate, activation="relu", name=f"conv1d_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_conv_{i}")(x)
    x = _gru(units, "relu", name="rnn")(x)
    x = layers.BatchNormalization(name="bn_rnn")(x)

    def output_length(frames):
        for rate in dilation_rates:
            frames = conv_output_length(frames, kernel_size, conv_border_mode, 1, dilation=rate)
        return frames

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
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = layers.BatchNormalization(name="bn_conv_1d")(x)
    x = layers.MaxPooling1D(pool_size=pool_size, strides=pool_size, padding="valid", name="pool")(x)
    x = _gru(units, "relu", name="rnn")(x)
    x = layers.BatchNormalization(name="bn_rnn")(x)

    def output_length(frames):
        frames = conv_output_length(frames, kernel_size, conv_border_mode, 1)
        return (frames - pool_size) // pool_size + 1

    return _finish(input_data, x, output_dim, output_length, "cnn_pool_rnn_model")


@_builder
def deep_bidirectional_rnn_model(
    input_dim: int, units: int, recur_layers: int = 2, output_dim: int = NUM_CLASSES
) -> keras.Model:
    """Model 7: `recur_layers` x [Bidirectional GRU -> BN] -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = input_data
    for i in range(recur_layers):
        x = layers.Bidirectional(_gru(units), merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_rnn_{i}")(x)
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
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = layers.BatchNormalization(name="bn_conv_1d")(x)
    for i in range(recur_layers):
        gru = _gru(units, "relu", dropout=dropout, recurrent_dropout=recurrent_dropout)
        x = layers.Bidirectional(gru, merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_rnn_{i}")(x)
    return _finish(
        input_data, x, output_dim,
        functools.partial(conv_output_length, filter_size=kernel_size, border_mode=conv_border_mode, stride=conv_stride),
        "final_model",
    )
