"""sample_models: the seed's parameter counts, output lengths, rebuilding from a description."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import sample_models as sm
from char_map import NUM_CLASSES
from tests.conftest import ROOT
from vui.fast_rnn import FastGRU
from vui.layers import BatchNormalization, keras2_hard_sigmoid

SEED_CALLS = {
    "simple_rnn_model": (dict(input_dim=161), 16617),
    "rnn_model": (dict(input_dim=161, units=200, activation="relu"), 223829),
    "cnn_rnn_model": (dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200), 442029),
    "deep_rnn_model": (dict(input_dim=161, units=200, recur_layers=2), 465229),
    "bidirectional_rnn_model": (dict(input_dim=161, units=200), 446029),
    "final_model": (dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200, recur_layers=2), 1572429),
}

SMALL_CALLS = {
    "simple_rnn_model": dict(),
    "rnn_model": dict(units=8, activation="relu"),
    "cnn_rnn_model": dict(filters=8, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=8),
    "deep_rnn_model": dict(units=8, recur_layers=2),
    "bidirectional_rnn_model": dict(units=8),
    "final_model": dict(filters=8, kernel_size=11, conv_stride=3, conv_border_mode="same", units=8),
    "dilated_cnn_rnn_model": dict(filters=8, kernel_size=3, dilation_rates=(1, 2, 4)),
    "cnn_pool_rnn_model": dict(filters=8, kernel_size=5, pool_size=3, conv_border_mode="valid", units=8),
    "deep_bidirectional_rnn_model": dict(units=8, recur_layers=3),
}


@pytest.mark.parametrize("name", SEED_CALLS)
def test_seed_parameter_counts(name):
    kwargs, params = SEED_CALLS[name]
    assert getattr(sm, name)(**kwargs, verbose=False).count_params() == params


def test_seed_layer_parameter_breakdown():
    rnn = sm.rnn_model(input_dim=161, units=200, activation="relu", verbose=False)
    assert [l.count_params() for l in rnn.layers if l.count_params()] == [217200, 800, 5829]
    bi = sm.bidirectional_rnn_model(input_dim=161, units=200, verbose=False)
    assert [l.count_params() for l in bi.layers if l.count_params()] == [434400, 11629]


def test_deep_rnn_with_one_layer_is_rnn_model():
    deep = sm.deep_rnn_model(input_dim=161, units=200, recur_layers=1, verbose=False)
    rnn = sm.rnn_model(input_dim=161, units=200, activation="relu", verbose=False)
    describe = lambda m: [(type(l).__name__, l.name, [w.shape for w in l.weights]) for l in m.layers]
    assert describe(deep) == describe(rnn)
    assert deep.get_layer("rnn").activation.__name__ == "relu"


@pytest.mark.parametrize("name", SMALL_CALLS)
@pytest.mark.parametrize("input_dim", [161, 13])
def test_output_length_matches_real_output(name, input_dim):
    model = getattr(sm, name)(input_dim=input_dim, **SMALL_CALLS[name], verbose=False)
    for frames in (57, 101, 223):  # odd lengths, and batches of different lengths in turn
        out = model.predict(np.random.default_rng(frames).standard_normal((2, frames, input_dim)).astype("float32"), verbose=0)
        assert out.shape == (2, model.output_length(frames), NUM_CLASSES)
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-4)


def test_build_spec_rebuilds_the_same_model():
    model = sm.dilated_cnn_rnn_model(input_dim=13, filters=8, kernel_size=3, dilation_rates=(1, 2), verbose=False)
    spec = model.build_spec
    assert spec["builder"] == "dilated_cnn_rnn_model" and spec["kwargs"]["dilation_rates"] == (1, 2)
    again = sm.build_model({"builder": spec["builder"], "kwargs": {**spec["kwargs"], "dilation_rates": [1, 2]}})
    assert again.count_params() == model.count_params() and again.output_length(100) == model.output_length(100)
    with pytest.raises(ValueError, match="unknown model builder 'nope'"):
        sm.build_model({"builder": "nope"})


def test_builders_print_summary(capsys):
    sm.simple_rnn_model(input_dim=13)
    assert "Total params" in capsys.readouterr().out


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("dropout,recurrent_dropout", [(0.0, 0.0), (0.5, 0.5), (0.3, 0.0)])
def test_fast_gru_equals_keras_gru(activation, go_backwards, dropout, recurrent_dropout):
    """FastGRU (the seed's reset_after=False GRU with a faster torch loop) gives Keras' GRU outputs and
    gradients for the same weights, including dropout with the same masks."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 23, 10)).astype("float32")
    kw = dict(units=7, activation=activation, return_sequences=True, reset_after=False, go_backwards=go_backwards,
              dropout=dropout, recurrent_dropout=recurrent_dropout)
    ref, fast = keras.layers.GRU(**kw), FastGRU(**kw)
    ref(x), fast(x)
    fast.set_weights(ref.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast(x)), keras.ops.convert_to_numpy(ref(x)), atol=1e-5)
    if keras.backend.backend() != "torch":
        return
    import torch

    def masks(width: int, rate: float):  # Keras' format: three per gate with recurrent dropout, else one
        if not rate:
            return None
        one = [keras.ops.convert_to_tensor((rng.random((3, width)) > rate).astype("float32") / (1 - rate)) for _ in range(3)]
        return one if recurrent_dropout else one[0]

    in_masks, rec_masks = masks(10, dropout), masks(7, recurrent_dropout)
    results = []
    for layer in (ref, fast):
        layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask = in_masks, rec_masks  # as Keras caches them
        y = layer(torch.tensor(x), training=True)
        y.square().sum().backward()
        results.append((y.detach().numpy(), [w.value.grad.numpy().copy() for w in layer.trainable_weights]))
    np.testing.assert_allclose(results[1][0], results[0][0], atol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_fast_gru_keras2_gates_and_masks_equal_keras_gru(go_backwards, zero_output_for_mask):
    """With Keras 2's hard-sigmoid gates and a padding mask, FastGRU gives Keras' GRU outputs and gradients."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 17, 10)).astype("float32")
    mask = np.arange(17)[None, :] < np.array([[17], [9], [4]])
    kw = dict(units=7, activation="relu", recurrent_activation=keras2_hard_sigmoid, return_sequences=True,
              reset_after=False, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask)
    ref, fast = keras.layers.GRU(**kw), FastGRU(**kw)
    ref(x), fast(x)
    fast.set_weights([w * 3 for w in ref.get_weights()])  # larger weights: gates reach the clip at 0 and 1
    ref.set_weights(fast.get_weights())
    outs = [keras.ops.convert_to_numpy(layer(x, mask=mask)) for layer in (ref, fast)]
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
    if keras.backend.backend() == "torch":
        import torch

        grads = []
        for layer in (ref, fast):
            layer(torch.tensor(x), mask=torch.tensor(mask)).square().sum().backward()
            grads.append([w.value.grad.numpy().copy() for w in layer.trainable_weights])
        for a, b in zip(*grads):  # float32 sums of large terms: tolerance relative to the largest
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * np.abs(a).max())


def test_keras2_hard_sigmoid_is_keras2s_slope():
    import keras

    got = keras.ops.convert_to_numpy(keras2_hard_sigmoid(keras.ops.convert_to_tensor([-3.0, -2.5, 0.0, 1.0, 2.5, 3.0])))
    np.testing.assert_allclose(got, [0.0, 0.0, 0.5, 0.7, 1.0, 1.0], atol=1e-7)


def test_seed_grus_gate_like_keras2():
    model = sm.rnn_model(input_dim=13, units=5, activation="relu", verbose=False)
    assert model.get_layer("rnn").cell.recurrent_activation is keras2_hard_sigmoid


def test_batch_norm_two_pass_variance_is_finite_where_one_pass_is_not():
    """Huge activations (as a ReLU RNN reaches over padding) give a finite output with the two-pass
    variance, where mean(x^2) - mean(x)^2 is inf - inf."""
    import keras

    x = np.ones((2, 4, 3), dtype="float32")
    x[0, 0] = 3e19  # its square overflows float32
    layer = BatchNormalization()
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.isfinite(out).all()
    # a large mean against a spread of 1: the exact (float64) batch normalisation
    shifted = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32") + 1000.0
    exact = (shifted - shifted.mean(axis=(0, 1), dtype=np.float64)) / np.sqrt(shifted.var(axis=(0, 1), dtype=np.float64) + 1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(BatchNormalization()(shifted, training=True)), exact, atol=1e-3)


def test_padding_mask_follows_convolution_and_pooling():
    """Input marks the all-zero frames; Conv1D and MaxPooling1D shorten the mark as they shorten the
    sequence: conv_output_length(valid frames) stay real."""
    import keras

    model = sm.cnn_rnn_model(input_dim=4, filters=3, kernel_size=3, conv_stride=2, conv_border_mode="valid", units=5,
                             verbose=False)
    x = np.random.default_rng(0).standard_normal((2, 11, 4)).astype("float32")
    x[1, 6:] = 0  # 6 real frames: 2 output frames, then padding
    mask = model.get_layer("the_input_padding").compute_mask(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), [[True] * 11, [True] * 6 + [False] * 5])
    conv_mask = keras.ops.convert_to_numpy(model.get_layer("conv1d").compute_mask(x, mask))
    np.testing.assert_array_equal(conv_mask, [[True] * 5, [True, True, False, False, False]])
    for padding, kernel, stride, dilation in (("valid", 3, 2, 1), ("same", 5, 3, 1), ("valid", 3, 1, 2), ("causal", 2, 1, 2)):
        conv = sm.Conv1D(2, kernel, strides=stride, padding=padding, dilation_rate=dilation)
        got = keras.ops.convert_to_numpy(conv.compute_mask(x, mask))
        for row, real in zip(got, (11, 6)):
            assert len(row) == sm.cnn_output_length(11, kernel, padding, stride, dilation=dilation)
            assert row.sum() == sm.cnn_output_length(real, kernel, padding, stride, dilation=dilation)
            assert row[: row.sum()].all()
    pool = keras.ops.convert_to_numpy(sm.MaxPooling1D(pool_size=2).compute_mask(x, mask))
    np.testing.assert_array_equal(pool, [[True] * 5, [True] * 3 + [False] * 2])


PADDING_CALLS = {**SMALL_CALLS, "final_model": dict(SMALL_CALLS["final_model"], dropout=0.0, recurrent_dropout=0.0),
                 "dilated_cnn_rnn_model": dict(SMALL_CALLS["dilated_cnn_rnn_model"], pool_size=2)}


@pytest.mark.parametrize("name", PADDING_CALLS)
def test_outputs_on_real_frames_do_not_depend_on_the_padding(name):
    """Every builder masks the padding: recurrent layers (both directions) and batch statistics leave it
    out, so in training mode the real frames' outputs are the same whatever padding follows them."""
    import keras

    model = getattr(sm, name)(input_dim=13, **PADDING_CALLS[name], verbose=False)
    x = np.random.default_rng(3).standard_normal((2, 80, 13)).astype("float32")
    x[1, 50:] = 0  # the second utterance: 50 frames and 30 of padding
    longer = np.concatenate([x, np.zeros((2, 40, 13), "float32")], axis=1)
    short, long = (keras.ops.convert_to_numpy(model(batch, training=True)) for batch in (x, longer))
    for utterance, frames in ((0, 80), (1, 50)):
        real = model.output_length(frames)
        np.testing.assert_allclose(short[utterance, :real], long[utterance, :real], atol=1e-4)


def test_mixed_precision_keeps_softmax_and_ctc_in_float32(tiny_corpus, tmp_path):
    import keras

    import train_utils as tu

    try:
        assert sm.enable_mixed_precision() == "mixed_float16"
        model = sm.conv_bigru_model(input_dim=161, filters=8, units=8, recur_layers=1, cell="lstm", verbose=False)
        assert model.get_layer("conv1d_0").compute_dtype == "float16"
        assert model.get_layer("softmax").compute_dtype == "float32" and model.output.dtype == "float32"
        train_json, valid_json = tiny_corpus
        history = tu.train_model(model, "mp.pickle", "mp.h5", train_json, valid_json, minibatch_size=8, epochs=1,
                                 verbose=0, results_dir=str(tmp_path), optimizer=keras.optimizers.Adam(1e-3))
        assert np.isfinite(history["loss"][0]) and np.isfinite(history["val_loss"][0])
        assert all(w.dtype == "float32" for w in model.weights)
    finally:
        assert sm.enable_mixed_precision(False) == "float32"


PREVIOUS_BUILDERS = os.path.join(ROOT, "tests", "data", "previous_builders")
with open(os.path.join(PREVIOUS_BUILDERS, "calls.json"), encoding="utf-8") as _f:
    PREVIOUS_CALLS: dict[str, dict] = json.load(_f)


@pytest.mark.parametrize("name", PREVIOUS_CALLS)
def test_weights_saved_by_the_previous_builders_load_and_give_their_outputs(name):
    """tests/data/previous_builders: small models of every builder as they were before the builders were
    rewritten in the course's style (commit 26b3118: PaddingMask layers, a plain Dense; random weights and
    batch-norm statistics), saved as the notebook saves them
    (model_N.h5, Keras 2's HDF5 layout), with their outputs on a fixed input; they still load and agree."""
    model = getattr(sm, name)(**PREVIOUS_CALLS[name], verbose=False)
    model.load_weights(os.path.join(PREVIOUS_BUILDERS, f"{name}.h5"))
    with np.load(os.path.join(PREVIOUS_BUILDERS, "outputs.npz")) as saved:
        np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved[name], atol=1e-5)
