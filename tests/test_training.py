"""train_utils: CTC loss, training runs, saved files, resuming, bad labels, NaN, JAX."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

import sample_models as sm
import train_utils as tu
from tests.conftest import ROOT, absolute_paths_in, make_tiny_corpus


def small_rnn():
    keras.utils.set_random_seed(1)
    return sm.rnn_model(input_dim=161, units=16, activation="relu", verbose=False)


def test_ctc_loss_hand_checked():
    # classes: 0 = "'", 1 = " ", 2 = "a", ..., 28 = blank. Two frames, label "a" (class 2):
    # the paths are (a, a), (a, -), (-, a), so P = pa1*pa2 + pa1*pb2 + pb1*pa2.
    probs = np.full((1, 2, 29), 0.01, dtype="float32")
    probs[0, 0, 2], probs[0, 0, 28] = 0.6, 0.13
    probs[0, 1, 2], probs[0, 1, 28] = 0.3, 0.43
    p = 0.6 * 0.3 + 0.6 * 0.43 + 0.13 * 0.3
    loss = keras.ops.convert_to_numpy(tu.ctc_loss(np.array([[2, 28]]), probs, np.array([[2]]), np.array([[1]])))
    np.testing.assert_allclose(loss, [-np.log(p)], rtol=1e-4)
    # one frame cannot hold "aa" (needs a blank between): a huge loss, not a crash
    bad = keras.ops.convert_to_numpy(tu.ctc_loss(np.array([[2, 2]]), probs, np.array([[1]]), np.array([[2]])))
    assert bad[0] > 50 or not np.isfinite(bad[0])


def test_ctc_min_frames():
    assert tu.ctc_min_frames("hello") == 6 and tu.ctc_min_frames("abc") == 3


def test_train_saves_history_weights_and_description(tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    results = str(tmp_path / "results")
    model = small_rnn()
    history = tu.train_model(model, "model_1.pickle", "model_1.h5", train_json, valid_json, minibatch_size=8,
                             epochs=2, verbose=0, results_dir=results)
    with open(os.path.join(results, "model_1.pickle"), "rb") as f:
        saved = pickle.load(f)
    assert saved == history and len(saved["loss"]) == len(saved["val_loss"]) == 2
    assert all(np.isfinite(saved["loss"] + saved["val_loss"]))
    assert saved["loss"][1] < saved["loss"][0]
    with open(os.path.join(results, "model_1.json")) as f:
        desc = json.load(f)
    assert desc["builder"] == "rnn_model" and desc["kwargs"]["units"] == 16
    assert desc["training"]["epochs_done"] == 2 and len(desc["features"]["feats_mean"]) == 161
    assert not os.path.exists(os.path.join(results, "model_1.h5.resume.npz"))
    fresh = sm.build_model(desc)
    fresh.load_weights(os.path.join(results, "model_1.h5"))
    x = np.random.default_rng(0).standard_normal((2, 50, 161)).astype("float32")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    # A second call with the same paths and model is a finished run: nothing is trained again.
    again = tu.train_model(small_rnn(), "model_1.pickle", "model_1.h5", train_json, valid_json,
                           minibatch_size=8, epochs=2, verbose=0, results_dir=results)
    assert again == history


def test_a_description_names_its_corpora_by_what_they_hold_not_by_this_machines_folders(tmp_path, monkeypatch):
    """The saved .json holds no absolute path: a corpus file is named relative to the folder the
    command ran in when inside it, else by its name, with its utterances and hours."""
    train_json, valid_json = make_tiny_corpus(str(tmp_path / "project" / "data"), n_train=12, n_valid=4)
    monkeypatch.chdir(tmp_path / "project")
    tu.train_model(small_rnn(), "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=1, verbose=0,
                   results_dir=str(tmp_path / "results"))
    with open(tmp_path / "results" / "m.json") as f:
        desc = json.load(f)
    assert absolute_paths_in(desc) == [] and str(tmp_path) not in json.dumps(desc)
    train = desc["training"]["train_corpus"]
    assert train["file"] == "data/train_corpus.json" and train["utterances"] == 12 and 0 < train["hours"] < 0.1
    assert desc["training"]["valid_corpus"]["utterances"] == 4
    from vui.provenance import portable_path

    assert portable_path(str(tmp_path / "a" / "b.json"), str(tmp_path / "a")) == "b.json"
    assert portable_path(str(tmp_path / "elsewhere" / "b.json"), str(tmp_path / "a")) == "b.json"
    assert portable_path(str(tmp_path / "b.json"), os.path.abspath(os.sep)) == "b.json"  # not 'tmp/.../b.json'


def test_user_callbacks_run_inside_fit(tiny_corpus, tmp_path, capsys):
    """train_model passes the user's own Keras callbacks to fit: CSVLogger writes one row per epoch
    with the losses train_model returns; a finished run, loaded again, prints its record."""
    import csv

    train_json, valid_json = tiny_corpus
    log = tmp_path / "log.csv"
    history = tu.train_model(small_rnn(), "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=2,
                             verbose=0, results_dir=str(tmp_path), callbacks=[keras.callbacks.CSVLogger(str(log))])
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history["loss"], rtol=1e-5)
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history["val_loss"], rtol=1e-5)
    capsys.readouterr()
    tu.train_model(small_rnn(), "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=2,
                   verbose=0, results_dir=str(tmp_path))
    out = capsys.readouterr().out
    assert "already holds this model trained for 2 epochs" in out
    assert f"Epoch 2/2 - {round(history['epoch_seconds'][1])}s - loss: {history['loss'][1]:.4f}" in out


def test_early_stopping_finishes_the_run(tiny_corpus, tmp_path, capsys):
    """A user's EarlyStopping ends the run as finished: no resume file, the description says so, and
    the next identical call loads it instead of training on."""
    train_json, valid_json = tiny_corpus
    args = dict(train_json=train_json, valid_json=valid_json, minibatch_size=8, epochs=4, verbose=0,
                results_dir=str(tmp_path))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=1e9)  # stops after epoch 2
    history = tu.train_model(small_rnn(), "m.pickle", "m.h5", callbacks=[stop], **args)
    assert len(history["loss"]) == 2 and not (tmp_path / "m.h5.resume.npz").exists()
    with open(tmp_path / "m.json") as f:
        training = json.load(f)["training"]
    assert training["stopped_early"] is True and training["epochs_done"] == 2
    capsys.readouterr()
    assert tu.train_model(small_rnn(), "m.pickle", "m.h5", **args) == history
    assert "already holds this model trained for 2 epochs" in capsys.readouterr().out


def test_mfcc_training_and_dimension_check(tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    model = sm.cnn_rnn_model(input_dim=13, filters=8, kernel_size=5, conv_stride=2, conv_border_mode="valid", units=8, verbose=False)
    history = tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, spectrogram=False,
                             epochs=1, verbose=0, results_dir=str(tmp_path))
    assert len(history["loss"]) == 1 and np.isfinite(history["val_loss"][0])
    with pytest.raises(ValueError, match="13-dim features.*161"):
        tu.train_model(model, "x.pickle", "x.h5", train_json, valid_json, epochs=1, verbose=0, results_dir=str(tmp_path))


def test_resume_after_interruption_matches_uninterrupted_run(tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    args = dict(train_json=train_json, valid_json=valid_json, minibatch_size=8, epochs=4, verbose=0)
    full = tu.train_model(small_rnn(), "a.pickle", "a.h5", results_dir=str(tmp_path / "a"), **args)

    class InterruptInEpoch3(keras.callbacks.Callback):  # as Ctrl-C would, in the training thread
        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 2 and batch == 1:  # the 2nd batch of epoch 3
                raise KeyboardInterrupt

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    with pytest.raises(KeyboardInterrupt):
        tu.train_model(small_rnn(), "b.pickle", "b.h5", results_dir=str(tmp_path / "b"), callbacks=[InterruptInEpoch3()],
                       **args)
    with open(tmp_path / "b" / "b.pickle", "rb") as f:
        assert len(pickle.load(f)["loss"]) == 2  # epochs 1 and 2 finished before the interruption
    assert (tmp_path / "b" / "b.h5.resume.npz").exists()
    resumed = tu.train_model(small_rnn(), "b.pickle", "b.h5", results_dir=str(tmp_path / "b"), **args)
    assert len(resumed["loss"]) == 4
    np.testing.assert_allclose(resumed["loss"], full["loss"], rtol=1e-3)
    np.testing.assert_allclose(resumed["val_loss"], full["val_loss"], rtol=1e-3)


def test_change_speed_changes_tempo_and_pitch_together():
    from vui.features import change_speed

    rate = 16000
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    for speed in (0.9, 1.1):
        faster = change_speed(tone, speed)
        assert abs(len(faster) - rate / speed) <= 1
        peak_hz = np.argmax(np.abs(np.fft.rfft(faster))) * rate / len(faster)
        assert abs(peak_hz - 440 * speed) < 3, (speed, peak_hz)
    assert change_speed(tone, 1.0) is tone


def test_speed_perturbation_draws_a_speed_per_utterance_and_epoch_for_training_only(tiny_corpus, tmp_path):
    from data_generator import AudioGenerator
    from utils import audio_feature_frames

    train_json, valid_json = tiny_corpus
    gen = AudioGenerator(minibatch_size=8, speed_perturbation=(0.9, 1.1), cache_dir=str(tmp_path / "cache"))
    gen.load_train_data(train_json)
    gen.load_validation_data(valid_json)
    n = len(gen.train_audio_paths)
    speeds = [[gen.utterance_speed("train", i, epoch) for i in range(n)] for epoch in range(3)]
    assert all(set(s) == {0.9, 1.1} for s in speeds) and speeds[1] != speeds[2]  # mixed, redrawn each epoch
    assert speeds[1] == [gen.utterance_speed("train", i, 1) for i in range(n)]  # reproducible (resume)
    assert {gen.utterance_speed("valid", i, 1) for i in range(4)} == {1.0}
    inputs, _ = gen.batch_from_indices("train", [0, 1, 2], epoch=1)
    for row, i in enumerate([0, 1, 2]):
        natural = audio_feature_frames(gen.train_audio_paths[i])
        assert abs(inputs["input_length"][row, 0] - natural / speeds[1][i]) <= 2
    plain, _ = gen.batch_from_indices("train", [0, 1, 2])  # no epoch: as recorded
    assert [int(x) for x in plain["input_length"][:, 0]] == [audio_feature_frames(gen.train_audio_paths[i]) for i in [0, 1, 2]]


def test_speed_perturbation_is_part_of_the_run_and_its_resume(tiny_corpus, tmp_path):
    train_json, valid_json = tiny_corpus
    args = dict(train_json=train_json, valid_json=valid_json, minibatch_size=8, epochs=2, verbose=0)
    plain = tu.train_model(small_rnn(), "m.pickle", "m.h5", results_dir=str(tmp_path / "r"), **args)
    perturbed = tu.train_model(small_rnn(), "m.pickle", "m.h5", results_dir=str(tmp_path / "r"),
                               speed_perturbation=(0.9, 1.0, 1.1), **args)  # other settings: trained anew
    assert perturbed["loss"] != plain["loss"] and all(np.isfinite(perturbed["loss"]))
    with open(tmp_path / "r" / "m.json") as f:
        assert json.load(f)["training"]["speed_perturbation"] == [0.9, 1.0, 1.1]
    again = tu.train_model(small_rnn(), "m.pickle", "m.h5", results_dir=str(tmp_path / "r"),
                           speed_perturbation=(0.9, 1.0, 1.1), **args)
    assert again == perturbed  # the same settings: the finished run is loaded


def test_labels_too_long_are_reported_and_left_out(tiny_corpus, tmp_path, capsys):
    train_json, valid_json = tiny_corpus
    with open(train_json) as f:
        first = json.loads(f.readline())
    bad = dict(first, text="a very long transcript that cannot possibly fit in so few frames of audio " * 3)
    long_json = str(tmp_path / "long.json")
    with open(train_json) as f, open(long_json, "w") as out:
        out.write(json.dumps(bad) + "\n" + f.read())
    history = tu.train_model(small_rnn(), "m.pickle", "m.h5", long_json, valid_json, minibatch_size=8, epochs=1,
                             verbose=0, results_dir=str(tmp_path / "r"))
    err = capsys.readouterr().err
    assert "Leaving out 1 of 25 train utterances" in err and os.path.basename(first["key"]) in err
    assert np.isfinite(history["loss"][0])


def test_nan_loss_stops_and_keeps_last_good_weights(tiny_corpus, tmp_path, capsys):
    train_json, valid_json = tiny_corpus
    results = str(tmp_path / "r")
    model = small_rnn()
    tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=1, verbose=0, results_dir=results)
    good = [w.copy() for w in model.get_weights()]
    opt = keras.optimizers.SGD(learning_rate=1e30)  # the first update blows the weights up
    history = tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=3,
                             verbose=0, results_dir=results, optimizer=opt, resume=False)
    assert "loss became NaN or infinite" in capsys.readouterr().err
    assert history["loss"] == [] and history["val_loss"] == []
    for kept, before in zip(model.get_weights(), good):
        np.testing.assert_array_equal(kept, before)
    fresh = small_rnn()
    fresh.load_weights(os.path.join(results, "m.h5"))
    for kept, before in zip(fresh.get_weights(), good):
        np.testing.assert_array_equal(kept, before)


TRAIN_SCRIPT = textwrap.dedent(
    """
    import os, sys, json
    sys.path.insert(0, {root!r})
    import keras, numpy as np
    import sample_models as sm, train_utils as tu
    keras.utils.set_random_seed(1)
    model = sm.rnn_model(input_dim=161, units=16, activation="relu", verbose=False)
    h = tu.train_model(model, "k.pickle", "k.h5", {train!r}, {valid!r}, minibatch_size=4, epochs={epochs},
                       verbose=0, results_dir={results!r})
    fresh = sm.build_model(model.build_spec)
    fresh.load_weights(os.path.join({results!r}, "k.h5"))
    x = np.ones((1, 40, 161), "float32")
    same = bool(np.array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0)))
    print(json.dumps({{"backend": keras.backend.backend(), "history": h, "same": same,
                      "params": sm.final_model(input_dim=161, filters=200, kernel_size=11, conv_stride=2,
                                               conv_border_mode="valid", units=200, verbose=False).count_params()}}))
    """
)


def run_training_script(tmp_path, epochs, backend="tensorflow", results="results"):
    train_json, valid_json = make_tiny_corpus(str(tmp_path / "corpus"), n_train=40, n_valid=8)
    script = TRAIN_SCRIPT.format(root=ROOT, train=train_json, valid=valid_json, epochs=epochs, results=str(tmp_path / results))
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONUNBUFFERED="1")
    return script, env


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_other_backends_train_and_reload(tmp_path, backend):
    """The default backend (torch when installed) runs the rest of the suite; these two run here."""
    pytest.importorskip(backend)
    script, env = run_training_script(tmp_path, epochs=2, backend=backend)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend and result["same"] and result["params"] == 1572429
    assert len(result["history"]["loss"]) == 2 and all(np.isfinite(result["history"]["val_loss"]))


def test_sigkill_mid_epoch_then_rerun_resumes(tmp_path):
    script, env = run_training_script(tmp_path, epochs=8)  # epochs of ~0.3 s after the first: room to kill one mid-run
    pickle_path = tmp_path / "results" / "k.pickle"
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if pickle_path.exists():
            with open(pickle_path, "rb") as f:
                if len(pickle.load(f)["loss"]) >= 1:
                    break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    time.sleep(0.3)  # into the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open(pickle_path, "rb") as f:
        saved = pickle.load(f)["loss"]
    assert 1 <= len(saved) < 8
    for name in os.listdir(tmp_path / "results"):
        assert not name.endswith(".tmp"), f"half-written file left: {name}"
    # The kill may land between two of an epoch's writes: the resume state is written before the
    # history, so it is at the history's epoch or one ahead, never behind (no finished epoch repeated).
    with np.load(tmp_path / "results" / "k.h5.resume.npz") as data:
        resumable = json.loads(data["meta"].tobytes().decode())["epochs_done"]
    assert len(saved) <= resumable <= len(saved) + 1
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Resuming from the end of epoch {resumable} of 8" in out.stdout + out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["history"]["loss"]) == 8 and result["same"]
    assert result["history"]["loss"][:len(saved)] == saved  # the epochs saved before the kill, kept as they were
