"""From softmax outputs to text: CTC decoding and the one definition of its options.

``greedy_decode`` is best-path decoding (the most likely class per frame, repeats merged, blanks
dropped); ``prefix_beam_search`` keeps the likeliest prefixes, optionally scored with a word language
model. ``decode(probs, options, lm)`` picks between them from a ``DecodingOptions``: every command
(vui.transcribe, vui.evaluate, vui.train_recipe, vui.bench) and the notebook's display helpers decode
through it, and the CLIs take their ``--lm/--beam/--alpha/--beta`` options from
``add_decoding_arguments``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from char_map import BLANK_INDEX, INDEX_TO_CHAR
from utils import indices_to_text
from vui.lm_scorer import LanguageModel
from vui.provenance import describe_corpus

# The defaults of every decoding setting, used where neither the caller nor the LM's tuned values
# (saved in its sidecar by vui.train_recipe) give one.
DEFAULT_BEAM_WITH_LM: int = 32  # beam width with an LM (without one, decoding is greedy unless told)
DEFAULT_ALPHA: float = 0.5  # LM weight
DEFAULT_BETA: float = 1.0  # word insertion bonus
DEFAULT_UNK_OFFSET: float = -10.0  # log10 added to the LM score of a word outside its vocabulary


def greedy_decode(probs: np.ndarray, length: int | None = None) -> str:
    """Best-path decoding of one utterance's softmax output, shape (frames, 29), up to frame `length`."""
    best = np.argmax(probs[:length], axis=-1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return indices_to_text([int(c) for c in best[keep] if c != BLANK_INDEX])


@dataclass(frozen=True)
class DecodingOptions:
    """How softmax outputs become text: greedy when `beam` is 0 and there is no LM (`lm_path` None),
    else prefix beam search `beam` wide scoring ``log P_ctc + alpha * ln P_lm(words) + beta * n_words``
    with the word LM at `lm_path` (if any), where a word outside the LM's vocabulary, or a word being
    spelled that no vocabulary word starts with, has `unk_offset` added to its log10 LM score."""

    beam: int = 0
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    lm_path: str | None = None
    unk_offset: float = DEFAULT_UNK_OFFSET

    @classmethod
    def for_lm(cls, lm: LanguageModel | None = None, beam: int | None = None, alpha: float | None = None,
               beta: float | None = None, unk_offset: float | None = None) -> DecodingOptions:
        """The values given, else `lm`'s tuned ones, else beam DEFAULT_BEAM_WITH_LM with an LM and 0
        (greedy) without, alpha DEFAULT_ALPHA, beta DEFAULT_BETA, unk_offset DEFAULT_UNK_OFFSET."""
        tuned = lm.tuned if lm is not None else {}
        if beam is None:
            beam = int(tuned.get("beam", DEFAULT_BEAM_WITH_LM)) if lm is not None else 0
        return cls(beam=beam,
                   alpha=float(tuned.get("alpha", DEFAULT_ALPHA)) if alpha is None else alpha,
                   beta=float(tuned.get("beta", DEFAULT_BETA)) if beta is None else beta,
                   lm_path=lm.path if lm is not None else None,
                   unk_offset=float(tuned.get("unk_offset", DEFAULT_UNK_OFFSET)) if unk_offset is None else unk_offset)

    @classmethod
    def from_args(cls, args: argparse.Namespace, lm: LanguageModel | None) -> DecodingOptions:
        """The options of a command line parsed with add_decoding_arguments; `lm` is its --lm, loaded."""
        return cls.for_lm(lm, args.beam, args.alpha, args.beta, args.unk_offset)

    def tuned_record(self, corpus_json: str) -> dict:
        """What an LM's sidecar keeps of these options once tuned on `corpus_json` (see for_lm)."""
        return {"alpha": self.alpha, "beta": self.beta, "beam": self.beam, "unk_offset": self.unk_offset,
                "on": describe_corpus(corpus_json)}

    @property
    def is_greedy(self) -> bool:
        """Whether decode() with these options decodes greedily (beam 0 and no LM)."""
        return self.beam <= 0 and self.lm_path is None

    def describe(self) -> str:
        """'greedy', 'beam 32' or 'beam 32 + LM (alpha=0.5, beta=1.0)', for reports."""
        if self.is_greedy:
            return "greedy"
        return f"beam {self.beam}" + (f" + LM (alpha={self.alpha}, beta={self.beta}, unk_offset={self.unk_offset})"
                                      if self.lm_path else "")


GREEDY: DecodingOptions = DecodingOptions()


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --lm, --no-lm, --beam, --alpha and --beta to a command line; each value left unset is
    filled by DecodingOptions.from_args (the LM's tuned value, else the default)."""
    parser.add_argument("--lm", help="ARPA word language model for beam search (python -m vui.language_model "
                        "builds one; default with the shipped model: the shipped LM, results/vui_lm.arpa)")
    parser.add_argument("--no-lm", action="store_true", help="no language model: greedy decoding unless --beam")
    parser.add_argument("--beam", type=int, default=None, help="beam width (default: greedy without an LM; "
                        f"with one, the LM's tuned width or {DEFAULT_BEAM_WITH_LM})")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"LM weight (default: the LM's tuned value or {DEFAULT_ALPHA})")
    parser.add_argument("--beta", type=float, default=None,
                        help=f"word insertion bonus (default: the LM's tuned value or {DEFAULT_BETA})")
    parser.add_argument("--unk-offset", type=float, default=None, help="log10 penalty of a word outside the LM's "
                        f"vocabulary (default: the LM's tuned value or {DEFAULT_UNK_OFFSET})")


def decode(probs: np.ndarray, options: DecodingOptions = GREEDY, lm: LanguageModel | None = None) -> str:
    """One utterance's softmax outputs (frames, 29) -> text, as `options` say: greedy (spaces
    normalised) or prefix beam search. `lm` is options.lm_path loaded (the caller loads it once)."""
    if (lm is None) != (options.lm_path is None):
        raise ValueError(f"decode: options name LM {options.lm_path!r} but the LM given is {lm!r}")
    if options.is_greedy:
        return " ".join(greedy_decode(probs).split())
    return prefix_beam_search(probs, beam_width=max(options.beam, 1), lm=lm, alpha=options.alpha, beta=options.beta,
                              unk_offset=options.unk_offset)


# --- beam search ------------------------------------------------------------------------------------
LN10: float = float(np.log(10.0))  # ARPA/KenLM scores are log10; the decoder works in natural logs
PRUNE_LOG_PROB: float = float(np.log(1e-3))  # characters less likely than this in a frame are not tried
MAX_CANDIDATES: int = 12  # and at most this many characters per frame, the likeliest
NEG_INF = float("-inf")


def _lse(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for Python floats (much faster than numpy on scalars)."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


def prefix_beam_search(
    probs: np.ndarray,
    beam_width: int = DEFAULT_BEAM_WITH_LM,
    lm: LanguageModel | None = None,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    length: int | None = None,
    unk_offset: float = DEFAULT_UNK_OFFSET,
) -> str:
    """CTC prefix beam search over one utterance's softmax output, shape (frames, 29).

    Keeps the `beam_width` most likely prefixes, each scored as
    ``log P_ctc(prefix) + alpha * log P_lm(words) + beta * n_words`` where the word language model
    `lm` (a vui.lm_scorer.LanguageModel, optional) scores each word as the space after it is
    emitted, and the last word and end of sentence at the end. A word outside the LM's vocabulary
    has `unk_offset` (log10) added to its LM score; so has, while it lasts, a word being spelled that
    no vocabulary word starts with, so such prefixes lose to in-vocabulary spellings before they
    finish (pyctcdecode's unknown-word offset and character trie). Without an LM and with a wide enough
    beam this finds the most probable labelling (summed over its alignments); with beam 1 and no LM
    it is greedy decoding whenever every frame has one class above one half.
    """
    log_probs = np.log(np.asarray(probs[:length], dtype=np.float64) + 1e-30)
    order = np.argsort(-log_probs, axis=1)[:, :MAX_CANDIDATES]
    use_lm = lm is not None
    # prefix -> [log P(prefix, ending in blank), log P(prefix, ending in a character)]
    beam: dict[str, list[float]] = {"": [0.0, NEG_INF]}
    # prefix -> (LM state after its finished words, their LM score, the penalty of its unfinished word)
    lm_cache: dict[str, tuple[object, float, float]] = {"": (lm.begin_state() if use_lm else None, 0.0, 0.0)}
    unk_penalty = alpha * LN10 * unk_offset

    def word_score(state: object, word: str) -> tuple[float, object]:
        """(alpha * ln P_lm(word | state) + beta, plus the unknown-word penalty; the state after)."""
        log10p, state = lm.score_word(state, word)
        return alpha * LN10 * log10p + beta + (0.0 if word in lm.vocabulary else unk_penalty), state

    def lm_extend(prefix: str, new: str) -> None:
        """LM state and scores of `new` = prefix + one character."""
        if new in lm_cache:
            return
        state, score, _ = lm_cache[prefix]
        partial = 0.0
        if use_lm:
            if new.endswith(" "):
                if prefix and not prefix.endswith(" "):
                    gained, state = word_score(state, prefix.rsplit(" ", 1)[-1])
                    score += gained
            elif not lm.is_word_prefix(new.rsplit(" ", 1)[-1]):
                partial = unk_penalty
        lm_cache[new] = (state, score, partial)

    def rank(item: tuple[str, list[float]]) -> float:
        _, score, partial = lm_cache[item[0]]
        return _lse(*item[1]) + score + partial

    for t, frame in enumerate(log_probs.tolist()):
        candidates = [(INDEX_TO_CHAR[c], frame[c]) for c in order[t].tolist()
                      if c != BLANK_INDEX and frame[c] >= PRUNE_LOG_PROB]
        blank = frame[BLANK_INDEX]
        nxt: dict[str, list[float]] = {}
        for prefix, (pb, pnb) in beam.items():
            total = _lse(pb, pnb)
            entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[0] = _lse(entry[0], total + blank)
            last = prefix[-1] if prefix else None
            for ch, lp in candidates:
                new = prefix + ch
                new_entry = nxt.setdefault(new, [NEG_INF, NEG_INF])
                if ch == last:
                    new_entry[1] = _lse(new_entry[1], pb + lp)  # a repeat needs a blank between
                    entry[1] = _lse(entry[1], pnb + lp)  # otherwise it merges into the prefix
                else:
                    new_entry[1] = _lse(new_entry[1], total + lp)
                lm_extend(prefix, new)
        scored = sorted(nxt.items(), key=rank, reverse=True)
        beam = dict(scored[:beam_width])
        # only the kept prefixes are extended next: a cache of every prefix ever tried grows with the
        # square of the length (each key is the transcript so far), gigabytes over a long recording
        lm_cache = {prefix: lm_cache[prefix] for prefix in beam}

    def final_score(prefix: str) -> float:
        state, score, _ = lm_cache[prefix]
        if use_lm:
            word = prefix.rstrip(" ").rsplit(" ", 1)[-1] if not prefix.endswith(" ") else ""
            if word:
                gained, state = word_score(state, word)
                score += gained
            score += alpha * LN10 * lm.score_end(state)
        return _lse(*beam[prefix]) + score

    best = max(beam, key=final_score)
    return " ".join(best.split())
