"""Code written against the original capstone runs unchanged: its names, signatures and calls.

Each test calls the original's public names the way the original notebook and modules did (written
here from the original's documented API; no code copied from it).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from tests.conftest import ROOT


def test_char_map_is_the_originals():
    from char_map import char_map, index_map

    assert char_map["'"] == 0 and char_map["<SPACE>"] == 1 and char_map["a"] == 2 and char_map["z"] == 27
    assert len(char_map) == 28 and " " not in char_map
    assert sorted(index_map) == list(range(1, 29))  # class index + 1
    assert index_map[1] == "'" and index_map[2] == " " and index_map[3] == "a" and index_map[28] == "z"


def test_original_style_decoding_with_plus_one():
    """The original notebook: ''.join(int_sequence_to_text(ctc_decode(...) + 1))."""
    from utils import int_sequence_to_text, text_to_int_sequence

    ints = text_to_int_sequence("hello world")
    assert ints[5] == 1  # the space, as char_map['<SPACE>']
    shifted = (np.array(ints) + 1).flatten().tolist()
    assert "".join(int_sequence_to_text(shifted)) == "hello world"


def test_cnn_output_length_in_sample_models():
    from sample_models import cnn_output_length

    assert cnn_output_length(100, 11, "valid", 2) == 45
    assert cnn_output_length(100, 11, "same", 2) == 50
    assert cnn_output_length(None, 11, "same", 2) is None
    assert cnn_output_length(100, 3, "valid", 1, dilation=2) == 96


def test_ctc_lambda_func_and_calc_feat_dim():
    import keras

    from train_utils import ctc_lambda_func
    from utils import calc_feat_dim

    assert calc_feat_dim(20, 8000) == 161
    probs = np.full((2, 10, 29), 1 / 29, dtype="float32")
    labels = np.array([[2, 3], [4, 28]], dtype="float32")
    loss = keras.ops.convert_to_numpy(ctc_lambda_func([probs, labels, np.array([[10], [10]]), np.array([[2], [1]])]))
    assert loss.shape == (2, 1) and np.all(np.isfinite(loss)) and np.all(loss > 0)


def test_audio_generator_original_names(tiny_corpus):
    from data_generator import AudioGenerator, shuffle_data, sort_data

    train_json, valid_json = tiny_corpus
    gen = AudioGenerator(minibatch_size=4)
    gen.load_train_data(train_json)
    gen.load_metadata_from_desc_file(valid_json, "validation")
    assert len(gen.valid_audio_paths) == 8
    assert gen.cur_train_index == 0 and gen.cur_valid_index == 0 and gen.cur_test_index == 0
    next(gen.next_train())
    assert gen.cur_train_index == 4
    gen.sort_data_by_duration("train")
    assert gen.train_durations == sorted(gen.train_durations)
    before = list(gen.train_audio_paths)
    gen.shuffle_data_by_partition("train")
    assert sorted(gen.train_audio_paths) == sorted(before) and gen.train_audio_paths != before
    paths, durations, texts = sort_data(["b", "a", "c"], [2.0, 1.0, 3.0], ["two", "one", "three"])
    assert (paths, durations, texts) == (["a", "b", "c"], [1.0, 2.0, 3.0], ["one", "two", "three"])
    paths, durations, texts = shuffle_data(["b", "a", "c"], [2.0, 1.0, 3.0], ["two", "one", "three"])
    assert sorted(zip(paths, durations, texts)) == [("a", 1.0, "one"), ("b", 2.0, "two"), ("c", 3.0, "three")]


def test_original_training_pattern_fit_and_evaluate_on_generator_batches(tiny_corpus):
    """add_ctc_loss + compile(loss={'ctc': lambda y_true, y_pred: y_pred}) + Keras on next_train()/next_valid(),
    through fit, evaluate and the original's fit_generator."""
    import keras

    from data_generator import AudioGenerator
    from sample_models import simple_rnn_model
    from train_utils import add_ctc_loss

    train_json, valid_json = tiny_corpus
    audio_gen = AudioGenerator(minibatch_size=4)
    audio_gen.load_train_data(train_json)
    audio_gen.load_validation_data(valid_json)
    model = add_ctc_loss(simple_rnn_model(input_dim=161, verbose=False))
    model.compile(loss={"ctc": lambda y_true, y_pred: y_pred}, optimizer=keras.optimizers.SGD(0.01))
    hist = model.fit(audio_gen.next_train(), steps_per_epoch=3, epochs=1, verbose=0, shuffle=False,
                     validation_data=audio_gen.next_valid(), validation_steps=2)
    assert np.isfinite(hist.history["loss"][0]) and np.isfinite(hist.history["val_loss"][0])
    hist = model.fit_generator(generator=audio_gen.next_train(), steps_per_epoch=3, epochs=1, verbose=0,
                               validation_data=audio_gen.next_valid(), validation_steps=2, workers=1)
    assert np.isfinite(hist.history["loss"][0])
    loss = model.evaluate(audio_gen.next_valid(), steps=2, verbose=0)
    assert np.isfinite(loss) and loss > 0


def test_get_predictions_looks_in_results(tiny_corpus, tmp_path, monkeypatch, capsys):
    """get_predictions(index, partition, input_to_softmax, model_path='model_0.h5') reads results/model_0.h5."""
    import keras

    from vui.display import get_predictions
    from sample_models import simple_rnn_model
    from train_utils import train_model

    train_json, valid_json = tiny_corpus
    monkeypatch.chdir(tmp_path)
    train_model(simple_rnn_model(input_dim=161, verbose=False), "model_0.pickle", "model_0.h5", train_json=train_json,
                valid_json=valid_json, minibatch_size=8, epochs=1, verbose=0, optimizer=keras.optimizers.SGD(0.01))
    assert os.path.exists(tmp_path / "results" / "model_0.h5")
    true, predicted = get_predictions(index=0, partition="validation",
                                      input_to_softmax=simple_rnn_model(input_dim=161, verbose=False),
                                      model_path="model_0.h5", train_json=train_json, valid_json=valid_json)
    assert "True transcription" in capsys.readouterr().out and true
    # Without the description beside the weights, the normalisation is fitted on train_json as the
    # seed did: the same statistics training saved, so the same prediction.
    os.remove(tmp_path / "results" / "model_0.json")
    again = get_predictions(index=0, partition="validation", input_to_softmax=simple_rnn_model(input_dim=161, verbose=False),
                            model_path="model_0.h5", train_json=train_json, valid_json=valid_json)
    assert again == (true, predicted)


def test_create_desc_json_main_original_signature(tmp_path):
    import json

    from create_desc_json import main

    speaker = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    speaker.mkdir(parents=True)
    soundfile.write(speaker / "84-121123-0000.wav", np.zeros(16000, dtype=np.float32), 16000)
    (speaker / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n")
    out = tmp_path / "train_corpus.json"
    main(str(tmp_path / "LibriSpeech" / "dev-clean"), str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["text"] == "go do you hear" and abs(rows[0]["duration"] - 1.0) < 1e-3


def test_flac_to_wav_with_no_argument_converts_the_current_folder(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not here")
    folder = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    folder.mkdir(parents=True)
    soundfile.write(folder / "84-121123-0000.flac", np.zeros(1600, dtype=np.float32), 16000)
    subprocess.run(["bash", os.path.join(ROOT, "flac_to_wav.sh")], cwd=tmp_path / "LibriSpeech", check=True,
                   capture_output=True)
    assert (folder / "84-121123-0000.wav").exists()


def test_plot_helpers_draw_once_and_vis_train_features_returns_the_five_values(tiny_corpus):
    import matplotlib

    matplotlib.use("Agg")
    from data_generator import plot_mfcc_feature, plot_raw_audio, plot_spectrogram_feature, vis_train_features

    train_json, _ = tiny_corpus
    vis_text, vis_raw_audio, vis_mfcc_feature, vis_spectrogram_feature, vis_audio_path = vis_train_features(
        index=0, desc_file=train_json)
    assert isinstance(vis_text, str) and vis_raw_audio.ndim == 1 and os.path.exists(vis_audio_path)
    assert vis_mfcc_feature.shape[1] == 13 and vis_spectrogram_feature.shape[1] == 161
    # None: a returned figure would be drawn a second time when the call is a cell's last line
    assert plot_raw_audio(vis_raw_audio) is None
    assert plot_spectrogram_feature(vis_spectrogram_feature) is None
    assert plot_mfcc_feature(vis_mfcc_feature) is None

