"""char_map, utils and data_generator: shapes, maps, batches, bad input."""

from __future__ import annotations

import json
import os
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import soundfile

import char_map
import utils
from data_generator import AudioGenerator, CorpusError, read_corpus, vis_train_features
from data_generator import plot_mfcc_feature, plot_raw_audio, plot_spectrogram_feature


def write_wav(path, samples, rate, subtype="PCM_16"):
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return str(path)


def noise(n, seed=0, channels=1):
    shape = (n,) if channels == 1 else (n, channels)
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


# --- char_map ------------------------------------------------------------------------------------
def test_char_map_layout():
    assert char_map.NUM_CLASSES == 29 and char_map.BLANK_INDEX == 28
    assert char_map.CHAR_TO_INDEX["'"] == 0 and char_map.CHAR_TO_INDEX[" "] == 1
    assert char_map.CHAR_TO_INDEX["a"] == 2 and char_map.CHAR_TO_INDEX["z"] == 27
    assert len(char_map.CHAR_TO_INDEX) == 28 and set(char_map.INDEX_TO_CHAR) == set(range(28))


def test_text_round_trip_every_character():
    text = "the quick brown fox jumps over the lazy dog's back"
    ints = utils.text_to_int_sequence(text)
    assert ints[:3] == [21, 9, 6]
    assert utils.indices_to_text(ints) == text
    assert utils.indices_to_text(list(range(28))) == char_map.CHARACTERS
    assert utils.indices_to_text([9, 28, 10]) == "hi"  # blanks are dropped


def test_unknown_character_is_named():
    with pytest.raises(ValueError, match="'7'"):
        utils.text_to_int_sequence("route 7")


def test_normalize_transcript():
    assert utils.normalize_transcript("  HELLO\u2019s   World-wide ") == "hello's world wide"
    with pytest.raises(ValueError, match="12"):
        utils.normalize_transcript("chapter 12")
    with pytest.raises(ValueError, match=r"\."):
        utils.normalize_transcript("the end.")


# --- utils: features -----------------------------------------------------------------------------
def test_seed_shapes_22050(tmp_path):
    path = write_wav(tmp_path / "clip.wav", noise(84231), 22050)
    assert utils.spectrogram_from_file(path).shape == (381, 161)
    assert utils.mfcc_from_file(path).shape == (381, 13)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_161_bins_at_common_rates(tmp_path, rate):
    path = write_wav(tmp_path / "clip.wav", noise(rate), rate)
    feats = utils.spectrogram_from_file(path)
    assert feats.shape == (utils.num_feature_frames(rate, rate), utils.SPECTROGRAM_DIM) == (99, 161)
    assert feats.dtype == np.float32 and np.all(np.isfinite(feats))
    assert utils.audio_feature_frames(path) == 99


def test_calc_feat_dim():
    assert utils.calc_feat_dim(20, 8000) == 161 and utils.calc_feat_dim(25, 4000) == 101


def test_spectrogram_peak_at_tone_frequency():
    rate, freq = 16000, 1000
    t = np.arange(rate) / rate
    feats = utils.spectrogram_from_samples(np.sin(2 * np.pi * freq * t).astype(np.float32), rate)
    assert np.all(np.argmax(feats, axis=1) == freq // 50)


def test_8khz_audio_is_refused_by_name(tmp_path):
    path = write_wav(tmp_path / "phone.wav", noise(8000), 8000)
    with pytest.raises(utils.AudioError, match="phone.wav.*Nyquist"):
        utils.spectrogram_from_file(path)
    with pytest.raises(utils.AudioError, match="phone.wav"):
        utils.mfcc_from_file(path)


def test_stereo_is_mixed_down(tmp_path):
    stereo = noise(16000, channels=2)
    path = write_wav(tmp_path / "stereo.wav", stereo, 16000, subtype="FLOAT")
    samples, rate = utils.load_audio(path)
    assert rate == 16000 and samples.shape == (16000,)
    np.testing.assert_allclose(samples, stereo.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk" * 4])
def test_empty_or_corrupt_audio_is_named(tmp_path, content):
    path = tmp_path / "bad clip.wav"
    path.write_bytes(content)
    with pytest.raises(utils.AudioError, match="bad clip.wav"):
        utils.spectrogram_from_file(str(path))


def test_too_short_audio_is_named(tmp_path):
    path = write_wav(tmp_path / "blip.wav", noise(100), 16000)
    with pytest.raises(utils.AudioError, match="blip.wav.*shorter"):
        utils.spectrogram_from_file(path)


@pytest.mark.parametrize(
    "args, expected",
    [((100, 11, "valid", 2), 45), ((101, 11, "same", 2), 51), ((100, 3, "valid", 1, 4), 92), ((None, 3, "same", 1), None)],
)
def test_conv_output_length(args, expected):
    assert utils.conv_output_length(*args) == expected


def test_write_atomic_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "x.bin"
    utils.write_atomic(str(path), b"old")

    with pytest.raises(TypeError):
        utils.write_atomic(str(path), object())  # cannot be written: the old file must survive
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.bin"]


# --- data_generator --------------------------------------------------------------------------------
def test_batches_shapes_and_padding(tiny_corpus):
    train_json, valid_json = tiny_corpus
    gen = AudioGenerator(minibatch_size=5, desc_file=train_json)  # desc_file= loads training data
    gen.load_validation_data(valid_json)
    inputs, outputs = gen.get_batch("train")
    x, y = inputs["the_input"], inputs["the_labels"]
    assert x.shape[0] == y.shape[0] == 5 and x.shape[2] == 161
    assert outputs["ctc"].shape == (5,)
    for i in range(5):
        n, m = int(inputs["input_length"][i, 0]), int(inputs["label_length"][i, 0])
        assert np.all(x[i, n:] == 0) and np.any(x[i, n - 1] != 0)
        assert np.all(y[i, m:] == char_map.BLANK_INDEX) and np.all(y[i, :m] < char_map.BLANK_INDEX)
    assert x.shape[1] == inputs["input_length"].max()


def test_every_utterance_once_per_epoch_including_last_partial_batch(tiny_corpus):
    gen = AudioGenerator(minibatch_size=5)
    gen.load_train_data(tiny_corpus[0])  # 24 utterances: 4 batches of 5 and one of 4
    assert gen.steps_per_epoch("train") == 5
    orders = [gen.epoch_order("train", e) for e in range(3)]
    for order in orders:
        assert sorted(order) == list(range(24))
    assert orders[0] != orders[1]
    sizes = [gen.get_batch("train")[0]["the_input"].shape[0] for _ in range(5)]
    assert sizes == [5, 5, 5, 5, 4]
    again = AudioGenerator(minibatch_size=5, desc_file=tiny_corpus[0])
    assert again.epoch_order("train", 1) == orders[1]  # seeded: the same on every run


def test_sort_by_duration_holds_every_epoch(tiny_corpus):
    gen = AudioGenerator(minibatch_size=4, sort_by_duration=True, desc_file=tiny_corpus[0])
    for epoch in range(3):
        durations = [gen.train_durations[i] for i in gen.epoch_order("train", epoch)]
        assert durations == sorted(durations)
    first = [gen.get_batch("train")[0]["input_length"].max() for _ in range(12)]
    assert first[:6] == sorted(first[:6]) and first[6:] == sorted(first[6:])


def test_test_partition_has_its_own_cursor(tiny_corpus):
    train_json, valid_json = tiny_corpus
    gen = AudioGenerator(minibatch_size=3, desc_file=train_json)
    gen.load_test_data(valid_json)
    gen.get_batch("train")
    gen.get_batch("train")
    batch = next(gen.next_test())[0]
    first_three = [gen.test_texts[i] for i in range(3)]
    assert [utils.indices_to_text(r) for r in batch["the_labels"]] == first_three


def test_fit_train_is_seeded_and_normalises(tiny_corpus):
    a = AudioGenerator(desc_file=tiny_corpus[0])
    b = AudioGenerator(desc_file=tiny_corpus[0])
    np.testing.assert_array_equal(a.feats_mean, b.feats_mean)
    feats = np.vstack([a.normalize(a.featurize(p)) for p in a.train_audio_paths])
    assert abs(feats.mean()) < 0.1 and 0.8 < feats.std() < 1.2


def test_mfcc_batches(tiny_corpus):
    gen = AudioGenerator(spectrogram=False, minibatch_size=4, desc_file=tiny_corpus[0])
    assert gen.get_batch("train")[0]["the_input"].shape[2] == 13


def test_max_duration_filters(tiny_corpus):
    durations = AudioGenerator(desc_file=tiny_corpus[0]).train_durations
    cut = sorted(durations)[len(durations) // 2]
    gen = AudioGenerator(max_duration=cut, desc_file=tiny_corpus[0])
    assert max(gen.train_durations) <= cut and len(gen.train_durations) < len(durations)


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"key": "KEY", "text": "hi"}', "line 2: missing key"),
        ('{"key": "missing.wav", "duration": 1.0, "text": "hi"}', "line 2: audio file missing.wav not found"),
        ('{"key": "KEY", "duration": 1.0, "text": "route 66"}', "line 2: .*'6'"),
        ('{"key": "KEY", "duration": 9.5, "text": "hi"}', "line 2: duration 9.5 s does not match"),
    ],
)
def test_bad_corpus_lines_are_named_and_skipped(tiny_corpus, tmp_path, capsys, line, message):
    with open(tiny_corpus[0]) as f:
        first = f.readline()
    key = json.loads(first)["key"]
    desc = tmp_path / "bad.json"
    desc.write_text(first + line.replace("KEY", key) + "\n")
    corpus = read_corpus(str(desc))
    assert corpus.audio_paths == [key] and len(corpus.problems) == 1
    err = capsys.readouterr().err
    assert re.search("bad.json:" + message.replace("line ", ""), err) and "skipped 1 bad line(s)" in err
    with pytest.raises(CorpusError, match="bad.json:" + message.replace("line ", "")):
        read_corpus(str(desc), strict=True)


def test_empty_corpus_is_an_error(tmp_path):
    desc = tmp_path / "empty.json"
    desc.write_text("")
    with pytest.raises(CorpusError, match="empty.json: no usable utterances"):
        AudioGenerator().load_train_data(str(desc))


def test_vis_train_features_and_plots(tiny_corpus, capsys):
    text, raw, mfcc, spec, path = vis_train_features(index=0, desc_file=tiny_corpus[0])
    assert "There are 24 total training examples." in capsys.readouterr().out
    assert spec.shape[1] == 161 and mfcc.shape == (spec.shape[0], 13)
    assert raw.ndim == 1 and len(raw) > 0 and os.path.exists(path) and text
    import matplotlib.pyplot as plt

    for plot, data in ((plot_raw_audio, raw), (plot_spectrogram_feature, spec), (plot_mfcc_feature, mfcc)):
        assert plot(data) is None and plt.gcf().axes  # drawn, and not returned to be drawn again
    ax = plt.gcf().axes[0]  # as the original: time down, MFCC coefficients across
    assert ax.get_ylabel().startswith("Time") and ax.get_images()[0].get_array().shape == mfcc.shape


def test_real_librispeech_batch(librispeech_test_clean, tmp_path):
    from create_desc_json import scan_corpus, write_corpus

    chapter = os.path.join(librispeech_test_clean, "1089", "134686")
    scan = scan_corpus(chapter, progress=False)
    desc = str(tmp_path / "c.json")
    write_corpus(desc, scan.entries[:10])
    gen = AudioGenerator(minibatch_size=10, desc_file=desc)
    inputs, _ = gen.get_batch("train")
    assert inputs["the_input"].shape[2] == 161
    expected = [utils.audio_feature_frames(p) for p in gen.train_audio_paths]
    assert sorted(inputs["input_length"][:, 0]) == sorted(expected)


def test_bucketed_batches_cover_every_utterance_and_cut_padding(tiny_corpus):
    plain = AudioGenerator(minibatch_size=5, desc_file=tiny_corpus[0])
    bucketed = AudioGenerator(minibatch_size=5, desc_file=tiny_corpus[0], bucket_by_duration=True)

    def padding(gen, epoch):
        total = 0.0
        for batch in gen.epoch_batches("train", epoch):
            durations = [gen.train_durations[i] for i in batch]
            total += sum(max(durations) - d for d in durations)
        return total

    for epoch in range(3):
        batches = bucketed.epoch_batches("train", epoch)
        assert sorted(i for b in batches for i in b) == list(range(24))
        assert [len(b) for b in batches] == [5, 5, 5, 5, 4]
        assert padding(bucketed, epoch) < padding(plain, epoch)
    assert bucketed.epoch_batches("train", 0) != bucketed.epoch_batches("train", 1)  # still mixes


def test_feature_cache_is_exact_and_keyed_by_settings(tiny_corpus, tmp_path):
    cache = str(tmp_path / "cache")
    path = AudioGenerator(desc_file=tiny_corpus[0]).train_audio_paths[0]
    plain = AudioGenerator().featurize(path)
    gen = AudioGenerator(cache_dir=cache)
    first, second = gen.featurize(path), gen.featurize(path)
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    assert os.path.exists(gen.feature_cache_path(path))
    mfcc = AudioGenerator(cache_dir=cache, spectrogram=False)
    assert mfcc.feature_cache_path(path) != gen.feature_cache_path(path)
    assert mfcc.featurize(path).shape[1] == 13
    before = gen.feature_cache_path(path)
    os.utime(path, ns=(1, 1))  # the audio changed: its old entry no longer applies
    assert gen.feature_cache_path(path) != before
    gen.featurize(path)
    with open(gen.feature_cache_path(path), "wb") as f:
        f.write(b"damaged")
    np.testing.assert_array_equal(gen.featurize(path), plain)  # recomputed and replaced
    import shutil

    shutil.rmtree(cache)  # safe to delete
    np.testing.assert_array_equal(gen.featurize(path), plain)


def test_features_object_round_trips_and_is_what_training_used(tiny_corpus, tmp_path):
    """The generator's Features computes the training features; saved (to_dict in a model's
    description, or save/load) and rebuilt, it gives exactly the same normalised features."""
    from vui.features import Features

    gen = AudioGenerator(spectrogram=False, mfcc_dim=13)
    gen.load_train_data(tiny_corpus[0])
    path = gen.train_audio_paths[0]
    expected = gen.normalize(gen.featurize(path))
    assert gen.input_dim == gen.features.dim == 13 and (gen.step, gen.window) == (10, 20)
    np.testing.assert_array_equal(Features.from_dict(gen.features.to_dict())(path), expected)
    gen.features.save(str(tmp_path / "features.json"))
    np.testing.assert_array_equal(Features.load(str(tmp_path / "features.json"))(path), expected)
    with pytest.raises(ValueError, match="161 dimensions"):
        Features(mean=np.zeros(13))
    with pytest.raises(ValueError, match="bad.json: cannot read feature settings"):
        (tmp_path / "bad.json").write_text("{}")
        Features.load(str(tmp_path / "bad.json"))
