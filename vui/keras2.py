"""The Keras 2 layers the capstone teaches, under their Keras 2 names, computing what Keras 2 computed.

``sample_models.py`` imports these where the original imported ``keras.layers``, so a model written
the way the course teaches (``GRU(units, activation='relu', return_sequences=True, implementation=2,
name='rnn')``, ``TimeDistributed(Dense(output_dim))``, ...) builds with Keras 2's parameter counts and
maths on Keras 3, on every backend. Where Keras 3 differs (FIDELITY.md, "The course's layer names"):

- ``GRU``: no second bias (``reset_after=False``) and Keras 2's hard-sigmoid gates; ``LSTM``: the same
  gates; all three recurrent layers accept Keras 2's ``implementation=`` (it only chose how Keras 2
  computed, not what). GRUs and SimpleRNNs run vui's faster torch loops (vui/fast_rnn.py).
- ``BatchNormalization``: a two-pass batch variance, as TensorFlow 1 computed it (vui/layers.py).
- ``TimeDistributed``: one call of the wrapped layer on (batch x frames, ...), which is right on every
  backend for batches of any length (Keras 3's loop over time gave wrong shapes on TensorFlow here).
- ``Activation('softmax')``: computed in float32 even under mixed precision, so the CTC loss is.

One defect of the original is fixed here, for every model built from these names: the zero padding
that makes a batch's utterances equally long is masked. ``Input`` marks the padded frames (a frame is
padding when all its features are exactly 0, which a normalised real frame never is), ``Conv1D`` and
``MaxPooling1D`` carry the mark through their shortening of the sequence, recurrent layers hold their
state over padded frames and batch normalisation leaves them out of its statistics. Without it the
seed's ReLU RNNs ran over the padding until their state overflowed and training went NaN.

Keras 2 code that cannot work on Keras 3 (``Merge``, ``K.set_session``, ``keras.backend.tensorflow_backend``)
fails with a one-line error that says what to write instead.

Shapes: sequences (batch, frames, dims); masks (batch, frames) booleans.
"""

from __future__ import annotations

import importlib.abc
import sys
import types

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers

from vui.fast_rnn import FastGRU, FastLSTM, FastSimpleRNN
from vui.layers import BatchNormalization, keras2_hard_sigmoid

__all__ = ["Activation", "BatchNormalization", "Bidirectional", "Conv1D", "Dense", "Dropout", "GRU", "Input", "K",
           "LSTM", "MaxPooling1D", "Merge", "Model", "SimpleRNN", "TimeDistributed", "merge"]

MASK_PADDING: bool = True  # False: Input marks nothing, and recurrent layers run over the padding as in the original

Dense = layers.Dense
Dropout = layers.Dropout
Bidirectional = layers.Bidirectional


def _keras2_activation(activation):
    """Keras 2's meaning of an activation name: its 'hard_sigmoid' was clip(0.2 x + 0.5, 0, 1)."""
    return keras2_hard_sigmoid if activation == "hard_sigmoid" else activation


@keras.saving.register_keras_serializable(package="keras2")
class GRU(FastGRU):
    """Keras 2's GRU: ``reset_after=False`` (Keras 2's only variant: 3 x (units x (inputs + units) + units)
    parameters) and hard-sigmoid gates by default. ``implementation`` is accepted and ignored."""

    def __init__(self, units: int, activation="tanh", recurrent_activation="hard_sigmoid", reset_after: bool = False,
                 implementation: int = 2, **kwargs):
        super().__init__(units, activation=_keras2_activation(activation),
                         recurrent_activation=_keras2_activation(recurrent_activation), reset_after=reset_after, **kwargs)


@keras.saving.register_keras_serializable(package="keras2")
class LSTM(FastLSTM):
    """Keras 2's LSTM: hard-sigmoid gates by default. ``implementation`` is accepted and ignored."""

    def __init__(self, units: int, activation="tanh", recurrent_activation="hard_sigmoid", implementation: int = 2,
                 **kwargs):
        super().__init__(units, activation=_keras2_activation(activation),
                         recurrent_activation=_keras2_activation(recurrent_activation), **kwargs)


@keras.saving.register_keras_serializable(package="keras2")
class SimpleRNN(FastSimpleRNN):
    """Keras' SimpleRNN (the same maths in Keras 2; vui's faster torch loop, vui/fast_rnn.py), accepting and
    ignoring Keras 2's ``implementation``."""

    def __init__(self, units: int, activation="tanh", implementation: int = 2, **kwargs):
        super().__init__(units, activation=_keras2_activation(activation), **kwargs)


def _strided_mask(mask, padding: str, span: int, stride: int):
    """The padding mask after a convolution or pooling over `span` frames with `stride`: output frame t
    is real when the last input frame it reads is, frame ``t * stride + span - 1`` ('valid') or
    ``t * stride`` ('same', 'causal'). (batch, frames) -> (batch, conv_output_length(frames)).
    Slicing, unlike arithmetic on lengths, also works on the symbolic tensors of model building."""
    return mask[:, (span - 1 if padding == "valid" else 0)::stride]


@keras.saving.register_keras_serializable(package="keras2")
class Conv1D(layers.Conv1D):
    """keras.layers.Conv1D (the same maths in Keras 2) that carries the padding mask through its
    shortening of the sequence: valid output frames are ``conv_output_length(valid input frames)``."""

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is None:
            return None
        span = self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1
        return _strided_mask(previous_mask, self.padding, span, self.strides[0])


@keras.saving.register_keras_serializable(package="keras2")
class MaxPooling1D(layers.MaxPooling1D):
    """keras.layers.MaxPooling1D that carries the padding mask (as Conv1D does, the pool as its kernel)."""

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is None:
            return None
        return _strided_mask(previous_mask, self.padding, self.pool_size[0], self.strides[0])


@keras.saving.register_keras_serializable(package="keras2")
class TimeDistributed(layers.TimeDistributed):
    """Applies `layer` to every frame: (batch, frames, ...) -> (batch, frames, ...'), in one call on the
    frames of the whole batch laid end to end. The same weights and outputs as Keras 3's TimeDistributed,
    whose loop over time gave wrong time dimensions on TensorFlow when batch lengths vary."""

    def call(self, inputs, training=None, mask=None):
        ops = keras.ops
        shape = ops.shape(inputs)
        frame_shape = [d if d is not None else shape[i + 2] for i, d in enumerate(inputs.shape[2:])]
        frames = ops.reshape(inputs, [-1, *frame_shape])
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        out = self.layer.call(frames, **kwargs)
        out_shape = ops.shape(out)
        return ops.reshape(out, [shape[0], shape[1], *[d if d is not None else out_shape[i + 1]
                                                      for i, d in enumerate(out.shape[1:])]])


@keras.saving.register_keras_serializable(package="keras2")
class Activation(layers.Activation):
    """keras.layers.Activation; a softmax computes in float32 unless given a dtype, so that under mixed
    precision the model's output, and the CTC loss on it, stay in float32 (Keras 2 had no mixed precision)."""

    def __init__(self, activation, **kwargs):
        if activation == "softmax":
            kwargs.setdefault("dtype", "float32")
        super().__init__(activation, **kwargs)


@keras.saving.register_keras_serializable(package="keras2")
class InputPadding(layers.Masking):
    """The mask ``Input`` puts on its features: frames whose values are all 0 are padding."""


def Input(shape=None, name: str | None = None, dtype=None, **kwargs):
    """keras.Input; a sequence input (shape (frames, dims)) comes with its padding masked (InputPadding).
    ``Model`` takes the keras.Input beneath it as the model's input."""
    features = keras.Input(shape=shape, name=name, dtype=dtype, **kwargs)
    if not MASK_PADDING or len(features.shape) != 3:
        return features
    return InputPadding(0.0, name="padding_mask" if name is None else f"{name}_padding")(features)


def _model_input(tensor):
    """The keras.Input beneath an Input made here (the model's real input), else the tensor itself."""
    history = getattr(tensor, "_keras_history", None)
    operation = history.operation if history is not None else None
    return operation.input if isinstance(operation, InputPadding) else tensor


class Model(keras.Model):
    """keras.Model: ``Model(inputs=input_data, outputs=y_pred)`` of a model whose input came from ``Input``."""

    def __init__(self, inputs=None, outputs=None, *args, **kwargs):
        if inputs is not None:
            inputs = keras.tree.map_structure(_model_input, inputs)
        super().__init__(inputs, outputs, *args, **kwargs)


class Keras2Removed(AttributeError):
    """Keras 2 code with no Keras 3 equivalent under the same name; the message says what to write."""


def Merge(*args, **kwargs):
    """Keras 1's Merge layer, gone since Keras 2.2."""
    raise Keras2Removed("Merge(...) is gone from Keras: write Concatenate()([a, b]), Add()([a, b]) or "
                        "Multiply()([a, b]) (from keras.layers) instead")


merge = Merge

KERAS2_BACKEND_REMOVED: dict[str, str] = {
    "set_session": "TensorFlow 2 has no sessions: delete the call; to let TensorFlow take GPU memory as it needs it, "
                   "call train_utils.configure_gpu_memory_growth()",
    "get_session": "TensorFlow 2 has no sessions: delete the call",
    "tensorflow_backend": "keras.backend.tensorflow_backend is gone: delete the session code, or use "
                          "train_utils.configure_gpu_memory_growth() to limit GPU memory",
    "ctc_batch_cost": "write train_utils.ctc_lambda_func([y_pred, labels, input_length, label_length]) "
                      "(or keras.ops.ctc_loss, which takes log-probabilities)",
    "learning_phase": "pass training=True/False to the layer or model call instead",
    "set_learning_phase": "pass training=True/False to the layer or model call instead",
}


class _Keras2Backend(types.ModuleType):
    """``K`` of ``from keras import backend as K``: Keras 3's keras.backend, with a one-line error that
    says what to write for each Keras 2 backend function it no longer has."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in KERAS2_BACKEND_REMOVED:
            raise Keras2Removed(f"K.{name} is Keras 2's: {KERAS2_BACKEND_REMOVED[name]}")
        if hasattr(keras.backend, name):
            return getattr(keras.backend, name)
        instead = f"keras.ops.{name}" if hasattr(keras.ops, name) else "the keras.ops function that does it"
        raise Keras2Removed(f"K.{name} is Keras 2's: Keras 3's backend functions are in keras.ops; write {instead} "
                            "(check its arguments: some defaults changed, e.g. concatenate's axis)")

    def __dir__(self):
        return sorted(set(dir(keras.backend)) | set(KERAS2_BACKEND_REMOVED))


K = _Keras2Backend("K", "Keras' backend, as Keras 2 code calls it (``from keras import backend as K``).")

KERAS2_MODULES: dict[str, str] = {
    "keras.backend.tensorflow_backend": KERAS2_BACKEND_REMOVED["tensorflow_backend"],
    "keras.layers.recurrent": "write `from sample_models import GRU, LSTM, SimpleRNN` (Keras 2's maths) "
                              "or `from keras.layers import ...`",
    "keras.layers.core": "write `from keras.layers import Dense, Activation, Dropout, ...`",
    "keras.layers.convolutional": "write `from sample_models import Conv1D, MaxPooling1D` or `from keras.layers import ...`",
    "keras.layers.normalization": "write `from sample_models import BatchNormalization` or `from keras.layers import ...`",
    "keras.layers.wrappers": "write `from sample_models import TimeDistributed, Bidirectional` or `from keras.layers import ...`",
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
