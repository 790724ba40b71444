"""Word-by-word scoring of an ARPA language model for CTC beam-search decoding.

``LanguageModel(arpa_path)`` scores words one at a time through the ``kenlm`` module when it can be
imported and through a pure-Python backoff scorer otherwise (``.backend`` says which); both give
the same log10 probabilities (kenlm to float32 precision). Decoding weights tuned for a model
(alpha, beta, beam) live in its sidecar ``<lm>.json``, beside what ``vui.language_model`` recorded
when it built the model: ``save_tuned`` writes them and ``LanguageModel.tuned`` reads them back.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, Hashable, Iterator

from utils import write_atomic
from vui.language_model import BOS, EOS, UNK, backoff_log10, read_arpa, read_arpa_vocabulary, sidecar_path

BACKENDS: tuple[str, ...] = ("kenlm", "python")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the process's stderr (file descriptor 2, which C++ code writes to) for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_kenlm() -> Any | None:
    """The kenlm module, or None where it is not installed."""
    try:  # optional: the pure-Python scorer stands in where kenlm is not installed
        import kenlm
    except ImportError:
        return None
    return kenlm


def _read_tuned(arpa_path: str) -> dict:
    """The sidecar's ``tuned`` entry ({'alpha', 'beta', 'beam', ...}), or {} when there is none."""
    try:
        with open(sidecar_path(arpa_path), encoding="utf-8") as f:
            tuned = json.load(f).get("tuned") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return tuned if isinstance(tuned, dict) else {}


def save_tuned(arpa_path: str, tuned: dict) -> None:
    """Record decoding weights tuned for this LM (alpha, beta, beam, ...) in its sidecar, atomically;
    LanguageModel reads them back as ``.tuned``."""
    path = sidecar_path(arpa_path)
    with open(path, encoding="utf-8") as f:
        sidecar = json.load(f)
    sidecar["tuned"] = tuned
    write_atomic(path, (json.dumps(sidecar, indent=1) + "\n").encode("utf-8"))


class LanguageModel:
    """Incremental word scoring (log10) with an ARPA model, for beam-search decoding.

    ``backend`` is "kenlm" (the kenlm module, used when importable) or "python" (a pure-Python
    backoff scorer); pass backend= to choose. States are opaque, hashable and comparable: equal
    states give equal scores for every continuation, so a decoder may merge hypotheses on them.
    Words outside the vocabulary score as ``<unk>``; ``vocabulary`` and ``is_word_prefix`` let a
    decoder penalise them, finished or still being spelled.
    """

    def __init__(self, arpa_path: str, backend: str | None = None) -> None:
        if backend not in (None, *BACKENDS):
            raise ValueError(f"backend must be one of {BACKENDS} or None, not {backend!r}")
        if not os.path.exists(arpa_path):
            raise FileNotFoundError(f"{arpa_path}: language model file not found")
        self.path = os.fspath(arpa_path)
        # Decoding weights tuned for this LM on a validation set (vui.train_recipe saves them in the
        # sidecar); vui.transcribe and the notebook use them unless told otherwise.
        self.tuned: dict = _read_tuned(self.path)
        kenlm = _import_kenlm() if backend in (None, "kenlm") else None
        if backend == "kenlm" and kenlm is None:
            raise ImportError("backend='kenlm' needs the kenlm module (pip install ufal-kenlm)")
        self.backend: str = "kenlm" if kenlm is not None else "python"
        if kenlm is not None:
            self._kenlm = kenlm
            config = kenlm.Config()
            config.show_progress = False  # KenLM draws a loading bar on stderr for ARPA files otherwise
            with _quiet_stderr():  # and says "Loading the LM will be faster if ..." from C++, unconfigurably
                self._model = kenlm.Model(self.path, config)
            self.order: int = int(self._model.order)
            # the words a decoder may spell: kenlm cannot list them, so they come from the file
            self.vocabulary: frozenset[str] = read_arpa_vocabulary(self.path)
        else:
            self._probs, self._backoffs = read_arpa(self.path)
            self.order = len(self._probs)
            self._unigrams = self._probs[0]
            self.vocabulary = frozenset(w for (w,) in self._unigrams) - {BOS, EOS, UNK}
        self._prefixes: frozenset[str] | None = None

    def is_word_prefix(self, partial: str) -> bool:
        """Whether some vocabulary word starts with `partial` (the whole word included): the
        character trie a decoder checks a half-spelled word against, held as the set of prefixes."""
        if self._prefixes is None:
            self._prefixes = frozenset(w[:k] for w in self.vocabulary for k in range(1, len(w) + 1))
        return partial in self._prefixes

    def __repr__(self) -> str:
        return f"LanguageModel({self.path!r}, backend={self.backend!r}, order={self.order})"

    def __contains__(self, word: str) -> bool:
        """Whether `word` is in the model's vocabulary."""
        return word in self.vocabulary

    def begin_state(self) -> Hashable:
        """The state at the start of a sentence (after <s>)."""
        if self.backend == "kenlm":
            state = self._kenlm.State()
            self._model.BeginSentenceWrite(state)
            return state
        return (BOS,) if self.order > 1 else ()

    def score_word(self, state: Hashable, word: str) -> tuple[float, Hashable]:
        """(log10 p(word | state), the state after word)."""
        if self.backend == "kenlm":
            out = self._kenlm.State()
            return self._model.BaseScore(state, word, out), out
        if (word,) not in self._unigrams:
            word = UNK
        score = backoff_log10(self._probs, self._backoffs, state, word)
        new = (state + (word,))[1 - self.order :] if self.order > 1 else ()
        while new and new not in self._probs[len(new) - 1]:  # a context no n-gram extends: drop it
            new = new[1:]
        return score, new

    def score_end(self, state: Hashable) -> float:
        """log10 p(</s> | state)."""
        if self.backend == "kenlm":
            return self._model.BaseScore(state, EOS, self._kenlm.State())
        return backoff_log10(self._probs, self._backoffs, state, EOS)

    def score_sentence(self, text: str) -> float:
        """Total log10 probability of a sentence, with <s> and </s>."""
        state = self.begin_state()
        total = 0.0
        for word in text.split():
            score, state = self.score_word(state, word)
            total += score
        return total + self.score_end(state)

