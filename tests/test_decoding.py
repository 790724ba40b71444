"""Decoding, evaluation and transcription: beam search against greedy and brute force, the LM's
effect, error rates, the evaluate and transcribe commands end to end."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from char_map import BLANK_INDEX, CHAR_TO_INDEX as char_map
from vui.decoding import greedy_decode, prefix_beam_search
from vui.evaluate import error_rates
from tests.conftest import ROOT, tone_for_text

RNG = np.random.default_rng(0)


def peaky(frames: int) -> np.ndarray:
    """Softmax-like outputs where one class has more than half the mass in every frame."""
    p = RNG.dirichlet(np.ones(29), size=frames) * 0.45
    p[np.arange(frames), RNG.integers(0, 29, size=frames)] += 0.55
    return p


def test_greedy_merges_repeats_and_drops_blanks():
    seq = [char_map["h"], char_map["h"], BLANK_INDEX, char_map["i"], BLANK_INDEX, char_map["i"]]
    assert greedy_decode(np.eye(29)[seq]) == "hii"


def test_beam_one_without_lm_equals_greedy():
    for _ in range(200):
        p = peaky(int(RNG.integers(5, 60)))
        assert prefix_beam_search(p, beam_width=1) == " ".join(greedy_decode(p).split())


def brute_force_best(probs: np.ndarray, support: list[int]) -> str:
    """The most probable labelling, summing every alignment path over the support classes."""
    totals: dict[str, float] = {}
    for path in itertools.product(support, repeat=len(probs)):
        text = greedy_decode(np.eye(29)[list(path)])
        totals[text] = totals.get(text, 0.0) + float(np.prod([probs[t, c] for t, c in enumerate(path)]))
    return max(totals, key=totals.get)


def test_wide_beam_finds_the_brute_force_best_labelling():
    support = [char_map["a"], char_map["b"], BLANK_INDEX]
    differs = 0
    for _ in range(40):
        probs = np.zeros((6, 29))
        probs[:, support] = RNG.dirichlet(np.ones(3), size=6)
        best = brute_force_best(probs, support)
        assert prefix_beam_search(probs, beam_width=200) == best
        differs += best != greedy_decode(probs)
    assert differs > 0  # the cases include ones where greedy decoding is not the best labelling


def test_error_rates_on_a_known_pair():
    cer, wer = error_rates(["hello world"], ["hallo world"])
    assert cer == pytest.approx(1 / 11) and wer == pytest.approx(1 / 2)
    assert error_rates(["a b c", "d e"], ["a b", ""]) == (pytest.approx(5 / 8), pytest.approx(3 / 5))


def spell(text: str, confusions: dict[int, dict[str, float]]) -> np.ndarray:
    """Frames spelling `text` with a blank between letters; at letter i, `confusions` may spread mass."""
    frames = []
    for i, ch in enumerate(text):
        frame = np.full(29, 1e-4)
        for c, p in confusions.get(i, {ch: 0.98}).items():
            frame[char_map[c]] = p
        frames.append(frame / frame.sum())
        blank = np.full(29, 1e-4)
        blank[BLANK_INDEX] = 0.98
        frames.append(blank / blank.sum())
    return np.array(frames)


TINY_ARPA = """\\data\\
ngram 1=6
ngram 2=1

\\1-grams:
-99\t<s>\t0
-0.5\t</s>
-3.0\t<unk>
-0.4\tcat\t0
-3.0\tcap\t0
-1.0\tthe\t0

\\2-grams:
-0.3\t<s> the

\\end\\
"""


def tiny_lm(tmp_path, backend: str = "python"):
    """TINY_ARPA written to tmp_path and loaded with the given scorer (kenlm: skipped without it)."""
    from vui.lm_scorer import LanguageModel

    if backend == "kenlm":
        pytest.importorskip("kenlm")
    arpa = tmp_path / "tiny.arpa"
    arpa.write_text(TINY_ARPA)
    return LanguageModel(str(arpa), backend=backend)


@pytest.mark.parametrize("backend", ["python", "kenlm"])
def test_language_model_changes_the_choice_as_its_probabilities_say(tmp_path, backend):
    lm = tiny_lm(tmp_path, backend)
    # The acoustics favour "cap" (0.6 vs 0.4 on the last letter); the LM prefers "cat" by 10^2.6.
    probs = spell("the cap", {6: {"p": 0.6, "t": 0.4}})
    assert prefix_beam_search(probs, beam_width=16) == "the cap"
    assert prefix_beam_search(probs, beam_width=16, lm=lm, alpha=1.0, beta=0.0) == "the cat"
    # A weak LM weight cannot overturn the acoustics: log(0.6/0.4) > 0.1 * ln(10) * 2.6.
    assert prefix_beam_search(probs, beam_width=16, lm=lm, alpha=0.05, beta=0.0) == "the cap"


@pytest.mark.parametrize("backend", ["python", "kenlm"])
def test_words_outside_the_vocabulary_lose_to_vocabulary_spellings_even_half_spelled(tmp_path, backend):
    lm = tiny_lm(tmp_path, backend)
    assert lm.vocabulary == {"cat", "cap", "the"} and "cat" in lm and "<unk>" not in lm
    assert lm.is_word_prefix("ca") and lm.is_word_prefix("cat") and not lm.is_word_prefix("cq")
    # The acoustics favour "cqt" (0.6 vs 0.4); a weak LM weight alone cannot overturn that
    # (log(0.6/0.4) > 0.05 * ln(10) * (3.0 - 0.4)), the unknown-word offset can.
    probs = spell("the cat", {5: {"q": 0.6, "a": 0.4}})
    assert prefix_beam_search(probs, beam_width=16, lm=lm, alpha=0.05, beta=0.0, unk_offset=0.0) == "the cqt"
    assert prefix_beam_search(probs, beam_width=16, lm=lm, alpha=0.05, beta=0.0, unk_offset=-10.0) == "the cat"
    # With one hypothesis kept, "the ca" survives the frame only if "the cq" is penalised at once,
    # before its word ends: no vocabulary word starts with "cq".
    assert prefix_beam_search(probs, beam_width=1, lm=lm, alpha=0.05, beta=0.0, unk_offset=-10.0) == "the cat"
    assert prefix_beam_search(probs, beam_width=1, lm=lm, alpha=0.05, beta=0.0, unk_offset=0.0) == "the cqt"


def test_decoding_options_come_from_the_caller_then_the_lm_then_the_defaults(tmp_path):
    import argparse

    from vui.decoding import (DEFAULT_ALPHA, DEFAULT_BEAM_WITH_LM, DEFAULT_BETA, GREEDY, DecodingOptions,
                              add_decoding_arguments, decode)
    from vui.lm_scorer import LanguageModel

    arpa = tmp_path / "tiny.arpa"
    arpa.write_text(TINY_ARPA)
    lm = LanguageModel(str(arpa), backend="python")
    assert DecodingOptions.for_lm(None) == GREEDY == DecodingOptions(0, DEFAULT_ALPHA, DEFAULT_BETA, None)
    assert GREEDY.is_greedy and GREEDY.describe() == "greedy"
    assert DecodingOptions.for_lm(lm) == DecodingOptions(DEFAULT_BEAM_WITH_LM, DEFAULT_ALPHA, DEFAULT_BETA, str(arpa))
    lm.tuned = {"alpha": 0.8, "beta": 2.0, "beam": 8, "unk_offset": -4.0}  # as train_recipe saves them
    assert DecodingOptions.for_lm(lm, beta=0.0) == DecodingOptions(8, 0.8, 0.0, str(arpa), -4.0)
    assert DecodingOptions.for_lm(lm, unk_offset=0.0).unk_offset == 0.0
    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser)
    beam_only = DecodingOptions.from_args(parser.parse_args(["--beam", "4"]), None)
    assert beam_only == DecodingOptions(beam=4) and not beam_only.is_greedy and beam_only.describe() == "beam 4"
    probs = spell("the cap", {6: {"p": 0.6, "t": 0.4}})
    assert decode(probs) == decode(probs, beam_only) == "the cap"
    assert decode(probs, DecodingOptions.for_lm(lm, alpha=1.0, beta=0.0), lm) == "the cat"
    with pytest.raises(ValueError, match="LM"):
        decode(probs, DecodingOptions.for_lm(lm))  # options name an LM that was not given


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for a few epochs on the tone-coded corpus, in a temporary results folder."""
    import keras

    import sample_models as sm
    import train_utils as tu
    from tests.conftest import make_tiny_corpus

    tmp = tmp_path_factory.mktemp("trained")
    train_json, valid_json = make_tiny_corpus(str(tmp / "corpus"), n_train=24, n_valid=8)
    keras.utils.set_random_seed(0)
    model = sm.bidirectional_rnn_model(input_dim=161, units=16, verbose=False)
    tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=3, verbose=0,
                   results_dir=str(tmp / "results"))
    return tmp, str(tmp / "results" / "m.h5"), valid_json


def run(args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT, **kwargs)


def test_evaluate_command_prints_rates_and_writes_report(trained):
    tmp, weights, valid_json = trained
    report = str(tmp / "report.tsv")
    out = run(["-m", "vui.evaluate", "--weights", weights, "--corpus", valid_json, "--report", report, "--quiet"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "8 utterances, greedy: CER" in out.stdout
    with open(report) as f:
        lines = f.read().splitlines()
    assert lines[0].split("\t") == ["path", "cer", "wer", "reference", "hypothesis"] and len(lines) == 9


def test_tuning_on_a_corpus_saves_the_best_weights_for_every_later_command(trained):
    import json

    from vui.language_model import build_lm_from_corpora, sidecar_path
    from vui.lm_scorer import LanguageModel

    tmp, weights, valid_json = trained
    lm_path = str(tmp / "lm.arpa")
    build_lm_from_corpora([str(tmp / "corpus" / "train_corpus.json")], lm_path, exclude_jsons=[valid_json],
                          drop_excluded=True)
    out = run(["-m", "vui.evaluate", "--weights", weights, "--corpus", valid_json, "--lm", lm_path, "--beam", "4",
               "--tune", "--alphas", "0.3", "0.8", "--betas", "0.0", "--unk-offsets", "-2", "-30", "--save-tuned",
               "--quiet"])
    assert out.returncode == 0, out.stderr[-2000:]
    with open(sidecar_path(lm_path)) as f:
        tuned = json.load(f)["tuned"]
    assert tuned["alpha"] in (0.3, 0.8) and tuned["beta"] == 0.0 and tuned["unk_offset"] in (-2.0, -30.0)
    assert f"alpha={tuned['alpha']} beta=0.0 unk_offset={tuned['unk_offset']}" in out.stdout
    assert LanguageModel(lm_path).tuned == tuned  # what vui.transcribe and the notebook decode with


def test_probabilities_by_length_keeps_the_input_order(trained):
    """Batched by length (as vui.transcribe and vui.bench run it), each file gets its own outputs, in
    the order given. Padding reaches the backward direction of this bidirectional model, so only
    files that are the longest of their batch (no padding) match a run alone exactly."""
    from data_generator import read_corpus
    from vui.transcriber import Transcriber

    _, weights, valid_json = trained
    transcriber = Transcriber(weights)
    feats = [transcriber.features(p) for p in read_corpus(valid_json).audio_paths]
    lengths = [f.shape[0] for f in feats]
    assert len(set(lengths)) > 1  # lengths differ, so sorting reorders them
    alone = [transcriber.probabilities([f])[0] for f in feats]
    for batch_size in (3, len(feats)):
        batched = transcriber.probabilities_by_length(feats, batch_size=batch_size)
        assert [p.shape for p in batched] == [a.shape for a in alone]
        for i in (i for i, n in enumerate(lengths) if n == max(lengths)):  # longest of any batch it is in
            np.testing.assert_allclose(batched[i], alone[i], atol=1e-5)
    assert transcriber.probabilities_by_length([], batch_size=3) == []


def test_transcribe_generated_clips_end_to_end(trained, tmp_path):
    _, weights, _ = trained
    mono = str(tmp_path / "one.wav")
    soundfile.write(mono, tone_for_text("a cab", RNG), 16000)
    stereo = str(tmp_path / "two words.flac")
    wave = tone_for_text("hi dog", RNG, sample_rate=44100)
    soundfile.write(stereo, np.stack([wave, wave], axis=1), 44100)
    single = run(["-m", "vui.transcribe", "--model", weights, mono])
    assert single.returncode == 0, single.stderr[-2000:]
    assert len(single.stdout.splitlines()) == 1 and "\t" not in single.stdout
    both = run(["-m", "vui.transcribe", "--model", weights, "-v", mono, stereo])
    assert both.returncode == 0, both.stderr[-2000:]
    lines = both.stdout.splitlines()
    assert [l.split("\t")[0] for l in lines] == [mono, stereo]
    assert "faster than real time" in both.stderr
    bad = run(["-m", "vui.transcribe", "--model", weights, str(tmp_path / "missing.wav")])
    assert bad.returncode == 1 and bad.stdout == "" and "missing.wav: audio file not found" in bad.stderr


def test_load_histories_keeps_only_models_validated_on_the_given_corpus(tmp_path):
    """Losses on different validation sets do not compare: with valid_json, a model whose saved
    description names another validation file (by path and contents) is left out; one validated on a
    copy with the same contents, or saved without a description, is kept."""
    import json
    import pickle

    from vui.evaluate import load_histories, summarize_histories

    here, other = tmp_path / "valid.json", tmp_path / "other.json"
    here.write_text('{"key": "a.wav", "duration": 1.0, "text": "a"}\n')
    other.write_text('{"key": "b.wav", "duration": 1.0, "text": "b"}\n')
    copy = tmp_path / "copy_of_valid.json"
    copy.write_text(here.read_text())
    results = tmp_path / "results"
    results.mkdir()
    for name, valid in [("same", here), ("copy", copy), ("elsewhere", other), ("undescribed", None)]:
        with open(results / f"{name}.pickle", "wb") as f:
            pickle.dump({"loss": [5.0, 4.0], "val_loss": [6.0, 5.0]}, f)
        if valid is not None:
            (results / f"{name}.json").write_text(json.dumps({"training": {"valid_json": str(valid)}}))
    assert set(load_histories(str(results))) == {"same", "copy", "elsewhere", "undescribed"}
    kept = load_histories(str(results), valid_json=str(here))
    assert set(kept) == {"same", "copy", "undescribed"}
    assert "elsewhere" not in summarize_histories(kept)
