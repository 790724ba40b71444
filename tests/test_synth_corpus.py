"""Tests for synth_corpus: the eSpeak NG corpus, its LibriSpeech layout and its JSON split."""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pytest
import soundfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vui import espeak  # noqa: E402
from vui import synth_corpus as sc  # noqa: E402
from vui import synth_grammar as grammar  # noqa: E402
from char_map import CHAR_TO_INDEX as char_map  # noqa: E402
from utils import MAX_DURATION_S, SAMPLE_RATE  # noqa: E402

N_SPEAKERS = 4
PER_SPEAKER = 12
N_UTTERANCES = N_SPEAKERS * PER_SPEAKER
VALID_SPEAKERS = 1
SEED = 7
MIN_DURATION_S = 0.3
MIN_RMS = 0.01  # speech sits around 0.04..0.2 RMS; the noise floor alone is 3e-4
TRANS_LINE = re.compile(r"^(\d+)-(\d+)-(\d{4}) ([A-Z' ]+)$")


def _build(root: str) -> dict:
    out = os.path.join(root, "synth")
    train, valid = os.path.join(root, "train.json"), os.path.join(root, "valid.json")
    counts = sc.build_synthetic_corpus(
        out, N_SPEAKERS, N_UTTERANCES, SEED, VALID_SPEAKERS, train, valid, progress=False
    )
    return {"root": root, "out": out, "train": train, "valid": valid, "counts": counts}


def _files(folder: str) -> dict[str, bytes]:
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def _read_json(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _build(str(tmp_path_factory.mktemp("synth_a")))


@pytest.fixture(scope="module")
def corpus_again(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _build(str(tmp_path_factory.mktemp("synth_b")))


@pytest.fixture(scope="module")
def synth() -> espeak.EspeakSynthesizer:
    with espeak.EspeakSynthesizer() as s:
        yield s


def test_same_seed_gives_identical_corpus(corpus: dict, corpus_again: dict) -> None:
    a, b = _files(corpus["out"]), _files(corpus_again["out"])
    assert sorted(a) == sorted(b)
    assert sum(name.endswith(".flac") for name in a) == N_UTTERANCES
    for name in a:
        assert a[name] == b[name], name
    for part in ("train", "valid"):
        rows_a = [{**r, "key": os.path.relpath(r["key"], corpus["out"])} for r in _read_json(corpus[part])]
        rows_b = [{**r, "key": os.path.relpath(r["key"], corpus_again["out"])} for r in _read_json(corpus_again[part])]
        assert rows_a == rows_b
    assert corpus["counts"] == corpus_again["counts"]


def test_librispeech_layout_and_transcripts(corpus: dict) -> None:
    speakers = sorted(os.listdir(corpus["out"]))
    assert "SPEAKERS.TXT" in speakers
    speakers.remove("SPEAKERS.TXT")
    assert speakers == [str(sc.SPEAKER_ID_BASE + i) for i in range(N_SPEAKERS)]
    for speaker in speakers:
        chapters = os.listdir(os.path.join(corpus["out"], speaker))
        assert len(chapters) == 1 and chapters[0].isdigit()
        folder = os.path.join(corpus["out"], speaker, chapters[0])
        trans = f"{speaker}-{chapters[0]}.trans.txt"
        flacs = sorted(n for n in os.listdir(folder) if n.endswith(".flac"))
        assert sorted(os.listdir(folder)) == sorted(flacs + [trans])  # no temporary files left behind
        with open(os.path.join(folder, trans), encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert len(lines) == PER_SPEAKER
        ids = []
        for line in lines:
            match = TRANS_LINE.match(line)
            assert match, line
            assert (match.group(1), match.group(2)) == (speaker, chapters[0])
            words = match.group(4).split(" ")
            assert grammar.MIN_WORDS <= len(words) <= grammar.MAX_WORDS and all(words), line
            ids.append(line.split(" ", 1)[0])
            with soundfile.SoundFile(os.path.join(folder, ids[-1] + ".flac")) as audio:
                assert audio.title.upper() == match.group(4)  # transcript stored in the file agrees
        assert [i + ".flac" for i in ids] == flacs


def test_audio_is_16khz_mono_flac_speech(corpus: dict) -> None:
    for row in _read_json(corpus["train"]) + _read_json(corpus["valid"]):
        info = soundfile.info(row["key"])
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", SAMPLE_RATE, 1)
        assert MIN_DURATION_S < info.duration <= MAX_DURATION_S
        assert row["duration"] == pytest.approx(info.duration, abs=1e-3)
        audio, _ = soundfile.read(row["key"], dtype="float32")
        rms = float(np.sqrt(np.mean(audio**2)))
        assert rms > MIN_RMS, (row["key"], rms)
        assert np.abs(audio).max() < 1.0  # no clipping


def test_json_lines_and_speaker_disjoint_split(corpus: dict) -> None:
    train, valid = _read_json(corpus["train"]), _read_json(corpus["valid"])
    assert corpus["counts"] == (len(train), len(valid))
    assert len(train) + len(valid) == N_UTTERANCES
    for row in train + valid:
        assert set(row) == {"key", "duration", "text"}
        assert row["text"] and all(c in char_map for c in row["text"])
        assert row["text"] == row["text"].lower()
    speaker = lambda row: os.path.relpath(row["key"], corpus["out"]).split(os.sep)[0]  # noqa: E731
    train_speakers, valid_speakers = {speaker(r) for r in train}, {speaker(r) for r in valid}
    assert not train_speakers & valid_speakers
    all_speakers = sorted(train_speakers | valid_speakers)
    assert sorted(valid_speakers) == all_speakers[:VALID_SPEAKERS]
    assert len(valid) == VALID_SPEAKERS * PER_SPEAKER
    texts = [r["text"] for r in train + valid]
    assert len(set(texts)) == len(texts)  # every utterance has its own sentence


def test_rerun_keeps_current_files_and_replaces_damaged_ones(corpus: dict) -> None:
    before = _files(corpus["out"])
    flacs = sorted(os.path.join(corpus["out"], n) for n in before if n.endswith(".flac"))
    kept, damaged = flacs[0], flacs[1]
    kept_stat = os.stat(kept)
    with open(damaged, "r+b") as f:  # as if a foreign tool had truncated it
        f.truncate(100)
    assert sc.build_synthetic_corpus(
        corpus["out"], N_SPEAKERS, N_UTTERANCES, SEED, VALID_SPEAKERS, corpus["train"], corpus["valid"], progress=False
    ) == corpus["counts"]
    after = _files(corpus["out"])
    assert after == before  # the damaged file came back byte for byte
    assert os.stat(kept).st_ino == kept_stat.st_ino and os.stat(kept).st_mtime_ns == kept_stat.st_mtime_ns


def _median_f0(audio: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Median pitch (Hz) of the louder frames, by autocorrelation over 40 ms frames."""
    n, hop = int(0.04 * sr), int(0.01 * sr)
    frames = np.lib.stride_tricks.sliding_window_view(audio, n)[::hop]
    energy = np.mean(frames**2, axis=1)
    lo, hi = sr // 400, sr // 60  # 60..400 Hz
    pitches = []
    for frame in frames[energy > 0.3 * energy.max()]:
        frame = frame - frame.mean()
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        ac = ac / (ac[0] + 1e-12)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            pitches.append(sr / lag)
    assert pitches, "no voiced frames found"
    return float(np.median(pitches))


def _spectral_centroid(audio: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(np.sum(power * np.fft.rfftfreq(audio.size, 1 / sr)) / np.sum(power))


def test_speakers_sound_different(synth: espeak.EspeakSynthesizer) -> None:
    speakers = sc.make_speakers(N_SPEAKERS, SEED, synth.accents, synth.variants)
    assert len({(s.accent, s.variant, s.rate_wpm, s.pitch, s.pitch_range) for s in speakers}) == N_SPEAKERS
    assert [s.gender for s in speakers] == ["F", "M"] * (N_SPEAKERS // 2)
    text = "the quick brown fox jumped over the lazy dog near the river"
    renditions = [sc.render_utterance(synth, sc.UtterancePlan(s, "x", text, (0,)))[1] for s in speakers]
    for i in range(N_SPEAKERS):
        for j in range(i + 1, N_SPEAKERS):
            a, b = renditions[i], renditions[j]
            assert a.shape != b.shape or not np.allclose(a, b, atol=1e-3)
    f0 = [_median_f0(a) for a in renditions]
    centroid = [_spectral_centroid(a) for a in renditions]
    for female, male in ((0, 1), (2, 3)):
        assert f0[female] > 1.3 * f0[male], (speakers[female], speakers[male], f0)
    assert len({round(c, -1) for c in centroid}) == N_SPEAKERS, centroid


def test_pitch_parameter_changes_pitch(synth: espeak.EspeakSynthesizer) -> None:
    text = "we walked slowly along the river"
    low = sc.Speaker("1", "en-us", "m3", "M", 170, 35, 50)
    high = sc.Speaker("2", "en-us", "m3", "M", 170, 65, 50)
    f0_low = _median_f0(sc.render_utterance(synth, sc.UtterancePlan(low, "x", text, (0,)))[1])
    f0_high = _median_f0(sc.render_utterance(synth, sc.UtterancePlan(high, "x", text, (0,)))[1])
    assert f0_high > 1.2 * f0_low


def test_synthesis_is_independent_of_what_came_before(synth: espeak.EspeakSynthesizer) -> None:
    first = synth.synthesize("she said it's fine", "en-us+f2", 170, 50, 50, rand_seed=5)
    synth.synthesize("something else entirely, said first", "en+m3", 150, 40, 60, rand_seed=1)
    again = synth.synthesize("she said it's fine", "en-us+f2", 170, 50, 50, rand_seed=5)
    assert first.dtype == np.int16 and first.size > 0.3 * espeak.ESPEAK_SAMPLE_RATE
    assert np.array_equal(first, again)


def test_sentences_are_valid_distinct_and_seeded() -> None:
    sentences = grammar.make_sentences(400, 0)
    assert len(set(sentences)) == 400
    for text in sentences:
        assert grammar.check_sentence(text) == text
        assert set(text) <= set(char_map)
    assert any("'" in t for t in sentences)
    assert grammar.make_sentences(400, 0) == sentences
    assert grammar.make_sentences(400, 1) != sentences
    with pytest.raises(ValueError):
        grammar.check_sentence("two words")
    with pytest.raises(ValueError):
        grammar.check_sentence("it costs 5 dollars")


def test_unusable_espeak_gives_clear_error(tmp_path) -> None:
    with pytest.raises(espeak.EspeakError, match="libespeak-ng not found"):
        espeak.EspeakSynthesizer(library_path=str(tmp_path / "libespeak-ng.so"))
    not_a_library = tmp_path / "libespeak-ng.so"
    not_a_library.write_bytes(b"this is not a shared library")
    with pytest.raises(espeak.EspeakError, match="cannot load libespeak-ng"):
        espeak.EspeakSynthesizer(library_path=str(not_a_library))
    with pytest.raises(espeak.EspeakError, match="not an espeak-ng-data folder"):
        espeak.EspeakSynthesizer(data_path=str(tmp_path))


def test_impossible_arguments_are_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="valid_speakers"):
        sc.build_synthetic_corpus(str(tmp_path), 3, 6, 0, 3, None, None, progress=False)
    with pytest.raises(ValueError, match="n_utterances"):
        sc.build_synthetic_corpus(str(tmp_path), 4, 3, 0, 1, None, None, progress=False)
    assert sc.main(["--out", str(tmp_path), "--speakers", "2", "--valid-speakers", "2", "--quiet"]) == 1
    assert not os.listdir(tmp_path)
