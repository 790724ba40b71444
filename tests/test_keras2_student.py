"""A student's model code, written for Keras 2 as the course teaches it, builds and trains in sample_models.py.

tests/data/student_models_2017.py holds the original template's finished simple_rnn_model and
cnn_rnn_model and a student's rnn_model, deep_rnn_model, bidirectional_rnn_model and final_model (dilated
convolutions, MaxPooling1D, dropout), in Keras 2 calls; the tests place it in a copy of
sample_models.py below its imports, as a student edits the file.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import sample_models as sm
import train_utils as tu
from tests.conftest import ROOT
from vui import keras2
from vui.layers import keras2_hard_sigmoid
from vui.seed_recipe_check import sample_models_with

STUDENT_CODE = os.path.join(ROOT, "tests", "data", "student_models_2017.py")


def keras2_gru(inputs: int, units: int) -> int:
    """Keras 2's GRU: kernel (inputs, 3 units), recurrent kernel (units, 3 units), one bias (3 units)."""
    return 3 * (units * (inputs + units) + units)


def keras2_conv1d(inputs: int, filters: int, kernel: int) -> int:
    return kernel * inputs * filters + filters  # kernel (kernel, inputs, filters) + bias


def keras2_batch_norm(channels: int) -> int:
    return 4 * channels  # gamma, beta, moving mean, moving variance


def keras2_dense(inputs: int, units: int) -> int:
    return inputs * units + units


# The student's final_model(161): three 'valid' Conv1D (200 filters, kernel 3, dilations 1, 2, 4), each
# with batch normalisation, MaxPooling1D and Dropout (no parameters), a GRU of 200, batch
# normalisation, and a Dense of 29 at each frame, counted with Keras 2's definitions above.
KERAS2_FINAL = (keras2_conv1d(161, 200, 3) + 2 * keras2_conv1d(200, 200, 3) + 3 * keras2_batch_norm(200)
                + keras2_gru(200, 200) + keras2_batch_norm(200) + keras2_dense(200, 29))

# student builder: (its call, Keras 2's parameter count, the project's builder of the same architecture and its call)
STUDENT_MODELS = {
    "simple_rnn_model": (dict(input_dim=161), 16617, "simple_rnn_model", dict(input_dim=161)),
    "rnn_model": (dict(input_dim=161, units=200, activation="relu"), 223829,
                  "rnn_model", dict(input_dim=161, units=200, activation="relu")),
    "cnn_rnn_model": (dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200),
                      442029, "cnn_rnn_model",
                      dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200)),
    "deep_rnn_model": (dict(input_dim=161, units=200, recur_layers=2), 465229,
                       "deep_rnn_model", dict(input_dim=161, units=200, recur_layers=2)),
    "bidirectional_rnn_model": (dict(input_dim=161, units=200), 446029,
                                "bidirectional_rnn_model", dict(input_dim=161, units=200)),
    "final_model": (dict(input_dim=161), KERAS2_FINAL, "dilated_cnn_rnn_model",
                    dict(input_dim=161, filters=200, kernel_size=3, dilation_rates=(1, 2, 4), units=200, pool_size=2,
                         dropout=0.2)),
}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student's edited sample_models.py, imported."""
    return sample_models_with(STUDENT_CODE, str(tmp_path_factory.mktemp("student")))


def test_keras2_count_of_the_final_model():
    assert KERAS2_FINAL == 96_800 + 2 * 120_200 + 2_400 + 240_600 + 800 + 5_829 == 586_829


def test_the_copy_holds_the_students_code_below_the_imports(student):
    with open(student.__file__, encoding="utf-8") as f:
        text = f.read()
    imports = text.index("MaxPooling1D, Dropout, Merge, merge)")
    assert imports < text.index("def simple_rnn_model(input_dim, output_dim=29):") < text.index("def builder(")
    assert text.count("def cnn_rnn_model(") == 1  # the project's own was replaced
    assert student.cnn_rnn_model.__module__ == student.__name__


def _random_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    """Weights of `model`'s shapes, small and random (moving variances positive)."""
    rng = np.random.default_rng(seed)
    weights = []
    for variable in model.weights:
        value = 0.1 * rng.standard_normal(variable.shape)
        if "variance" in variable.path:
            value = 0.5 + np.abs(value)
        weights.append(value.astype("float32"))
    return weights


@pytest.mark.parametrize("name", STUDENT_MODELS)
def test_student_model_builds_with_keras2_counts_and_computes_as_the_projects(student, name, capsys):
    call, keras2_params, ours_name, ours_call = STUDENT_MODELS[name]
    model = getattr(student, name)(**call)
    assert "Total params" in capsys.readouterr().out  # print(model.summary()) as in the course
    assert model.count_params() == keras2_params
    ours = getattr(sm, ours_name)(**ours_call, verbose=False)
    assert ours.count_params() == keras2_params
    assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in ours.layers]
    for frames in (57, 100, 223):
        assert int(model.output_length(frames)) == int(ours.output_length(frames))
    weights = _random_weights(model, seed=len(name))
    model.set_weights(weights)
    ours.set_weights(weights)
    x = np.random.default_rng(0).standard_normal((2, 120, 161)).astype("float32")
    x[1, 70:] = 0  # a padded utterance in the batch
    got, expected = (keras.ops.convert_to_numpy(m.predict(x, verbose=0)) for m in (model, ours))
    assert got.shape == (2, model.output_length(120), 29)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_student_models_compute_keras2s_layers(student):
    model = student.rnn_model(input_dim=13, units=5, activation="relu")
    rnn = model.get_layer("rnn")
    assert rnn.cell.recurrent_activation is keras2_hard_sigmoid and rnn.cell.reset_after is False
    assert type(model.get_layer("bn_simp_rnn")) is sm.BatchNormalization  # the two-pass variance
    lstm = keras2.LSTM(4, implementation=1)
    assert lstm.cell.recurrent_activation is keras2_hard_sigmoid
    assert keras2.GRU(4, recurrent_activation="sigmoid").cell.recurrent_activation is keras.activations.sigmoid


def test_student_model_masks_the_padding(student):
    """The student wrote no mask: the padding of a batch still leaves the real frames' outputs alone."""
    model = student.cnn_rnn_model(input_dim=13, filters=6, kernel_size=5, conv_stride=2, conv_border_mode="valid", units=7)
    x = np.random.default_rng(4).standard_normal((2, 60, 13)).astype("float32")
    x[1, 35:] = 0
    longer = np.concatenate([x, np.zeros((2, 50, 13), "float32")], axis=1)
    short, long = (keras.ops.convert_to_numpy(model(batch, training=True)) for batch in (x, longer))
    for utterance, frames in ((0, 60), (1, 35)):
        real = model.output_length(frames)
        np.testing.assert_allclose(short[utterance, :real], long[utterance, :real], atol=1e-4)


@pytest.mark.parametrize("name", STUDENT_MODELS)
def test_student_model_trains_two_epochs_and_its_weights_load_into_the_projects(student, name, tiny_corpus, tmp_path):
    call, _, ours_name, ours_call = STUDENT_MODELS[name]
    train_json, valid_json = tiny_corpus
    model = getattr(student, name)(**call)
    history = tu.train_model(model, f"{name}.pickle", f"{name}.h5", train_json=train_json, valid_json=valid_json,
                             epochs=2, verbose=0, results_dir=str(tmp_path))  # the seed's SGD, batches of 20
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"] + history["val_loss"]))
    ours = getattr(sm, ours_name)(**ours_call, verbose=False)
    ours.load_weights(os.path.join(tmp_path, f"{name}.h5"))
    x = np.random.default_rng(1).standard_normal((1, 90, 161)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours.predict(x, verbose=0)),
                               keras.ops.convert_to_numpy(model.predict(x, verbose=0)), atol=1e-5)


def test_a_wrong_or_missing_output_length_is_refused_before_training(student, tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    model = student.cnn_rnn_model(input_dim=161, filters=4, kernel_size=11, conv_stride=2, conv_border_mode="valid",
                                  units=4)
    model.output_length = lambda x: x  # the convolution's shortening forgotten
    with pytest.raises(ValueError, match=r"output_length\(101\) gives 101, but the model outputs 46 frames"):
        tu.train_model(model, "m.pickle", "m.h5", train_json=train_json, valid_json=valid_json, results_dir=str(tmp_path / "results"))
    del model.output_length
    with pytest.raises(ValueError, match="has no output_length: set model.output_length = lambda x: x"):
        tu.train_model(model, "m.pickle", "m.h5", train_json=train_json, valid_json=valid_json, results_dir=str(tmp_path / "results"))
    assert not os.path.exists(tmp_path / "results")  # refused before anything was written


def test_keras2_code_that_cannot_work_says_what_to_write():
    with pytest.raises(keras2.Keras2Removed, match=r"Merge\(\.\.\.\) is gone .* Concatenate\(\)\(\[a, b\]\)"):
        sm.Merge([1, 2], mode="concat")
    with pytest.raises(keras2.Keras2Removed, match="K.set_session is Keras 2's: TensorFlow 2 has no sessions"):
        sm.K.set_session(None)
    with pytest.raises(keras2.Keras2Removed, match="write keras.ops.einsum"):
        sm.K.batch_dot
    with pytest.raises(keras2.Keras2Removed, match="write keras.ops.fft"):
        sm.K.fft  # no Keras 2 name: K points to keras.ops
    assert sm.K.epsilon() == keras.backend.epsilon()  # what Keras 3 still has works
    assert float(keras.ops.convert_to_numpy(sm.K.sum(np.ones(3)))) == 3.0  # Keras 2's K.sum is keras.ops.sum
    with pytest.raises(ModuleNotFoundError, match="tensorflow_backend is Keras 2's.*configure_gpu_memory_growth"):
        from keras.backend.tensorflow_backend import set_session  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match="keras.layers.recurrent is Keras 2's.*from sample_models import GRU"):
        importlib.import_module("keras.layers.recurrent")


TIME_DISTRIBUTED_CHECK = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from sample_models import Dense, Input, Model, TimeDistributed
x = Input(shape=(None, 6))
dense = Dense(4)
model = Model(x, TimeDistributed(dense)(x))
for frames in (7, 19, 3):  # one model, batches of different lengths
    batch = np.random.default_rng(frames).standard_normal((2, frames, 6)).astype("float32")
    out = model.predict(batch, verbose=0)
    assert out.shape == (2, frames, 4), out.shape
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(out, batch @ kernel + bias, atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("backend_name", ["tensorflow", "jax", "torch"])
def test_time_distributed_is_right_for_every_batch_length(backend_name):
    """Keras 3's own TimeDistributed gave wrong time dimensions on TensorFlow when lengths vary."""
    pytest.importorskip(backend_name)
    env = {**os.environ, "KERAS_BACKEND": backend_name}
    result = subprocess.run([sys.executable, "-c", TIME_DISTRIBUTED_CHECK.format(root=ROOT)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
