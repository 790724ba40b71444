"""Mixing and pruning ARPA models (vui.lm_mix) and the export of CMU's en-US LM (vui.pocketsphinx_lm)."""

from __future__ import annotations

import json
import math

import pytest

from vui.language_model import (
    BOS, EOS, UNK, backoff_log10, build_lm_from_corpora, check_lm_excludes, format_arpa, read_arpa, sidecar_path,
)
from vui.lm_mix import main, mix, prune_bigrams
from vui.lm_scorer import LanguageModel
from vui.pocketsphinx_lm import read_partial_arpa
from tests.test_language_model import random_text, write_corpus

TOLERANCE = 1e-5  # sums of probabilities written with 7 decimals of log10
BOOKS = ["the old man sat by the fire", "she read the letter again", "he was not there that night",
         "the fire had gone out", "she did not know the man"]
NEWS = ["the market fell again today", "shares of the company rose", "the company said it would not comment",
        "officials said the market was calm", "the report was released today"]


def tables_of(tmp_path, name: str, sentences: list[str], order: int):
    corpus = write_corpus(tmp_path / f"{name}.json", sentences)
    path = str(tmp_path / f"{name}.arpa")
    build_lm_from_corpora([corpus], path, order)
    return path, read_arpa(path)


def write_tables(tmp_path, name: str, tables) -> tuple:
    path = tmp_path / f"{name}.arpa"
    path.write_text(format_arpa(tables))
    return read_arpa(str(path))


def probability(model, context: tuple[str, ...], word: str) -> float:
    probs, _ = model
    vocabulary = {w for (w,) in probs[0]}
    return 10 ** backoff_log10(*model, context, word if word in vocabulary else UNK)


def assert_normalised(model, contexts):
    words = [w for (w,) in model[0][0] if w != BOS]
    for h in contexts:
        assert sum(probability(model, h, w) for w in words) == pytest.approx(1.0, abs=TOLERANCE), h


def test_mix_sums_to_one_and_interpolates(tmp_path):
    _, books = tables_of(tmp_path, "books", BOOKS, 3)
    _, news = tables_of(tmp_path, "news", NEWS, 2)
    mixed = write_tables(tmp_path, "mixed", mix(books, news, 0.3))
    assert len(mixed[0]) == 3
    contexts = [(), ("the",), ("market",), ("the", "old"), ("<s>", "the"), ("unheard", "of"), ("fire",)]
    assert_normalised(mixed, contexts)
    # a word only the news model knows gets its share of the news probability, and no more
    assert probability(mixed, (), "market") == pytest.approx(0.7 * probability(news, (), "market"), rel=1e-5)
    # a trigram one model lists interpolates it with the other's backoff estimate ("the" both know)
    expected = 0.3 * probability(books, ("she", "read"), "the") + 0.7 * probability(news, ("she", "read"), "the")
    assert probability(mixed, ("she", "read"), "the") == pytest.approx(expected, rel=1e-5)
    assert probability(mixed, ("the", "old"), "man") == pytest.approx(0.3 * probability(books, ("the", "old"), "man"),
                                                                     rel=1e-5)  # "man" only the books know


def test_mix_with_almost_all_weight_on_one_model_is_that_model(tmp_path):
    _, books = tables_of(tmp_path, "books", random_text(120, seed=1), 3)
    _, news = tables_of(tmp_path, "news", random_text(120, seed=2), 2)
    mixed = write_tables(tmp_path, "mixed", mix(books, news, 1 - 1e-9))
    for h, w in [((), "cat"), (("the",), "cat"), (("the", "cat"), "sat"), (("red", "dog"), "ran"), (("mat",), EOS)]:
        assert probability(mixed, h, w) == pytest.approx(probability(books, h, w), rel=1e-4), (h, w)


@pytest.mark.parametrize("weight", [0.0, 1.0, 1.5])
def test_mix_weight_must_leave_both_models_a_share(tmp_path, weight):
    _, books = tables_of(tmp_path, "books", BOOKS, 2)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        mix(books, books, weight)


def test_prune_bigrams_keeps_the_likeliest_words_and_the_bigrams_that_matter(tmp_path):
    _, model = tables_of(tmp_path, "lm", random_text(300, seed=3), 2)
    (unigrams, bigrams), backoffs = model
    words = [w for (w,) in unigrams if w not in (BOS, EOS, UNK)]
    pruned = write_tables(tmp_path, "pruned", prune_bigrams(model, 10, 40))
    kept = {w for (w,) in pruned[0][0]} - {BOS, EOS, UNK}
    assert kept == set(sorted(words, key=lambda w: -unigrams[(w,)])[:10])
    dropped = sum(10 ** unigrams[(w,)] for w in words if w not in kept)
    assert 10 ** pruned[0][0][(UNK,)] == pytest.approx(10 ** unigrams[(UNK,)] + dropped, rel=1e-5)
    assert_normalised(pruned, [(), *[g for g in pruned[0][0] if g != (EOS,)]])

    # the 40 bigrams kept are those whose probability differs most, weighted by p(h, w), from the
    # backoff estimate (<s> weighted as often as </s>)
    def weighted_difference(g):
        history = unigrams[(EOS,)] if g[0] == BOS else unigrams[g[:1]]
        return 10 ** (history + bigrams[g]) * abs(bigrams[g] - (backoffs.get(g[:1], 0.0) + unigrams[g[1:]]))

    candidates = [g for g in bigrams if set(g) - {BOS, EOS} <= kept]
    assert len(candidates) > 40
    assert set(pruned[0][1]) == set(sorted(candidates, key=weighted_difference, reverse=True)[:40])


def test_prune_needs_a_bigram_model_with_unk(tmp_path):
    _, trigram = tables_of(tmp_path, "lm", BOOKS, 3)
    with pytest.raises(ValueError, match="bigram model"):
        prune_bigrams(trigram, 5, 5)


def test_cli_mixes_keeps_the_guard_and_records_the_general_model(tmp_path, capsys):
    books_path, _ = tables_of(tmp_path, "books", BOOKS, 3)
    general_path, _ = tables_of(tmp_path, "news", NEWS, 2)
    sidecar = json.loads(open(sidecar_path(general_path)).read())
    general_sidecar = {"arpa_sha1": sidecar["arpa_sha1"], "about": "a general model"}
    open(sidecar_path(general_path), "w").write(json.dumps(general_sidecar))
    out = str(tmp_path / "mixed.arpa")
    assert main(["--lm", books_path, "--general", general_path, "--weight", "0.6", "--out", out]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = json.loads(open(sidecar_path(out)).read())
    assert meta["mixed_with"]["about"] == "a general model" and meta["mixed_with"]["weight"] == pytest.approx(0.4)
    # the guard still knows the training text of the model we built
    assert check_lm_excludes(out, write_corpus(tmp_path / "valid.json", ["a sentence never seen"])) == 1
    with pytest.raises(ValueError, match="must never be LM training text"):
        check_lm_excludes(out, write_corpus(tmp_path / "leak.json", [BOOKS[0]]))
    # the general model alone: its text is not known, which is said
    with pytest.warns(UserWarning, match="its text is not known"):
        assert check_lm_excludes(general_path, str(tmp_path / "valid.json")) == 0
    lm = LanguageModel(out)
    assert "market" in lm.vocabulary and "fire" in lm.vocabulary
    assert lm.score_sentence("the fire had gone out") > lm.score_sentence("out gone had fire the")


def test_cli_error_names_the_missing_file(tmp_path, capsys):
    books_path, _ = tables_of(tmp_path, "books", BOOKS, 3)
    assert main(["--lm", books_path, "--general", str(tmp_path / "nope.arpa"), "--out", str(tmp_path / "o.arpa")]) == 1
    assert "nope.arpa" in capsys.readouterr().err
    assert not (tmp_path / "o.arpa").exists()


def write_raw(path, the: float = -0.30103) -> str:
    """A PocketSphinx-style ARPA file cut off in its bigrams: unigrams 0.1, 0.5, 0.39 and 0.01 (r2d2)."""
    path.write_text("This is an ARPA-format language model file, generated by CMU Sphinx\n\\data\\\nngram 1=5\n"
                    "ngram 2=3\n\n\\1-grams:\n"
                    f"-1.0\t</s>\t0.0\n-99.0\t<s>\t-0.5\n{the}\tthe\t-0.2\n-0.4089354\tcat\t-0.1\n-2.0\tr2d2\t0.0\n\n"
                    "\\2-grams:\n-0.3\t<s>\tthe\n-0.4\tthe\tcat\n-0.2\tthe\tr2d2\n-0.1\tcat\t</")
    return str(path)


def test_read_partial_arpa_keeps_complete_spellable_lines(tmp_path):
    (unigrams, bigrams), backoffs = read_partial_arpa(write_raw(tmp_path / "raw.arpa"))
    assert set(unigrams) == {(EOS,), (BOS,), ("the",), ("cat",), (UNK,)}
    assert 10 ** unigrams[(UNK,)] == pytest.approx(0.01, rel=1e-4)  # r2d2's probability
    assert set(bigrams) == {(BOS, "the"), ("the", "cat")}  # r2d2's dropped, the cut-off line too
    assert backoffs[("the",)] == -0.2


def test_read_partial_arpa_refuses_garbage_probabilities(tmp_path):
    with pytest.raises(ValueError, match="raw.arpa: its unigram probabilities sum to"):
        read_partial_arpa(write_raw(tmp_path / "raw.arpa", the=-201.0590))


def test_export_of_cmus_lm(tmp_path):
    pytest.importorskip("pocketsphinx")
    from vui.pocketsphinx_lm import export

    out = str(tmp_path / "en_us.arpa")
    about = export(out, vocabulary_size=2000, max_bigrams=20000)
    assert about["ngram_counts"] == {"1": 2003, "2": 20000}
    lm = LanguageModel(out)
    assert {"the", "of", "and", "people"} <= lm.vocabulary
    assert lm.score_sentence("the people of the city") > lm.score_sentence("city the of people the")
    assert math.isfinite(lm.score_sentence("zyzzyva"))  # an unknown word scores as <unk>
    with pytest.warns(UserWarning, match="its text is not known"):
        check_lm_excludes(out, write_corpus(tmp_path / "valid.json", ["the people"]))


def test_mix_completes_n_grams_a_file_leaves_out(tmp_path):
    # a trigram whose prefix "a b" and suffix "b c" are not listed (a pruned file may do that)
    sparse = tmp_path / "sparse.arpa"
    sparse.write_text("\\data\\\nngram 1=6\nngram 2=1\nngram 3=1\n\n\\1-grams:\n"
                      "-0.65\ta\t-0.1\n-0.65\tb\t-0.1\n-0.65\tc\n-0.7\t</s>\n-99\t<s>\t-0.2\n-0.8898905\t<unk>\n\n"
                      "\\2-grams:\n-0.2\t<s>\ta\t-0.1\n\n\\3-grams:\n-0.1\ta\tb\tc\n\n\\end\\\n")
    _, books = tables_of(tmp_path, "books", ["a b a", "c a b"], 2)
    mixed = write_tables(tmp_path, "mixed", mix(read_arpa(str(sparse)), books, 0.5))
    assert ("a", "b") in mixed[0][1] and ("b", "c") in mixed[0][1] and ("a", "b") in mixed[1]
    assert_normalised(mixed, [(), ("a",), ("a", "b"), ("<s>", "a")])
