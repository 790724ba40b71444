"""The fault suite: bad audio, bad corpora, impossible training situations — each a clear message or a
handled case, and nothing already saved is lost. RELIABILITY.md maps each case to its test."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import soundfile

import utils
from data_generator import AudioGenerator, CorpusError
from vui.saved_model import ModelFileError, load_trained_model, load_weights_checked


def tone(rate, seconds=1.0, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


# --- audio ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_sample_widths_load_alike(tmp_path, subtype):
    path = str(tmp_path / f"{subtype}.wav")
    soundfile.write(path, tone(16000), 16000, subtype=subtype)
    samples, rate = utils.load_audio(path)
    np.testing.assert_allclose(samples, tone(16000), atol=1e-4)
    assert utils.spectrogram_from_file(path).shape == (99, 161)


def test_truncated_flac_is_named(tmp_path):
    path = tmp_path / "cut.flac"
    soundfile.write(str(path), tone(16000, 2.0) + 0.01 * np.random.default_rng(0).standard_normal(32000).astype(np.float32), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    try:  # libsndfile may decode the frames that survive, or refuse the file: never a silent wrong shape
        samples, _ = utils.load_audio(str(path))
        assert 0 < len(samples) < 32000
    except utils.AudioError as exc:
        assert "cut.flac" in str(exc)


def test_silence_only_clip_gives_finite_features(tmp_path):
    path = str(tmp_path / "silence.wav")
    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    feats = utils.spectrogram_from_file(path)
    assert feats.shape == (99, 161) and np.all(np.isfinite(feats))
    assert np.all(np.isfinite(utils.mfcc_from_file(path)))


@pytest.mark.parametrize("rate", [48000, 44100, 32000, 22050])
def test_high_sample_rates_give_the_same_features_shape(tmp_path, rate):
    path = str(tmp_path / "hi.wav")
    soundfile.write(path, tone(rate, 2.0, channels=2), rate)
    feats = utils.spectrogram_from_file(path)
    assert feats.shape[1] == 161 and abs(feats.shape[0] - 199) <= 1
    assert np.argmax(feats[50]) == 440 // 50 + (440 % 50 > 25)


def test_odd_sample_rate_is_resampled(tmp_path):
    path = str(tmp_path / "odd.wav")
    soundfile.write(path, tone(44056, 1.0, freq=1000), 44056)
    feats = utils.spectrogram_from_file(path)
    assert feats.shape == (utils.audio_feature_frames(path), 161)
    assert np.all(np.argmax(feats[5:-5], axis=1) == 20)


def test_path_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "my recordings ñ 音声"
    folder.mkdir()
    path = str(folder / "clip one é.flac")
    soundfile.write(path, tone(16000), 16000)
    assert utils.spectrogram_from_file(path).shape == (99, 161)


def test_8khz_names_file_and_rate(tmp_path):
    path = str(tmp_path / "phone call.wav")
    soundfile.write(path, tone(8000), 8000)
    with pytest.raises(utils.AudioError, match=r"phone call.wav: sample rate 8000 Hz"):
        utils.spectrogram_from_file(path)


# --- corpus -------------------------------------------------------------------------------------------
def test_corpus_with_only_bad_lines_is_an_error_naming_the_count(tiny_corpus, tmp_path):
    desc = tmp_path / "all_bad.json"
    desc.write_text('{"key": "nope.wav", "duration": 1, "text": "hi"}\n{oops\n')
    with pytest.raises(CorpusError, match="all_bad.json: no usable utterances \\(2 bad\\)"):
        AudioGenerator().load_train_data(str(desc))


def test_missing_corpus_file(tmp_path):
    with pytest.raises(CorpusError, match="nowhere.json: corpus file not found"):
        AudioGenerator().load_train_data(str(tmp_path / "nowhere.json"))


def test_corpus_text_with_clear_spelling_is_normalised(tiny_corpus, tmp_path):
    with open(tiny_corpus[0]) as f:
        spec = json.loads(f.readline())
    desc = tmp_path / "c.json"
    desc.write_text(json.dumps(dict(spec, text="IT\u2019S  A   Well-Known DOG")) + "\n")
    gen = AudioGenerator(desc_file=str(desc))
    assert gen.train_texts == ["it's a well known dog"]


# --- results files --------------------------------------------------------------------------------
def test_disk_full_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "model.pickle"
    utils.write_atomic(str(path), b"good")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        utils.write_atomic(str(path), b"new")
    assert path.read_bytes() == b"good" and os.listdir(tmp_path) == ["model.pickle"]


def test_unwritable_results_dir_fails_before_training(tiny_corpus, tmp_path):
    import sample_models as sm
    import train_utils as tu

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = sm.rnn_model(input_dim=161, units=8, activation="relu", verbose=False)
    with pytest.raises(tu.ResultsError, match="cannot write to results folder .*file/results"):
        tu.train_model(model, "m.pickle", "m.h5", *tiny_corpus, epochs=1, verbose=0, results_dir=str(blocker / "results"))


def test_write_failure_during_training_is_clear_and_keeps_last_epoch(tiny_corpus, tmp_path, monkeypatch):
    import pickle

    import sample_models as sm
    import train_utils as tu

    from vui import saved_model, training

    results = tmp_path / "r"
    model = sm.rnn_model(input_dim=161, units=8, activation="relu", verbose=False)
    tu.train_model(model, "m.pickle", "m.h5", *tiny_corpus, minibatch_size=8, epochs=1, verbose=0, results_dir=str(results))
    before = {name: (results / name).read_bytes() for name in os.listdir(results)}
    real = utils.write_atomic

    def fail_on_weights(path, data):
        if path.endswith(".h5"):  # as write_atomic reports it: the error with the file's name
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(path, data)

    for module in (saved_model, training):  # every file of a run is written through one of these
        monkeypatch.setattr(module, "write_atomic", fail_on_weights)
    with pytest.raises(tu.ResultsError, match="m.h5.*No space left"):
        tu.train_model(model, "m.pickle", "m.h5", *tiny_corpus, minibatch_size=8, epochs=2, verbose=0,
                       results_dir=str(results), resume=False)
    after = {name: (results / name).read_bytes() for name in os.listdir(results)}
    assert after == before  # nothing half-written, nothing lost
    with open(results / "m.pickle", "rb") as f:
        assert len(pickle.load(f)["loss"]) == 1


def _killed_before_history_of_epoch_2(tiny_corpus, results, monkeypatch, epochs: int):
    """Train a small model in `results` until a KeyboardInterrupt (as a kill would stop it) right
    after epoch 2's resume state is written, before its history; returns (model, train_model args)."""
    import sample_models as sm
    import train_utils as tu
    from vui import training

    real = training.write_history

    def interrupted_at_epoch_2(path, history):
        if len(history["loss"]) == 2:
            raise KeyboardInterrupt
        real(path, history)

    model = sm.rnn_model(input_dim=161, units=8, activation="relu", verbose=False)
    args = ("m.pickle", "m.h5", *tiny_corpus)
    with monkeypatch.context() as patch:
        patch.setattr(training, "write_history", interrupted_at_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            tu.train_model(model, *args, minibatch_size=8, epochs=epochs, verbose=0, results_dir=str(results))
    return model, args


def test_interrupt_between_resume_state_and_history_repeats_no_epoch(tiny_corpus, tmp_path, monkeypatch, capsys):
    """A kill after an epoch's resume state is written but before its history: the rerun goes on from it."""
    import pickle

    import train_utils as tu


    results = tmp_path / "r"
    model, args = _killed_before_history_of_epoch_2(tiny_corpus, results, monkeypatch, epochs=3)
    with open(results / "m.pickle", "rb") as f:
        saved = pickle.load(f)["loss"]
    assert len(saved) == 1
    capsys.readouterr()
    history = tu.train_model(model, *args, minibatch_size=8, epochs=3, verbose=0, results_dir=str(results))
    assert "Resuming from the end of epoch 2 of 3" in capsys.readouterr().out
    assert len(history["loss"]) == 3 and history["loss"][:1] == saved
    with open(results / "m.pickle", "rb") as f:
        assert pickle.load(f)["loss"] == history["loss"]


def test_interrupt_after_the_last_epochs_resume_state_finishes_on_rerun(tiny_corpus, tmp_path, monkeypatch):
    """Killed after the last epoch's resume state but before its history: the rerun trains nothing,
    brings history and description up to date and removes the resume file."""
    import json
    import pickle

    import train_utils as tu

    model, args = _killed_before_history_of_epoch_2(tiny_corpus, tmp_path, monkeypatch, epochs=2)
    history = tu.train_model(model, *args, minibatch_size=8, epochs=2, verbose=0, results_dir=str(tmp_path))
    assert len(history["loss"]) == 2 and not (tmp_path / "m.h5.resume.npz").exists()
    with open(tmp_path / "m.pickle", "rb") as f:
        assert pickle.load(f)["loss"] == history["loss"]
    with open(tmp_path / "m.json") as f:
        assert json.load(f)["training"]["epochs_done"] == 2


# --- saved models ---------------------------------------------------------------------------------------
def test_weights_of_another_architecture_are_refused_clearly(tiny_corpus, tmp_path):
    import sample_models as sm
    import train_utils as tu

    model = sm.rnn_model(input_dim=161, units=8, activation="relu", verbose=False)
    tu.train_model(model, "m.pickle", "m.h5", *tiny_corpus, minibatch_size=8, epochs=1, verbose=0, results_dir=str(tmp_path))
    weights = str(tmp_path / "m.h5")
    other = sm.bidirectional_rnn_model(input_dim=161, units=8, verbose=False)
    with pytest.raises(ModelFileError, match="m.h5 does not fit bidirectional_rnn_model"):
        load_weights_checked(other, weights)
    mfcc = sm.rnn_model(input_dim=13, units=8, activation="relu", verbose=False)
    with pytest.raises(ModelFileError, match="input dim 13"):
        load_weights_checked(mfcc, weights)
    loaded, description = load_trained_model(weights)
    assert loaded.count_params() == model.count_params() and description["features"]["spectrogram"]
    with pytest.raises(ModelFileError, match="nothing.h5: weights file not found"):
        load_weights_checked(model, str(tmp_path / "nothing.h5"))
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelFileError, match="m.json not found"):
        load_trained_model(weights)
