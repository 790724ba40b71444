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
from vui.fast_rnn import FastGRU, FastLSTM
from vui.layers import BatchNormalization, PaddingMask, SpecAugment, identity, keras2_hard_sigmoid

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


def _gru(units: int, activation: str = "tanh", name: str | None = None,
         recurrent_activation: Callable | str = keras2_hard_sigmoid, **kwargs) -> layers.GRU:
    """The seed's GRU: no second bias (``reset_after=False``) and Keras 2's hard-sigmoid gates."""
    return FastGRU(units, activation=activation, recurrent_activation=recurrent_activation, return_sequences=True,
                   reset_after=False, name=name, **kwargs)


def _finish(input_data, x, output_dim: int, output_length: Callable, name: str) -> keras.Model:
    """Dense to `output_dim` classes per frame, softmax, and the model with its output_length."""
    x = layers.Dense(output_dim, name="time_dense")(x)
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(x)
    model = keras.Model(inputs=input_data, outputs=y_pred, name=name)
    model.output_length = output_length
    return model


MASK_PADDING: bool = True  # False builds the seed's models as the original did: recurrent layers run over padding


def _mask_padding(x, input_data, output_length: Callable = identity):
    """`x` with the frames that come from the padding of `input_data` masked (see PaddingMask)."""
    return PaddingMask(output_length, name="padding_mask")([x, input_data]) if MASK_PADDING else x


def _gru_bn_softmax(x, input_data, units: int, activation: str, output_dim: int, output_length: Callable,
                    name: str) -> keras.Model:
    """The tail Models 1, 5 and 6 share: padding mask -> GRU `activation` -> BN -> per-frame Dense."""
    x = _gru(units, activation, name="rnn")(_mask_padding(x, input_data, output_length))
    x = BatchNormalization(name="bn_rnn")(x)
    return _finish(input_data, x, output_dim, output_length, name)


@_builder
def simple_rnn_model(input_dim: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 0: one GRU with `output_dim` units straight into the softmax."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    simp_rnn = _gru(output_dim, name="rnn")(_mask_padding(input_data, input_data))
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(simp_rnn)
    model = keras.Model(inputs=input_data, outputs=y_pred, name="simple_rnn_model")
    model.output_length = identity
    return model


@_builder
def rnn_model(input_dim: int, units: int, activation: str, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 1: GRU -> batch normalisation -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    return _gru_bn_softmax(input_data, input_data, units, activation, output_dim, identity, "rnn_model")


def _conv_front(input_dim: int, filters: int, kernel_size: int, conv_stride: int, conv_border_mode: str):
    """The front of Model 2 and the final model: input -> strided Conv1D (relu) -> padding mask -> BN.
    Returns (input layer, its output (batch, frames', filters), output_length)."""
    output_length = functools.partial(conv_output_length, filter_size=kernel_size, border_mode=conv_border_mode,
                                      stride=conv_stride)
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Conv1D(filters, kernel_size, strides=conv_stride, padding=conv_border_mode, activation="relu", name="conv1d")(input_data)
    x = BatchNormalization(name="bn_conv_1d")(_mask_padding(x, input_data, output_length))
    return input_data, x, output_length


@_builder
def cnn_rnn_model(input_dim: int, filters: int, kernel_size: int, conv_stride: int, conv_border_mode: str, units: int,
                  output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 2: Conv1D (relu) -> BN -> SimpleRNN (relu) -> BN -> per-frame Dense."""
    input_data, x, output_length = _conv_front(input_dim, filters, kernel_size, conv_stride, conv_border_mode)
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
    return _finish(input_data, x, output_dim, identity, "deep_rnn_model")


@_builder
def bidirectional_rnn_model(input_dim: int, units: int, output_dim: int = NUM_CLASSES) -> keras.Model:
    """Model 4: Bidirectional GRU (outputs concatenated) -> per-frame Dense."""
    input_data = layers.Input(name="the_input", shape=(None, input_dim))
    x = layers.Bidirectional(_gru(units), merge_mode="concat", name="bidir_rnn")(_mask_padding(input_data, input_data))
    return _finish(input_data, x, output_dim, identity, "bidirectional_rnn_model")


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
    return _gru_bn_softmax(x, input_data, units, "relu", output_dim, output_length, "dilated_cnn_rnn_model")


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
    return _gru_bn_softmax(x, input_data, units, "relu", output_dim, output_length, "cnn_pool_rnn_model")


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
    return _finish(input_data, x, output_dim, identity, "deep_bidirectional_rnn_model")


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
    input_data, x, output_length = _conv_front(input_dim, filters, kernel_size, conv_stride, conv_border_mode)
    for i in range(recur_layers):
        gru = _gru(units, "relu", dropout=dropout, recurrent_dropout=recurrent_dropout)
        x = layers.Bidirectional(gru, merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}")(x)
    return _finish(input_data, x, output_dim, output_length, "final_model")


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
    """vui's final model (see BENCHMARKS.md, "The shipped model": the recipe uses cell='lstm').

    SpecAugment masking (training only) -> Conv1D (stride `conv_stride`, shortens the sequence the
    recurrent layers walk) -> BN -> ReLU -> (conv_layers - 1) x [Conv1D -> BN -> ReLU] -> recur_layers
    x [Bidirectional GRU or LSTM (`cell`, tanh) -> BN -> dropout] -> per-frame Dense -> softmax. All convolutions pad
    'same', so output frames = ceil(frames / conv_stride). Trained with Adam and a warm-up/cosine
    schedule (vui.recipe.recipe_optimizer); no recurrent dropout, which is slow on CPU.
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
