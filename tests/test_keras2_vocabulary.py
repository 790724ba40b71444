"""The whole Keras 2 vocabulary a course student used, from sample_models.py: every public name of Keras
2's keras.layers, Keras 1's argument names that Keras 2.0 converted, K's functions, the function modules,
and models built from them that run and train.

tests/data/student_models_2018.py holds student-style builders (LSTM with dropout in both spellings, a
Lambda + Conv2D front end, a WaveNet block with Multiply/Add and LeakyReLU, an L2 penalty, a custom Layer,
TimeDistributed around BatchNormalization and Dropout, CuDNNGRU/CuDNNLSTM, Keras 1's argument names);
the tests place it in a copy of sample_models.py below its imports, as a student edits the file.
"""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import pytest

import sample_models as sm
import train_utils as tu
from tests.conftest import ROOT
from vui import keras2
from vui.layers import keras2_hard_sigmoid
from vui.seed_recipe_check import sample_models_with

STUDENT_CODE = os.path.join(ROOT, "tests", "data", "student_models_2018.py")

# Keras 2.0-2.2's keras.layers, written out from its documentation (not read from vui/keras2.py)
KERAS2_LAYERS = """
Layer InputSpec Input InputLayer Add Subtract Multiply Average Maximum Minimum Concatenate Dot add subtract multiply
average maximum minimum concatenate dot Masking Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D Activation
Reshape Permute Flatten RepeatVector Lambda Dense ActivityRegularization Conv1D Conv2D SeparableConv1D SeparableConv2D
DepthwiseConv2D Conv2DTranspose Conv3D Conv3DTranspose Cropping1D Cropping2D Cropping3D UpSampling1D UpSampling2D
UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D
AveragePooling2D AveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GlobalAveragePooling1D
GlobalAveragePooling2D GlobalAveragePooling3D RNN SimpleRNNCell GRUCell LSTMCell StackedRNNCells SimpleRNN GRU LSTM
CuDNNGRU CuDNNLSTM BatchNormalization Embedding GaussianNoise GaussianDropout AlphaDropout LeakyReLU PReLU ELU
ThresholdedReLU Softmax ReLU Wrapper TimeDistributed Bidirectional ConvLSTM2D AtrousConvolution1D AtrousConvolution2D
""".split()
KERAS2_ALIASES = {
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
    "Convolution2DTranspose": "Conv2DTranspose", "Deconvolution2D": "Conv2DTranspose", "Deconv2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose", "Deconv3D": "Conv3DTranspose",
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalAvgPool3D": "GlobalAveragePooling3D",
}
# Keras 2 names Keras 3 has no equivalent of: the one-line error names what to write instead
KERAS2_GONE = {"LocallyConnected1D": "write Conv1D", "LocallyConnected2D": "write Conv2D",
               "Recurrent": "RNN\\(cell\\)", "ConvRecurrent2D": "subclass ConvLSTM2D",
               "Highway": "write t = Dense", "MaxoutDense": "write maximum\\(\\[Dense", "Merge": "write Concatenate",
               "merge": "write Concatenate"}


# --- Keras 2's parameter counts, from its layers' definitions -------------------------------------
def lstm(inputs: int, units: int) -> int:
    return 4 * (units * (inputs + units) + units)  # kernel (inputs, 4 units), recurrent (units, 4 units), bias 4 units


def gru(inputs: int, units: int) -> int:
    return 3 * (units * (inputs + units) + units)  # Keras 2's GRU: one bias of 3 units


def cudnn_gru(inputs: int, units: int) -> int:
    return 3 * (units * (inputs + units) + 2 * units)  # CuDNNGRU's bias: 6 units (input and recurrent)


def cudnn_lstm(inputs: int, units: int) -> int:
    return 4 * (units * (inputs + units) + 2 * units)  # CuDNNLSTM's bias: 8 units (input and recurrent)


def conv(kernel: int, inputs: int, filters: int) -> int:
    return kernel * inputs * filters + filters  # kernel (k1 x k2 ..., inputs, filters) + bias


def dense(inputs: int, units: int) -> int:
    return inputs * units + units


def batch_norm(channels: int) -> int:
    return 4 * channels  # gamma, beta, moving mean, moving variance


# builder: (its call, Keras 2's count from the formulas above, the same count worked out by hand)
STUDENT_BUILDERS = {
    # LSTM 161->32: 4 x (32 x 193 + 32) = 24,832; BN 128; LSTM 32->32: 4 x (32 x 64 + 32) = 8,320; BN 128;
    # Dense 32->29: 957. 24,832 + 128 + 8,320 + 128 + 957 = 34,365
    "lstm_model": (dict(input_dim=161, units=32),
                   lstm(161, 32) + batch_norm(32) + lstm(32, 32) + batch_norm(32) + dense(32, 29), 34_365),
    # Lambda 0; Conv2D 3x3, 1 -> 8 channels: 3 x 3 x 1 x 8 + 8 = 80; MaxPooling2D (1, 2) and Reshape 0
    # (80 frequency bins x 8 channels = 640 features); GRU 640->32: 3 x (32 x 672 + 32) = 64,608; BN 128;
    # Dense 957. 80 + 64,608 + 128 + 957 = 65,773
    "conv2d_rnn_model": (dict(input_dim=161, filters=8, units=32),
                         conv(9, 1, 8) + gru(80 * 8, 32) + batch_norm(32) + dense(32, 29), 65_773),
    # Conv1D 1x1 161->16: 2,592; per dilation (1, 2, 4): two gated convolutions, kernel 2, 16->16: 528 each,
    # a 1x1 skip convolution 272; and a 1x1 residual convolution 272, except in the last block, whose
    # residual sum feeds nothing (Keras 2, as Keras 3, counts only the layers between inputs and outputs);
    # LeakyReLU and the sums 0; output Conv1D 1x1 16->29: 493.
    # 2,592 + 3 x (528 + 528 + 272) + 2 x 272 + 493 = 7,613
    "wavenet_model": (dict(input_dim=161, filters=16, dilations=(1, 2, 4)),
                      conv(1, 161, 16) + 3 * (2 * conv(2, 16, 16) + conv(1, 16, 16)) + 2 * conv(1, 16, 16)
                      + conv(1, 16, 29), 7_613),
    # GRU 161->32: 3 x (32 x 193 + 32) = 18,624; TimeDistributed BN 128; TimeDistributed Dropout 0; the
    # custom TimeDense 32->29: kernel 928 + bias 29. 18,624 + 128 + 928 + 29 = 19,709
    "custom_layer_model": (dict(input_dim=161, units=32), gru(161, 32) + batch_norm(32) + dense(32, 29), 19_709),
    # two CuDNNGRU 161->32: 2 x 3 x (32 x 193 + 64) = 37,440; BN 64 channels 256; CuDNNLSTM 64->32:
    # 4 x (32 x 96 + 64) = 12,544; Dense 957. 37,440 + 256 + 12,544 + 957 = 51,197
    "cudnn_model": (dict(input_dim=161, units=32),
                    2 * cudnn_gru(161, 32) + batch_norm(64) + cudnn_lstm(64, 32) + dense(32, 29), 51_197),
    # GaussianNoise 0; Conv1D kernel 11, 161->16: 11 x 161 x 16 + 16 = 28,352; PReLU shared over time: 16;
    # MaxPool1D and SpatialDropout1D 0; GRU 16->32: 3 x (32 x 48 + 32) = 4,704; ELU 0; Dense 957.
    # 28,352 + 16 + 4,704 + 957 = 34,029
    "keras1_conv_model": (dict(input_dim=161, filters=16, kernel_size=11, units=32),
                          conv(11, 161, 16) + 16 + gru(16, 32) + dense(32, 29), 34_029),
}

# the Keras 1 arguments each builder uses, and the Keras 2 name each warning must give
KERAS1_IN_BUILDERS = {
    "lstm_model": [("LSTM(dropout_W=...)", "write dropout=0.2"), ("LSTM(dropout_U=...)", "write recurrent_dropout=0.2")],
    "custom_layer_model": [("GRU(W_regularizer=...)", "write kernel_regularizer=")],
    "keras1_conv_model": [
        ("GaussianNoise(sigma=...)", "write stddev=0.1"), ("Conv1D(nb_filter=...)", "write filters=16"),
        ("Conv1D(filter_length=...)", "write kernel_size=11"), ("Conv1D(subsample_length=...)", "write strides=2"),
        ("Conv1D(border_mode=...)", "write padding='valid'"), ("Conv1D(init=...)", "write kernel_initializer='he_normal'"),
        ("SpatialDropout1D(p=...)", "write rate=0.1"), ("GRU(output_dim=...)", "write units=32"),
        ("GRU(dropout_W=...)", "write dropout=0.1"), ("GRU(dropout_U=...)", "write recurrent_dropout=0.1"),
        ("GRU(consume_less=...)", "write implementation=2"), ("Dense(output_dim=...)", "write units=29"),
        ("Model(input=...)", "write inputs="), ("Model(output=...)", "write outputs=")],
}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student's edited sample_models.py, imported."""
    return sample_models_with(STUDENT_CODE, str(tmp_path_factory.mktemp("student")))


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_hand_derivations_agree_with_the_formulas():
    for name, (_, from_formulas, by_hand) in STUDENT_BUILDERS.items():
        assert from_formulas == by_hand, name


def _build(student, name):
    """The student's model `name`, with the Keras 1 warnings its build gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = getattr(student, name)(**STUDENT_BUILDERS[name][0])
    return model, [str(w.message) for w in caught if issubclass(w.category, keras2.Keras1ArgumentWarning)]


@pytest.mark.parametrize("name", STUDENT_BUILDERS)
def test_student_builder_has_keras2s_count_runs_and_warns_once_per_keras1_name(student, name, capsys):
    model, keras1 = _build(student, name)
    assert "Total params" in capsys.readouterr().out
    assert model.count_params() == STUDENT_BUILDERS[name][2]
    expected = KERAS1_IN_BUILDERS.get(name, [])
    assert len(keras1) == len(expected), keras1
    for (old, new), message in zip(expected, keras1):
        assert message.startswith(f"{old} is Keras 1's name") and new in message, (old, new, message)
    x = np.random.default_rng(0).standard_normal((2, 120, 161)).astype("float32")
    x[1, 70:] = 0  # a padded utterance in the batch
    y = _np(model.predict(x, verbose=0))
    assert y.shape == (2, model.output_length(120), 29) and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)


def test_keras1_names_build_what_the_keras2_names_build(student):
    model, _ = _build(student, "keras1_conv_model")
    conv, rnn = model.get_layer("conv1d"), model.get_layer("rnn")
    assert (conv.filters, conv.kernel_size, conv.strides, conv.padding) == (16, (11,), (2,), "valid")
    assert type(conv.kernel_initializer).__name__ == "HeNormal"
    assert (rnn.units, rnn.dropout, rnn.recurrent_dropout) == (32, 0.1, 0.1)
    assert rnn.cell.recurrent_activation is keras2_hard_sigmoid and rnn.cell.reset_after is False
    lstm_model, _ = _build(student, "lstm_model")
    first, second = lstm_model.get_layer("rnn_1"), lstm_model.get_layer("rnn_2")
    assert (first.dropout, first.recurrent_dropout) == (second.dropout, second.recurrent_dropout) == (0.2, 0.2)


@pytest.mark.parametrize("name", ["conv2d_rnn_model", "wavenet_model"])
def test_student_model_trains_one_epoch(student, name, tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    model, _ = _build(student, name)
    # the wavenet with Keras 2's RMSprop (its own update, vui/keras2_backend.py), the other with the seed's SGD
    optimizer = student.optimizers.RMSprop(lr=1e-3) if name == "wavenet_model" else None
    history = tu.train_model(model, f"{name}.pickle", f"{name}.h5", train_json=train_json, valid_json=valid_json,
                             epochs=1, verbose=0, results_dir=str(tmp_path), optimizer=optimizer)
    assert len(history["loss"]) == 1 and np.all(np.isfinite(history["loss"] + history["val_loss"]))


# --- the names -------------------------------------------------------------------------------------
def test_every_keras2_layer_name_is_in_sample_models():
    for name in KERAS2_LAYERS:
        assert callable(getattr(sm, name, None)), name
        assert getattr(sm.layers, name) is getattr(sm, name)
    for alias, name in KERAS2_ALIASES.items():
        assert getattr(sm, alias) is getattr(sm, name), alias
    for module in ("layers", "activations", "regularizers", "initializers", "constraints", "optimizers", "models", "K"):
        assert hasattr(sm, module), module
    assert sm.models.Model is sm.Model and sm.models.Sequential is keras.Sequential
    assert (sm.relu, sm.elu, sm.l2) == (sm.activations.relu, sm.activations.elu, sm.regularizers.l2)


@pytest.mark.parametrize("name", KERAS2_GONE)
def test_keras2_name_keras3_cannot_honour_says_what_to_write(name):
    with pytest.raises(keras2.Keras2Removed, match=f"(?i){name}.*{KERAS2_GONE[name]}"):
        getattr(sm, name)(4)
    if isinstance(getattr(sm, name), type):
        with pytest.raises(keras2.Keras2Removed, match=name):
            type("Mine", (getattr(sm, name),), {})  # a custom layer built on it fails where it is written


@pytest.mark.parametrize("call, attribute, expected, new_name", [
    (lambda: sm.GRU(4, dropout_W=0.3), "dropout", 0.3, "dropout"),
    (lambda: sm.LSTM(4, dropout_U=0.3), "recurrent_dropout", 0.3, "recurrent_dropout"),
    (lambda: sm.SimpleRNN(4, init="zeros"), "cell.kernel_initializer", "Zeros", "kernel_initializer"),
    (lambda: sm.GRU(4, inner_init="ones"), "cell.recurrent_initializer", "Ones", "recurrent_initializer"),
    (lambda: sm.LSTM(4, W_regularizer=sm.l2(0.5)), "cell.kernel_regularizer.l2", 0.5, "kernel_regularizer"),
    (lambda: sm.GRU(4, U_regularizer=sm.l2(0.5)), "cell.recurrent_regularizer.l2", 0.5, "recurrent_regularizer"),
    (lambda: sm.GRU(4, b_regularizer=sm.l2(0.5)), "cell.bias_regularizer.l2", 0.5, "bias_regularizer"),
    (lambda: sm.Dense(4, W_regularizer=sm.l2(0.5)), "kernel_regularizer.l2", 0.5, "kernel_regularizer"),
    (lambda: sm.Conv1D(4, 3, border_mode="same"), "padding", "same", "padding"),
    (lambda: sm.Conv1D(4, 3, subsample_length=2), "strides", (2,), "strides"),
    (lambda: sm.Conv1D(nb_filter=4, kernel_size=3), "filters", 4, "filters"),
    (lambda: sm.Conv1D(4, filter_length=5), "kernel_size", (5,), "kernel_size"),
    (lambda: sm.Dense(output_dim=7), "units", 7, "units"),
    (lambda: sm.GRU(output_dim=7), "units", 7, "units"),
    (lambda: sm.LSTM(output_dim=7), "units", 7, "units"),
    (lambda: sm.SimpleRNN(output_dim=7), "units", 7, "units"),
    (lambda: sm.LSTM(4, consume_less="mem"), "units", 4, "implementation=1"),
    (lambda: sm.MaxPooling1D(pool_length=3), "pool_size", (3,), "pool_size"),
    (lambda: sm.Dropout(p=0.25), "rate", 0.25, "rate"),
    (lambda: sm.Conv2D(8, 3, 5), "kernel_size", (3, 5), "kernel_size"),
    (lambda: sm.BatchNormalization(gamma_init="zeros"), "gamma_initializer", "Zeros", "gamma_initializer"),
])
def test_keras1_argument_is_converted_with_one_warning_naming_the_new_name(call, attribute, expected, new_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = call()
    messages = [str(w.message) for w in caught if issubclass(w.category, keras2.Keras1ArgumentWarning)]
    assert len(messages) == 1 and f"write {new_name}" in messages[0], messages
    assert caught[0].filename == __file__  # shown at the student's line
    value = layer
    for part in attribute.split("."):
        value = getattr(value, part)
    assert (type(value).__name__ if isinstance(expected, str) and attribute.endswith("initializer") else value) == expected


def test_keras1_and_keras2_name_together_are_refused():
    with pytest.raises(TypeError, match="keep dropout= only"):
        sm.GRU(4, dropout=0.1, dropout_W=0.2)
    with pytest.raises(ValueError, match="kernel size"):
        sm.Conv2D(8, 3, 3, strides=2)


def test_keras2_arguments_keras3_renamed():
    x = np.array([[-2.0, 0.5, 1.0, 3.0]], "float32")
    np.testing.assert_allclose(_np(sm.LeakyReLU(alpha=0.1)(x)), [[-0.2, 0.5, 1.0, 3.0]])
    np.testing.assert_allclose(_np(sm.LeakyReLU()(x)), [[-0.6, 0.5, 1.0, 3.0]], rtol=1e-6)
    np.testing.assert_allclose(_np(sm.ThresholdedReLU(theta=1.0)(x)), [[0, 0, 0, 3.0]])
    np.testing.assert_allclose(_np(sm.Activation("hard_sigmoid")(x)),
                               np.clip(0.2 * x + 0.5, 0, 1))  # Keras 2's, not Keras 3's relu6(x + 3) / 6
    assert sm.Dense(3, activation="hard_sigmoid").activation is keras2_hard_sigmoid
    with pytest.warns(keras2.Keras1ArgumentWarning, match="write Conv1D\\(\\.\\.\\., dilation_rate=2\\)"):
        assert sm.AtrousConvolution1D(4, 3, atrous_rate=2).dilation_rate == (2,)


def _same_outputs(layer, reference, x, weights) -> None:
    """`layer` and `reference` built for `x`, given `weights` (the reference's own, for it), compute the same."""
    layer.build(x.shape)
    reference.build(x.shape)
    layer.set_weights(weights[0])
    reference.set_weights(weights[1])
    np.testing.assert_allclose(_np(layer(x)), _np(reference(x)), atol=1e-5)


def test_cudnn_layers_compute_keras_gru_and_lstm_with_cudnns_biases():
    x = np.random.default_rng(2).standard_normal((2, 9, 5)).astype("float32")
    rng = np.random.default_rng(0)
    gru_weights = [rng.standard_normal(shape).astype("float32") for shape in ((5, 9), (3, 9), (2, 9))]
    _same_outputs(sm.CuDNNGRU(3, return_sequences=True),
                  keras.layers.GRU(3, return_sequences=True, reset_after=True, recurrent_activation="sigmoid"),
                  x, (gru_weights, gru_weights))
    kernel, recurrent, bias = (rng.standard_normal(shape).astype("float32") for shape in ((5, 12), (3, 12), (24,)))
    _same_outputs(sm.CuDNNLSTM(3, return_sequences=True),
                  keras.layers.LSTM(3, return_sequences=True, recurrent_activation="sigmoid"), x,
                  ([kernel, recurrent, bias], [kernel, recurrent, bias[:12] + bias[12:]]))  # the two biases add
    with pytest.raises(TypeError, match="CuDNNGRU has no activation argument"):
        sm.CuDNNGRU(3, activation="relu")


def test_cudnn_lstm_starts_with_keras2s_forget_bias():
    layer = sm.CuDNNLSTM(3)
    layer.build((None, None, 5))
    bias = _np(layer.cell.bias)
    np.testing.assert_array_equal(bias, [0] * 15 + [1] * 3 + [0] * 6)  # the recurrent forget bias is 1


def test_time_distributed_batch_norm_leaves_the_padding_out():
    x_in = sm.Input(shape=(None, 6))
    model = sm.Model(x_in, sm.TimeDistributed(sm.BatchNormalization())(sm.GRU(5, return_sequences=True)(x_in)))
    x = np.random.default_rng(4).standard_normal((2, 30, 6)).astype("float32")
    x[1, 20:] = 0
    longer = np.concatenate([x, np.zeros((2, 25, 6), "float32")], axis=1)
    short, long = (_np(model(batch, training=True)) for batch in (x, longer))
    np.testing.assert_allclose(short[0], long[0, :30], atol=1e-4)  # batch statistics of the real frames only
    np.testing.assert_allclose(short[1, :20], long[1, :20], atol=1e-4)


def test_course_models_keep_the_description_their_runs_were_fingerprinted_with():
    """train_utils' fingerprint of a run holds the model's layer descriptions: TimeDistributed(Dense) still
    describes Keras 3's Dense, as before Keras 2's names were added, so finished runs are not trained again."""
    model = sm.rnn_model(input_dim=13, units=4, activation="relu", verbose=False)
    wrapped = next(config["layer"] for name, config in tu.architecture(model) if name == "TimeDistributed")
    assert (wrapped["module"], wrapped["class_name"], wrapped["registered_name"]) == ("keras.layers", "Dense", None)
    again = sm.TimeDistributed.from_config(model.get_layer("time_dense").get_config())
    assert type(again.layer) is keras.layers.Dense and again.layer.units == 29


def test_softmax_layer_takes_the_padding_mask():
    x_in = sm.Input(shape=(None, 4))
    model = sm.Model(x_in, sm.Softmax()(sm.Dense(3)(x_in)))
    y = _np(model(np.ones((1, 7, 4), "float32")))
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-6)


def test_custom_layer_takes_keras2s_add_weight_orders():
    class Scale(sm.Layer):
        def build(self, input_shape):
            self.a = self.add_weight("a", (input_shape[-1],), initializer="ones")  # Keras 2.1: name, shape
            self.b = self.add_weight((input_shape[-1],), "zeros", "b")  # Keras 2.0.0: shape, initializer, name
            super().build(input_shape)

        def call(self, x):
            return x * self.a + self.b

    layer = Scale()
    np.testing.assert_allclose(_np(layer(np.full((1, 3), 2.0, "float32"))), [[2.0, 2.0, 2.0]])
    assert [w.name for w in layer.weights] == ["a", "b"]


def test_a_model_that_cannot_compute_fails_at_its_model_line():
    x_in = sm.Input(shape=(None, 4))
    layer = sm.Activation(lambda t: undefined_activation(t))  # noqa: F821  (the student's mistake)
    with pytest.raises(NameError, match="undefined_activation") as raised:
        sm.Model(x_in, layer(sm.Dense(3)(x_in)))
    assert "raised when Model ran the model once" in "".join(getattr(raised.value, "__notes__", []))


# --- K and the function modules --------------------------------------------------------------------
def test_K_has_keras2s_backend_functions():
    K = sm.K
    x = np.arange(6, dtype="float32").reshape(2, 3) - 2
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(_np(K.softmax(x)), e / e.sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(_np(K.relu(x, alpha=0.5)), np.where(x > 0, x, 0.5 * x))
    np.testing.assert_allclose(_np(K.relu(x, max_value=1.0)), np.clip(x, 0, 1))
    assert _np(K.expand_dims(x)).shape == (2, 3, 1)  # Keras 2's default axis -1
    assert _np(K.squeeze(K.expand_dims(x), -1)).shape == (2, 3)
    assert _np(K.concatenate([x, x])).shape == (2, 6)  # Keras 2's default axis -1 (keras.ops: 0)
    assert float(_np(K.sum(x))) == x.sum() and float(_np(K.mean(x))) == x.mean()
    np.testing.assert_allclose(_np(K.sum(x, axis=1, keepdims=True)), x.sum(1, keepdims=True))
    assert _np(K.reshape(x, (3, 2))).shape == (3, 2) and tuple(K.shape(x)) == (2, 3) and K.int_shape(x) == (2, 3)
    assert K.ndim(x) == 2 and K.dtype(x) == "float32"
    y = np.random.default_rng(0).standard_normal((4, 3, 5)).astype("float32")
    np.testing.assert_allclose(_np(K.dot(x, y)), np.dot(x, y), rtol=1e-5)  # numpy's dot: (2, 3).(4, 3, 5) -> (2, 4, 5)
    np.testing.assert_allclose(_np(K.dot(x, y[0])), x @ y[0], rtol=1e-5)
    np.testing.assert_array_equal(_np(K.argmax(x)), x.argmax(-1))
    np.testing.assert_allclose(_np(K.hard_sigmoid(x)), np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(_np(K.permute_dimensions(y, (2, 0, 1))), y.transpose(2, 0, 1))
    assert _np(K.repeat(x, 4)).shape == (2, 4, 3) and _np(K.batch_flatten(y)).shape == (4, 15)
    np.testing.assert_allclose(_np(K.l2_normalize(x, axis=-1)), x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-6)
    variable = K.variable(np.ones((2, 2)))
    K.set_value(variable, np.zeros((2, 2)))
    np.testing.assert_array_equal(K.get_value(variable), np.zeros((2, 2)))
    np.testing.assert_allclose(K.eval(K.switch(x > 0, x, -x)), np.abs(x))


def test_K_ctc_functions_are_keras2s_with_the_last_class_as_blank():
    K = sm.K
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(29), size=(2, 12)).astype("float32")
    labels = np.array([[2, 3, 4], [5, 28, 28]], "int32")
    lengths, label_lengths = np.array([[12], [9]]), np.array([[3], [1]])
    np.testing.assert_allclose(_np(K.ctc_batch_cost(labels, probs, lengths, label_lengths)),
                               _np(tu.ctc_lambda_func([probs, labels, lengths, label_lengths])), rtol=1e-5)
    decoded, log_prob = K.ctc_decode(probs, np.array([12, 9]))
    best, paths = probs.argmax(-1), []
    for i, n in enumerate((12, 9)):  # best path: repeats merged, blanks (28) dropped
        paths.append([c for j, c in enumerate(best[i, :n]) if (j == 0 or c != best[i, j - 1]) and c != 28])
    rows = _np(decoded[0])
    assert rows.shape == (2, max(len(p) for p in paths))  # as wide as the longest decoding, as TensorFlow's
    for row, path in zip(rows, paths):
        assert row.tolist() == path + [-1] * (rows.shape[1] - len(path))
    np.testing.assert_allclose(_np(log_prob)[:, 0], [-np.log(probs[i, :n].max(-1)).sum() for i, n in enumerate((12, 9))],
                               rtol=1e-4)  # TensorFlow's greedy score: minus the sum of the best log-probabilities


@pytest.mark.parametrize("name, instead", [("set_session", "delete the call"), ("get_session", "no sessions"),
                                           ("tensorflow_backend", "configure_gpu_memory_growth"),
                                           ("function", "call the model"), ("batch_dot", "keras.ops.einsum")])
def test_K_says_what_to_write_for_what_keras3_lacks(name, instead):
    with pytest.raises(keras2.Keras2Removed, match=f"K.{name} is Keras 2's: .*{instead}"):
        getattr(sm.K, name)


def test_function_modules_are_keras2s():
    x = np.array([-3.0, -0.5, 0.0, 2.0], "float32")
    np.testing.assert_allclose(_np(sm.activations.hard_sigmoid(x)), np.clip(0.2 * x + 0.5, 0, 1))
    np.testing.assert_allclose(_np(sm.activations.relu(x, alpha=0.1)), np.where(x > 0, x, 0.1 * x))
    assert sm.activations.get("hard_sigmoid") is keras2_hard_sigmoid
    penalty = sm.regularizers.l1_l2()  # Keras 2's defaults: 0.01 each (Keras 3's: 0)
    assert float(_np(penalty(x))) == pytest.approx(0.01 * np.abs(x).sum() + 0.01 * (x ** 2).sum(), rel=1e-6)
    assert sm.regularizers.l2(l=0.5).l2 == 0.5
    assert type(sm.initializers.normal()).__name__ == "RandomNormal" and sm.constraints.maxnorm is keras.constraints.MaxNorm
    seed = tu.seed_optimizer().get_config()
    ours = sm.optimizers.SGD(lr=0.02, decay=1e-6, momentum=0.9, nesterov=True, clipnorm=5).get_config()
    assert {k: v for k, v in ours.items() if k != "name"} == {k: v for k, v in seed.items() if k != "name"}
    assert sm.optimizers.Adadelta().get_config()["learning_rate"] == 1.0  # Keras 2's default (Keras 3's: 0.001)


def _one_variable_steps(optimizer, gradients):
    """The values of a variable (starting at 1.0) after `optimizer` applies each gradient in turn."""
    variable = keras.Variable(np.array([1.0], "float32"))
    values = []
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(np.array([g], "float32"))], [variable])
        values.append(float(_np(variable)[0]))
    return values


def test_keras2_optimizer_updates():
    gradients = [0.5, -0.2, 0.3]
    # RMSprop: a = 0.9 a + 0.1 g^2; w -= 0.01 g / (sqrt(a) + 1e-7)
    w, a, expected = 1.0, 0.0, []
    for g in gradients:
        a = 0.9 * a + 0.1 * g * g
        w -= 0.01 * g / (np.sqrt(a) + 1e-7)
        expected.append(w)
    np.testing.assert_allclose(_one_variable_steps(sm.optimizers.RMSprop(lr=0.01), gradients), expected, rtol=1e-5)
    # Adagrad: a += g^2 from 0; w -= 0.01 g / (sqrt(a) + 1e-7)
    w, a, expected = 1.0, 0.0, []
    for g in gradients:
        a += g * g
        w -= 0.01 * g / (np.sqrt(a) + 1e-7)
        expected.append(w)
    np.testing.assert_allclose(_one_variable_steps(sm.optimizers.Adagrad(lr=0.01), gradients), expected, rtol=1e-5)
    # Nadam: Keras 2's momentum schedule 0.9 (1 - 0.5 x 0.96^(0.004 t))
    w, m, v, schedule, expected = 1.0, 0.0, 0.0, 1.0, []
    for t, g in enumerate(gradients, start=1):
        cache, cache_next = (0.9 * (1 - 0.5 * 0.96 ** (s * 0.004)) for s in (t, t + 1))
        schedule_new = schedule * cache
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        m_bar = (1 - cache) * g / (1 - schedule_new) + cache_next * m / (1 - schedule_new * cache_next)
        w -= 0.002 * m_bar / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-7)
        schedule = schedule_new
        expected.append(w)
    np.testing.assert_allclose(_one_variable_steps(sm.optimizers.Nadam(), gradients), expected, rtol=1e-5)
