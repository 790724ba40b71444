"""Train vui's shipped model from scratch: corpus files, acoustic model, language model, evaluation.

One command reproduces ``results/vui_model.*`` and ``results/vui_lm.arpa``::

    python -m vui.train_recipe                      # LibriSpeech test-clean, 32 speakers / 8 held out
    python -m vui.train_recipe --train dev-clean --valid test-clean   # after vui.download
    python -m vui.train_recipe --set 'speed_perturbation=[0.9,1.0,1.1]' --name sp --results-dir runs/sp   # a variant
    python -m vui.train_recipe --lm-only            # the trained model as it is; rebuild and tune the LM
    python -m vui.train_recipe --librispeech FULL --add-train MORE/dev-clean   # the shipped model's corpus
    python -m vui.train_recipe --pretrain data/synth-big   # pre-train on a vui.synth_corpus corpus, then fine-tune
    python -m vui.train_recipe --init-weights results/vui_model.weights.h5 --name again --results-dir runs/again

Data: with ``--valid`` unset, ``--train``'s speakers are split: the 8 speakers of HELD_OUT_SPEAKERS
(test-clean's 1089 1188 121 1221 1284 1320 1580 1995) are the validation set, never trained on and
the only data anything is tuned on; the others are the training set. Validation keeps the
utterances up to 10 s (MAX_DURATION_S) whatever RECIPE["max_duration_s"] lets train. Training has two
stages: the model first trains on whole utterances up to RECIPE["max_duration_s"] (saved in
--data-dir as ``<name>_whole.*``); that model then aligns each training utterance over
RECIPE["split_over_s"] to its transcript and vui.split_long cuts it at pauses into pieces, and
training goes on from it on the short utterances and the pieces for RECIPE["split_epochs"] (the model
saved in --results-dir; ``--set split_over_s=null`` stops after the first stage). ``--add-train``
adds folders of more LibriSpeech-layout speech (less the held-out speakers). A corpus that holds an
utterance of vui.recipe.RESERVED_SPEAKERS (kept for an independent evaluation) is refused before
anything is written or trained. The recipe (model, optimizer, schedule, epochs) is the same for
every corpus. ``--pretrain FOLDER`` first trains the same model on that folder's speech (e.g. many
hours of vui.synth_corpus's eSpeak speech) for RECIPE["pretrain_epochs"] epochs under its own
warm-up and decay, saved as ``<name>_pretrain.*``, and the real training starts from its weights
(use a --name or --results-dir of its own: a run's resume state does not record where it started).
Training resumes if interrupted (train_model), and
the LM is estimated from the training transcripts only (build_lm_from_corpora refuses any
validation sentence), then mixed with CMU's general en-US model when pocketsphinx is installed
(RECIPE["general_lm"]). The last step prints the table BENCHMARKS.md reports: validation loss,
greedy CER/WER, beam search + LM CER/WER, training minutes and parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections.abc import Sequence

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
from create_desc_json import scan_corpus, split_by_speaker, write_corpus
from data_generator import read_corpus
from train_utils import train_model
from utils import MAX_DURATION_S, SPECTROGRAM_DIM
from vui.evaluate import corpus_probabilities, evaluate_decoding, tune_lm_weights
from vui.language_model import build_lm_from_corpora
from vui.lm_mix import write_mixed
from vui.lm_scorer import LanguageModel, save_tuned
from vui.pocketsphinx_lm import export as export_general_lm
from vui.recipe import (HELD_OUT_SPEAKERS, LM_NAME, MODEL_NAME, RECIPE, librispeech_speaker, recipe_model,
                        recipe_train_args, refuse_reserved_speakers)
from vui.split_long import split_corpus
from vui.transcriber import Transcriber

LIBRISPEECH_DIR: str = os.environ.get("LIBRISPEECH_DIR", os.path.join("..", "shared", "corpora", "LibriSpeech"))


def folder_entries(folder: str, option: str) -> list[dict]:
    """The corpus entries of a folder in LibriSpeech layout, less the held-out speakers' utterances;
    `option` (the command-line option that named the folder) goes into the error for a missing one."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder ({option} takes a folder in LibriSpeech layout)")
    return [e for e in scan_corpus(folder).entries if librispeech_speaker(e["key"]) not in HELD_OUT_SPEAKERS]


def make_corpus_files(librispeech_dir: str, train: str, valid: str | None, out_dir: str,
                      add_train: Sequence[str] = ()) -> tuple[str, str]:
    """Write train/valid JSON-lines corpus files (speaker split of `train` when `valid` is None).

    Validation keeps utterances up to MAX_DURATION_S, so its set does not change with the training
    length limit. `add_train`: more folders in LibriSpeech layout whose utterances also train, less
    the held-out speakers' and any utterance already in the corpus (by file name). Raises
    ReservedSpeakerError, writing nothing, if either set holds an utterance of a reserved speaker."""
    train_dir = os.path.join(librispeech_dir, train)
    if not os.path.isdir(train_dir):
        raise FileNotFoundError(f"{train_dir}: no such LibriSpeech folder (vui.download fetches it, "
                                "or pass --librispeech)")
    entries = scan_corpus(train_dir).entries
    if valid is None:
        train_entries, valid_entries = split_by_speaker(entries, train_dir, valid_speaker_ids=list(HELD_OUT_SPEAKERS))
    else:
        train_entries, valid_entries = entries, scan_corpus(os.path.join(librispeech_dir, valid)).entries
    valid_entries = [e for e in valid_entries if e["duration"] <= MAX_DURATION_S]
    seen = {os.path.basename(e["key"]) for e in train_entries + valid_entries}
    for folder in add_train:
        added = [e for e in folder_entries(folder, "--add-train") if os.path.basename(e["key"]) not in seen]
        seen.update(os.path.basename(e["key"]) for e in added)
        train_entries += added
        print(f"{folder}: {len(added)} more training utterances", flush=True)
    train_sources = ", ".join([train_dir, *add_train])
    refuse_reserved_speakers([e["key"] for e in train_entries], f"training utterances of {train_sources}")
    valid_source = os.path.join(librispeech_dir, valid) if valid else train_dir
    refuse_reserved_speakers([e["key"] for e in valid_entries], f"validation utterances of {valid_source}")
    os.makedirs(out_dir, exist_ok=True)
    train_json, valid_json = os.path.join(out_dir, "recipe_train.json"), os.path.join(out_dir, "recipe_valid.json")
    write_corpus(train_json, train_entries)
    write_corpus(valid_json, valid_entries)
    hours = sum(e["duration"] for e in train_entries) / 3600
    print(f"corpus: {len(train_entries)} training ({hours:.2f} h) / {len(valid_entries)} validation utterances",
          flush=True)
    return train_json, valid_json


def pretrain_corpus_file(folder: str, out_dir: str) -> str:
    """The JSON-lines corpus file of a pre-training folder in LibriSpeech layout (less any held-out
    speaker's utterance); refuses reserved speakers, writing nothing."""
    entries = folder_entries(folder, "--pretrain")
    if not entries:
        raise ValueError(f"{folder}: no utterances to pre-train on")
    refuse_reserved_speakers([e["key"] for e in entries], f"pre-training utterances of {folder}")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "pretrain_train.json")
    write_corpus(path, entries)
    hours = sum(e["duration"] for e in entries) / 3600
    print(f"pre-training corpus: {len(entries)} utterances ({hours:.2f} h)", flush=True)
    return path


def split_training_corpus(train_json: str, aligner_weights: str, out_dir: str, over_s: float) -> str:
    """out_dir/recipe_train_split.json: the training corpus with each utterance over `over_s` replaced
    by its pieces (vui.split_long, aligned by `aligner_weights`; written under out_dir/pieces). A file
    already there, from an interrupted run, is used as it is. Refuses reserved speakers."""
    path = os.path.join(out_dir, "recipe_train_split.json")
    if os.path.isfile(path):
        print(f"split corpus: {path} (already made)", flush=True)
        return path
    pieces_dir = os.path.join(out_dir, "pieces")
    summary = split_corpus(train_json, pieces_dir, aligner_weights, over_s)
    corpus = read_corpus(train_json)
    entries = [{"key": key, "duration": duration, "text": text}
               for key, duration, text in zip(corpus.audio_paths, corpus.durations, corpus.texts) if duration <= over_s]
    pieces = scan_corpus(pieces_dir, progress=False).entries if summary["pieces"] else []
    entries += pieces
    refuse_reserved_speakers([e["key"] for e in entries], f"training utterances and pieces of {train_json}")
    write_corpus(path, entries)
    print(f"split corpus: {summary['split']} of {summary['utterances']} utterances over {over_s:g} s cut into "
          f"{len(pieces)} pieces; {len(entries)} training utterances "
          f"({sum(e['duration'] for e in entries) / 3600:.2f} h)", flush=True)
    return path


def train(train_json: str, valid_json: str, results_dir: str, recipe: dict = RECIPE, name: str = MODEL_NAME,
          verbose: int = 2, init_weights: str | None = None) -> dict:
    """Train the recipe's model, from `init_weights` (a .weights.h5 of the same model) when given;
    returns its history. Resumes an interrupted run of the same recipe. Refuses corpora that name a
    reserved speaker."""
    for corpus_json in (train_json, valid_json):
        refuse_reserved_speakers(read_corpus(corpus_json).audio_paths, corpus_json)
    net = recipe_model(SPECTROGRAM_DIM, recipe)
    if init_weights:
        net.load_weights(init_weights)
    return train_model(net, f"{name}.pickle", f"{name}.weights.h5", train_json=train_json,
                       valid_json=valid_json, verbose=verbose, results_dir=results_dir,
                       **recipe_train_args(train_json, recipe["epochs"], recipe))


def build_lm(train_json: str, valid_json: str, results_dir: str, general: dict | None = RECIPE["general_lm"],
             data_dir: str = os.path.join("data", "recipe")) -> str:
    """The recipe's LM at results_dir/LM_NAME: the trigram of the training transcripts (validation
    sentences refused), mixed with CMU's general en-US model as `general` says (its vocabulary,
    bigrams and the transcripts' weight) when pocketsphinx, which holds that model, is installed."""
    refuse_reserved_speakers(read_corpus(train_json).audio_paths, train_json)
    path = os.path.join(results_dir, LM_NAME)
    if general:
        general_lm = os.path.join(data_dir, f"en_us_{general['vocabulary']}_{general['bigrams']}.arpa")
        try:
            export_general_lm(general_lm, general["vocabulary"], general["bigrams"])
        except ImportError as exc:
            print(f"{exc}; the LM is the training transcripts' alone", flush=True)
            general = None
    transcripts_lm = os.path.join(data_dir, "transcripts_lm.arpa") if general else path
    build_lm_from_corpora([train_json], transcripts_lm, exclude_jsons=[valid_json], drop_excluded=True)
    if general:
        write_mixed(transcripts_lm, general_lm, general["weight"], path)
    return path


def evaluate_model(weights: str, valid_json: str, lm_path: str | None, beam: int = RECIPE["beam"]) -> dict:
    """Greedy and (with an LM) beam+LM CER/WER on the validation corpus; LM weights tuned there and
    saved with the LM."""
    transcriber = Transcriber(weights)
    paths, texts, probs = corpus_probabilities(transcriber, valid_json)
    greedy = evaluate_decoding(paths, texts, probs)
    if lm_path is None:
        return {"greedy": greedy, "params": transcriber.model.count_params()}
    lm = LanguageModel(lm_path)
    options, with_lm = tune_lm_weights(texts, probs, lm, beam)
    save_tuned(lm_path, options.tuned_record(valid_json))
    return {"greedy": greedy, "lm": with_lm, "alpha": options.alpha, "beta": options.beta,
            "unk_offset": options.unk_offset,
            "params": transcriber.model.count_params()}


def apply_overrides(recipe: dict, settings: list[str]) -> dict:
    """The recipe with ``key=value`` settings applied (model arguments or recipe keys), for ablations:
    e.g. ``spec_augment=false``, ``optimizer=seed_sgd``, ``conv_stride=2``."""
    recipe = dict(recipe, kwargs=dict(recipe["kwargs"]))
    for setting in settings:
        key, sep, text = setting.partition("=")
        if not sep:
            raise ValueError(f"--set takes key=value, not {setting!r}")
        try:
            value = json.loads(text.lower() if text.lower() in ("true", "false", "null") else text)
        except ValueError:
            value = text
        if key in recipe["kwargs"]:
            recipe["kwargs"][key] = value
        elif key in recipe and key != "kwargs":
            recipe[key] = value
        else:
            raise ValueError(f"unknown recipe setting {key!r}; model: {sorted(recipe['kwargs'])}, "
                             f"recipe: {sorted(k for k in recipe if k != 'kwargs')}")
    return recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--librispeech", default=LIBRISPEECH_DIR, help="folder holding the LibriSpeech subsets")
    parser.add_argument("--train", default="test-clean", help="training subset (default: test-clean, speaker split)")
    parser.add_argument("--valid", help="validation subset (default: 8 held-out speakers of --train)")
    parser.add_argument("--add-train", action="append", default=[], metavar="FOLDER",
                        help="another folder in LibriSpeech layout to train on too (repeatable)")
    parser.add_argument("--results-dir", default="results", help="where the model and LM go")
    parser.add_argument("--data-dir", default=os.path.join("data", "recipe"), help="where the corpus files go")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="epochs (default: the recipe's)")
    parser.add_argument("--name", default=MODEL_NAME, help="file name stem of the saved model")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one recipe setting (ablations), e.g. --set spec_augment=false")
    parser.add_argument("--pretrain", metavar="FOLDER", help="pre-train on this folder (LibriSpeech layout, e.g. "
                        "vui.synth_corpus's) for the recipe's pretrain_epochs, then train from its weights")
    parser.add_argument("--init-weights", metavar="WEIGHTS", help="start training from this .weights.h5 of the "
                        "recipe's model (e.g. results/vui_model.weights.h5) instead of from scratch")
    parser.add_argument("--no-lm", action="store_true", help="skip the language model: greedy evaluation only")
    parser.add_argument("--lm-only", action="store_true", help="keep the trained model in --results-dir as it is: "
                        "only build the LM, tune its weights and evaluate (after a change to the LM)")
    args = parser.parse_args(argv)

    try:
        recipe = apply_overrides(dict(RECIPE, epochs=args.epochs), args.set)
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    train_json, valid_json = make_corpus_files(args.librispeech, args.train, args.valid, args.data_dir, args.add_train)
    weights = os.path.join(args.results_dir, f"{args.name}.weights.h5")
    if args.lm_only:
        try:
            with open(os.path.join(args.results_dir, f"{args.name}.pickle"), "rb") as f:
                history = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            parser.error(f"--lm-only needs a trained model in {args.results_dir}: {exc}")
    else:
        init_weights = args.init_weights
        if init_weights and not os.path.isfile(init_weights):
            parser.error(f"--init-weights {init_weights}: no such file")
        if args.pretrain and init_weights:
            parser.error("--pretrain and --init-weights both set where training starts: give one")
        if args.pretrain:
            pretrain_json = pretrain_corpus_file(args.pretrain, args.data_dir)
            pretrained = train(pretrain_json, valid_json, args.results_dir, dict(recipe, epochs=recipe["pretrain_epochs"]),
                               f"{args.name}_pretrain")
            pretrain_minutes = sum(pretrained.get("epoch_seconds", [])) / 60
            print(f"pre-trained {len(pretrained['loss'])} epochs ({pretrain_minutes:.1f} min): "
                  f"validation loss {pretrained['val_loss'][-1]:.1f}", flush=True)
            init_weights = os.path.join(args.results_dir, f"{args.name}_pretrain.weights.h5")
        if recipe["split_over_s"]:
            whole_name = f"{args.name}_whole"
            whole = train(train_json, valid_json, args.data_dir, recipe, whole_name, init_weights=init_weights)
            print(f"whole-utterance training: {len(whole['loss'])} epochs "
                  f"({sum(whole.get('epoch_seconds', [])) / 60:.1f} min), best validation loss "
                  f"{min(whole['val_loss']):.1f}", flush=True)
            init_weights = os.path.join(args.data_dir, f"{whole_name}.weights.h5")
            split_json = split_training_corpus(train_json, init_weights, args.data_dir, recipe["split_over_s"])
            history = train(split_json, valid_json, args.results_dir,
                            dict(recipe, epochs=recipe["split_epochs"], max_duration_s=recipe["split_over_s"],
                                 peak_learning_rate=recipe["split_peak_learning_rate"]),
                            args.name, init_weights=init_weights)
            history = {**history, "epoch_seconds": [*whole.get("epoch_seconds", []), *history.get("epoch_seconds", [])]}
        else:
            history = train(train_json, valid_json, args.results_dir, recipe, args.name, init_weights=init_weights)
    minutes = sum(history.get("epoch_seconds", [])) / 60
    lm_path = None if args.no_lm else build_lm(train_json, valid_json, args.results_dir, recipe["general_lm"],
                                               args.data_dir)
    result = evaluate_model(weights, valid_json, lm_path, recipe["beam"])
    print(f"\nwall time {(time.perf_counter() - start) / 60:.1f} min (training epochs {minutes:.1f} min)")
    changed = ", ".join(args.set) or "the recipe"
    print("| model | settings | params | epochs | best val loss | greedy CER | greedy WER | LM CER | LM WER | training min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    lm_cells = f"{result['lm'].cer:.3f} | {result['lm'].wer:.3f}" if lm_path else "- | -"
    print(f"| {args.name} | {changed} | {result['params']:,} | {len(history['val_loss'])} | {min(history['val_loss']):.1f} | "
          f"{result['greedy'].cer:.3f} | {result['greedy'].wer:.3f} | {lm_cells} | {minutes:.1f} |")
    if lm_path:
        print(f"LM decoding: beam {recipe['beam']}, alpha {result['alpha']}, beta {result['beta']}, "
              f"unknown-word offset {result['unk_offset']} (tuned on validation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
