"""Keras 2's layer vocabulary (2.0 to 2.2), under its Keras 2 names, computing what Keras 2 computed.

``sample_models.py`` imports these where the original imported ``keras.layers``, so a model written
the way the course teaches (``GRU(units, activation='relu', return_sequences=True, implementation=2,
name='rnn')``, ``TimeDistributed(Dense(output_dim))``, ...), or the way its students wrote theirs
(``LeakyReLU``, ``Lambda``, ``Conv2D``, ``Multiply``, ``CuDNNGRU``, ``regularizers.l2``, a custom
``Layer``, ``K.expand_dims``, ...), builds with Keras 2's parameter counts and maths on Keras 3, on every
backend. Every public name of Keras 2's ``keras.layers`` is here, with its aliases (``Convolution1D``,
``MaxPool1D``, ...); so are the modules Keras 2 code imports from keras (``layers``, ``models``, ``K``,
``activations``, ``regularizers``, ``initializers``, ``constraints``, ``optimizers``: vui/keras2_backend.py).
Where Keras 3 differs (FIDELITY.md, "The course's layer names", has the whole table):

- ``GRU``: no second bias (``reset_after=False``) and Keras 2's hard-sigmoid gates; ``LSTM``, ``GRUCell``,
  ``LSTMCell``, ``ConvLSTM2D``: the same gates; the recurrent layers accept Keras 2's ``implementation=``
  (it only chose how Keras 2 computed, not what). GRUs and SimpleRNNs run vui's faster torch loops
  (vui/fast_rnn.py).
- ``CuDNNGRU``/``CuDNNLSTM``: cuDNN's maths (sigmoid gates, tanh, two bias vectors), on every device.
- ``BatchNormalization``: a two-pass batch variance, as TensorFlow 1 computed it (vui/layers.py).
- ``TimeDistributed``: one call of the wrapped layer on (batch x frames, ...), which is right on every
  backend for batches of any length (Keras 3's loop over time gave wrong shapes on TensorFlow here).
- ``Activation('softmax')`` and ``Softmax``: computed in float32 even under mixed precision, so the CTC
  loss is; ``Softmax`` ignores the padding mask, as Keras 2's did. The name 'hard_sigmoid' means Keras 2's.
- ``LeakyReLU(alpha=)``, ``ThresholdedReLU``: Keras 2's arguments and layer (Keras 3 renamed or dropped them).
- Keras 1's argument names (``dropout_W``, ``init``, ``border_mode``, ``nb_filter``, ``output_dim``, ...)
  are converted as Keras 2.0 converted them, each with a :class:`Keras1ArgumentWarning` naming the new one.
- ``Layer``: ``add_weight`` also takes Keras 2's positional order (``name`` first).
- ``Model`` runs the model once on a batch of 1 x 101 frames before returning it, as Keras 2 called every
  layer while building: a layer that cannot compute fails at the ``Model(...)`` line of its builder.

One defect of the original is fixed here, for every model built from these names: the zero padding
that makes a batch's utterances equally long is masked. ``Input`` marks the padded frames (a frame is
padding when all its features are exactly 0, which a normalised real frame never is), ``Conv1D``,
``MaxPooling1D`` and ``AveragePooling1D`` carry the mark through their shortening of the sequence,
recurrent layers hold their state over padded frames and batch normalisation leaves them out of its
statistics. Without it the seed's ReLU RNNs ran over the padding until their state overflowed and
training went NaN. Layers that change the time axis in ways the mask cannot follow (``Lambda``,
``Reshape``, ``Conv2D``, ``Flatten``, ...) drop it, as Keras 3 does: above them the padding is unmasked,
as everywhere in the original.

Keras 2 code that cannot work on Keras 3 (``Merge``, ``LocallyConnected1D``, ``K.set_session``,
``keras.backend.tensorflow_backend``, ...) fails with a one-line error that says what to write instead.

Shapes: sequences (batch, frames, dims); masks (batch, frames) booleans.
"""

from __future__ import annotations

import importlib.abc
import sys
import warnings

import numpy as np

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras

from vui import keras2_backend
from vui.fast_rnn import FastBidirectional, FastGRU, FastLSTM, FastSimpleRNN
from vui.keras2_backend import (K, KERAS2_BACKEND_REMOVED, Keras2Module, Keras2Removed, activations,  # noqa: F401
                                constraints, initializers, optimizers, regularizers)
from vui.layers import BatchNormalization as TwoPassBatchNormalization

ops = keras.ops
k3 = keras.layers  # Keras 3's layers, where Keras 2's compute the same

MASK_PADDING: bool = True  # False: Input marks nothing, and recurrent layers run over the padding as in the original
RUN_FRAMES: int = 101  # frames of the batch Model runs once (train_utils.check_output_length's shortest, too)


class Keras1ArgumentWarning(UserWarning):
    """A Keras 1 argument name, converted to its Keras 2 name as Keras 2.0 did."""


# --- Keras 1 argument names, as Keras 2.0's legacy interfaces converted them ----------------------
KERAS1_VALUES: dict[str, dict] = {"consume_less": {"cpu": 0, "mem": 1, "gpu": 2},
                                  "dim_ordering": {"tf": "channels_last", "th": "channels_first", "default": None}}
_WEIGHTS = (("init", "kernel_initializer"), ("W_regularizer", "kernel_regularizer"),
            ("b_regularizer", "bias_regularizer"), ("W_constraint", "kernel_constraint"),
            ("b_constraint", "bias_constraint"), ("bias", "use_bias"))
KERAS1_DENSE = (("output_dim", "units"), *_WEIGHTS)
KERAS1_RNN = (("output_dim", "units"), ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"),
              ("inner_activation", "recurrent_activation"), ("W_regularizer", "kernel_regularizer"),
              ("b_regularizer", "bias_regularizer"), ("U_regularizer", "recurrent_regularizer"),
              ("dropout_W", "dropout"), ("dropout_U", "recurrent_dropout"), ("consume_less", "implementation"))
KERAS1_CONV1D = (("nb_filter", "filters"), ("filter_length", "kernel_size"), ("subsample_length", "strides"),
                 ("border_mode", "padding"), *_WEIGHTS)
KERAS1_CONV = (("nb_filter", "filters"), ("subsample", "strides"), ("border_mode", "padding"),
               ("dim_ordering", "data_format"), *_WEIGHTS)
KERAS1_POOL1D = (("pool_length", "pool_size"), ("stride", "strides"), ("border_mode", "padding"))
KERAS1_DATA_FORMAT = (("dim_ordering", "data_format"),)
KERAS1_POOL = (("border_mode", "padding"), *KERAS1_DATA_FORMAT)
KERAS1_DROPOUT = (("p", "rate"),)


def keras1_warning(message: str) -> None:
    """A Keras1ArgumentWarning shown at the first line outside this module: the line that called the layer."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, Keras1ArgumentWarning, stacklevel=level)


def keras1_renamed(layer: str, kwargs: dict, old: str, new: str, value) -> None:
    """Set kwargs[new] = value for Keras 1's `old`, warning once with the name to write."""
    if new in kwargs:
        raise TypeError(f"{layer} got Keras 1's {old}= and Keras 2's {new}=: keep {new}= only")
    kwargs[new] = value
    shown = repr(value) if len(repr(value)) <= 40 else "..."
    keras1_warning(f"{layer}({old}=...) is Keras 1's name, converted as Keras 2 did: write {new}={shown}")


def convert_keras1_arguments(layer: str, kwargs: dict, renames) -> None:
    """Rename Keras 1's keyword arguments in `kwargs` (old, new pairs) to Keras 2's, in place."""
    for old, new in renames:
        if old in kwargs:
            value = kwargs.pop(old)
            if old in KERAS1_VALUES:
                value = KERAS1_VALUES[old].get(value, value)
            keras1_renamed(layer, kwargs, old, new, value)


def _input_dim_to_shape(layer: str, kwargs: dict) -> None:
    """Keras 1's input_dim= (and input_length=) of recurrent and 1D convolution layers: input_shape=(length, dim)."""
    if "input_dim" in kwargs:
        shape = (kwargs.pop("input_length", None), kwargs.pop("input_dim"))
        keras1_renamed(layer, kwargs, "input_dim", "input_shape", shape)


def _forget_bias_init(layer: str, kwargs: dict) -> None:
    """Keras 1's forget_bias_init='one' is unit_forget_bias=True; any other value was ignored."""
    if "forget_bias_init" in kwargs:
        if kwargs.pop("forget_bias_init") == "one":
            keras1_renamed(layer, kwargs, "forget_bias_init", "unit_forget_bias", True)
        else:
            keras1_warning(f"{layer}(forget_bias_init=...) is Keras 1's and was ignored by Keras 2: delete it, or "
                           "write unit_forget_bias=True for a forget bias of one")


def _kernel_from_positions(layer: str, args: list, kwargs: dict, rank: int) -> list:
    """Keras 1's kernel sizes as separate integers (Conv2D(32, 3, 3), nb_row=, nb_col=, kernel_dim1=...):
    one kernel_size tuple, as Keras 2 read them. args: the positional arguments, `filters` first."""
    names = ("nb_row", "nb_col") if rank == 2 else ("kernel_dim1", "kernel_dim2", "kernel_dim3")
    if len(args) == rank + 1 and all(isinstance(a, int) for a in args[1:]):
        if any(k in kwargs for k in ("padding", "strides", "data_format")):
            raise ValueError(f"{layer}{tuple(args)}: Keras 2 read the integers after `filters` as Keras 1's kernel "
                             f"size and refused strides/padding besides; write kernel_size={tuple(args[1:])} and "
                             "strides= by name")
        kernel = tuple(args[1:])
    else:
        by_name = names[max(len(args) - 1, 0):]
        if len(args) > rank or not all(n in kwargs for n in by_name):
            return args
        kernel = (*args[1:], *(kwargs.pop(n) for n in by_name))
    args = args[:1]
    keras1_renamed(layer, kwargs, "/".join(names), "kernel_size", kernel)
    return args


class Keras2Layer:
    """Mixin of a Keras 3 layer under its Keras 2 name: Keras 1 argument names (KERAS1) converted,
    Keras 2's defaults (KERAS2_DEFAULTS), Keras 2 arguments that change nothing here dropped (IGNORED),
    and activation names read as Keras 2 read them ('hard_sigmoid')."""

    KERAS1: tuple[tuple[str, str], ...] = ()
    KERAS2_DEFAULTS: dict = {}
    IGNORED: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        args = self.keras1_positional(name, list(args), kwargs)
        convert_keras1_arguments(name, kwargs, self.KERAS1)
        for key in self.IGNORED:
            kwargs.pop(key, None)
        for key, value in self.KERAS2_DEFAULTS.items():
            kwargs.setdefault(key, value)
        for key in ("activation", "recurrent_activation"):
            if key in kwargs:
                kwargs[key] = keras2_backend.activation(kwargs[key])
        super().__init__(*args, **kwargs)

    @staticmethod
    def keras1_positional(layer: str, args: list, kwargs: dict) -> list:
        """Keras 1 conversions beyond renames (may edit kwargs); returns the positional arguments."""
        return args


def keras2_layer(base: type, keras1=(), keras1_positional=None) -> type:
    """`base` (a Keras 3 layer of the same maths) under its name, taking Keras 1's argument names `keras1`."""
    namespace = {"KERAS1": tuple(keras1), "KERAS3_LAYER": base, "__module__": __name__,
                 "__doc__": f"keras.layers.{base.__name__} (the same maths in Keras 2), taking Keras 1's argument "
                            "names as Keras 2 did."}
    if keras1_positional is not None:
        namespace["keras1_positional"] = staticmethod(keras1_positional)
    layer = type(base.__name__, (Keras2Layer, base), namespace)
    return keras.saving.register_keras_serializable(package="keras2")(layer)


def _rnn_positional(layer: str, args: list, kwargs: dict) -> list:
    _input_dim_to_shape(layer, kwargs)
    _forget_bias_init(layer, kwargs)
    return args


def _conv1d_positional(layer: str, args: list, kwargs: dict) -> list:
    _input_dim_to_shape(layer, kwargs)
    return args


def _conv2d_positional(layer: str, args: list, kwargs: dict) -> list:
    return _kernel_from_positions(layer, args, kwargs, 2)


def _conv3d_positional(layer: str, args: list, kwargs: dict) -> list:
    return _kernel_from_positions(layer, args, kwargs, 3)


# --- recurrent layers -----------------------------------------------------------------------------
RNN_IGNORED = ("implementation",)


@keras.saving.register_keras_serializable(package="keras2")
class GRU(Keras2Layer, FastGRU):
    """Keras 2's GRU: ``reset_after=False`` (Keras 2's only variant: 3 x (units x (inputs + units) + units)
    parameters) and hard-sigmoid gates by default. ``implementation`` is accepted and ignored."""

    KERAS1, IGNORED = KERAS1_RNN, RNN_IGNORED
    KERAS2_DEFAULTS = {"recurrent_activation": "hard_sigmoid", "reset_after": False}
    keras1_positional = staticmethod(_rnn_positional)


@keras.saving.register_keras_serializable(package="keras2")
class LSTM(Keras2Layer, FastLSTM):
    """Keras 2's LSTM: hard-sigmoid gates by default. ``implementation`` is accepted and ignored."""

    KERAS1, IGNORED, KERAS2_DEFAULTS = KERAS1_RNN, RNN_IGNORED, {"recurrent_activation": "hard_sigmoid"}
    keras1_positional = staticmethod(_rnn_positional)


@keras.saving.register_keras_serializable(package="keras2")
class SimpleRNN(Keras2Layer, FastSimpleRNN):
    """Keras' SimpleRNN (the same maths in Keras 2; vui's faster torch loop, vui/fast_rnn.py), accepting and
    ignoring Keras 2's ``implementation``."""

    KERAS1, IGNORED = KERAS1_RNN, RNN_IGNORED
    keras1_positional = staticmethod(_rnn_positional)


@keras.saving.register_keras_serializable(package="keras2")
class GRUCell(Keras2Layer, k3.GRUCell):
    """Keras 2's GRUCell (2.1): hard-sigmoid gates, ``reset_after=False``, ``implementation`` ignored."""

    IGNORED, KERAS2_DEFAULTS = RNN_IGNORED, GRU.KERAS2_DEFAULTS


@keras.saving.register_keras_serializable(package="keras2")
class LSTMCell(Keras2Layer, k3.LSTMCell):
    """Keras 2's LSTMCell (2.1): hard-sigmoid gates, ``implementation`` ignored."""

    IGNORED, KERAS2_DEFAULTS = RNN_IGNORED, LSTM.KERAS2_DEFAULTS


@keras.saving.register_keras_serializable(package="keras2")
class ConvLSTM2D(Keras2Layer, k3.ConvLSTM2D):
    """Keras 2's ConvLSTM2D: hard-sigmoid gates by default, Keras 1's argument names converted."""

    KERAS1 = (*KERAS1_CONV, ("inner_init", "recurrent_initializer"), ("U_regularizer", "recurrent_regularizer"),
              ("inner_activation", "recurrent_activation"), ("dropout_W", "dropout"),
              ("dropout_U", "recurrent_dropout"))
    KERAS2_DEFAULTS = {"recurrent_activation": "hard_sigmoid"}

    @staticmethod
    def keras1_positional(layer: str, args: list, kwargs: dict) -> list:
        _forget_bias_init(layer, kwargs)
        return _conv2d_positional(layer, args, kwargs)


CUDNN_FIXED = ("activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout", "reset_after",
               "implementation", "unroll")


def _refuse_cudnn_arguments(layer: str, kwargs: dict) -> None:
    """Keras 2's cuDNN layers had no activation, dropout or bias switch (cuDNN fixes them)."""
    given = [k for k in CUDNN_FIXED if k in kwargs]
    if given:
        plain = "GRU(..., reset_after=True, recurrent_activation='sigmoid', ...)" if "GRU" in layer else "LSTM(...)"
        raise TypeError(f"{layer} has no {', '.join(given)} argument (cuDNN fixes tanh, sigmoid gates, biases and no "
                        f"dropout); for other settings write {plain}")


@keras.saving.register_keras_serializable(package="keras2")
class CuDNNGRU(GRU):
    """Keras 2.1's CuDNNGRU: cuDNN's GRU, i.e. Keras' GRU with ``reset_after=True`` (the reset gate
    applied after the recurrent product, and a second bias: 3 x (units x (inputs + units) + 2 units)
    parameters), tanh and logistic-sigmoid gates. Runs on every device (Keras 2's needed a GPU)."""

    KERAS1 = ()
    KERAS2_DEFAULTS = {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True}

    def __init__(self, units, **kwargs):
        _refuse_cudnn_arguments(type(self).__name__, kwargs)
        super().__init__(units, **kwargs)

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k not in CUDNN_FIXED}


@keras.saving.register_keras_serializable(package="keras2")
class CuDNNLSTMCell(k3.LSTMCell):
    """One step of cuDNN's LSTM: Keras' LSTM maths (gates i, f, c, o; tanh, logistic sigmoid) with one
    bias of 8 units, ``[input biases | recurrent biases]``, both added, as Keras 2's CuDNNLSTM stored it."""

    def __init__(self, units, **kwargs):
        super().__init__(units, activation="tanh", recurrent_activation="sigmoid", **kwargs)

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)

        def bias_initializer(shape, dtype=None):  # Keras 2: the recurrent forget bias 1 with unit_forget_bias
            if not self.unit_forget_bias:
                return self.bias_initializer(shape, dtype=dtype)
            return ops.concatenate([self.bias_initializer((5 * units,), dtype=dtype), ops.ones((units,), dtype=dtype),
                                    self.bias_initializer((2 * units,), dtype=dtype)])

        self.bias = self.add_weight(shape=(8 * units,), name="bias", initializer=bias_initializer,
                                    regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        z = (ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel)
             + self.bias[: 4 * self.units] + self.bias[4 * self.units:])
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]


CUDNN_LSTM_CELL_ARGS = ("kernel_initializer", "recurrent_initializer", "bias_initializer", "unit_forget_bias",
                        "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
                        "recurrent_constraint", "bias_constraint")


@keras.saving.register_keras_serializable(package="keras2")
class CuDNNLSTM(k3.RNN):
    """Keras 2.1's CuDNNLSTM: Keras' LSTM with tanh, logistic-sigmoid gates and cuDNN's two bias
    vectors (4 x (units x (inputs + units) + 2 units) parameters; the sum of the two is the LSTM's one
    bias). Runs on every device (Keras 2's needed a GPU)."""

    def __init__(self, units, return_sequences=False, return_state=False, stateful=False, **kwargs):
        _refuse_cudnn_arguments(type(self).__name__, kwargs)
        cell = CuDNNLSTMCell(units, **{k: kwargs.pop(k) for k in CUDNN_LSTM_CELL_ARGS if k in kwargs})
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state, stateful=stateful,
                         **kwargs)

    @property
    def units(self):
        return self.cell.units

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k not in ("cell", *CUDNN_FIXED)}
        cell = self.cell.get_config()
        return {**config, "units": self.units, **{k: cell[k] for k in CUDNN_LSTM_CELL_ARGS}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# --- layers that carry the padding mask -----------------------------------------------------------
def _strided_mask(mask, padding: str, span: int, stride: int):
    """The padding mask after a convolution or pooling over `span` frames with `stride`: output frame t
    is real when the last input frame it reads is, frame ``t * stride + span - 1`` ('valid') or
    ``t * stride`` ('same', 'causal'). (batch, frames) -> (batch, conv_output_length(frames)).
    Slicing, unlike arithmetic on lengths, also works on the symbolic tensors of model building."""
    return mask[:, (span - 1 if padding == "valid" else 0)::stride]


@keras.saving.register_keras_serializable(package="keras2")
class Conv1D(Keras2Layer, k3.Conv1D):
    """keras.layers.Conv1D (the same maths in Keras 2) that carries the padding mask through its
    shortening of the sequence: valid output frames are ``conv_output_length(valid input frames)``."""

    KERAS1 = KERAS1_CONV1D
    keras1_positional = staticmethod(_conv1d_positional)

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is None:
            return None
        span = self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1
        return _strided_mask(previous_mask, self.padding, span, self.strides[0])


class _Pooling1DMask:
    """Mixin of a 1D pooling layer: carries the padding mask as Conv1D does, the pool as its kernel."""

    KERAS1 = KERAS1_POOL1D

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is None:
            return None
        return _strided_mask(previous_mask, self.padding, self.pool_size[0], self.strides[0])


@keras.saving.register_keras_serializable(package="keras2")
class MaxPooling1D(_Pooling1DMask, Keras2Layer, k3.MaxPooling1D):
    """keras.layers.MaxPooling1D that carries the padding mask (as Conv1D does, the pool as its kernel)."""


@keras.saving.register_keras_serializable(package="keras2")
class AveragePooling1D(_Pooling1DMask, Keras2Layer, k3.AveragePooling1D):
    """keras.layers.AveragePooling1D that carries the padding mask (as Conv1D does, the pool as its kernel)."""


@keras.saving.register_keras_serializable(package="keras2")
class BatchNormalization(Keras2Layer, TwoPassBatchNormalization):
    """Batch normalisation with TensorFlow 1's two-pass batch variance (vui/layers.py); Keras 1's
    beta_init/gamma_init converted, its mode=0 dropped (other modes were gone in Keras 2 already)."""

    KERAS1 = (("beta_init", "beta_initializer"), ("gamma_init", "gamma_initializer"))

    @staticmethod
    def keras1_positional(layer: str, args: list, kwargs: dict) -> list:
        if "mode" in kwargs:
            if kwargs.pop("mode") != 0:
                raise TypeError("BatchNormalization(mode=1 or 2) is Keras 1's and was gone in Keras 2: delete mode= "
                                "(feature-wise normalisation over the batch is the only mode)")
            keras1_warning("BatchNormalization(mode=0) is Keras 1's, its only mode in Keras 2: delete mode=")
        return args


@keras.saving.register_keras_serializable(package="keras2")
class TimeDistributed(k3.TimeDistributed):
    """Applies `layer` to every frame: (batch, frames, ...) -> (batch, frames, ...'), in one call on the
    frames of the whole batch laid end to end (with the padding mask, flattened the same way, for a layer
    that takes one). The same weights and outputs as Keras 3's TimeDistributed, whose loop over time gave
    wrong time dimensions on TensorFlow when batch lengths vary."""

    def call(self, inputs, training=None, mask=None):
        shape = ops.shape(inputs)
        frame_shape = [d if d is not None else shape[i + 2] for i, d in enumerate(inputs.shape[2:])]
        frames = ops.reshape(inputs, [-1, *frame_shape])
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        if mask is not None and self.layer._call_has_mask_arg:
            kwargs["mask"] = ops.reshape(mask, [-1])
        out = self.layer.call(frames, **kwargs)
        out_shape = ops.shape(out)
        return ops.reshape(out, [shape[0], shape[1], *[d if d is not None else out_shape[i + 1]
                                                      for i, d in enumerate(out.shape[1:])]])

    def get_config(self):
        config = super().get_config()
        if getattr(type(self.layer), "KERAS3_LAYER", None) is not None:
            # Keras 3's layer under its Keras 2 name (keras2_layer) is described as Keras 3's: what it
            # is, and the description TimeDistributed(Dense(...)) had before, which train_utils'
            # fingerprints of the course models' runs hold
            config["layer"] = {**config["layer"], "module": "keras.layers", "registered_name": None}
        return config


# --- activations ----------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras2")
class Activation(k3.Activation):
    """keras.layers.Activation with Keras 2's meaning of the name ('hard_sigmoid'); a softmax computes
    in float32 unless given a dtype, so that under mixed precision the model's output, and the CTC loss
    on it, stay in float32 (Keras 2 had no mixed precision)."""

    def __init__(self, activation, **kwargs):
        if activation == "softmax":
            kwargs.setdefault("dtype", "float32")
        super().__init__(keras2_backend.activation(activation), **kwargs)


@keras.saving.register_keras_serializable(package="keras2")
class Softmax(k3.Softmax):
    """Keras 2's Softmax layer (2.1.3): softmax over `axis`, in float32 as Activation('softmax'); the
    padding mask passes through without changing the values (Keras 3's reads a mask as one over the
    softmax's own entries and refuses the (batch, frames) padding mask of (batch, frames, classes))."""

    def __init__(self, axis=-1, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(axis=axis, **kwargs)

    def call(self, inputs):
        return keras2_backend.softmax(inputs, axis=self.axis)


@keras.saving.register_keras_serializable(package="keras2")
class LeakyReLU(k3.LeakyReLU):
    """Keras 2's LeakyReLU(alpha=0.3): x for x >= 0, alpha x below (Keras 3 calls alpha negative_slope)."""

    def __init__(self, alpha=0.3, **kwargs):
        kwargs.setdefault("negative_slope", alpha)
        super().__init__(**kwargs)


@keras.saving.register_keras_serializable(package="keras2")
class ThresholdedReLU(k3.Layer):
    """Keras 2's ThresholdedReLU(theta=1.0): x where x > theta, else 0 (gone from Keras 3)."""

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.theta = float(theta)

    def call(self, inputs):
        return inputs * ops.cast(ops.greater(inputs, self.theta), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


# --- the rest of Keras 2's keras.layers -----------------------------------------------------------
Dense = keras2_layer(k3.Dense, KERAS1_DENSE)
Dropout = keras2_layer(k3.Dropout, KERAS1_DROPOUT)
SpatialDropout1D = keras2_layer(k3.SpatialDropout1D, KERAS1_DROPOUT)
SpatialDropout2D = keras2_layer(k3.SpatialDropout2D, (*KERAS1_DROPOUT, *KERAS1_DATA_FORMAT))
SpatialDropout3D = keras2_layer(k3.SpatialDropout3D, (*KERAS1_DROPOUT, *KERAS1_DATA_FORMAT))
GaussianDropout = keras2_layer(k3.GaussianDropout, KERAS1_DROPOUT)
GaussianNoise = keras2_layer(k3.GaussianNoise, (("sigma", "stddev"),))
PReLU = keras2_layer(k3.PReLU, (("init", "alpha_initializer"),))
Conv2D = keras2_layer(k3.Conv2D, KERAS1_CONV, _conv2d_positional)
Conv3D = keras2_layer(k3.Conv3D, KERAS1_CONV, _conv3d_positional)
Conv3DTranspose = keras2_layer(k3.Conv3DTranspose, KERAS1_CONV)
MaxPooling2D, MaxPooling3D, AveragePooling2D, AveragePooling3D = (
    keras2_layer(base, KERAS1_POOL)
    for base in (k3.MaxPooling2D, k3.MaxPooling3D, k3.AveragePooling2D, k3.AveragePooling3D))
GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D = (
    keras2_layer(base, KERAS1_DATA_FORMAT)
    for base in (k3.GlobalMaxPooling1D, k3.GlobalMaxPooling2D, k3.GlobalMaxPooling3D))
GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D = (
    keras2_layer(base, KERAS1_DATA_FORMAT)
    for base in (k3.GlobalAveragePooling1D, k3.GlobalAveragePooling2D, k3.GlobalAveragePooling3D))
UpSampling1D = keras2_layer(k3.UpSampling1D, (("length", "size"),))
UpSampling2D, UpSampling3D, ZeroPadding2D, ZeroPadding3D, Cropping2D, Cropping3D = (
    keras2_layer(base, KERAS1_DATA_FORMAT)
    for base in (k3.UpSampling2D, k3.UpSampling3D, k3.ZeroPadding2D, k3.ZeroPadding3D, k3.Cropping2D, k3.Cropping3D))


def _separable_positional(layer: str, args: list, kwargs: dict) -> list:
    if "init" in kwargs:  # Keras 2.0: one initialiser for both kernels
        init = kwargs.pop("init")
        keras1_renamed(layer, kwargs, "init", "depthwise_initializer", init)
        keras1_renamed(layer, kwargs, "init", "pointwise_initializer", init)
    return _conv2d_positional(layer, args, kwargs)


def _deconv_positional(layer: str, args: list, kwargs: dict) -> list:
    if (len(args) == 4 and isinstance(args[3], tuple)) or "output_shape" in kwargs:  # Keras 1's; Keras 2 ignored it
        kwargs.pop("output_shape", None)
        args = args[:3] if len(args) == 4 else args
        keras1_warning(f"{layer}(output_shape=...) is Keras 1's and Keras 2 ignored it: delete it")
    return _conv2d_positional(layer, args, kwargs)


KERAS1_SEPARABLE = tuple(r for r in KERAS1_CONV if r[0] not in ("init", "W_regularizer", "W_constraint"))
SeparableConv2D = keras2_layer(k3.SeparableConv2D, KERAS1_SEPARABLE, _separable_positional)
Conv2DTranspose = keras2_layer(k3.Conv2DTranspose, KERAS1_CONV, _deconv_positional)


def _embedding_positional(layer: str, args: list, kwargs: dict) -> list:
    if "dropout" in kwargs:
        kwargs.pop("dropout")
        keras1_warning("Embedding(dropout=...) is Keras 1's and Keras 2 dropped it: write SpatialDropout1D(rate) "
                       "after the Embedding")
    if "input_length" in kwargs:  # Keras 2's: the input's length, now the Input's shape
        length = kwargs.pop("input_length")
        kwargs.setdefault("input_shape", (length,))
    return args


Embedding = keras2_layer(k3.Embedding, (("init", "embeddings_initializer"), ("W_regularizer", "embeddings_regularizer"),
                                        ("W_constraint", "embeddings_constraint")), _embedding_positional)

# the same layers, and arguments, in Keras 2 and Keras 3
(Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, add, subtract, multiply, average, maximum,
 minimum, concatenate, dot) = (k3.Add, k3.Subtract, k3.Multiply, k3.Average, k3.Maximum, k3.Minimum, k3.Concatenate,
                               k3.Dot, k3.add, k3.subtract, k3.multiply, k3.average, k3.maximum, k3.minimum,
                               k3.concatenate, k3.dot)
(Masking, Reshape, Permute, Flatten, RepeatVector, Lambda, ActivityRegularization, ZeroPadding1D, Cropping1D,
 SeparableConv1D, DepthwiseConv2D, AlphaDropout, ELU, ReLU, Wrapper, RNN, SimpleRNNCell,
 StackedRNNCells, InputSpec, InputLayer, serialize, deserialize) = (
    k3.Masking, k3.Reshape, k3.Permute, k3.Flatten, k3.RepeatVector, k3.Lambda, k3.ActivityRegularization,
    k3.ZeroPadding1D, k3.Cropping1D, k3.SeparableConv1D, k3.DepthwiseConv2D, k3.AlphaDropout, k3.ELU, k3.ReLU,
    k3.Wrapper, k3.RNN, k3.SimpleRNNCell, k3.StackedRNNCells, k3.InputSpec, k3.InputLayer,
    k3.serialize, k3.deserialize)



@keras.saving.register_keras_serializable(package="keras2")
class Bidirectional(FastBidirectional):
    """keras.layers.Bidirectional (the same maths in Keras 2); around two GRUs, vui's torch loop runs both
    directions at once (vui/fast_rnn.py)."""


# Keras 2's aliases
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
Convolution2DTranspose = Deconvolution2D = Deconv2D = Conv2DTranspose
Deconvolution3D = Deconv3D = Conv3DTranspose
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)


def _atrous(conv: type, *args, atrous_rate, **kwargs):
    """Keras 1's dilated convolution, which Keras 2 built as `conv`(..., dilation_rate=atrous_rate)."""
    keras1_warning(f"Atrous{conv.__name__.replace('Conv', 'Convolution')} is Keras 1's, built by Keras 2 as "
                  f"{conv.__name__}: write {conv.__name__}(..., dilation_rate={atrous_rate!r})")
    return conv(*args, dilation_rate=atrous_rate, **kwargs)


def AtrousConvolution1D(*args, atrous_rate=1, **kwargs):
    """Keras 1's dilated Conv1D, which Keras 2 built as Conv1D(..., dilation_rate=atrous_rate)."""
    return _atrous(Conv1D, *args, atrous_rate=atrous_rate, **kwargs)


def AtrousConvolution2D(*args, atrous_rate=(1, 1), **kwargs):
    """Keras 1's dilated Conv2D, which Keras 2 built as Conv2D(..., dilation_rate=atrous_rate)."""
    return _atrous(Conv2D, *args, atrous_rate=atrous_rate, **kwargs)


# --- the base class of custom layers --------------------------------------------------------------
ADD_WEIGHT_KERAS2 = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
ADD_WEIGHT_KERAS2_0 = ("shape", "initializer", "name", "trainable", "regularizer", "constraint")


@keras.saving.register_keras_serializable(package="keras2")
class Layer(k3.Layer):
    """keras.layers.Layer, the base of a custom layer written for Keras 2: ``add_weight`` also takes
    Keras 2's positional order ``(name, shape, dtype, initializer, regularizer, trainable, constraint)``
    and Keras 2.0.0's ``(shape, initializer, name, ...)``."""

    def add_weight(self, *args, **kwargs):
        order = ADD_WEIGHT_KERAS2 if args and isinstance(args[0], str) else ADD_WEIGHT_KERAS2_0
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"add_weight got {key} both by position and by name")
            kwargs[key] = value
        return super().add_weight(**kwargs)


# --- what Keras 3 cannot build --------------------------------------------------------------------
def Merge(*args, **kwargs):
    """Keras 1's Merge layer, gone since Keras 2.2."""
    raise Keras2Removed("Merge(...) is gone from Keras: write Concatenate()([a, b]), Add()([a, b]) or "
                        "Multiply()([a, b]) (from keras.layers) instead")


merge = Merge


def removed_layer(name: str, instead: str) -> type:
    """A Keras 2 layer Keras 3 has no equivalent of: creating or subclassing it raises Keras2Removed."""
    message = f"{name} is Keras 2's, gone from Keras 3: {instead}"

    def refuse(*args, **kwargs):
        raise Keras2Removed(message)

    return type(name, (), {"__new__": refuse, "__init_subclass__": classmethod(refuse), "__doc__": message,
                           "__module__": __name__})


LocallyConnected1D = removed_layer("LocallyConnected1D", "write Conv1D (one kernel for every position), or copy Keras "
                                                         "2's LocallyConnected1D into your code as a Layer")
LocallyConnected2D = removed_layer("LocallyConnected2D", "write Conv2D (one kernel for every position), or copy Keras "
                                                         "2's LocallyConnected2D into your code as a Layer")
Recurrent = removed_layer("Recurrent", "write a cell (a Layer with call(inputs, states) and state_size) and "
                                       "RNN(cell), or subclass GRU, LSTM or SimpleRNN")
ConvRecurrent2D = removed_layer("ConvRecurrent2D", "subclass ConvLSTM2D, or write a cell and RNN(cell)")
Highway = removed_layer("Highway", "write t = Dense(n, activation='sigmoid')(x); y = add([multiply([t, Dense(n, "
                                   "activation=...)(x)]), multiply([Lambda(lambda t: 1 - t)(t), x])])")
MaxoutDense = removed_layer("MaxoutDense", "write maximum([Dense(output_dim)(x) for _ in range(nb_feature)]) "
                                           "(the same maths and parameters)")


# --- Input and Model ------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras2")
class InputPadding(k3.Masking):
    """The mask ``Input`` puts on its features: frames whose values are all 0 are padding."""


def Input(shape=None, name: str | None = None, dtype=None, **kwargs):
    """keras.Input; a sequence input (shape (frames, dims)) comes with its padding masked (InputPadding).
    ``Model`` takes the keras.Input beneath it as the model's input. Keras 1's input_dtype= is dtype=."""
    convert_keras1_arguments("Input", kwargs, (("input_dtype", "dtype"),))
    dtype = kwargs.pop("dtype", dtype)
    features = keras.Input(shape=shape, name=name, dtype=dtype, **kwargs)
    if not MASK_PADDING or len(features.shape) != 3:
        return features
    return InputPadding(0.0, name="padding_mask" if name is None else f"{name}_padding")(features)


def _model_input(tensor):
    """The keras.Input beneath an Input made here (the model's real input), else the tensor itself."""
    history = getattr(tensor, "_keras_history", None)
    operation = history.operation if history is not None else None
    return operation.input if isinstance(operation, InputPadding) else tensor


def run_once(model: keras.Model, frames: int = RUN_FRAMES) -> None:
    """Call `model` on one random example, its unknown dimensions `frames` long, in inference mode:
    Keras 3 builds layers from shapes without calling them, where Keras 2 called every layer while
    building, so a layer that cannot compute (an activation function naming something undefined, a
    Lambda that fails) would otherwise pass ``summary()`` and fail at the first batch."""
    if keras.distribution.distribution() is not None:  # laid out across devices: trained from a model that ran
        return
    rng = np.random.default_rng(0)
    batch = []
    for tensor in model.inputs:
        shape = [1 if tensor.shape[0] is None else tensor.shape[0]]
        shape += [frames if d is None else d for d in tensor.shape[1:]]
        if keras.backend.is_float_dtype(tensor.dtype):
            batch.append(rng.standard_normal(shape).astype(tensor.dtype))
        else:
            batch.append(np.zeros(shape, dtype=tensor.dtype))
    try:
        model(batch[0] if len(batch) == 1 else batch, training=False)
    except Exception as error:
        error.add_note(f"(raised when Model ran the model once, on a batch of shape {[b.shape for b in batch]}, to "
                       "check that it computes: fix the layer named above)")
        raise


class Model(keras.Model):
    """keras.Model: ``Model(inputs=input_data, outputs=y_pred)`` of a model whose input came from
    ``Input`` (Keras 1's input=/output= converted), run once before it is returned (run_once)."""

    def __init__(self, inputs=None, outputs=None, *args, **kwargs):
        convert_keras1_arguments("Model", kwargs, (("input", "inputs"), ("output", "outputs")))
        inputs, outputs = kwargs.pop("inputs", inputs), kwargs.pop("outputs", outputs)
        if inputs is not None:
            inputs = keras.tree.map_structure(_model_input, inputs)
        super().__init__(inputs, outputs, *args, **kwargs)
        if inputs is not None:
            run_once(self)


# --- the modules Keras 2 code imports -------------------------------------------------------------
LAYER_NAMES: tuple[str, ...] = (
    "Layer", "InputSpec", "Input", "InputLayer",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    "Masking", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Activation", "Reshape",
    "Permute", "Flatten", "RepeatVector", "Lambda", "Dense", "ActivityRegularization",
    "Conv1D", "Conv2D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose", "Conv3D",
    "Conv3DTranspose", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Convolution1D", "Convolution2D", "Convolution3D", "SeparableConvolution1D", "SeparableConvolution2D",
    "Convolution2DTranspose", "Deconvolution2D", "Deconv2D", "Deconvolution3D", "Deconv3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
    "LocallyConnected1D", "LocallyConnected2D",
    "RNN", "SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells", "SimpleRNN", "GRU", "LSTM", "Recurrent",
    "CuDNNGRU", "CuDNNLSTM", "BatchNormalization", "Embedding", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax", "ReLU",
    "Wrapper", "TimeDistributed", "Bidirectional", "ConvLSTM2D", "ConvRecurrent2D",
    "Merge", "merge", "MaxoutDense", "Highway", "AtrousConvolution1D", "AtrousConvolution2D",
    "serialize", "deserialize",
)
layers = Keras2Module("layers", "Keras 2's keras.layers, every public name (vui/keras2.py).",
                      {name: globals()[name] for name in LAYER_NAMES})
models = Keras2Module("models", "Keras 2's keras.models: Model (vui/keras2.py), Keras 3's Sequential, load_model, ...",
                      {"Model": Model}, keras.models,
                      removed={"model_from_yaml": "Keras 3 has no YAML: write model_from_json(model.to_json())"})
Sequential = keras.Sequential

# The Keras 2 names a student's builders use without importing them: the layers, the modules, and the
# functions their files imported by name (relu, l2, ...)
__all__ = [*LAYER_NAMES, "K", "Model", "Sequential", "layers", "models", "activations", "regularizers", "initializers",
           "constraints", "optimizers", "relu", "elu", "selu", "softplus", "softsign", "tanh", "sigmoid",
           "hard_sigmoid", "linear", "softmax", "exponential", "l1", "l2", "l1_l2"]
(relu, elu, selu, softplus, softsign, tanh, sigmoid, hard_sigmoid, linear, softmax, exponential) = (
    keras2_backend.ACTIVATION_FUNCTIONS[name] for name in ("relu", "elu", "selu", "softplus", "softsign", "tanh",
                                                           "sigmoid", "hard_sigmoid", "linear", "softmax",
                                                           "exponential"))
l1, l2, l1_l2 = keras2_backend.l1, keras2_backend.l2, keras2_backend.l1_l2

KERAS2_MODULES: dict[str, str] = {
    "keras.backend.tensorflow_backend": KERAS2_BACKEND_REMOVED["tensorflow_backend"],
    "keras.layers.recurrent": "write `from sample_models import GRU, LSTM, SimpleRNN` (Keras 2's maths) "
                              "or `from keras.layers import ...`",
    "keras.layers.core": "write `from keras.layers import Dense, Activation, Dropout, ...`",
    "keras.layers.convolutional": "write `from sample_models import Conv1D, MaxPooling1D` or `from keras.layers import ...`",
    "keras.layers.normalization": "write `from sample_models import BatchNormalization` or `from keras.layers import ...`",
    "keras.layers.wrappers": "write `from sample_models import TimeDistributed, Bidirectional` or `from keras.layers import ...`",
    "keras.layers.advanced_activations": "write `from sample_models import LeakyReLU, PReLU, ELU, ThresholdedReLU`",
    "keras.layers.cudnn_recurrent": "write `from sample_models import CuDNNGRU, CuDNNLSTM`",
    "keras.engine": "write `from keras.models import Model` or `from keras.layers import Input, Layer`",
    "keras.engine.topology": "write `from keras.models import Model` or `from keras.layers import Input, Layer`",
}


class _Keras2ModuleFinder(importlib.abc.MetaPathFinder):
    """Asked last, for a module no other finder found: a Keras 2 module gets a message naming what to
    import instead (Python's import system is the only place that can say it before the import fails)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in KERAS2_MODULES:
            raise ModuleNotFoundError(f"{fullname} is Keras 2's, not in Keras 3: {KERAS2_MODULES[fullname]}",
                                      name=fullname)
        return None


if not any(isinstance(finder, _Keras2ModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_Keras2ModuleFinder())
