"""The word n-gram LM: Kneser-Ney estimates by hand, normalisation, kenlm agreement, data guards, CLI."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys

import pytest

from vui.language_model import (
    BOS,
    EOS,
    UNK,
    ArpaError,
    build_arpa,
    build_lm_from_corpora,
    check_lm_excludes,
    kneser_ney,
    main,
    read_arpa,
    sidecar_path,
)
from vui.lm_scorer import BACKENDS, LanguageModel, save_tuned
from tests.conftest import absolute_paths_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAND_TEXT = ["san francisco", "san francisco", "san francisco", "a dog", "the dog"]
WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "it's", "big", "red"]
WORDS += "and of in was he she you i my her his at for with up down".split()
TOLERANCE = 1e-6  # normalisation and hand values (ARPA keeps 7 decimals of log10)
KENLM_TOLERANCE = 1e-4  # kenlm stores float32


def random_text(n: int = 150, seed: int = 0) -> list[str]:
    """Sentences of Zipf-distributed words: varied counts, so real (not fallback) discounts arise."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    return [" ".join(rng.choices(WORDS, weights, k=rng.randint(1, 7))) for _ in range(n)]


def write_lm(tmp_path, sentences: list[str], order: int) -> str:
    """ARPA file of `sentences`; returns its path."""
    path = tmp_path / f"lm{order}.arpa"
    path.write_text(build_arpa(sentences, order))
    return str(path)


def write_corpus(path, texts: list[str]) -> str:
    """A JSON-lines corpus file whose audio files need not exist."""
    lines = [json.dumps({"key": f"/nowhere/{i}.wav", "duration": 1.0, "text": t}) for i, t in enumerate(texts)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def p(lm: LanguageModel, context: tuple[str, ...], word: str) -> float:
    """p(word | context) of the pure-Python scorer, whose states are word tuples."""
    return 10 ** lm.score_word(context, word)[0]


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("text", ["hand", "random"])
def test_every_context_sums_to_one(tmp_path, order, text):
    sentences = HAND_TEXT if text == "hand" else random_text()
    tables = kneser_ney(sentences, order)
    if text == "random":
        assert not all(tables.fallback), "the random text should exercise Chen & Goodman's discounts"
    lm = LanguageModel(write_lm(tmp_path, sentences, order), backend="python")
    probs, _ = read_arpa(lm.path)
    vocabulary = [g[0] for g in probs[0] if g != (BOS,)]
    assert EOS in vocabulary and UNK in vocabulary
    contexts = [()] + [g for n in range(order - 1) for g in probs[n] if g[-1] != EOS]
    for h in contexts:
        total = sum(p(lm, h, w) for w in vocabulary)
        assert total == pytest.approx(1.0, abs=TOLERANCE), h


def test_unigram_discounts_by_hand(tmp_path):
    # counts a4 b3 c2 d1 e1 </s>1: n1=3 n2=1 n3=1 n4=1, Y = 3/5
    tables = kneser_ney(["a a a a b b b c c d e"], order=1)
    assert tables.discounts[0] == pytest.approx((0.6, 0.2, 0.6))  # 1-2Y/3, 2-3Y, 3-4Y
    assert tables.fallback == [False]
    lm = LanguageModel(write_lm(tmp_path, ["a a a a b b b c c d e"], 1), backend="python")
    gamma = (0.6 * 3 + 0.2 * 1 + 0.6 * 2) / 12
    vocabulary = 7  # a b c d e </s> <unk>
    assert p(lm, (), "a") == pytest.approx((4 - 0.6) / 12 + gamma / vocabulary, abs=TOLERANCE)
    assert p(lm, (), "c") == pytest.approx((2 - 0.2) / 12 + gamma / vocabulary, abs=TOLERANCE)
    assert p(lm, (), UNK) == pytest.approx(gamma / vocabulary, abs=TOLERANCE)
    assert p(lm, (), "zebra") == p(lm, (), UNK)


def test_continuation_counts_and_bos_raw_counts_by_hand(tmp_path):
    # Unigrams use continuation counts: francisco (3 times, always after san) -> 1, dog (after a,
    # the) -> 2; count-of-counts give invalid discounts, so every order falls back to 0.5, 1, 1.5.
    p_francisco = (1 - 0.5) / 8 + 0.5 / 7  # total 8, gamma = (0.5*4 + 1*2)/8, |V| = 7
    p_dog = (2 - 1.0) / 8 + 0.5 / 7
    p_san = (1 - 0.5) / 8 + 0.5 / 7
    bigram = LanguageModel(write_lm(tmp_path, HAND_TEXT, 2), backend="python")
    assert kneser_ney(HAND_TEXT, 2).fallback == [True, True]
    assert p(bigram, (), "francisco") == pytest.approx(p_francisco, abs=TOLERANCE)
    assert p(bigram, (), "dog") == pytest.approx(p_dog, abs=TOLERANCE)
    assert p(bigram, (), "dog") > p(bigram, (), "francisco")  # the Kneser-Ney effect
    # p(francisco|san) = (3 - 1.5)/3 + gamma(san) p(francisco), gamma(san) = 1.5/3
    assert p(bigram, ("san",), "francisco") == pytest.approx(0.5 + 0.5 * p_francisco, abs=TOLERANCE)
    assert p(bigram, ("san",), "dog") == pytest.approx(0.5 * p_dog, abs=TOLERANCE)  # unseen: backoff
    # <s> san: raw count 3 of 5 after <s>, gamma(<s>) = (1.5 + 0.5 + 0.5)/5
    p_san_after_bos = (3 - 1.5) / 5 + 0.5 * p_san
    assert p(bigram, (BOS,), "san") == pytest.approx(p_san_after_bos, abs=TOLERANCE)

    # in a trigram model "<s> san" is a lower-order n-gram that keeps its raw count, so the same value
    trigram = LanguageModel(write_lm(tmp_path, HAND_TEXT, 3), backend="python")
    assert p(trigram, (BOS,), "san") == pytest.approx(p_san_after_bos, abs=TOLERANCE)
    p2_francisco = (1 - 0.5) / 1 + 0.5 * p_francisco  # "san francisco" continuation count 1
    assert p(trigram, ("san",), "francisco") == pytest.approx(p2_francisco, abs=TOLERANCE)
    assert p(trigram, (BOS, "san"), "francisco") == pytest.approx(0.5 + 0.5 * p2_francisco, abs=TOLERANCE)


def test_seen_trigram_beats_unseen_context(tmp_path):
    lm = LanguageModel(write_lm(tmp_path, random_text() + ["the big red dog"] * 3, 3), backend="python")
    seen = lm.score_word(("big", "red"), "dog")[0]
    assert seen > lm.score_word(("on", "mat"), "dog")[0]
    assert seen > lm.score_word((), "dog")[0]
    assert lm.score_sentence("the big red dog") > lm.score_sentence("dog red big the")


def test_arpa_parses_and_matches_its_header(tmp_path):
    path = write_lm(tmp_path, random_text(), 3)
    text = open(path).read()
    assert text.startswith("\\data\\\n") and text.rstrip().endswith("\\end\\")
    probs, backoffs = read_arpa(path)
    tables = kneser_ney(random_text(), 3)
    assert [len(level) for level in probs] == tables.counts()
    assert probs[0][(BOS,)] == -99.0 and (BOS,) in backoffs
    assert all(len(g) < 3 for g in backoffs)
    truncated = tmp_path / "truncated.arpa"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ArpaError, match="truncated"):
        read_arpa(str(truncated))


def test_kenlm_loads_the_arpa(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    path = write_lm(tmp_path, random_text(), 3)
    model = kenlm.Model(path)
    assert model.order == 3 and "cat" in model and "zebra" not in model
    assert LanguageModel(path).backend == "kenlm"


def test_backend_choice(tmp_path):
    path = write_lm(tmp_path, HAND_TEXT, 2)
    assert LanguageModel(path).backend in BACKENDS
    assert LanguageModel(path, backend="python").backend == "python"
    with pytest.raises(ValueError, match="backend"):
        LanguageModel(path, backend="srilm")
    with pytest.raises(FileNotFoundError):
        LanguageModel(str(tmp_path / "missing.arpa"))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kenlm_and_python_scorers_agree(tmp_path, order):
    pytest.importorskip("kenlm")
    path = write_lm(tmp_path, random_text(), order)
    fast, slow = LanguageModel(path), LanguageModel(path, backend="python")
    assert (fast.backend, slow.backend) == ("kenlm", "python")
    assert fast.order == slow.order == order
    for sentence in random_text(40, seed=1) + ["zebra the cat", "the zebra cat sat", "it's it's it's"]:
        states = [fast.begin_state(), slow.begin_state()]
        for word in sentence.split():
            (a, states[0]), (b, states[1]) = fast.score_word(states[0], word), slow.score_word(states[1], word)
            assert a == pytest.approx(b, abs=KENLM_TOLERANCE), (sentence, word)
        assert fast.score_end(states[0]) == pytest.approx(slow.score_end(states[1]), abs=KENLM_TOLERANCE)
        assert fast.score_sentence(sentence) == pytest.approx(slow.score_sentence(sentence), abs=KENLM_TOLERANCE)
    assert ("cat" in fast, "zebra" in fast) == ("cat" in slow, "zebra" in slow) == (True, False)


def test_python_states_merge_equivalent_contexts(tmp_path):
    lm = LanguageModel(write_lm(tmp_path, HAND_TEXT, 3), backend="python")
    _, after_zebra_dog = lm.score_word(lm.score_word(lm.begin_state(), "zebra")[1], "dog")
    _, after_dog = lm.score_word((), "dog")
    assert after_zebra_dog == after_dog == ("dog",)  # "<unk> dog" extends nothing
    assert hash(lm.begin_state()) == hash((BOS,))


def test_guard_refuses_evaluation_transcripts(tmp_path):
    train = write_corpus(tmp_path / "train.json", ["the cat sat", "a dog ran", "the mat"])
    valid = write_corpus(tmp_path / "valid.json", ["the cat sat on it", "a dog ran"])
    out = tmp_path / "lm" / "lm.arpa"
    with pytest.raises(ValueError, match=r"valid\.json: 1 of its 2 transcripts"):
        build_lm_from_corpora([train], str(out), exclude_jsons=[valid])
    assert not out.exists()
    # the text file is normalised first, so an upper-case copy of a test transcript is caught too
    test = write_corpus(tmp_path / "test.json", ["it's big"])
    text = tmp_path / "lm.txt"
    text.write_text("IT'S BIG\nthe red dog\nnot 4 us\n\n")
    with pytest.raises(ValueError, match=r"test\.json: 1 of its 1 transcripts"):
        build_lm_from_corpora([train], str(out), extra_text=str(text), exclude_jsons=[test])

    disjoint = write_corpus(tmp_path / "disjoint.json", ["the cat sat on it"])
    text.write_text("the red dog\nnot 4 us\n")
    meta = build_lm_from_corpora([train], str(out), order=2, extra_text=str(text), exclude_jsons=[disjoint])
    assert out.exists() and os.path.exists(sidecar_path(str(out)))
    assert meta["sentences"] == 4 and meta["skipped_lines"] == {"corpora": 0, "text": 1}
    assert check_lm_excludes(str(out), disjoint) == 1
    with pytest.raises(ValueError, match=r"valid\.json: 1 of its 2 transcripts"):
        check_lm_excludes(str(out), valid)
    with open(out, "a") as f:
        f.write("\n")  # the sidecar no longer describes the LM
    with pytest.raises(ValueError, match="does not describe"):
        check_lm_excludes(str(out), disjoint)
    os.remove(sidecar_path(str(out)))
    with pytest.warns(UserWarning, match="no sidecar"):
        assert check_lm_excludes(str(out), disjoint) == 0


def test_sidecars_name_corpora_by_what_they_hold_not_by_this_machines_folders(tmp_path):
    """An LM's sidecar, mixed and tuned as vui.train_recipe leaves it, holds no absolute path: each corpus
    is its file's name (outside the current folder) with utterances, hours, LibriSpeech speakers and subsets."""
    from vui.decoding import DecodingOptions
    from vui.lm_mix import write_mixed

    train, valid = tmp_path / "train.json", tmp_path / "valid.json"
    train.write_text("".join(json.dumps({"key": f"/data/LibriSpeech/{s}/{k}/{k}-1-{i}.flac", "duration": 1800.0,
                                         "text": t}) + "\n"
                             for i, (s, k, t) in enumerate([("dev-clean", "84", "the cat sat"),
                                                            ("test-clean", "121", "a dog ran")])))
    write_corpus(valid, ["never in training"])
    general = write_lm(tmp_path, random_text(40), 2)
    build_lm_from_corpora([str(train)], str(tmp_path / "t.arpa"), exclude_jsons=[str(valid)])
    out = str(tmp_path / "mixed.arpa")
    write_mixed(str(tmp_path / "t.arpa"), general, 0.5, out)
    save_tuned(out, DecodingOptions(beam=4, alpha=0.5, beta=1.0).tuned_record(str(valid)))
    sidecar = json.loads(open(sidecar_path(out)).read())
    assert absolute_paths_in(sidecar) == [] and str(tmp_path) not in json.dumps(sidecar)
    assert sidecar["sources"]["corpora"] == [{"file": "train.json", "utterances": 2, "hours": 1.0,
                                              "librispeech_speakers": 2,
                                              "librispeech_subsets": ["dev-clean", "test-clean"]}]
    assert sidecar["excluded_corpora"][0]["file"] == sidecar["tuned"]["on"]["file"] == "valid.json"
    assert sidecar["mixed_with"]["arpa"] == "lm2.arpa"


def test_cli_writes_arpa_and_sidecar(tmp_path, capsys):
    train = write_corpus(tmp_path / "train.json", random_text(30))
    valid = write_corpus(tmp_path / "valid.json", ["a sentence not in training"])
    out = tmp_path / "results" / "lm.arpa"
    cmd = [sys.executable, "-m", "vui.language_model", "--corpus", train, "--exclude", valid,
           "--order", "3", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": ROOT}  # run from another folder, as a user would
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "3-grams" in done.stdout and done.stdout.count("\n") == 1
    sidecar = json.loads(open(sidecar_path(str(out))).read())
    assert sidecar["order"] == 3 and [c["file"] for c in sidecar["sources"]["corpora"]] == ["train.json"]
    assert sidecar["sentence_sha1"] == sorted(sidecar["sentence_sha1"])
    assert LanguageModel(str(out), backend="python").order == 3

    assert main(["--corpus", train, "--exclude", train, "--out", str(tmp_path / "bad.arpa")]) == 1
    assert "transcripts are in the LM text" in capsys.readouterr().err
    assert not (tmp_path / "bad.arpa").exists()


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="no sentences"):
        build_arpa(["", "   "])
    with pytest.raises(ValueError, match="order"):
        build_arpa(["a b"], order=0)



def test_order_above_sentence_lengths(tmp_path):
    path = write_lm(tmp_path, ["a", "a b"], 5)
    probs, _ = read_arpa(path)
    assert [len(level) for level in probs] == [5, 4, 3, 1, 0]  # no 5-gram fits in "<s> a b </s>"
    lm = LanguageModel(path, backend="python")
    assert sum(p(lm, (BOS, "a"), w) for w in ["a", "b", EOS, UNK]) == pytest.approx(1.0, abs=TOLERANCE)
    chain = p(lm, (BOS,), "a") * p(lm, (BOS, "a"), "b") * p(lm, (BOS, "a", "b"), EOS)
    assert lm.score_sentence("a b") == pytest.approx(math.log10(chain), abs=TOLERANCE)


def test_drop_excluded_leaves_evaluation_sentences_out(tmp_path):
    train = tmp_path / "train.json"
    valid = tmp_path / "valid.json"
    train.write_text("".join(json.dumps({"key": f"{i}.wav", "duration": 1.0, "text": t}) + "\n"
                             for i, t in enumerate(["the cat sat", "a dog ran", "the cat sat down"])))
    valid.write_text(json.dumps({"key": "v.wav", "duration": 1.0, "text": "a dog ran"}) + "\n")
    out = str(tmp_path / "lm.arpa")
    with pytest.raises(ValueError, match="1 of its 1 transcripts are in the LM text"):
        build_lm_from_corpora([str(train)], out, exclude_jsons=[str(valid)])
    meta = build_lm_from_corpora([str(train)], out, exclude_jsons=[str(valid)], drop_excluded=True)
    assert meta["dropped_evaluation_sentences"] == 1 and meta["sentences"] == 2
    assert check_lm_excludes(out, str(valid)) == 1
