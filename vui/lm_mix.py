"""Combining and shrinking ARPA word models: a small in-domain LM mixed with a general English one.

The training transcripts (1,625 utterances) give a trigram that knows 4,497 words; a general model
(CMU's en-US LM, vui.pocketsphinx_lm) knows the words they lack but not the books' style. Neither
KenLM's Python module nor our dependencies mix or prune models, so this module does, on the tables
``read_arpa`` returns:

* ``prune_bigrams`` keeps a bigram model's ``vocabulary_size`` likeliest words (the rest of their
  probability goes to ``<unk>``) and its ``max_bigrams`` bigrams that change the model most
  (Seymore & Rosenfeld's weighted difference ``p(h, w) * |log p(w|h) - log(bow(h) p(w))|``);
* ``mix`` interpolates two models linearly, ``p(w|h) = weight p_a(w|h) + (1 - weight) p_b(w|h)``
  (each by its own backoff; 0 for a word outside a model's vocabulary), over the union of their
  n-grams, as SRILM's static ``-mix-lm`` does;
* both recompute every backoff weight so that each ``p(.|h)`` again sums to one.

Command line (``--general`` from ``python -m vui.pocketsphinx_lm``)::

    python -m vui.lm_mix --lm results/train_lm.arpa --general data/en_us_20k.arpa --weight 0.5 \\
        --out results/vui_lm.arpa
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import defaultdict
from typing import Sequence

from utils import write_atomic
from vui.provenance import portable_path
from vui.language_model import (
    BOS, EOS, UNK, NGram, NGramTables, backoff_log10, count_summary, file_sha1, format_arpa, read_arpa,
    sidecar_path,
)

ArpaTables = tuple[list[dict[NGram, float]], dict[NGram, float]]  # read_arpa's (log10 probs by order, log10 backoffs)
MIN_MASS: float = 1e-9  # left-over probability below this counts as this much (rounding in ARPA files)


def _vocabulary(probs: list[dict[NGram, float]]) -> set[str]:
    return {w for (w,) in probs[0]}


def _with_backoffs(order: int, probs: list[dict[NGram, float]]) -> NGramTables:
    """NGramTables (natural probabilities) whose backoff weights make every context sum to one:
    ``bow(h) = (1 - sum p(w|h)) / (1 - sum p(w|h'))`` over the words listed after h."""
    children: list[dict[NGram, list[str]]] = [defaultdict(list) for _ in range(order)]
    for n in range(2, order + 1):
        for g in probs[n - 1]:
            children[n - 2][g[:-1]].append(g[-1])
    backoffs: list[dict[NGram, float]] = [{} for _ in range(order)]
    for n in range(1, order):
        for h, words in children[n - 1].items():
            left = 1.0 - sum(probs[n][h + (w,)] for w in words)
            lower = 1.0 - sum(probs[n - 1][h[1:] + (w,)] for w in words)
            backoffs[n - 1][h] = max(left, MIN_MASS) / max(lower, MIN_MASS)
    return NGramTables(order, probs, backoffs, discounts=[], fallback=[])


def prune_bigrams(model: ArpaTables, vocabulary_size: int, max_bigrams: int) -> NGramTables:
    """A bigram model cut to its `vocabulary_size` likeliest words (their lost unigram mass added to
    <unk>) and the `max_bigrams` bigrams among them of largest weighted difference (module notes)."""
    log_probs, log_backoffs = model
    if len(log_probs) != 2:
        raise ValueError(f"prune_bigrams takes a bigram model, not one of order {len(log_probs)}")
    if UNK not in _vocabulary(log_probs):
        raise ValueError("the model has no <unk> unigram to give the pruned words' probability to")
    special = {BOS, EOS, UNK}
    words = sorted((w for w in _vocabulary(log_probs) if w not in special), key=lambda w: -log_probs[0][(w,)])
    keep = set(words[:vocabulary_size]) | special
    unigrams = {g: 10 ** p for g, p in log_probs[0].items() if g[0] in keep}
    unigrams[(UNK,)] += sum(10 ** p for g, p in log_probs[0].items() if g[0] not in keep)
    # p(<s>) is never predicted (-99): weight the sentence-start bigrams by p(</s>), as frequent
    start_log10 = log_probs[0][(EOS,)] if (EOS,) in log_probs[0] else 0.0

    def weighted_difference(item: tuple[NGram, float]) -> float:
        (h, w), p = item
        history = start_log10 if h == BOS else log_probs[0][(h,)]
        return 10 ** (history + p) * abs(p - (log_backoffs.get((h,), 0.0) + log_probs[0][(w,)]))

    bigrams = [(g, p) for g, p in log_probs[1].items() if g[0] in keep and g[1] in keep]
    bigrams = sorted(bigrams, key=weighted_difference, reverse=True)[:max_bigrams]
    return _with_backoffs(2, [unigrams, {g: 10 ** p for g, p in bigrams}])


def mix(a: ArpaTables, b: ArpaTables, weight: float) -> NGramTables:
    """Linear interpolation ``weight * a + (1 - weight) * b`` over the union of the two models'
    n-grams (order: the larger of the two), with backoff weights recomputed."""
    if not 0.0 < weight < 1.0:  # at 0 or 1 the other model's own words would get probability 0
        raise ValueError(f"the mixing weight must be strictly between 0 and 1, not {weight}")
    (probs_a, backoffs_a), (probs_b, backoffs_b) = a, b
    vocab_a, vocab_b = _vocabulary(probs_a), _vocabulary(probs_b)
    for name, vocab in (("first", vocab_a), ("second", vocab_b)):
        if UNK not in vocab:
            raise ValueError(f"the {name} model has no <unk> unigram")

    def p(probs: list[dict[NGram, float]], backoffs: dict[NGram, float], vocab: set[str], g: NGram) -> float:
        return 10 ** backoff_log10(probs, backoffs, g[:-1], g[-1]) if g[-1] in vocab else 0.0

    def mixed_prob(g: NGram) -> float:
        return weight * p(probs_a, backoffs_a, vocab_a, g) + (1 - weight) * p(probs_b, backoffs_b, vocab_b, g)

    order = max(len(probs_a), len(probs_b))
    mixed: list[dict[NGram, float]] = []
    for n in range(1, order + 1):
        grams = set(probs_a[n - 1] if n <= len(probs_a) else ()) | set(probs_b[n - 1] if n <= len(probs_b) else ())
        mixed.append({g: mixed_prob(g) for g in grams})
    # ARPA files list the suffix (where backoff goes) and the prefix (which carries the backoff
    # weight) of every n-gram; a file that does not may leave them out of the union: add them
    for n in range(order, 1, -1):
        for g in list(mixed[n - 1]):
            for part in (g[1:], g[:-1]):
                if part not in mixed[n - 2]:
                    mixed[n - 2][part] = mixed_prob(part)
    return _with_backoffs(order, mixed)


def write_mixed(lm_path: str, general_path: str, weight: float, out_path: str) -> dict:
    """Mix the LM at `lm_path` (built by vui.language_model, with its sidecar) with the general model
    at `general_path` and write the result and its sidecar: the first model's sentence hashes (so
    check_lm_excludes still guards the evaluation transcripts against the text we chose) and what
    the general model is. Returns the sidecar without the hashes."""
    with open(sidecar_path(lm_path), encoding="utf-8") as f:
        sidecar = json.load(f)
    tables = mix(read_arpa(lm_path), read_arpa(general_path), weight)
    arpa = format_arpa(tables).encode("utf-8")
    general_sidecar = sidecar_path(general_path)
    general = {"arpa": portable_path(general_path), "arpa_sha1": file_sha1(general_path), "weight": 1 - weight}
    if os.path.exists(general_sidecar):
        with open(general_sidecar, encoding="utf-8") as f:
            general["about"] = json.load(f).get("about")
    sidecar.update(arpa=os.path.basename(out_path), arpa_sha1=hashlib.sha1(arpa).hexdigest(),
                   order=tables.order, ngram_counts={str(n): c for n, c in enumerate(tables.counts(), 1)},
                   mixed_with=general)
    sidecar.pop("tuned", None)  # weights tuned for the unmixed model do not carry over
    write_atomic(out_path, arpa)
    write_atomic(sidecar_path(out_path), (json.dumps(sidecar, indent=1) + "\n").encode("utf-8"))
    return {k: v for k, v in sidecar.items() if k != "sentence_sha1"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mix an LM built by vui.language_model with a general ARPA model")
    parser.add_argument("--lm", required=True, help="ARPA model of the training transcripts (with its sidecar)")
    parser.add_argument("--general", required=True, help="general ARPA model, e.g. from python -m vui.pocketsphinx_lm")
    parser.add_argument("--weight", type=float, default=0.5, help="weight of --lm in the mixture (default %(default)s)")
    parser.add_argument("--out", required=True, help="ARPA file to write; its sidecar is <out>.json")
    args = parser.parse_args(argv)
    try:
        meta = write_mixed(args.lm, args.general, args.weight, args.out)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {count_summary(meta['ngram_counts'])} "
          f"({args.weight} x {args.lm} + {1 - args.weight:g} x {args.general})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
