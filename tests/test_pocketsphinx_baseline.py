"""The PocketSphinx baseline script (an optional development dependency): it scores a corpus the way
vui.evaluate does, refuses audio its model cannot read, and on real speech gets most words right."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from tests.conftest import make_tiny_corpus

pytest.importorskip("pocketsphinx")

from utils import AudioError  # noqa: E402
from vui.pocketsphinx_baseline import evaluate_corpus, main, pocketsphinx_decoder, recognise  # noqa: E402


def test_scores_every_utterance_of_a_corpus_and_writes_a_report(tmp_path, capsys):
    _, valid_json = make_tiny_corpus(str(tmp_path / "corpus"), n_train=2, n_valid=3)
    result, rtf = evaluate_corpus(valid_json, progress=False)
    assert len(result.hypotheses) == len(result.references) == 3 and rtf > 0
    assert all(set(h) <= set("abcdefghijklmnopqrstuvwxyz' ") for h in result.hypotheses)
    report = tmp_path / "ps.tsv"
    assert main(["--corpus", valid_json, "--report", str(report), "--quiet"]) == 0
    assert "PocketSphinx: CER" in capsys.readouterr().out
    assert len(report.read_text().splitlines()) == 4  # header + one line per utterance


def test_refuses_audio_at_another_sample_rate(tmp_path):
    path = str(tmp_path / "8k.wav")
    soundfile.write(path, np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match="8k.wav: sample rate 8000 Hz"):
        recognise(pocketsphinx_decoder(), path)


def test_reads_real_speech(librispeech_test_clean):
    """Three held-out LibriSpeech utterances: PocketSphinx gets most of their words."""
    from vui.evaluate import error_rates

    folder = os.path.join(librispeech_test_clean, "1089", "134686")
    with open(os.path.join(folder, "1089-134686.trans.txt")) as f:
        lines = [line.split(" ", 1) for line in f.read().splitlines()[:3]]
    decoder = pocketsphinx_decoder()
    hyps = [recognise(decoder, os.path.join(folder, key + ".flac")) for key, _ in lines]
    _, wer = error_rates([text.lower() for _, text in lines], hyps)
    assert wer < 0.5, list(zip(hyps, lines))
