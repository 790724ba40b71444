"""create_desc_json: LibriSpeech layout -> JSON lines, speaker-disjoint split, bad files skipped."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile

import create_desc_json
from tests.conftest import tone_for_text


def make_librispeech(root, speakers=("11", "22", "33", "44"), per_chapter=3):
    rng = np.random.default_rng(0)
    for spk in speakers:
        chapter = os.path.join(root, spk, "100")
        os.makedirs(chapter)
        lines = []
        for u in range(per_chapter):
            utt = f"{spk}-100-{u:04d}"
            text = ["HELLO THERE", "IT'S A DOG", "GO FEED THE CAB"][u % 3]
            soundfile.write(os.path.join(chapter, utt + ".flac"), tone_for_text(text.lower(), rng), 16000)
            lines.append(f"{utt} {text}")
        with open(os.path.join(chapter, f"{spk}-100.trans.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return root


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_json_lines_format(tmp_path):
    root = make_librispeech(str(tmp_path / "dev-clean"))
    out = str(tmp_path / "train.json")
    assert create_desc_json.main([root, out, "--quiet"]) == 0
    entries = read_lines(out)
    assert len(entries) == 12
    for e in entries:
        assert set(e) == {"key", "duration", "text"}
        assert os.path.exists(e["key"]) and e["key"].endswith(".flac")
        assert e["text"] == e["text"].lower() and e["text"] in {"hello there", "it's a dog", "go feed the cab"}
        info = soundfile.info(e["key"])
        assert e["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-4)


def test_split_is_speaker_disjoint_and_deterministic(tmp_path):
    root = make_librispeech(str(tmp_path / "test-clean"))
    train, valid = str(tmp_path / "t.json"), str(tmp_path / "v.json")
    assert create_desc_json.main([root, train, "--valid-speakers", "1", "--valid-output", valid, "--quiet"]) == 0
    spk = lambda p: {create_desc_json.speaker_of(e["key"], root) for e in read_lines(p)}
    assert spk(valid) == {"11"} and spk(train) == {"22", "33", "44"}
    assert create_desc_json.main([root, train, "--valid-speaker-ids", "33", "44", "--valid-output", valid, "--quiet"]) == 0
    assert spk(valid) == {"33", "44"} and not spk(valid) & spk(train)


def test_bad_files_are_skipped_with_warning_and_count(tmp_path, capsys):
    root = make_librispeech(str(tmp_path / "c"))
    chapter = os.path.join(root, "11", "100")
    open(os.path.join(chapter, "11-100-0000.flac"), "wb").close()  # empty audio
    with open(os.path.join(chapter, "11-100-0001.flac"), "wb") as f:
        f.write(b"fLaC garbage")  # corrupt audio
    os.remove(os.path.join(chapter, "11-100-0002.flac"))  # missing audio
    with open(os.path.join(root, "22", "100", "22-100.trans.txt"), "a") as f:
        f.write("22-100-0009 CHAPTER 12\n")  # digits
    soundfile.write(os.path.join(root, "22", "100", "22-100-0009.flac"), np.zeros(8000), 16000)
    out = str(tmp_path / "o.json")
    assert create_desc_json.main([root, out, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "11-100-0000" in err and "empty" in err
    assert "11-100-0001" in err and "cannot decode" in err
    assert "11-100-0002" in err and "no audio file" in err
    assert "22-100-0009" in err and "'12'" in err
    assert "skipped 4" in err
    assert len(read_lines(out)) == 9


def test_nothing_written_when_nothing_usable(tmp_path, capsys):
    root = str(tmp_path / "empty")
    os.makedirs(root)
    out = tmp_path / "o.json"
    assert create_desc_json.main([root, str(out), "--quiet"]) == 1
    assert "no *.trans.txt" in capsys.readouterr().err and not out.exists()


def test_real_test_clean_split(librispeech_test_clean, tmp_path):
    train, valid = str(tmp_path / "t.json"), str(tmp_path / "v.json")
    args = [librispeech_test_clean, train, "--valid-speakers", "8", "--valid-output", valid, "--quiet"]
    assert create_desc_json.main(args) == 0
    t, v = read_lines(train), read_lines(valid)
    assert (len(t), len(v)) == (1625, 382)
    held = {create_desc_json.speaker_of(e["key"], librispeech_test_clean) for e in v}
    assert held == {"1089", "1188", "121", "1221", "1284", "1320", "1580", "1995"}
    assert not held & {create_desc_json.speaker_of(e["key"], librispeech_test_clean) for e in t}
    assert max(e["duration"] for e in t + v) <= 10.0
