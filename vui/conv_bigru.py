"""vui's own acoustic model, the shipped recipe's architecture (BENCHMARKS.md, "The shipped model and its ablations").

Registered in sample_models (``sample_models.conv_bigru_model``, ``build_model``) so that saved
descriptions rebuild it; it lives here because it is not part of the course's lesson. Its layers are
Keras 3's own (plus vui's fast recurrent loops), not the Keras 2 names the course's models use, and it
does not mask padding: the shipped weights were trained this way.

Shapes: features (batch, frames, input_dim) -> softmax (batch, ceil(frames / conv_stride), 29).
"""

from __future__ import annotations

import functools

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers

from char_map import NUM_CLASSES
from utils import conv_output_length
from vui.fast_rnn import FastGRU, FastLSTM
from vui.layers import BatchNormalization, SpecAugment


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
    """vui's final model (the recipe uses cell='lstm').

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
        if cell == "gru":
            rnn = FastGRU(units, recurrent_activation="sigmoid", return_sequences=True, reset_after=False)
        else:
            rnn = FastLSTM(units, return_sequences=True)
        x = layers.Bidirectional(rnn, merge_mode="concat", name=f"bidir_rnn_{i}")(x)
        x = BatchNormalization(name=f"bn_rnn_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.Dense(output_dim, name="time_dense")(x)
    y_pred = layers.Activation("softmax", name="softmax", dtype="float32")(x)
    model = keras.Model(inputs=input_data, outputs=y_pred, name="conv_bigru_model")
    model.output_length = functools.partial(conv_output_length, filter_size=kernel_size, border_mode="same",
                                            stride=conv_stride)
    return model
