"""Acoustic models: features (batch, frames, input_dim) -> softmax over 29 classes per output frame.

The capstone's models, written as the course teaches them, and the place for yours. The layers
imported below carry the original's Keras 2 names and compute what Keras 2 computed (vui/keras2.py):
a model pasted here from the course builds with the course's parameter counts, on any backend. They
also fix one defect of the original without any code of yours: the zero padding of a batch is masked,
so recurrent layers and batch normalisation leave it out (FIDELITY.md, "What made training go NaN").

Every builder returns a Keras model with ``model.output_length(frames)``: its output frames for
``frames`` input frames (an int or a tensor), which the CTC loss needs when a convolution or a pooling
shortens the sequence. Builders marked ``@builder`` also print their summary (``verbose=False`` to
skip it) and record their call as ``model.build_spec`` (``{"builder": name, "kwargs": {...}}``), which
``train_utils.train_model`` saves beside the weights and :func:`build_model` builds again.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Callable

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras

from char_map import NUM_CLASSES
from utils import SPECTROGRAM_DIM, conv_output_length
from vui import conv_bigru
# The original's imports: the same names, with Keras 2's maths on Keras 3
from vui.keras2 import *  # noqa: F401,F403  (the rest of Keras 2's names: LeakyReLU, Lambda, Conv2D, regularizers, ...)
from vui.keras2 import K, Model  # noqa: F401
from vui.keras2 import (BatchNormalization, Conv1D, Dense, Input,  # noqa: F401
    TimeDistributed, Activation, Bidirectional, SimpleRNN, GRU, LSTM, MaxPooling1D, Dropout, Merge, merge)

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


def builder(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Register a model builder: the model it returns records its call (``build_spec``) and, unless
    called with ``verbose=False``, prints its summary."""
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


cnn_output_length = conv_output_length  # the original's name for it in this module


def acoustic_model(input_data, y_pred, name: str, output_length: Callable = lambda x: x) -> keras.Model:
    """The course's last two lines of every builder: ``Model(inputs=input_data, outputs=y_pred)`` and its
    ``output_length`` (output frames for `x` input frames; unchanged unless a layer shortens the sequence)."""
    model = Model(inputs=input_data, outputs=y_pred, name=name)
    model.output_length = output_length
    return model


# Model 0: RNN
@builder
def simple_rnn_model(input_dim: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """One GRU with `output_dim` units straight into the softmax."""
    # Main acoustic input
    input_data = Input(name='the_input', shape=(None, input_dim))
    # Recurrent layer: one output per class
    simp_rnn = GRU(output_dim, return_sequences=True, implementation=2, name='rnn')(input_data)
    # Softmax over the classes at each frame
    y_pred = Activation('softmax', name='softmax')(simp_rnn)
    return acoustic_model(input_data, y_pred, 'simple_rnn_model')


# Model 1: RNN + TimeDistributed Dense
@builder
def rnn_model(input_dim: int, units: int, activation: str, output_dim: int = NUM_CLASSES) -> keras.Model:
    """GRU -> batch normalisation -> Dense at each frame -> softmax."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    simp_rnn = GRU(units, activation=activation, return_sequences=True, implementation=2, name='rnn')(input_data)
    bn_rnn = BatchNormalization(name='bn_rnn')(simp_rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'rnn_model')


# Model 2: CNN + RNN + TimeDistributed Dense
@builder
def cnn_rnn_model(input_dim: int, filters: int, kernel_size: int, conv_stride: int, conv_border_mode: str, units: int,
                  output_dim: int = NUM_CLASSES) -> keras.Model:
    """Conv1D (relu) -> BN -> SimpleRNN (relu) -> BN -> Dense at each frame -> softmax."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    # Convolution over time: `conv_stride` shortens the sequence the RNN walks
    conv_1d = Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation='relu',
                     name='conv1d')(input_data)
    bn_cnn = BatchNormalization(name='bn_conv_1d')(conv_1d)
    simp_rnn = SimpleRNN(units, activation='relu', return_sequences=True, implementation=2, name='rnn')(bn_cnn)
    bn_rnn = BatchNormalization(name='bn_rnn')(simp_rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'cnn_rnn_model',
                          lambda x: cnn_output_length(x, kernel_size, conv_border_mode, conv_stride))


# Model 3: Deeper RNN + TimeDistributed Dense
@builder
def deep_rnn_model(input_dim: int, units: int, recur_layers: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """`recur_layers` x [GRU (relu) -> BN] -> Dense at each frame -> softmax.

    With recur_layers=1 this is rnn_model(input_dim, units, activation='relu').
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    layer = input_data
    for i in range(recur_layers):
        suffix = f'_{i}' if recur_layers > 1 else ''
        rnn = GRU(units, activation='relu', return_sequences=True, implementation=2, name='rnn' + suffix)(layer)
        layer = BatchNormalization(name='bn_rnn' + suffix)(rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(layer)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'deep_rnn_model')


# Model 4: Bidirectional RNN + TimeDistributed Dense
@builder
def bidirectional_rnn_model(input_dim: int, units: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Bidirectional GRU (both directions' outputs concatenated) -> Dense at each frame -> softmax."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    bidir_rnn = Bidirectional(GRU(units, return_sequences=True, implementation=2), merge_mode='concat',
                              name='bidir_rnn')(input_data)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(bidir_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'bidirectional_rnn_model')


# Model 5: dilated convolutions + RNN + TimeDistributed Dense
@builder
def dilated_cnn_rnn_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    dilation_rates: tuple[int, ...] = (1, 2, 4),
    conv_border_mode: str = "valid",
    units: int = 200,
    pool_size: int = 1,
    dropout: float = 0.0,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """Stacked dilated Conv1D (relu, BN) -> [max pooling] -> [dropout] -> GRU (relu) -> BN -> Dense
    at each frame -> softmax.

    Dilation widens the receptive field without striding: each 'valid' layer removes
    ``(kernel_size - 1) * dilation`` frames. pool_size > 1 then keeps the largest of each
    `pool_size` frames, dropout > 0 drops that share of the features while training.
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    layer = input_data
    for i, rate in enumerate(dilation_rates):
        conv = Conv1D(filters, kernel_size, padding=conv_border_mode, dilation_rate=rate, activation='relu',
                      name=f'conv1d_{i}')(layer)
        layer = BatchNormalization(name=f'bn_conv_{i}')(conv)
    if pool_size > 1:
        layer = MaxPooling1D(pool_size=pool_size, name='pool')(layer)
    if dropout:
        layer = Dropout(dropout, name='dropout')(layer)
    rnn = GRU(units, activation='relu', return_sequences=True, implementation=2, name='rnn')(layer)
    bn_rnn = BatchNormalization(name='bn_rnn')(rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)

    def output_length(frames):
        for rate in dilation_rates:
            frames = cnn_output_length(frames, kernel_size, conv_border_mode, 1, dilation=rate)
        return cnn_output_length(frames, pool_size, 'valid', pool_size)

    return acoustic_model(input_data, y_pred, 'dilated_cnn_rnn_model', output_length)


# Model 6: CNN + max pooling + RNN + TimeDistributed Dense
@builder
def cnn_pool_rnn_model(
    input_dim: int,
    filters: int,
    kernel_size: int,
    pool_size: int = 2,
    conv_border_mode: str = "same",
    units: int = 200,
    output_dim: int = NUM_CLASSES,
) -> keras.Model:
    """Conv1D (relu) -> BN -> max pooling over time -> GRU (relu) -> BN -> Dense at each frame -> softmax."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    conv_1d = Conv1D(filters, kernel_size, padding=conv_border_mode, activation='relu', name='conv1d')(input_data)
    bn_cnn = BatchNormalization(name='bn_conv_1d')(conv_1d)
    # Keep the largest of each `pool_size` frames: the RNN walks a sequence `pool_size` times shorter
    pool = MaxPooling1D(pool_size=pool_size, strides=pool_size, padding='valid', name='pool')(bn_cnn)
    rnn = GRU(units, activation='relu', return_sequences=True, implementation=2, name='rnn')(pool)
    bn_rnn = BatchNormalization(name='bn_rnn')(rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'cnn_pool_rnn_model',
                          lambda x: cnn_output_length(cnn_output_length(x, kernel_size, conv_border_mode, 1),
                                                      pool_size, 'valid', pool_size))


# Model 7: deep bidirectional RNN + TimeDistributed Dense
@builder
def deep_bidirectional_rnn_model(
    input_dim: int, units: int, recur_layers: int = 2, output_dim: int = NUM_CLASSES
) -> keras.Model:
    """`recur_layers` x [Bidirectional GRU -> BN] -> Dense at each frame -> softmax."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    layer = input_data
    for i in range(recur_layers):
        bidir_rnn = Bidirectional(GRU(units, return_sequences=True, implementation=2), merge_mode='concat',
                                  name=f'bidir_rnn_{i}')(layer)
        layer = BatchNormalization(name=f'bn_rnn_{i}')(bidir_rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(layer)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'deep_bidirectional_rnn_model')


# Final model
@builder
def final_model(input_dim: int, filters: int, kernel_size: int, conv_stride: int, conv_border_mode: str, units: int,
                recur_layers: int = 2, dropout: float = 0.5, recurrent_dropout: float = 0.5,
                output_dim: int = NUM_CLASSES) -> keras.Model:
    """The seed's final model: Conv1D (relu) -> BN -> recur_layers x [Bidirectional GRU (relu, dropout
    on inputs and state) -> BN] -> Dense at each frame -> softmax; 1,572,429 parameters with the
    notebook's call."""
    input_data = Input(name='the_input', shape=(None, input_dim))
    conv_1d = Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation='relu',
                     name='conv1d')(input_data)
    layer = BatchNormalization(name='bn_conv_1d')(conv_1d)
    for i in range(recur_layers):
        gru = GRU(units, activation='relu', return_sequences=True, implementation=2, dropout=dropout,
                  recurrent_dropout=recurrent_dropout)
        bidir_rnn = Bidirectional(gru, merge_mode='concat', name=f'bidir_rnn_{i}')(layer)
        layer = BatchNormalization(name=f'bn_rnn_{i}')(bidir_rnn)
    time_dense = TimeDistributed(Dense(output_dim), name='time_dense')(layer)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return acoustic_model(input_data, y_pred, 'final_model',
                          lambda x: cnn_output_length(x, kernel_size, conv_border_mode, conv_stride))


# vui's own final model, the shipped recipe's (vui/conv_bigru.py): registered here so that its saved
# descriptions build it again
conv_bigru_model = builder(conv_bigru.conv_bigru_model)


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
