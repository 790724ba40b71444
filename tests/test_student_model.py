"""A model a student writes in plain Keras (no sample_models builder) works in every cell, and an
edited model is trained again rather than taken for the one saved under the same file names."""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import layers

import train_utils as tu
from utils import conv_output_length


def student_model(activation: str = "relu") -> keras.Model:
    """What the original's template has students write: Model + output_length, nothing else."""
    input_data = layers.Input(name="the_input", shape=(None, 161))
    x = layers.Conv1D(16, 5, strides=2, padding="same", activation=activation)(input_data)
    x = layers.GRU(16, return_sequences=True)(x)
    y_pred = layers.Activation("softmax")(layers.Dense(29)(x))
    model = keras.Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda frames: conv_output_length(frames, 5, "same", 2)
    return model


def test_student_model_trains_and_appears_in_every_table(tiny_corpus, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from vui.display import get_predictions, plot_loss_comparison
    from vui.evaluate import comparison_table, load_histories, summarize_histories, training_table

    train_json, valid_json = tiny_corpus
    monkeypatch.chdir(tmp_path)
    history = tu.train_model(student_model(), "model_s.pickle", "model_s.h5", train_json=train_json,
                             valid_json=valid_json, minibatch_size=8, epochs=1, verbose=0,
                             optimizer=keras.optimizers.Adam(1e-3))
    assert np.isfinite(history["loss"][0])
    histories = load_histories("results", valid_json)
    assert "model_s" in histories
    assert "model_s" in summarize_histories(histories)
    params = f"{student_model().count_params():,}"
    row = f"| model_s | {params} | 1 | {history['epoch_seconds'][0]:.0f} | {history['loss'][0]:.1f} / {history['val_loss'][0]:.1f} |"
    assert row in training_table("results", valid_json) and row.endswith("|")
    plot_loss_comparison(histories=histories)
    table = comparison_table("results", valid_json)  # no exception: left out with a note
    assert "model_s" not in getattr(table, "index", [])
    assert "model_s: left out of the error-rate table" in capsys.readouterr().out
    true, predicted = get_predictions(0, "validation", student_model(), "model_s.h5", train_json=train_json,
                                      valid_json=valid_json)
    assert true and isinstance(predicted, str)


def test_edited_model_is_trained_again_not_reloaded(tiny_corpus, tmp_path, capsys):
    train_json, valid_json = tiny_corpus
    kwargs = dict(train_json=train_json, valid_json=valid_json, minibatch_size=8, epochs=1, verbose=0,
                  results_dir=str(tmp_path), optimizer=keras.optimizers.Adam(1e-3))
    keras.utils.set_random_seed(0)
    tu.train_model(student_model("relu"), "m.pickle", "m.h5", **kwargs)
    capsys.readouterr()
    keras.utils.set_random_seed(0)
    again = tu.train_model(student_model("relu"), "m.pickle", "m.h5", **kwargs)  # same model: loaded
    out = capsys.readouterr()
    assert "already holds this model" in out.out and len(again["loss"]) == 1
    edited = student_model("tanh")
    before = [w.copy() for w in edited.get_weights()]
    tu.train_model(edited, "m.pickle", "m.h5", **kwargs)
    err = capsys.readouterr().err
    assert "holds another model" in err and "training this one from scratch" in err
    assert any(not np.allclose(a, b) for a, b in zip(before, edited.get_weights()))  # trained, not loaded
    reloaded = student_model("tanh")
    reloaded.load_weights(os.path.join(tmp_path, "m.h5"))
    for a, b in zip(reloaded.get_weights(), edited.get_weights()):
        np.testing.assert_allclose(a, b)


def test_architecture_ignores_layer_names_but_not_activations():
    a, b = student_model("relu"), student_model("relu")  # Keras names these layers differently
    assert [layer.name for layer in a.layers] != [layer.name for layer in b.layers]
    assert tu.architecture(a) == tu.architecture(b)
    assert tu.architecture(a) != tu.architecture(student_model("tanh"))
