"""vui.split_long: CTC forced alignment, cut choice, and a long utterance split into pieces on disk."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from char_map import BLANK_INDEX, NUM_CLASSES
from create_desc_json import scan_corpus, write_corpus
from tests.conftest import tone_for_text
from utils import SAMPLE_RATE, text_to_int_sequence
from vui import alignment, recipe, split_long


def _one_hot_path(path: list[int], sharp: float = 0.9) -> np.ndarray:
    """Log-probabilities that favour `path` (one class per frame) over every other class."""
    probs = np.full((len(path), NUM_CLASSES), (1 - sharp) / (NUM_CLASSES - 1))
    probs[np.arange(len(path)), path] = sharp
    return np.log(probs)


def test_ctc_align_finds_the_frames_of_a_known_path():
    b = BLANK_INDEX
    a, c, s = text_to_int_sequence("acs")  # three different labels
    path = [b, a, a, b, b, c, b, s, s, s, b]
    np.testing.assert_array_equal(alignment.ctc_align(_one_hot_path(path), [a, c, s]), [1, 5, 7])


def test_ctc_align_puts_a_blank_between_repeated_labels_and_refuses_too_short_outputs():
    b = BLANK_INDEX
    (l,) = text_to_int_sequence("l")
    # the outputs say "l l" with no blank between: a repeated label needs one, so the path spends a frame on it
    frames = alignment.ctc_align(_one_hot_path([b, l, l, l, b]), [l, l])
    assert frames[0] < frames[1] - 1
    with pytest.raises(ValueError, match="cannot spell"):
        alignment.ctc_align(_one_hot_path([l, l]), [l, l])


def test_choose_pieces_cuts_at_the_widest_pause_and_keeps_every_word():
    # ten words of 2 s each at 0.1 s per frame (20 frames), pauses of 3 frames except a long one after word 6
    spans, frame = [], 0
    for k in range(10):
        spans.append((f"w{k}", frame, frame + 19))
        frame += 20 + (9 if k == 5 else 3)
    n_samples = (frame + 5) * SAMPLE_RATE // 10
    pieces = split_long.choose_pieces(spans, 0.1, n_samples, SAMPLE_RATE, max_piece_s=15.0)
    assert " ".join(p.text for p in pieces) == " ".join(w for w, _, _ in spans)
    assert pieces[0].text.split()[-1] == "w5"  # the long pause wins over the later short ones
    assert pieces[0].start == 0 and pieces[-1].end == n_samples
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    assert all(p.end - p.start <= 15 * SAMPLE_RATE for p in pieces)
    cut_s = pieces[0].end / SAMPLE_RATE
    assert spans[5][2] * 0.1 < cut_s < spans[6][1] * 0.1  # inside the pause
    with pytest.raises(ValueError, match="no pause"):
        split_long.choose_pieces([("long", 0, 199)], 0.1, 20 * SAMPLE_RATE, SAMPLE_RATE, max_piece_s=15.0)


def test_split_corpus_writes_pieces_that_train_recipe_reads(tmp_path):
    rng = np.random.default_rng(3)
    text = "the cat sat on a mat and then it ran far away from home"
    samples = np.concatenate([tone_for_text(text, rng), tone_for_text(text, rng)])
    folder = tmp_path / "ls" / "11" / "22"
    folder.mkdir(parents=True)
    sf.write(folder / "11-22-0000.flac", samples, SAMPLE_RATE)
    short = tone_for_text("short one", rng)
    sf.write(folder / "11-22-0001.flac", short, SAMPLE_RATE)
    (folder / "11-22.trans.txt").write_text(f"11-22-0000 {text.upper()} {text.upper()}\n11-22-0001 SHORT ONE\n")
    corpus_json = str(tmp_path / "corpus.json")
    write_corpus(corpus_json, scan_corpus(str(tmp_path / "ls")).entries)
    max_piece = len(samples) / SAMPLE_RATE / 2.5
    summary = split_long.split_corpus(corpus_json, str(tmp_path / "pieces"), max_piece_s=max_piece)
    assert summary["utterances"] == 1 and summary["split"] == 1 and summary["pieces"] >= 3
    assert summary["longest_piece_s"] <= max_piece and 0 <= summary["cer_pieces"]
    entries = sorted(scan_corpus(str(tmp_path / "pieces")).entries, key=lambda e: e["key"])
    assert [os.path.basename(e["key"]) for e in entries][:2] == ["11-22-0000_1.flac", "11-22-0000_2.flac"]
    assert " ".join(e["text"] for e in entries) == f"{text} {text}"  # every word once, in order
    joined = np.concatenate([sf.read(e["key"])[0] for e in entries])
    np.testing.assert_allclose(joined, samples, atol=1e-4)  # the pieces are the utterance, cut
    assert {recipe.librispeech_speaker(e["key"]) for e in entries} == {"11"}
    with open(corpus_json) as f:
        assert len([json.loads(line) for line in f]) == 2  # the corpus file is left as it was
