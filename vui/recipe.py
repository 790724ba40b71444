"""vui's shipped recipe as configuration: the model, its training settings and the data split.

Importable without running anything (the notebook's last section builds the recipe's model from
here); ``python -m vui.train_recipe`` is the command that trains it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras

from data_generator import read_corpus
from sample_models import build_model
from train_utils import seed_optimizer
from vui.decoding import DEFAULT_BEAM_WITH_LM
from vui.provenance import librispeech_speaker
from vui.saved_model import SHIPPED_LM, SHIPPED_MODEL

HELD_OUT_SPEAKERS: tuple[str, ...] = ("1089", "1188", "121", "1221", "1284", "1320", "1580", "1995")
# LibriSpeech speakers kept for the project's independent evaluation (../shared/corpora/RESERVED_SPEAKERS.txt):
# no utterance of theirs may train, tune or build the LM, from any subset or source.
RESERVED_SPEAKERS: tuple[str, ...] = (
    "19", "32", "118", "163", "226", "332", "460", "669", "1088", "1737", "1867", "1898", "1970", "2136",
    "2416", "3242", "3526", "3664", "3947", "4640", "4680", "5789", "6272", "6848", "7312", "7367", "7859", "8629")
MODEL_NAME: str = os.path.basename(SHIPPED_MODEL).split(".")[0]  # vui_model (weights: vui_model.weights.h5)
LM_NAME: str = os.path.basename(SHIPPED_LM)  # vui_lm.arpa
# The recipe, chosen by experiment (BENCHMARKS.md, "The shipped model and its ablations"):
# every setting is here.
RECIPE: dict = {
    "builder": "conv_bigru_model",
    "kwargs": {"filters": 256, "kernel_size": 11, "conv_stride": 3, "conv_layers": 2, "units": 192,
               "recur_layers": 3, "dropout": 0.2, "spec_augment": True, "cell": "lstm"},
    "epochs": 32,
    "minibatch_size": 20,
    "optimizer": "adam",  # or "seed_sgd": the capstone's SGD (ablation)
    "peak_learning_rate": 1e-3,
    "warmup_steps": 300,
    "keep_best": True,
    # training utterances up to this long, trained whole (validation stays <= MAX_DURATION_S)
    "max_duration_s": 35.0,
    # then the training utterances over split_over_s are cut at pauses into pieces no longer (vui.split_long,
    # aligned by the model just trained), and training goes on from that model for split_epochs on the
    # utterances up to split_over_s and the pieces, its own warm-up and decay peaking at
    # split_peak_learning_rate; None: the whole-utterance training alone
    "split_over_s": 15.0,
    "split_epochs": 24,
    "split_peak_learning_rate": 3e-4,
    "pretrain_epochs": 4,  # with train_recipe --pretrain: epochs on the pre-training corpus first
    "speed_perturbation": [],  # e.g. [0.9, 1.0, 1.1]: each training utterance read at one, drawn per epoch
    "beam": DEFAULT_BEAM_WITH_LM,  # LM decoding's beam; alpha and beta are tuned on validation
    # the LM: the training transcripts' trigram mixed with CMU's general en-US model cut to this size
    # (vui.lm_mix, vui.pocketsphinx_lm; building it needs pocketsphinx); None: the transcripts alone
    "general_lm": {"vocabulary": 20000, "bigrams": 100000, "weight": 0.5},
}


def recipe_schedule(total_steps: int, peak_learning_rate: float = 1e-3, warmup_steps: int = 300,
                    final_fraction: float = 0.05) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up from 0 to `peak_learning_rate` over `warmup_steps` updates (at most a quarter
    of the run), then cosine decay to `final_fraction` of the peak at `total_steps`."""
    warmup_steps = min(warmup_steps, max(total_steps // 4, 1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(total_steps - warmup_steps, 1), alpha=final_fraction,
        warmup_target=peak_learning_rate, warmup_steps=warmup_steps)


def recipe_optimizer(total_steps: int, peak_learning_rate: float = 1e-3, warmup_steps: int = 300,
                     final_fraction: float = 0.05, clipnorm: float = 5.0) -> keras.optimizers.Optimizer:
    """The shipped model's optimizer: Adam on recipe_schedule (total_steps = epochs x steps per
    epoch), gradients clipped to norm `clipnorm`."""
    schedule = recipe_schedule(total_steps, peak_learning_rate, warmup_steps, final_fraction)
    return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clipnorm)


def recipe_train_args(train_json: str, epochs: int = RECIPE["epochs"], recipe: dict = RECIPE) -> dict:
    """train_model arguments of the recipe for a training corpus: batch size, Adam with warm-up and
    cosine decay over all `epochs`' updates, best-checkpoint selection. The notebook uses these too."""
    n_train = len(read_corpus(train_json, recipe["max_duration_s"]).audio_paths)
    steps_per_epoch = math.ceil(n_train / recipe["minibatch_size"])
    if recipe["optimizer"] == "seed_sgd":
        optimizer = seed_optimizer()
    elif recipe["optimizer"] == "adam":
        optimizer = recipe_optimizer(epochs * steps_per_epoch, recipe["peak_learning_rate"], recipe["warmup_steps"])
    else:
        raise ValueError(f"recipe optimizer must be 'adam' or 'seed_sgd', not {recipe['optimizer']!r}")
    return {"minibatch_size": recipe["minibatch_size"], "optimizer": optimizer, "epochs": epochs,
            "keep_best": recipe["keep_best"], "speed_perturbation": recipe["speed_perturbation"],
            "max_duration": recipe["max_duration_s"]}


def recipe_model(input_dim: int, recipe: dict = RECIPE, verbose: bool = False) -> keras.Model:
    """The recipe's acoustic model for `input_dim` features."""
    return build_model({"builder": recipe["builder"], "kwargs": {"input_dim": input_dim, **recipe["kwargs"]}}, verbose)


class ReservedSpeakerError(ValueError):
    """A corpus names an utterance of a speaker kept for the independent evaluation."""


def reserved_utterances(audio_paths: Sequence[str]) -> list[str]:
    """The paths among `audio_paths` whose LibriSpeech file name names one of RESERVED_SPEAKERS."""
    reserved = set(RESERVED_SPEAKERS)
    return [path for path in audio_paths if librispeech_speaker(path) in reserved]


def refuse_reserved_speakers(audio_paths: Sequence[str], source: str) -> None:
    """Raise ReservedSpeakerError, naming `source` (the corpus file or folder), the count and the first
    utterance, if any of `audio_paths` is an utterance of RESERVED_SPEAKERS."""
    found = reserved_utterances(audio_paths)
    if found:
        raise ReservedSpeakerError(
            f"{source}: {len(found)} utterance(s) of reserved speakers (e.g. {found[0]}); the speakers in "
            "vui.recipe.RESERVED_SPEAKERS are kept for the independent evaluation: never train, tune or build "
            "the LM on them")
