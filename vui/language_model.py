"""Word n-gram language model for CTC beam-search decoding: estimation, ARPA files and data guards.

``build_arpa(sentences, order)`` estimates an interpolated modified Kneser-Ney model (Chen & Goodman
1998, as KenLM's ``lmplz`` does it) and returns it as ARPA text:

* the highest order uses raw counts; lower orders use continuation counts (the number of distinct
  words seen before the n-gram), except n-grams starting with ``<s>``, which nothing can precede and
  which keep their raw counts;
* each order has three discounts D1, D2, D3+ from the count-of-counts n1..n4 of its (adjusted)
  counts, ``Y = n1 / (n1 + 2 n2)``, ``Dk = k - (k + 1) Y n(k+1) / nk``; where a count-of-count is
  zero or a discount falls outside (0, k) the order uses ``FALLBACK_DISCOUNTS`` instead;
* ``p(w|h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w|h')`` with
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.)``, and the unigrams interpolated with
  the uniform distribution over the vocabulary (every word, ``</s>`` and ``<unk>``; not ``<s>``).

The ARPA file lists the full interpolated probability of every seen n-gram and ``gamma(h)`` as the
backoff weight of context ``h``, so ordinary backoff scoring (``p(w|h) = gamma(h) p(w|h')`` for an
unseen ``hw``) reproduces the interpolated model exactly and every ``p(.|h)`` sums to one.
``read_arpa`` reads such a file back; scoring it word by word for a decoder is ``vui.lm_scorer``'s job.

Evaluation transcripts must never be LM text: ``build_lm_from_corpora`` refuses to build a model
whose sentences include a transcript of an ``exclude_jsons`` corpus, and records the SHA-1 of every
LM sentence in a sidecar ``<lm>.json`` so that ``check_lm_excludes`` can verify the same for any
corpus an evaluator is about to score.

Command line::

    python -m vui.language_model --corpus train_corpus.json [--corpus ...] [--text lm.txt] \\
        [--exclude valid_corpus.json] [--order 3] --out results/lm.arpa
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from utils import normalize_transcript, write_atomic
from vui.provenance import describe_corpus, portable_path

BOS: str = "<s>"
EOS: str = "</s>"
UNK: str = "<unk>"
DEFAULT_ORDER: int = 3
FALLBACK_DISCOUNTS: tuple[float, float, float] = (0.5, 1.0, 1.5)  # lmplz's --discount_fallback
BOS_LOG10_PROB: float = -99.0  # <s> is never predicted
ARPA_DECIMALS: int = 7  # log10 values to 1e-7: sums of probabilities stay within 1e-6 of one
SIDECAR_SUFFIX: str = ".json"
SIDECAR_FORMAT: str = "vui-lm-sources/2"

NGram = tuple[str, ...]


# --- estimation ---------------------------------------------------------------------------------


@dataclass
class NGramTables:
    """An estimated model: probabilities and backoff weights (natural, not log) of every order."""

    order: int
    probs: list[dict[NGram, float]]  # probs[n - 1][ngram] = p(w|h), n = 1..order
    backoffs: list[dict[NGram, float]]  # backoffs[k - 1][h] = gamma(h) for contexts h of k < order words
    discounts: list[tuple[float, float, float]]  # (D1, D2, D3+) of each order
    fallback: list[bool]  # whether each order used FALLBACK_DISCOUNTS
    sentences: int = 0
    words: int = 0  # tokens, without <s> and </s>

    def counts(self) -> list[int]:
        """Number of n-grams of each order in the ARPA file."""
        return [len(p) for p in self.probs]


def _discounts(adjusted: Iterable[int]) -> tuple[tuple[float, float, float], bool]:
    """Chen & Goodman's (D1, D2, D3+) from the count-of-counts of one order, and whether it fell back."""
    n = Counter(c for c in adjusted if c <= 4)
    n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
    if min(n1, n2, n3) == 0:
        return FALLBACK_DISCOUNTS, True
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk < k for k, dk in enumerate(d, 1)):
        return FALLBACK_DISCOUNTS, True
    return d, False


def _context_stats(
    adjusted: dict[NGram, int], discounts: tuple[float, float, float]
) -> tuple[dict[NGram, float], dict[NGram, float]]:
    """For each context h of one order: the total a(h.) and the interpolation weight gamma(h)."""
    total: dict[NGram, float] = defaultdict(float)
    mass: dict[NGram, float] = defaultdict(float)
    d1, d2, d3 = discounts
    for ngram, a in adjusted.items():
        h = ngram[:-1]
        total[h] += a
        mass[h] += d1 if a == 1 else d2 if a == 2 else d3
    return total, {h: mass[h] / total[h] for h in total}


def kneser_ney(sentences: Iterable[str], order: int = DEFAULT_ORDER) -> NGramTables:
    """Interpolated modified Kneser-Ney estimate from lower-case sentences of space-separated words."""
    if order < 1:
        raise ValueError(f"order must be at least 1, not {order}")
    raw: list[Counter[NGram]] = [Counter() for _ in range(order)]  # raw[n - 1]: n-gram counts
    n_sentences = n_words = 0
    for sentence in sentences:
        words = sentence.split()
        if not words:
            continue
        n_sentences += 1
        n_words += len(words)
        tokens = (BOS, *words, EOS)
        for n in range(1, order + 1):
            raw[n - 1].update(zip(*(tokens[i:] for i in range(n))))
    if not n_sentences:
        raise ValueError("no sentences to estimate a language model from")

    # adjusted counts: raw at the highest order and for <s>-initial n-grams, else continuation counts
    adjusted: list[dict[NGram, int]] = [dict() for _ in range(order)]
    adjusted[order - 1] = dict(raw[order - 1])
    for n in range(order - 1, 0, -1):
        left = Counter(g[1:] for g in raw[n])
        adjusted[n - 1] = {g: (c if g[0] == BOS else left[g]) for g, c in raw[n - 1].items()}
    del adjusted[0][(BOS,)]  # <s> is never predicted: no unigram mass

    discounts, fallback = zip(*(_discounts(a.values()) for a in adjusted))
    probs: list[dict[NGram, float]] = []
    backoffs: list[dict[NGram, float]] = []
    for n in range(1, order + 1):
        d1, d2, d3 = discounts[n - 1]
        total, gamma = _context_stats(adjusted[n - 1], discounts[n - 1])
        p: dict[NGram, float] = {}
        if n == 1:
            vocabulary = len(adjusted[0]) + ((UNK,) not in adjusted[0])
            uniform = gamma[()] / vocabulary
            for g, a in adjusted[0].items():
                p[g] = (a - (d1 if a == 1 else d2 if a == 2 else d3)) / total[()] + uniform
            p.setdefault((UNK,), uniform)
            p[(BOS,)] = 10.0**BOS_LOG10_PROB  # listed (it is a context) but never predicted
        else:
            lower = probs[n - 2]
            for g, a in adjusted[n - 1].items():
                h = g[:-1]
                p[g] = (a - (d1 if a == 1 else d2 if a == 2 else d3)) / total[h] + gamma[h] * lower[g[1:]]
            backoffs.append(gamma)
        probs.append(p)
    return NGramTables(
        order, probs, backoffs, list(discounts), list(fallback), sentences=n_sentences, words=n_words
    )


def format_arpa(tables: NGramTables) -> str:
    """The model as ARPA text, n-grams sorted within each order."""
    fmt = f"{{:.{ARPA_DECIMALS}f}}".format
    lines = ["\\data\\"]
    lines += [f"ngram {n}={count}" for n, count in enumerate(tables.counts(), 1)]
    for n in range(1, tables.order + 1):
        lines += ["", f"\\{n}-grams:"]
        gamma = tables.backoffs[n - 1] if n < tables.order else None
        bos_prob = fmt(BOS_LOG10_PROB)
        for g in sorted(tables.probs[n - 1]):
            prob = bos_prob if g == (BOS,) else fmt(math.log10(tables.probs[n - 1][g]))
            text = " ".join(g)
            if gamma is None:
                lines.append(f"{prob}\t{text}")
            else:
                bo = gamma.get(g)
                lines.append(f"{prob}\t{text}\t{fmt(math.log10(bo)) if bo is not None else '0'}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def build_arpa(sentences: Iterable[str], order: int = DEFAULT_ORDER) -> str:
    """ARPA text of an interpolated modified Kneser-Ney model of `sentences` (see the module notes)."""
    return format_arpa(kneser_ney(sentences, order))


# --- reading ARPA files ------------------------------------------------------------------------


class ArpaError(ValueError):
    """An ARPA file that cannot be read; the message names the file and line."""


def read_arpa(path: str) -> tuple[list[dict[NGram, float]], dict[NGram, float]]:
    """(log10 probabilities by order, log10 backoffs) of an ARPA file; ArpaError if malformed."""
    declared: dict[int, int] = {}
    probs: list[dict[NGram, float]] = []
    backoffs: dict[NGram, float] = {}
    section = None  # None: before \data\; 0: in \data\; n: in \n-grams:
    ended = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or ended:
                continue
            where = f"{path}:{lineno}"
            if line == "\\data\\":
                section = 0
            elif line == "\\end\\":
                ended = True
            elif line.startswith("\\") and line.endswith("-grams:"):
                try:
                    section = int(line[1:-7])
                except ValueError:
                    raise ArpaError(f"{where}: bad section header {line!r}") from None
                if section != len(probs) + 1:
                    raise ArpaError(f"{where}: section {line!r} out of order")
                probs.append({})
            elif section == 0 and line.startswith("ngram "):
                n, _, count = line[6:].partition("=")
                declared[int(n)] = int(count)
            elif section:
                fields = line.split()
                if len(fields) not in (section + 1, section + 2):
                    raise ArpaError(f"{where}: expected a {section}-gram line, got {line!r}")
                ngram = tuple(fields[1 : section + 1])
                try:
                    probs[section - 1][ngram] = float(fields[0])
                    if len(fields) == section + 2 and float(fields[-1]) != 0.0:
                        backoffs[ngram] = float(fields[-1])
                except ValueError:
                    raise ArpaError(f"{where}: bad number in {line!r}") from None
            else:
                raise ArpaError(f"{where}: unexpected line {line!r}")
    if not ended:
        raise ArpaError(f"{path}: no \\end\\ marker (truncated file?)")
    if not probs:
        raise ArpaError(f"{path}: no n-gram sections")
    for n, count in declared.items():
        if n > len(probs) or len(probs[n - 1]) != count:
            found = len(probs[n - 1]) if n <= len(probs) else 0
            raise ArpaError(f"{path}: header declares {count} {n}-grams, file holds {found}")
    return probs, backoffs


def backoff_log10(probs: Sequence[dict[NGram, float]], backoffs: dict[NGram, float], context: NGram,
                  word: str) -> float:
    """log10 p(word | context) of a model read by read_arpa, by ARPA backoff: the longest listed
    n-gram ending in `word` (context cut to the model's order), plus the backoff weights of the
    contexts given up on the way. KeyError if `word` has no unigram (map unknown words to <unk> first)."""
    context = context[max(len(context) - len(probs) + 1, 0) :] if len(probs) > 1 else ()
    backoff = 0.0
    for k in range(len(context), -1, -1):
        ngram = context[len(context) - k :] + (word,)
        prob = probs[k].get(ngram)
        if prob is not None:
            return backoff + prob
        backoff += backoffs.get(ngram[:-1], 0.0)
    raise KeyError(word)


def read_arpa_vocabulary(path: str) -> frozenset[str]:
    """The words of an ARPA file's unigram section, without <s>, </s> and <unk>: what a decoder may
    spell. Reads only up to the bigrams, so it is quick even for a large model."""
    words = set()
    in_unigrams = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif line.startswith("\\"):
                if in_unigrams:
                    break
            elif in_unigrams and line:
                fields = line.split()
                if len(fields) >= 2:
                    words.add(fields[1])
    if not in_unigrams:
        raise ArpaError(f"{path}: no \\1-grams: section")
    return frozenset(words - {BOS, EOS, UNK})


# --- corpora, guards and sidecar ----------------------------------------------------------------


def sentence_hash(sentence: str) -> str:
    """SHA-1 (hex) of a normalised sentence: what the sidecar records of each LM sentence."""
    return hashlib.sha1(sentence.encode("utf-8")).hexdigest()


def sidecar_path(lm_path: str) -> str:
    """Where the sources of an LM file are recorded."""
    return os.fspath(lm_path) + SIDECAR_SUFFIX


def read_transcripts(corpus_json: str) -> tuple[list[str], int]:
    """Normalised transcripts of a JSON-lines corpus file (audio not needed), and lines skipped.

    A line that is not a JSON object with a "text" that normalises to a non-empty transcript is
    skipped and counted; blank lines are ignored.
    """
    def transcript(line: str) -> str:
        return normalize_transcript(str(json.loads(line)["text"]))

    texts, skipped = _normalised_lines(corpus_json, transcript)
    if skipped:
        warnings.warn(f"{corpus_json}: skipped {skipped} line(s) without a usable transcript", stacklevel=2)
    return texts, skipped


def read_text(text_path: str) -> tuple[list[str], int]:
    """Normalised sentences of a plain text file (one per line), and the lines that could not be."""
    return _normalised_lines(text_path, normalize_transcript)


def _normalised_lines(path: str, parse: Callable[[str], str]) -> tuple[list[str], int]:
    """parse() of every non-blank line of a text file, and how many lines it failed on or made empty."""
    texts: list[str] = []
    skipped = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                text = parse(line)
            except (ValueError, KeyError, TypeError):
                text = ""
            if text:
                texts.append(text)
            else:
                skipped += 1
    return texts, skipped


def _overlap(corpus_json: str, hashes: set[str]) -> tuple[int, int]:
    """(transcripts of corpus_json whose hash is in hashes, transcripts read)."""
    texts, _ = read_transcripts(corpus_json)
    return sum(sentence_hash(t) in hashes for t in texts), len(texts)


def file_sha1(path: str) -> str:
    """SHA-1 (hex) of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_lm_from_corpora(
    train_jsons: Sequence[str],
    out_path: str,
    order: int = DEFAULT_ORDER,
    extra_text: str | None = None,
    exclude_jsons: Sequence[str] = (),
    drop_excluded: bool = False,
) -> dict[str, Any]:
    """Estimate an LM from corpus transcripts (and a text file), write it and its sidecar.

    Raises ValueError, before writing anything, if a transcript of any `exclude_jsons` corpus is
    among the LM sentences; with drop_excluded=True those sentences are left out of the LM text
    instead (a training transcript that is also a validation transcript, say) and counted.
    Returns the sidecar's contents without the hash list; it names each corpus by what it holds
    (vui.provenance.describe_corpus), never by an absolute path.
    """
    sentences: list[str] = []
    skipped_corpora = 0
    for corpus in train_jsons:
        texts, skipped = read_transcripts(corpus)
        sentences += texts
        skipped_corpora += skipped
    skipped_text = 0
    if extra_text is not None:
        texts, skipped_text = read_text(extra_text)
        sentences += texts
    if not sentences:
        raise ValueError("no LM sentences: the corpora and text file hold no usable transcripts")

    hashes = {sentence_hash(s) for s in sentences}
    dropped = 0
    if drop_excluded and exclude_jsons:
        excluded = {sentence_hash(t) for corpus in exclude_jsons for t in read_transcripts(corpus)[0]}
        kept = [s for s in sentences if sentence_hash(s) not in excluded]
        dropped, sentences = len(sentences) - len(kept), kept
        hashes -= excluded
        if not sentences:
            raise ValueError("no LM sentences left after leaving out the evaluation transcripts")
    for corpus in exclude_jsons:
        found, total = _overlap(corpus, hashes)
        if found:
            raise ValueError(
                f"{corpus}: {found} of its {total} transcripts are in the LM text; evaluation "
                "transcripts must never be LM training text"
            )

    tables = kneser_ney(sentences, order)
    arpa = format_arpa(tables).encode("utf-8")
    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    meta: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "arpa": os.path.basename(out_path),
        "arpa_sha1": hashlib.sha1(arpa).hexdigest(),
        "order": order,
        "sources": {
            "corpora": [describe_corpus(c) for c in train_jsons],
            "text": portable_path(extra_text) if extra_text is not None else None,
        },
        "excluded_corpora": [describe_corpus(c) for c in exclude_jsons],
        "sentences": tables.sentences,
        "words": tables.words,
        "skipped_lines": {"corpora": skipped_corpora, "text": skipped_text},
        "dropped_evaluation_sentences": dropped,
        "ngram_counts": {str(n): c for n, c in enumerate(tables.counts(), 1)},
        "discounts": {str(n): list(d) for n, d in enumerate(tables.discounts, 1)},
        "discount_fallback": {str(n): f for n, f in enumerate(tables.fallback, 1)},
    }
    sidecar = dict(meta, sentence_sha1=sorted(hashes))
    write_atomic(out_path, arpa)
    write_atomic(sidecar_path(out_path), (json.dumps(sidecar, indent=1) + "\n").encode("utf-8"))
    return meta


def check_lm_excludes(lm_path: str, corpus_json: str) -> int:
    """Raise ValueError if a transcript of `corpus_json` is LM text of `lm_path`; else return how many.

    Uses the sidecar ``<lm_path>.json``; with no sidecar, or one of a model whose text is not known
    (a general model from vui.pocketsphinx_lm), the LM's sources are unknown, which is warned about
    (and 0 returned). A sidecar that does not describe this LM file is an error. A model mixed with
    a general one (vui.lm_mix) is checked against the text of the model we built.
    """
    side = sidecar_path(lm_path)
    if not os.path.exists(side):
        warnings.warn(
            f"{lm_path}: no sidecar {side}; cannot check that {corpus_json} is not LM text", stacklevel=2
        )
        return 0
    with open(side, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("arpa_sha1") != file_sha1(lm_path):
        raise ValueError(f"{side} does not describe {lm_path} (the LM changed since); rebuild the LM")
    if "sentence_sha1" not in meta:  # a general model (vui.pocketsphinx_lm): its text is not known
        warnings.warn(f"{lm_path}: its text is not known ({meta.get('about', 'no sources recorded')}); cannot check "
                      f"that {corpus_json} is not LM text", stacklevel=2)
        return 0
    found, total = _overlap(corpus_json, set(meta["sentence_sha1"]))
    if found:
        raise ValueError(
            f"{corpus_json}: {found} of its {total} transcripts are in the text of the LM {lm_path}; "
            "evaluation transcripts must never be LM training text"
        )
    return total


# --- command line -------------------------------------------------------------------------------


def count_summary(ngram_counts: dict[str, int]) -> str:
    """A sidecar's ``ngram_counts`` as text: '4500 1-grams, 16740 2-grams, 21424 3-grams'."""
    return ", ".join(f"{c} {n}-grams" for n, c in ngram_counts.items())


def main(argv: Sequence[str] | None = None) -> int:
    """Build an LM from the command line; prints a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", action="append", default=[], help="JSON-lines corpus whose transcripts are LM text (repeatable)"
    )
    parser.add_argument("--text", help="plain text file, one sentence per line")
    parser.add_argument(
        "--exclude", action="append", default=[], help="evaluation corpus that must not be LM text (repeatable)"
    )
    parser.add_argument(
        "--drop-excluded", action="store_true", help="leave out LM sentences that are --exclude transcripts instead of failing"
    )
    parser.add_argument("--order", type=int, default=DEFAULT_ORDER, help="n-gram order (default %(default)s)")
    parser.add_argument("--out", required=True, help="ARPA file to write; its sidecar is <out>.json")
    args = parser.parse_args(argv)
    if not args.corpus and not args.text:
        parser.error("give at least one --corpus or a --text file")
    start = time.perf_counter()
    try:
        meta = build_lm_from_corpora(args.corpus, args.out, args.order, args.text, args.exclude, args.drop_excluded)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out}: order {meta['order']}, {count_summary(meta['ngram_counts'])} "
        f"from {meta['sentences']} sentences "
        f"({meta['words']} words) in {time.perf_counter() - start:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
