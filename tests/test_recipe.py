"""The shipped model's parts: FastLSTM, SpecAugment, conv_bigru_model, the recipe optimizer,
best-checkpoint selection, and train_recipe end to end on generated audio."""

from __future__ import annotations

import json
import os
import pickle

import keras
import numpy as np
import pytest

import sample_models as sm
import train_utils as tu
from char_map import NUM_CLASSES
from create_desc_json import scan_corpus
from data_generator import read_corpus
from tests.conftest import ROOT, absolute_paths_in, make_tiny_corpus
from vui import recipe, training
from vui.fast_rnn import FastLSTM
from vui.layers import SpecAugment

# Measured 0.227 on these 40 utterances (0.220 on all 382 held-out ones); a regression guard.
SHIPPED_GREEDY_CER_BOUND = 0.30


def _np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_fast_lstm_equals_keras_lstm(go_backwards):
    x = np.random.default_rng(1).standard_normal((3, 37, 16)).astype("float32")
    ref = keras.layers.LSTM(8, return_sequences=True, go_backwards=go_backwards)
    fast = FastLSTM(8, return_sequences=True, go_backwards=go_backwards)
    ref(x), fast(x)
    fast.set_weights(ref.get_weights())
    np.testing.assert_allclose(_np(fast(x)), _np(ref(x)), atol=1e-5)


def test_fast_lstm_bidirectional_outputs_and_gradients_match():
    x = np.random.default_rng(2).standard_normal((2, 29, 12)).astype("float32")
    ref = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))
    fast = keras.layers.Bidirectional(FastLSTM(6, return_sequences=True))
    ref(x), fast(x)
    fast.set_weights(ref.get_weights())
    np.testing.assert_allclose(_np(fast(x)), _np(ref(x)), atol=1e-5)
    if keras.backend.backend() == "torch":  # the fused path is the torch backend's; compare its gradients
        import torch

        grads = []
        for layer in (ref, fast):
            layer(torch.tensor(x)).square().sum().backward()
            grads.append([w.value.grad.numpy().copy() for w in layer.trainable_weights])
        for a, b in zip(*grads):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_spec_augment_masks_only_in_training():
    x = np.ones((4, 300, 161), dtype="float32")
    layer = SpecAugment(freq_masks=2, freq_width=20, time_masks=2, time_width=40, seed=3)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    y = _np(layer(x, training=True))
    assert y.shape == x.shape and set(np.unique(y)) <= {0.0, 1.0}
    for example in y:
        masked_bins = (example == 0).all(axis=0).sum()
        masked_frames = (example == 0).all(axis=1).sum()
        assert masked_bins <= 2 * 19 and masked_frames <= 2 * 29  # widths < 20 bins, < 10 % of 300 frames
    assert (y == 0).any() and not np.array_equal(y[0], y[1])  # masks differ per utterance


def test_conv_bigru_model_output_length_and_size():
    for cell in ("gru", "lstm"):
        model = sm.conv_bigru_model(input_dim=13, filters=8, units=8, recur_layers=2, cell=cell, verbose=False)
        for frames in (57, 101, 224):
            out = model.predict(np.random.default_rng(frames).standard_normal((2, frames, 13)).astype("float32"), verbose=0)
            assert out.shape == (2, model.output_length(frames), NUM_CLASSES)
            np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-4)
    shipped = sm.conv_bigru_model(input_dim=161, cell="lstm", verbose=False)
    assert shipped.count_params() * 4 <= 25e6  # float32 weights fit the 25 MB budget


def test_recipe_optimizer_warms_up_then_decays():
    lr = recipe.recipe_schedule(total_steps=1000, peak_learning_rate=1e-3, warmup_steps=100, final_fraction=0.05)
    values = [float(keras.ops.convert_to_numpy(lr(step))) for step in (0, 50, 100, 550, 1000)]
    assert values[0] == 0.0 and values[1] == pytest.approx(5e-4) and values[2] == pytest.approx(1e-3)
    assert values[2] > values[3] > values[4] == pytest.approx(5e-5, rel=1e-3)
    assert isinstance(recipe.recipe_optimizer(1000), keras.optimizers.Adam)


def test_keep_best_saves_the_lowest_validation_loss_epoch(tiny_corpus, tmp_path, monkeypatch):
    train_json, valid_json = tiny_corpus
    saved = []
    original = training.save_weights

    def record(model, path):
        saved.append([w.copy() for w in model.get_weights()])
        original(model, path)

    monkeypatch.setattr(training, "save_weights", record)
    # A learning rate high enough that validation loss goes up and down between epochs.
    model = sm.rnn_model(input_dim=161, units=16, activation="tanh", verbose=False)
    history = tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=5,
                             verbose=0, results_dir=str(tmp_path), keep_best=True,
                             optimizer=keras.optimizers.Adam(0.05))
    val = history["val_loss"]
    best = int(np.argmin(val))
    improved = [i for i in range(len(val)) if val[i] <= min(val[: i + 1])]
    assert len(saved) == len(improved)  # the weights file is written only when validation loss improves
    with open(tmp_path / "m.json") as f:
        assert json.load(f)["training"]["best_epoch"] == best + 1
    fresh = sm.build_model(model.build_spec)
    fresh.load_weights(str(tmp_path / "m.h5"))
    for a, b in zip(fresh.get_weights(), saved[-1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_weights(), saved[-1]):  # the model in memory ends with the best weights too
        np.testing.assert_array_equal(a, b)
    with open(tmp_path / "m.pickle", "rb") as f:
        assert pickle.load(f)["val_loss"] == val  # the history keeps every epoch


def _librispeech_tree(root: str, subset: str, speakers: list[str], seed: int, chapter_id: str = "10") -> None:
    """A LibriSpeech-layout subset of tone-coded utterances (one chapter per speaker)."""
    import shutil

    for k, speaker in enumerate(speakers):
        chapter = os.path.join(root, subset, speaker, chapter_id)
        train_json, _ = make_tiny_corpus(chapter + "_tmp", n_train=6, n_valid=0, seed=seed + k)
        os.makedirs(chapter, exist_ok=True)
        lines = []
        with open(train_json) as f:
            for i, line in enumerate(f):
                entry = json.loads(line)
                utt = f"{speaker}-{chapter_id}-{i:04d}"
                shutil.move(entry["key"], os.path.join(chapter, utt + ".wav"))
                lines.append(f"{utt} {entry['text'].upper()}")
        shutil.rmtree(chapter + "_tmp")
        with open(os.path.join(chapter, f"{speaker}-{chapter_id}.trans.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def _epochs_in(history_pickle) -> int:
    """How many epochs a saved training history holds."""
    with open(history_pickle, "rb") as f:
        return len(pickle.load(f)["loss"])


def _record_training_starts(monkeypatch, train_recipe) -> dict:
    """{pickle path: (the model's weights as training starts, its training corpus file)} of every
    train_model call train_recipe makes from now on."""
    started_from = {}
    real_train_model = train_recipe.train_model

    def recording_train_model(net, pickle_path, *args, **kwargs):
        started_from[pickle_path] = ([w.copy() for w in net.get_weights()], kwargs["train_json"])
        return real_train_model(net, pickle_path, *args, **kwargs)

    monkeypatch.setattr(train_recipe, "train_model", recording_train_model)
    return started_from


def test_train_recipe_end_to_end_on_generated_audio(tmp_path, monkeypatch, capsys):
    from vui import train_recipe

    _librispeech_tree(str(tmp_path / "ls"), "train-x", ["11", "12", "13", "14"], seed=10)
    _librispeech_tree(str(tmp_path / "ls"), "valid-x", ["21"], seed=20)
    tiny = dict(train_recipe.RECIPE, kwargs=dict(train_recipe.RECIPE["kwargs"], filters=16, units=16, recur_layers=1),
                beam=4, warmup_steps=2, general_lm={"vocabulary": 500, "bigrams": 2000, "weight": 0.5},
                split_over_s=None)
    monkeypatch.setattr(train_recipe, "RECIPE", tiny)
    results = tmp_path / "results"
    assert train_recipe.main(["--librispeech", str(tmp_path / "ls"), "--train", "train-x", "--valid", "valid-x",
                              "--results-dir", str(results), "--data-dir", str(tmp_path / "data"), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "24 training (" in out and " h) / 6 validation utterances" in out and "| vui_model |" in out
    with open(results / "vui_model.json") as f:
        desc = json.load(f)
    assert desc["builder"] == "conv_bigru_model" and desc["training"]["epochs_done"] == 2
    assert desc["training"]["keep_best"] is True and desc["kwargs"]["cell"] == "lstm"
    with open(results / "vui_lm.arpa.json") as f:
        sidecar = json.load(f)
    # every training transcript, less any that is also a validation transcript (the tiny vocabulary repeats)
    assert sidecar["sentences"] + sidecar["dropped_evaluation_sentences"] == 24
    assert set(sidecar["tuned"]) >= {"alpha", "beta", "beam"}
    try:  # with pocketsphinx (a development dependency) the LM is mixed with CMU's en-US model
        import pocketsphinx  # noqa: F401
        assert sidecar["mixed_with"]["weight"] == 0.5 and sidecar["ngram_counts"]["1"] > 500
    except ImportError:
        assert "mixed_with" not in sidecar and "needs pocketsphinx" in out
    # --lm-only keeps the trained model and rebuilds, re-tunes and evaluates the LM
    weights_mtime = os.path.getmtime(results / "vui_model.weights.h5")
    assert train_recipe.main(["--librispeech", str(tmp_path / "ls"), "--train", "train-x", "--valid", "valid-x",
                              "--results-dir", str(results), "--data-dir", str(tmp_path / "data"), "--lm-only",
                              "--set", "general_lm=null"]) == 0
    assert "Epoch" not in capsys.readouterr().out
    assert os.path.getmtime(results / "vui_model.weights.h5") == weights_mtime
    with open(results / "vui_lm.arpa.json") as f:
        assert "mixed_with" not in json.load(f)
    with pytest.raises(FileNotFoundError, match="no-such-subset"):
        train_recipe.main(["--librispeech", str(tmp_path / "ls"), "--train", "no-such-subset",
                           "--results-dir", str(results), "--data-dir", str(tmp_path / "data")])


def test_pretrain_trains_first_and_the_real_training_starts_from_its_weights(tmp_path, monkeypatch, capsys):
    from vui import train_recipe

    _librispeech_tree(str(tmp_path / "ls"), "train-x", ["11", "12"], seed=30)
    _librispeech_tree(str(tmp_path / "ls"), "valid-x", ["21"], seed=40)
    _librispeech_tree(str(tmp_path / "pre"), "synth", ["9001", "9002", "9003"], seed=50)
    tiny = dict(train_recipe.RECIPE, kwargs=dict(train_recipe.RECIPE["kwargs"], filters=16, units=16, recur_layers=1),
                warmup_steps=2, pretrain_epochs=2, split_over_s=None)
    monkeypatch.setattr(train_recipe, "RECIPE", tiny)
    results = tmp_path / "results"
    common = ["--librispeech", str(tmp_path / "ls"), "--train", "train-x", "--valid", "valid-x",
              "--results-dir", str(results), "--data-dir", str(tmp_path / "data"), "--epochs", "1", "--no-lm"]
    started_from = _record_training_starts(monkeypatch, train_recipe)
    assert train_recipe.main(common + ["--pretrain", str(tmp_path / "pre" / "synth")]) == 0
    out = capsys.readouterr().out
    assert "pre-training corpus: 18 utterances (" in out and "pre-trained 2 epochs (" in out
    assert _epochs_in(results / "vui_model_pretrain.pickle") == 2
    assert _epochs_in(results / "vui_model.pickle") == 1
    # the pre-training starts from a fresh model; the real training from the pre-trained weights
    pretrained = train_recipe.recipe_model(train_recipe.SPECTROGRAM_DIM, tiny)
    pretrained.load_weights(str(results / "vui_model_pretrain.weights.h5"))
    for start, saved in zip(started_from["vui_model.pickle"][0], pretrained.get_weights()):
        np.testing.assert_array_equal(start, saved)
    assert not all(np.array_equal(a, b) for a, b in zip(started_from["vui_model_pretrain.pickle"][0],
                                                         pretrained.get_weights()))
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        train_recipe.main(common + ["--pretrain", str(tmp_path / "no-such-folder")])


def test_split_stage_cuts_the_long_utterances_and_trains_on_from_the_whole_utterance_model(tmp_path, monkeypatch,
                                                                                           capsys):
    from vui import train_recipe

    _librispeech_tree(str(tmp_path / "ls"), "train-x", ["11", "12"], seed=60)
    _librispeech_tree(str(tmp_path / "ls"), "valid-x", ["21"], seed=70)
    durations = sorted(e["duration"] for e in scan_corpus(str(tmp_path / "ls" / "train-x"), progress=False).entries)
    over_s = durations[len(durations) // 2]  # the longer half is split
    tiny = dict(train_recipe.RECIPE, kwargs=dict(train_recipe.RECIPE["kwargs"], filters=16, units=16, recur_layers=1),
                warmup_steps=2, split_over_s=over_s, split_epochs=2)
    monkeypatch.setattr(train_recipe, "RECIPE", tiny)
    started_from = _record_training_starts(monkeypatch, train_recipe)
    results, data = tmp_path / "results", tmp_path / "data"
    argv = ["--librispeech", str(tmp_path / "ls"), "--train", "train-x", "--valid", "valid-x",
            "--results-dir", str(results), "--data-dir", str(data), "--epochs", "1", "--no-lm"]
    assert train_recipe.main(argv) == 0
    out = capsys.readouterr().out
    assert "whole-utterance training: 1 epochs" in out and "split corpus: " in out
    assert _epochs_in(data / "vui_model_whole.pickle") == 1
    assert _epochs_in(results / "vui_model.pickle") == 2
    # the second stage trains on no utterance over split_over_s: the short ones whole and the pieces
    split = read_corpus(str(data / "recipe_train_split.json"))
    assert started_from["vui_model.pickle"][1] == str(data / "recipe_train_split.json")
    assert max(split.durations) <= over_s + 1e-6
    pieces = [p for p in split.audio_paths if os.path.basename(p).count("_")]
    assert pieces and all(p.startswith(str(data / "pieces")) for p in pieces)
    whole = [d for d in durations if d <= over_s]
    assert len(split.audio_paths) - len(pieces) == len(whole)
    # ... and starts from the whole-utterance model's weights
    first = train_recipe.recipe_model(train_recipe.SPECTROGRAM_DIM, tiny)
    first.load_weights(str(data / "vui_model_whole.weights.h5"))
    for start, saved in zip(started_from["vui_model.pickle"][0], first.get_weights()):
        np.testing.assert_array_equal(start, saved)
    # run again: both stages are finished and the split corpus is kept, so nothing trains or splits
    saved = [data / "recipe_train_split.json", data / "vui_model_whole.weights.h5", results / "vui_model.weights.h5"]
    mtimes = [os.path.getmtime(path) for path in saved]
    assert train_recipe.main(argv) == 0
    assert "(already made)" in capsys.readouterr().out
    assert [os.path.getmtime(path) for path in saved] == mtimes


def test_reserved_speakers_are_the_shared_list():
    path = os.path.join(ROOT, "..", "shared", "corpora", "RESERVED_SPEAKERS.txt")
    if not os.path.exists(path):
        pytest.skip("../shared/corpora/RESERVED_SPEAKERS.txt is not here")
    with open(path) as f:
        listed = {word for line in f if not line.startswith("#") for word in line.split()}
    assert listed == set(recipe.RESERVED_SPEAKERS)


def test_make_corpus_files_adds_folders_and_refuses_reserved_speakers(tmp_path, monkeypatch):
    from vui import train_recipe

    monkeypatch.setattr(train_recipe, "HELD_OUT_SPEAKERS", ("1089",))
    ls = tmp_path / "ls"
    _librispeech_tree(str(ls), "train-x", ["11", "12", "1089"], seed=30)
    _librispeech_tree(str(tmp_path / "more"), "sub", ["13", "1089"], seed=40, chapter_id="20")  # 1089: held out
    _librispeech_tree(str(tmp_path / "copy"), "sub", ["11"], seed=30)  # the same files again: not added twice
    data = tmp_path / "data"
    train_json, valid_json = train_recipe.make_corpus_files(
        str(ls), "train-x", None, str(data), add_train=[str(tmp_path / "more"), str(tmp_path / "copy")])

    def speakers(corpus_json: str) -> list[str]:
        return sorted({recipe.librispeech_speaker(path) for path in read_corpus(corpus_json).audio_paths})

    assert speakers(train_json) == ["11", "12", "13"] and speakers(valid_json) == ["1089"]
    assert len(read_corpus(train_json).audio_paths) == 18 and len(read_corpus(valid_json).audio_paths) == 6

    # validation keeps the utterances up to MAX_DURATION_S, however long training may go
    durations = sorted(json.loads(line)["duration"] for line in open(valid_json))
    with monkeypatch.context() as patch:
        patch.setattr(train_recipe, "MAX_DURATION_S", durations[2])
        train_recipe.make_corpus_files(str(ls), "train-x", None, str(data))
    kept = sorted(json.loads(line)["duration"] for line in open(valid_json))
    assert kept == [d for d in durations if d <= durations[2]] and len(kept) < len(durations)
    train_recipe.make_corpus_files(str(ls), "train-x", None, str(data))

    # a reserved speaker anywhere is refused, naming the source and the utterance, before anything is written
    _librispeech_tree(str(tmp_path / "reserved"), "sub", ["19"], seed=50)
    before = open(train_json).read()
    with pytest.raises(recipe.ReservedSpeakerError, match=r"reserved.*19-10-0000\.wav"):
        train_recipe.make_corpus_files(str(ls), "train-x", None, str(data), add_train=[str(tmp_path / "reserved")])
    assert open(train_json).read() == before
    with pytest.raises(recipe.ReservedSpeakerError, match="validation utterances of"):
        _librispeech_tree(str(ls), "valid-r", ["19"], seed=50)
        train_recipe.make_corpus_files(str(ls), "train-x", "valid-r", str(data))
    # and a corpus file written by hand (the training file plus one reserved line) is refused by training and the LM
    reserved_json = tmp_path / "reserved.json"
    entry = scan_corpus(str(tmp_path / "reserved" / "sub")).entries[0]
    reserved_json.write_text(before + json.dumps(entry) + "\n")
    with pytest.raises(recipe.ReservedSpeakerError, match="reserved.json"):
        train_recipe.train(str(reserved_json), valid_json, str(tmp_path / "results"))
    with pytest.raises(recipe.ReservedSpeakerError, match="reserved.json"):
        train_recipe.build_lm(str(reserved_json), valid_json, str(tmp_path / "results"), data_dir=str(data))
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        train_recipe.make_corpus_files(str(ls), "train-x", None, str(data), add_train=[str(tmp_path / "no-such-folder")])


def test_build_lm_without_pocketsphinx_builds_the_transcripts_lm_alone(tmp_path, monkeypatch, capsys):
    from vui import train_recipe

    def no_pocketsphinx(*args, **kwargs):
        raise ImportError("exporting CMU's en-US LM needs pocketsphinx: pip install pocketsphinx")

    monkeypatch.setattr(train_recipe, "export_general_lm", no_pocketsphinx)
    train_json, valid_json = make_tiny_corpus(str(tmp_path / "corpus"), n_train=12, n_valid=4)
    data_dir, results = tmp_path / "data", tmp_path / "results"
    data_dir.mkdir(), results.mkdir()
    path = train_recipe.build_lm(train_json, valid_json, str(results), data_dir=str(data_dir))
    assert path == str(results / "vui_lm.arpa") and "needs pocketsphinx" in capsys.readouterr().out
    with open(path + ".json") as f:
        sidecar = json.load(f)
    assert "mixed_with" not in sidecar and sidecar["sentences"] + sidecar["dropped_evaluation_sentences"] == 12
    assert os.listdir(data_dir) == []  # no transcripts-only copy: the transcripts' LM is the LM


def test_shipped_files_are_complete_and_consistent():
    """results/ ships the model (weights <= 25 MB), its description and loss history, and the LM."""
    from vui.language_model import sidecar_path
    from vui.lm_scorer import LanguageModel
    from vui.saved_model import SHIPPED_LM, SHIPPED_MODEL, description_path, load_trained_model

    assert os.path.getsize(SHIPPED_MODEL) <= 25e6
    with open(description_path(SHIPPED_MODEL)) as f:
        desc = json.load(f)
    with open(os.path.join(os.path.dirname(SHIPPED_MODEL), desc["training"]["pickle"]), "rb") as f:
        history = pickle.load(f)
    assert desc["builder"] == "conv_bigru_model" and desc["training"]["keep_best"] is True
    assert len(history["val_loss"]) == desc["training"]["epochs_done"] == desc["training"]["epochs"]
    assert desc["training"]["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    model, _ = load_trained_model(SHIPPED_MODEL)
    assert model.count_params() == desc["params"]
    lm = LanguageModel(SHIPPED_LM)
    assert lm.order == 3 and {"alpha", "beta", "beam"} <= set(lm.tuned)
    with open(sidecar_path(SHIPPED_LM)) as f:
        sources = json.load(f)["sources"]["corpora"]
    assert len(sources) == 1 and sources[0]["file"].endswith("recipe_train.json")  # training transcripts only


def test_shipped_files_name_no_folder_of_the_machine_that_made_them():
    """results/: the descriptions hold no absolute path, and the exported notebook no home or work folder."""
    import glob
    import re

    for path in glob.glob(os.path.join(ROOT, "results", "*.json")):
        with open(path, encoding="utf-8") as f:
            assert absolute_paths_in(json.load(f)) == [], path
    for path in glob.glob(os.path.join(ROOT, "results", "*.html")):
        with open(path, encoding="utf-8") as f:
            assert not re.search(r"/root/|/home/|/work/|/Users/|[A-Z]:\\\\Users", f.read()), path


def test_shipped_model_on_held_out_librispeech_speakers(librispeech_test_clean):
    """The shipped model transcribes held-out speakers it never heard: greedy CER on 40 of their
    utterances stays near what the README reports for all 382 (a regression check of the artifact)."""
    from vui import train_recipe
    from create_desc_json import scan_corpus, split_by_speaker
    from vui.decoding import greedy_decode
    from vui.evaluate import error_rates
    from vui.saved_model import SHIPPED_MODEL
    from vui.transcriber import Transcriber

    entries = scan_corpus(librispeech_test_clean, progress=False).entries
    _, held_out = split_by_speaker(entries, librispeech_test_clean, valid_speaker_ids=list(train_recipe.HELD_OUT_SPEAKERS))
    picked = [e for e in held_out if e["duration"] <= 10.0][::9][:40]
    transcriber = Transcriber(SHIPPED_MODEL)
    hyps = [" ".join(greedy_decode(transcriber.probabilities([transcriber.features(e["key"])])[0]).split())
            for e in picked]
    cer, _ = error_rates([e["text"] for e in picked], hyps)
    assert cer < SHIPPED_GREEDY_CER_BOUND, cer


def test_shipped_clips_are_attributed_small_real_speech_the_shipped_model_reads(monkeypatch):
    """vui/clips: four held-out LibriSpeech clips (under 1 MB, attributed), a valid corpus file from the
    project folder, which the shipped model transcribes with a greedy CER near its held-out figure."""
    from data_generator import read_corpus
    from vui.decoding import greedy_decode
    from vui.recipe import HELD_OUT_SPEAKERS
    from vui.evaluate import error_rates
    from vui.saved_model import SHIPPED_CLIPS, SHIPPED_MODEL
    from vui.transcriber import Transcriber

    monkeypatch.chdir(ROOT)
    clips = read_corpus(SHIPPED_CLIPS, strict=True)
    folder = os.path.dirname(SHIPPED_CLIPS)
    assert len(clips.audio_paths) == 4 and sum(os.path.getsize(p) for p in clips.audio_paths) < 1e6
    assert {os.path.basename(p).split("-")[0] for p in clips.audio_paths} <= set(HELD_OUT_SPEAKERS)
    with open(os.path.join(folder, "README.md")) as f:
        attribution = f.read()
    assert "Creative Commons Attribution 4.0" in attribution
    assert all(os.path.basename(p) in attribution for p in clips.audio_paths)
    transcriber = Transcriber(SHIPPED_MODEL)
    hyps = [" ".join(greedy_decode(transcriber.file_probabilities(p)).split()) for p in clips.audio_paths]
    cer, _ = error_rates(clips.texts, hyps)
    assert cer < SHIPPED_GREEDY_CER_BOUND, list(zip(clips.texts, hyps))


def test_default_model_and_lm(tmp_path, monkeypatch):
    from vui import saved_model

    monkeypatch.setattr(saved_model, "SHIPPED_MODEL", str(tmp_path / "vui_model.weights.h5"))
    monkeypatch.setattr(saved_model, "SHIPPED_LM", str(tmp_path / "vui_lm.arpa"))
    (tmp_path / "vui_model.weights.h5").write_bytes(b"x")
    assert saved_model.default_model_and_lm(None, None) == (str(tmp_path / "vui_model.weights.h5"), None)  # no LM file
    (tmp_path / "vui_lm.arpa").write_bytes(b"x")
    assert saved_model.default_model_and_lm(None, None) == (str(tmp_path / "vui_model.weights.h5"), str(tmp_path / "vui_lm.arpa"))
    assert saved_model.default_model_and_lm(None, None, no_lm=True) == (str(tmp_path / "vui_model.weights.h5"), None)
    assert saved_model.default_model_and_lm("other.h5", None) == ("other.h5", None)  # an explicit model: no LM implied
    (tmp_path / "vui_model.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="no trained model"):
        saved_model.default_model_and_lm(None, None, results_dir=str(tmp_path))
