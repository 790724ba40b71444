"""From softmax outputs to text, and from saved files to a ready model: shared by the notebook,
evaluation and transcription.

``load_trained_model('results/model_end.h5')`` rebuilds a model from the JSON description that
``train_model`` saved beside the weights and loads them; ``Transcriber`` adds the matching feature
settings and normalisation. ``greedy_decode`` is the best-path CTC decoding: take the most likely
class per frame, merge repeats, drop blanks.
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

import numpy as np

from char_map import BLANK_INDEX
from utils import MFCC_DIM, SPECTROGRAM_DIM, indices_to_text

# The model and LM shipped in results/ (train_recipe.py makes them): the default of transcribe.py,
# evaluate.py and the notebook's STEP 3.
PROJECT_DIR: str = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_MODEL: str = os.path.join(PROJECT_DIR, "results", "vui_model.h5")
SHIPPED_LM: str = os.path.join(PROJECT_DIR, "results", "vui_lm.arpa")


class ModelFileError(ValueError):
    """Saved weights that are missing, unreadable or do not match the model; names the files."""


def greedy_decode(probs: np.ndarray, length: int | None = None) -> str:
    """Best-path decoding of one utterance's softmax output, shape (frames, 29)."""
    best = np.argmax(probs[:length], axis=-1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return indices_to_text([int(c) for c in best[keep] if c != BLANK_INDEX])


def spec_path_for_weights(weights_path: str) -> str:
    """results/model_0.h5 -> results/model_0.json (as train_utils.spec_path)."""
    from train_utils import spec_path

    return spec_path(weights_path)


def read_description(weights_path: str) -> dict:
    """The JSON description saved beside `weights_path` by train_model."""
    path = spec_path_for_weights(weights_path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelFileError(
            f"{path} not found: it describes how {weights_path} was built and is written by train_model"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot read model description ({exc})") from None


def load_weights_checked(model, weights_path: str) -> None:
    """model.load_weights, with a clear message when the file does not fit the model."""
    if not os.path.exists(weights_path):
        raise ModelFileError(f"{weights_path}: weights file not found (train the model first)")
    try:
        model.load_weights(weights_path)
    except Exception as exc:
        raise ModelFileError(
            f"{weights_path} does not fit {model.name} ({model.count_params():,} parameters, input dim "
            f"{model.input_shape[-1]}): were the weights saved from another architecture or feature type? ({exc})"
        ) from None


def load_trained_model(weights_path: str):
    """(model, description): the model rebuilt from its saved description, with its weights loaded."""
    from sample_models import build_model

    description = read_description(weights_path)
    try:
        model = build_model(description)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{spec_path_for_weights(weights_path)}: cannot build the model ({exc})") from None
    load_weights_checked(model, weights_path)
    return model, description


class Transcriber:
    """A trained model with its feature settings: audio file -> text (greedy)."""

    def __init__(self, weights_path: str):
        from data_generator import AudioGenerator

        self.model, self.description = load_trained_model(weights_path)
        feats = self.description["features"]
        # The training features, through the same code path, with the saved normalisation.
        self.audio_gen = AudioGenerator(step=feats["step"], window=feats["window"], max_freq=feats["max_freq"],
                                        mfcc_dim=feats["mfcc_dim"], spectrogram=bool(feats["spectrogram"]))
        self.audio_gen.feats_mean = np.asarray(feats["feats_mean"], dtype=np.float32)
        self.audio_gen.feats_std = np.asarray(feats["feats_std"], dtype=np.float32)

    def features(self, audio_path: str) -> np.ndarray:
        """Normalised features of one file, shape (frames, input_dim)."""
        return self.audio_gen.normalize(self.audio_gen.featurize(audio_path))

    def probabilities(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Softmax outputs for a batch of feature arrays (zero-padded together), one (frames, 29) each."""
        longest = max(f.shape[0] for f in features)
        batch = np.zeros((len(features), longest, features[0].shape[1]), dtype=np.float32)
        for i, f in enumerate(features):
            batch[i, : f.shape[0]] = f
        probs = np.asarray(self.model.predict_on_batch(batch))
        return [p[: int(self.model.output_length(f.shape[0]))] for p, f in zip(probs, features)]

    def probabilities_by_length(self, features: Sequence[np.ndarray], batch_size: int = 16) -> list[np.ndarray]:
        """Softmax outputs for many feature arrays, in their order: run in batches of similar length
        (little padding, and little of it reaches the backward direction of bidirectional layers)."""
        order = sorted(range(len(features)), key=lambda i: features[i].shape[0])
        probs: list[np.ndarray] = [None] * len(features)  # type: ignore[list-item]
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            for i, p in zip(batch, self.probabilities([features[i] for i in batch])):
                probs[i] = p
        return probs

    def transcribe(self, audio_path: str) -> str:
        """Greedy transcript of one audio file."""
        return greedy_decode(self.probabilities([self.features(audio_path)])[0])


def get_predictions(index: int, partition: str, input_to_softmax, model_path: str,
                    train_json: str = "train_corpus.json", valid_json: str = "valid_corpus.json") -> tuple[str, str]:
    """Print the true and the predicted (greedy) transcription of one corpus utterance, as the seed did.

    partition is 'train' or 'validation'; input_to_softmax is a freshly built model of the same call
    as the one trained, and model_path its weights (a name alone is looked for in results/, as the
    seed's notebook called it: ``model_path='model_end.h5'``). Shows an audio player in a notebook. Returns
    (true, predicted).
    """
    from data_generator import AudioGenerator

    input_dim = input_to_softmax.input_shape[-1]
    spectrogram = input_dim == SPECTROGRAM_DIM
    data_gen = AudioGenerator(spectrogram=spectrogram, mfcc_dim=MFCC_DIM if spectrogram else input_dim)
    data_gen.load_train_data(train_json)
    if partition in ("validation", "valid"):
        data_gen.load_validation_data(valid_json)
        part = data_gen.partitions["valid"]
    elif partition == "train":
        part = data_gen.partitions["train"]
    else:
        raise ValueError(f"partition must be 'train' or 'validation', not {partition!r}")
    transcr, audio_path = part.texts[index], part.audio_paths[index]
    data_point = data_gen.normalize(data_gen.featurize(audio_path))
    if not os.path.exists(model_path) and os.path.exists(os.path.join("results", model_path)):
        model_path = os.path.join("results", model_path)  # the seed's call: model_path='model_end.h5'
    load_weights_checked(input_to_softmax, model_path)
    prediction = np.asarray(input_to_softmax.predict_on_batch(data_point[None]))[0]
    predicted = greedy_decode(prediction, int(input_to_softmax.output_length(data_point.shape[0])))
    try:
        from IPython.display import Audio, display

        display(Audio(audio_path))
    except ImportError:
        pass
    line = "-" * 80
    print(f"{line}\nTrue transcription:\n\n{transcr}\n{line}\nPredicted transcription:\n\n{predicted}\n{line}")
    return transcr, predicted


def best_saved_model(results_dir: str = os.path.dirname(SHIPPED_MODEL)) -> str:
    """Weights path of the saved model with the lowest validation loss (needs its .json and .pickle)."""
    import glob
    import pickle

    best = None
    for spec in sorted(glob.glob(os.path.join(glob.escape(results_dir), "**", "*.json"), recursive=True)):
        try:
            with open(spec, encoding="utf-8") as f:
                training = json.load(f)["training"]
            folder = os.path.dirname(spec)
            weights = os.path.join(folder, training["weights"])
            with open(os.path.join(folder, training["pickle"]), "rb") as f:
                val = min(pickle.load(f)["val_loss"])
        except (OSError, KeyError, ValueError, TypeError, pickle.UnpicklingError, EOFError):
            continue
        if os.path.exists(weights) and (best is None or val < best[0]):
            best = (val, weights)
    if best is None:
        raise FileNotFoundError(f"no trained model in {results_dir}: train one (vui_notebook.ipynb) or pass --model")
    return best[1]


def default_model_and_lm(weights: str | None, lm: str | None, no_lm: bool = False,
                         results_dir: str | None = None) -> tuple[str, str | None]:
    """The (weights, LM) a command uses when not told: the shipped model, and with it the shipped LM.

    An explicit `weights` is used as given (no LM unless `lm` names one); with no shipped model the
    best model in `results_dir` (lowest validation loss) is used. Raises FileNotFoundError when
    there is no model at all.
    """
    if weights is None:
        if os.path.exists(SHIPPED_MODEL) and results_dir is None:
            weights = SHIPPED_MODEL
            if lm is None and os.path.exists(SHIPPED_LM):
                lm = SHIPPED_LM
        else:
            weights = best_saved_model(results_dir or os.path.dirname(SHIPPED_MODEL))
    return weights, None if no_lm else lm


def decoding_settings(lm=None, beam: int | None = None, alpha: float | None = None,
                      beta: float | None = None) -> tuple[int, float, float]:
    """(beam, alpha, beta) to decode with: the values given, else the LM's tuned ones (saved by
    train_recipe.py), else beam 32 with an LM and 0 (greedy) without, alpha 0.5, beta 1.0."""
    tuned = getattr(lm, "tuned", None) or {}
    if beam is None:
        beam = int(tuned.get("beam", 32)) if lm is not None else 0
    return (beam, alpha if alpha is not None else tuned.get("alpha", 0.5),
            beta if beta is not None else tuned.get("beta", 1.0))


def is_greedy(beam: int, lm=None) -> bool:
    """Whether decode() with these settings decodes greedily (beam 0 and no LM)."""
    return beam <= 0 and lm is None


def decode(probs: np.ndarray, beam: int = 0, lm=None, alpha: float = 0.5, beta: float = 1.0) -> str:
    """One utterance's softmax outputs (frames, 29) -> text: greedy (spaces normalised) when beam is
    0 and there is no LM, else prefix beam search (with `lm` if given). The one decoding path of
    transcribe.py, evaluate.py and the notebook."""
    if is_greedy(beam, lm):
        return " ".join(greedy_decode(probs).split())
    return prefix_beam_search(probs, beam_width=max(beam, 1), lm=lm, alpha=alpha, beta=beta)


def show_transcriptions(weights_path: str, corpus_json: str, indices: Sequence[int] = (0, 1, 2),
                        lm_path: str | None = None, beam: int | None = None) -> list[dict]:
    """Transcribe some utterances of a corpus file with a saved model (its own feature statistics):
    print the true, the greedy and (with an LM) the beam-search transcript, with an audio player.

    The LM's tuned alpha/beta/beam (saved by train_recipe.py) are used when present. Returns one
    dict per utterance: path, true, greedy and, with an LM, lm.
    """
    from data_generator import read_corpus

    if not os.path.exists(weights_path):
        print(f"No model at {weights_path}: `python -m vui.train_recipe` trains the shipped one.")
        return []
    transcriber = Transcriber(weights_path)
    lm = None
    if lm_path is not None:
        from vui.language_model import LanguageModel

        lm = LanguageModel(lm_path)
    beam, alpha, beta = decoding_settings(lm, beam)
    corpus = read_corpus(corpus_json)
    rows = []
    for index in indices:
        if not 0 <= index < len(corpus.audio_paths):
            raise IndexError(f"{corpus_json} has {len(corpus.audio_paths)} usable utterances; no index {index}")
        path = corpus.audio_paths[index]
        probs = transcriber.probabilities([transcriber.features(path)])[0]
        row = {"path": path, "true": corpus.texts[index], "greedy": decode(probs)}
        if lm is not None:
            row["lm"] = decode(probs, beam, lm, alpha, beta)
        try:
            from IPython.display import Audio, display

            display(Audio(path))
        except ImportError:
            pass
        lines = [f"True:        {row['true']}", f"Greedy:      {row['greedy']}"]
        if lm is not None:
            lines.append(f"Beam + LM:   {row['lm']}")
        print("-" * 80 + "\n" + os.path.basename(path) + "\n" + "\n".join(lines))
        rows.append(row)
    return rows


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
    beam_width: int = 32,
    lm=None,
    alpha: float = 0.5,
    beta: float = 1.0,
    length: int | None = None,
) -> str:
    """CTC prefix beam search over one utterance's softmax output, shape (frames, 29).

    Keeps the `beam_width` most likely prefixes, each scored as
    ``log P_ctc(prefix) + alpha * log P_lm(words) + beta * n_words`` where the word language model
    `lm` (a language_model.LanguageModel, optional) scores each word as the space after it is
    emitted, and the last word and end of sentence at the end. Without an LM and with a wide enough
    beam this finds the most probable labelling (summed over its alignments); with beam 1 and no LM
    it is greedy decoding whenever every frame has one class above one half.
    """
    from char_map import INDEX_TO_CHAR

    log_probs = np.log(np.asarray(probs[:length], dtype=np.float64) + 1e-30)
    order = np.argsort(-log_probs, axis=1)[:, :MAX_CANDIDATES]
    use_lm = lm is not None
    # prefix -> [log P(prefix, ending in blank), log P(prefix, ending in a character)]
    beam: dict[str, list[float]] = {"": [0.0, NEG_INF]}
    lm_cache: dict[str, tuple[object, float]] = {"": (lm.begin_state() if use_lm else None, 0.0)}

    def lm_extend(prefix: str, new: str) -> None:
        """LM state and score of `new` = prefix + one character."""
        if new in lm_cache:
            return
        state, score = lm_cache[prefix]
        if use_lm and new.endswith(" ") and prefix and not prefix.endswith(" "):
            word = prefix.rsplit(" ", 1)[-1]
            log10p, state = lm.score_word(state, word)
            score += alpha * LN10 * log10p + beta
        lm_cache[new] = (state, score)

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
        scored = sorted(nxt.items(), key=lambda kv: _lse(*kv[1]) + lm_cache[kv[0]][1], reverse=True)
        beam = dict(scored[:beam_width])

    def final_score(prefix: str) -> float:
        state, score = lm_cache[prefix]
        if use_lm:
            word = prefix.rstrip(" ").rsplit(" ", 1)[-1] if not prefix.endswith(" ") else ""
            if word:
                log10p, state = lm.score_word(state, word)
                score += alpha * LN10 * log10p + beta
            score += alpha * LN10 * lm.score_end(state)
        return _lse(*beam[prefix]) + score

    best = max(beam, key=final_score)
    return " ".join(best.split())
