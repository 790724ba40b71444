"""CMU's general en-US language model (bundled with PocketSphinx) as a small ARPA bigram model.

PocketSphinx (``pip install pocketsphinx``, an optional development dependency) ships
``en-us/en-us.lm.bin``: 72,547 words, 2.05M bigrams, 1.67M trigrams of general English. Its own
writer is the only way out of that binary format, and it is fragile: the model keeps a pointer to
the LogMath it was loaded with, so that object must outlive it (a temporary one is freed and the
file gets whatever memory then holds), only LogMath(1.0001, shift 0) gives log10 values, and the
writer crashes (segmentation fault) in the trigram section. So it runs in a child process, only
its complete unigram and bigram lines are used, and the unigrams must sum to one; words with
characters outside a-z and ' (our transcripts' alphabet) are dropped (their probability goes to
``<unk>``), and the model is pruned (vui.lm_mix.prune_bigrams) to a size one can ship::

    python -m vui.pocketsphinx_lm --out data/en_us_20k.arpa [--vocabulary 20000] [--bigrams 100000]

Its sidecar ``<out>.json`` says where it came from; the text it was estimated on is not known, so
vui.language_model's evaluation-transcript guard cannot check it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from typing import Sequence

from utils import write_atomic
from vui.language_model import UNK, NGram, count_summary, file_sha1, format_arpa, sidecar_path
from vui.lm_mix import prune_bigrams
from vui.provenance import portable_path

LOGMATH_BASE: float = 1.0001  # PocketSphinx's log base, with which (and shift 0) its ARPA writer gives log10 values
UNIGRAM_SUM_TOLERANCE: float = 0.01  # how far from one the written unigram probabilities may sum
UNK_MIN_PROB: float = 1e-7  # <unk>'s unigram: at least this, plus the words we cannot spell
WORD = re.compile(r"[a-z']+$")  # the words our character set can spell
DEFAULT_VOCABULARY: int = 20000
DEFAULT_BIGRAMS: int = 100000


def bundled_lm_path() -> str:
    """PocketSphinx's en-US LM file; ImportError says how to install PocketSphinx."""
    try:  # optional: the general LM is built once, by developers, not by the product
        from pocketsphinx import get_model_path
    except ImportError as exc:
        raise ImportError("exporting CMU's en-US LM needs pocketsphinx: pip install pocketsphinx") from exc
    return os.path.join(get_model_path(), "en-us", "en-us.lm.bin")


def write_raw_arpa(lm_bin: str, out_path: str) -> None:
    """Let PocketSphinx write `lm_bin` as ARPA text, in a child process (its writer crashes in the
    trigrams; what it wrote up to there is kept)."""
    code = ("import sys\nfrom pocketsphinx import Config, LogMath, NGramModel\n"
            f"config, logmath = Config(), LogMath({LOGMATH_BASE}, 0)  # both must outlive the model\n"
            "model = NGramModel(config, logmath, sys.argv[1])\n"
            "model.write(sys.argv[2], NGramModel.str_to_type('arpa'))\n")
    subprocess.run([sys.executable, "-c", code, lm_bin, out_path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def read_partial_arpa(path: str) -> tuple[list[dict[NGram, float]], dict[NGram, float]]:
    """(log10 unigrams and bigrams, log10 unigram backoffs) of a possibly truncated ARPA file, keeping
    only complete lines whose words we can spell; <unk> gets the unigram probability of the others.
    ValueError if it holds no bigrams."""
    probs: list[dict[NGram, float]] = [{}, {}]
    backoffs: dict[NGram, float] = {}
    unspellable = 0.0
    section = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("\\1-grams"):
                section = 1
                continue
            if line.startswith("\\2-grams"):
                section = 2
                continue
            if line.startswith("\\3-grams") or line.startswith("\\end"):
                break
            if not section or not line.strip():
                continue
            if not line.endswith("\n"):  # the last line the crash cut short
                break
            fields = line.split()
            words = tuple(fields[1 : 1 + section])
            if len(words) != section:
                continue
            if not all(w in ("<s>", "</s>") or WORD.match(w) for w in words):
                unspellable += 10 ** float(fields[0]) if section == 1 else 0.0
                continue
            probs[section - 1][words] = float(fields[0])
            if section == 1 and len(fields) > 2:
                backoffs[words] = float(fields[2])
    if not probs[1]:
        raise ValueError(f"{path}: no bigrams were written (is this PocketSphinx's LM?)")
    total = unspellable + sum(10 ** p for p in probs[0].values())
    if abs(total - 1.0) > UNIGRAM_SUM_TOLERANCE:
        raise ValueError(f"{path}: its unigram probabilities sum to {total:.4g}, not one: PocketSphinx wrote "
                         "something other than the model")
    probs[0][(UNK,)] = math.log10(UNK_MIN_PROB + unspellable)
    probs[1] = {g: p for g, p in probs[1].items() if (g[0],) in probs[0] and (g[1],) in probs[0]}
    return probs, backoffs


def export(out_path: str, vocabulary_size: int = DEFAULT_VOCABULARY, max_bigrams: int = DEFAULT_BIGRAMS,
           lm_bin: str | None = None) -> dict:
    """Write CMU's en-US LM as a pruned ARPA bigram model at `out_path`, with a sidecar; returns it."""
    lm_bin = lm_bin or bundled_lm_path()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.arpa")
        write_raw_arpa(lm_bin, raw)
        if not os.path.exists(raw):
            raise ValueError(f"{lm_bin}: PocketSphinx wrote no ARPA text")
        tables = prune_bigrams(read_partial_arpa(raw), vocabulary_size, max_bigrams)
    write_atomic(out_path, format_arpa(tables).encode("utf-8"))
    about = {"arpa_sha1": file_sha1(out_path),
             "about": f"CMU's en-US LM ({os.path.basename(lm_bin)}, bundled with PocketSphinx), unigrams and "
                      f"bigrams, pruned to {vocabulary_size} words and {max_bigrams} bigrams; its text is not known",
             "source": portable_path(lm_bin), "ngram_counts": {str(n): c for n, c in enumerate(tables.counts(), 1)}}
    write_atomic(sidecar_path(out_path), (json.dumps(about, indent=1) + "\n").encode("utf-8"))
    return about


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CMU's en-US LM (from PocketSphinx) as a pruned ARPA bigram model")
    parser.add_argument("--out", required=True, help="ARPA file to write")
    parser.add_argument("--vocabulary", type=int, default=DEFAULT_VOCABULARY, help="words kept (default %(default)s)")
    parser.add_argument("--bigrams", type=int, default=DEFAULT_BIGRAMS, help="bigrams kept (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        about = export(args.out, args.vocabulary, args.bigrams)
    except (ImportError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {count_summary(about['ngram_counts'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
