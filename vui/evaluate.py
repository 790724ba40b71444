"""Evaluating trained models: character and word error rates (CER/WER, jiwer) over a whole corpus
file with greedy, beam or beam + language-model decoding (vui.decoding.DecodingOptions); loss
histories from results/*.pickle (vui.display plots them) and a comparison table.

    python -m vui.evaluate --corpus valid_corpus.json      # the shipped model and LM (results/vui_model.weights.h5)
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json --lm results/lm.arpa --beam 32
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json --lm results/lm.arpa --tune
    python -m vui.evaluate --corpus valid_corpus.json --tune --alphas 0.6 0.8 --save-tuned   # the shipped LM's weights

The model is rebuilt from the description saved beside its weights (results/model_end.json), so no
model call needs retyping. Inference is batched (utterances sorted by length, so little padding);
the softmax outputs are computed once and every decoding reuses them. ``--report`` writes one line
per utterance (TSV). ``--tune`` searches the LM weight, word bonus and unknown-word offset on the
corpus given, which must be the validation split, never the test set; ``--save-tuned`` records the
best in the LM's sidecar, where every command takes its defaults from.
"""

from __future__ import annotations

import argparse
import filecmp
import glob
import itertools
import os
import pickle
import sys
import time
from dataclasses import dataclass, replace

import jiwer
import numpy as np
from tqdm.auto import tqdm

from data_generator import read_corpus
from utils import write_atomic
from vui.decoding import GREEDY, DecodingOptions, add_decoding_arguments, decode
from vui.language_model import check_lm_excludes, sidecar_path
from vui.lm_scorer import LanguageModel, save_tuned
from vui.saved_model import ModelFileError, default_model_and_lm, description_path, read_description, weights_of
from vui.transcriber import Transcriber


def _same_corpus(a: str, b: str) -> bool:
    """Whether two corpus-file paths name the same file, or files with the same contents."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def validated_on(results_dir: str, name: str) -> str | None:
    """The validation corpus file that results/<name>'s losses were measured on, from the description
    train_model saved beside them (None when there is none)."""
    try:
        description = read_description(weights_of(results_dir, name))
    except ModelFileError:
        return None
    training = description.get("training") if isinstance(description, dict) else None
    return training.get("valid_json") if isinstance(training, dict) else None


def load_histories(results_dir: str = "results", valid_json: str | None = None) -> dict[str, dict]:
    """{model name: {'loss': [...], 'val_loss': [...]}} for every results/<name>.pickle, sorted by name.

    With `valid_json`, only models whose validation losses were measured on that corpus (same file or
    same contents; models saved without a description are kept): losses on different validation sets
    do not compare, e.g. the shipped vui_model (LibriSpeech) beside models trained on the synthetic corpus.
    """
    histories = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(results_dir), "*.pickle"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if valid_json is not None:
            measured_on = validated_on(results_dir, name)
            if measured_on is not None and not _same_corpus(measured_on, valid_json):
                continue
        with open(path, "rb") as f:
            history = pickle.load(f)
        if history.get("loss"):
            histories[name] = history
    return histories


# The seed's validation losses after its 20 epochs (trained on dev-clean, validated on test-clean).
SEED_FINAL_VAL_LOSS: dict[str, float] = {"model_0": 758.4, "model_1": 141.7, "model_2": 149.3, "model_3": 131.2,
                                         "model_4": 144.7, "model_end": 121.0}


def training_table(results_dir: str = "results", valid_json: str | None = None,
                   reference: dict[str, float] = SEED_FINAL_VAL_LOSS) -> str:
    """A Markdown table of the trained models in `results_dir` (those validated on `valid_json`, see
    load_histories): parameters, epochs, median seconds per epoch, last train/val loss, best val loss
    and its epoch, and the `reference` validation loss (the seed's after 20 epochs) where it has one."""
    rows = ["| model | params | epochs | median s/epoch | last train / val loss | best val loss (epoch) | seed's val loss after 20 |",
            "|---|---|---|---|---|---|---|"]
    for name, h in load_histories(results_dir, valid_json).items():
        try:
            params = f"{read_description(weights_of(results_dir, name))['params']:,}"
        except (ModelFileError, KeyError):
            params = "-"
        seconds = h.get("epoch_seconds") or []
        median = f"{float(np.median(seconds)):.0f}" if seconds else "-"
        best = min(h["val_loss"])
        rows.append(f"| {name} | {params} | {len(h['loss'])} | {median} | {h['loss'][-1]:.1f} / {h['val_loss'][-1]:.1f} "
                    f"| {best:.1f} ({h['val_loss'].index(best) + 1}) | {reference.get(name, '-')} |")
    return "\n".join(rows)


def summarize_histories(histories: dict[str, dict]) -> str:
    """A few sentences ranking the models by their best validation loss, and flagging over-fitting."""
    if not histories:
        return "No trained models yet."
    ranked = sorted(histories.items(), key=lambda kv: min(kv[1]["val_loss"]))
    lines = ["Models ranked by their best validation loss (lower is better):"]
    for rank, (name, h) in enumerate(ranked, 1):
        best = min(h["val_loss"])
        epoch = h["val_loss"].index(best) + 1
        gap = h["val_loss"][-1] - h["loss"][-1]
        lines.append(
            f"{rank}. {name}: best val loss {best:.1f} (epoch {epoch} of {len(h['val_loss'])}), "
            f"last train/val loss {h['loss'][-1]:.1f}/{h['val_loss'][-1]:.1f} (gap {gap:+.1f})"
        )
    rising = [name for name, h in histories.items() if len(h["val_loss"]) >= 3 and h["val_loss"][-1] > min(h["val_loss"]) * 1.05]
    if rising:
        lines.append("Validation loss ended above its best (over-fitting or instability) for: " + ", ".join(rising) + ".")
    return "\n".join(lines)


# --- error rates over a corpus ------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Error rates of one decoding over a corpus, with the per-utterance hypotheses."""

    cer: float
    wer: float
    references: list[str]
    hypotheses: list[str]
    paths: list[str]
    decode_seconds: float = 0.0
    options: DecodingOptions = GREEDY


def error_rates(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """(CER, WER) over whole lists, as jiwer computes them (errors / reference length)."""
    return float(jiwer.cer(references, hypotheses)), float(jiwer.wer(references, hypotheses))


def corpus_probabilities(transcriber: Transcriber, corpus_json: str, batch_size: int = 16,
                         progress: bool = True) -> tuple[list[str], list[str], list[np.ndarray]]:
    """(paths, texts, softmax outputs (frames, 29) each) for every usable utterance of a corpus file
    (any duration)."""
    corpus = read_corpus(corpus_json)
    if not corpus.audio_paths:
        raise ValueError(f"{corpus_json}: no usable utterances")
    order = np.argsort(corpus.durations)  # batches of similar length: little padding
    probs: list[np.ndarray | None] = [None] * len(order)
    with tqdm(total=len(order), desc="Inference", unit="utt", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            feats = [transcriber.features(corpus.audio_paths[i]) for i in idx]
            for i, p in zip(idx, transcriber.probabilities(feats)):
                probs[i] = p
            bar.update(len(idx))
    return corpus.audio_paths, corpus.texts, probs


def decode_all(probs: list[np.ndarray], options: DecodingOptions = GREEDY, lm: LanguageModel | None = None,
               progress: bool = False) -> list[str]:
    """Decode every utterance's softmax outputs as `options` say (`lm`: options.lm_path, loaded)."""
    return [decode(p, options, lm)
            for p in tqdm(probs, desc="Decoding", unit="utt", disable=options.is_greedy or not progress)]


def evaluate_decoding(paths: list[str], texts: list[str], probs: list[np.ndarray],
                      options: DecodingOptions = GREEDY, lm: LanguageModel | None = None,
                      progress: bool = False) -> Evaluation:
    """Decode and score; the options and decoding time are kept with the result."""
    start = time.perf_counter()
    hyps = decode_all(probs, options, lm, progress)
    seconds = time.perf_counter() - start
    cer, wer = error_rates(texts, hyps)
    return Evaluation(cer, wer, list(texts), hyps, list(paths), seconds, options)


TUNE_ALPHAS: tuple[float, ...] = (0.3, 0.5, 0.8, 1.2)  # the grid --tune and tune_lm_weights search
TUNE_BETAS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
TUNE_UNK_OFFSETS: tuple[float, ...] = (-5.0, -10.0, -20.0)


def tune_lm_weights(texts: list[str], probs: list[np.ndarray], lm: LanguageModel, beam: int,
                    alphas: tuple[float, ...] = TUNE_ALPHAS, betas: tuple[float, ...] = TUNE_BETAS,
                    unk_offsets: tuple[float, ...] = TUNE_UNK_OFFSETS,
                    progress: bool = True) -> tuple[DecodingOptions, Evaluation]:
    """Grid search of (alpha, beta, unk_offset) by WER (then CER) on the given (validation)
    utterances, beam search `beam` wide with `lm`: the best options and their evaluation."""
    base = DecodingOptions.for_lm(lm, beam)
    best = None
    grid = list(itertools.product(alphas, betas, unk_offsets))
    for alpha, beta, unk_offset in tqdm(grid, desc="Tuning", disable=not progress):
        options = replace(base, alpha=alpha, beta=beta, unk_offset=unk_offset)
        result = evaluate_decoding([""] * len(texts), texts, probs, options, lm)
        if best is None or (result.wer, result.cer) < (best[1].wer, best[1].cer):
            best = (options, result)
    return best


def write_report(path: str, evaluation: Evaluation) -> None:
    """One TSV line per utterance: audio path, CER, WER, reference, hypothesis (atomically); says where."""
    lines = ["path\tcer\twer\treference\thypothesis"]
    for p, ref, hyp in zip(evaluation.paths, evaluation.references, evaluation.hypotheses):
        cer, wer = error_rates([ref], [hyp])
        lines.append(f"{p}\t{cer:.4f}\t{wer:.4f}\t{ref}\t{hyp}")
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    print(f"per-utterance report: {path}")


def comparison_table(results_dir: str = "results", corpus_json: str = "valid_corpus.json", lm_path: str | None = None,
                     beam: int | None = None, alpha: float | None = None, beta: float | None = None,
                     progress: bool = False, models: list[str] | None = None):
    """A pandas DataFrame: model, parameters, best val loss, greedy CER/WER and (with lm_path) beam+LM CER/WER
    of every saved model in `results_dir` validated on `corpus_json` (see load_histories), or of those
    named in `models` (by file stem, e.g. 'model_end') whatever they were validated on. Decoding
    settings not given are the LM's tuned ones or the defaults (DecodingOptions.for_lm)."""
    import pandas as pd  # a slow import, needed only for this table

    lm = LanguageModel(lm_path) if lm_path else None
    options = DecodingOptions.for_lm(lm, beam, alpha, beta)
    rows = []
    for name, history in load_histories(results_dir, None if models else corpus_json).items():
        if models is not None and name not in models:
            continue
        weights = weights_of(results_dir, name)
        if not (os.path.exists(weights) and os.path.exists(description_path(weights))):
            continue
        if read_description(weights).get("builder") is None:
            print(f"{name}: left out of the error-rate table: it was not built by a sample_models builder, so it "
                  "cannot be rebuilt from its saved files (get_predictions takes the model object itself).")
            continue
        try:
            transcriber = Transcriber(weights)
        except ModelFileError as exc:
            print(f"{name}: left out of the error-rate table: {exc}")
            continue
        paths, texts, probs = corpus_probabilities(transcriber, corpus_json, progress=progress)
        greedy = evaluate_decoding(paths, texts, probs)
        row = {"model": name, "builder": transcriber.description.get("builder"),
               "params": transcriber.model.count_params(), "best val loss": round(min(history["val_loss"]), 1),
               "epochs": len(history["val_loss"]), "greedy CER": round(greedy.cer, 3), "greedy WER": round(greedy.wer, 3)}
        if lm is not None:
            with_lm = evaluate_decoding(paths, texts, probs, options, lm)
            row.update({"LM CER": round(with_lm.cer, 3), "LM WER": round(with_lm.wer, 3)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CER/WER of a trained model over a corpus file")
    parser.add_argument("--weights", help="weights saved by train_model, e.g. results/model_end.h5 "
                        "(default: the shipped model, results/vui_model.weights.h5)")
    parser.add_argument("--corpus", required=True, help="JSON-lines corpus file to evaluate on")
    add_decoding_arguments(parser)
    parser.add_argument("--tune", action="store_true",
                        help="grid-search alpha, beta and unk_offset on this (validation) corpus")
    parser.add_argument("--alphas", type=float, nargs="+", default=list(TUNE_ALPHAS), help="--tune's LM weights")
    parser.add_argument("--betas", type=float, nargs="+", default=list(TUNE_BETAS), help="--tune's word bonuses")
    parser.add_argument("--unk-offsets", type=float, nargs="+", default=list(TUNE_UNK_OFFSETS),
                        help="--tune's unknown-word offsets")
    parser.add_argument("--save-tuned", action="store_true",
                        help="record the tuned weights in the LM's sidecar (<lm>.json): the defaults from then on")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--report", help="per-utterance TSV report to write")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    try:
        args.weights, args.lm = default_model_and_lm(args.weights, args.lm, args.no_lm)
        transcriber = Transcriber(args.weights)
        lm = None
        if args.lm:
            check_lm_excludes(args.lm, args.corpus)
            lm = LanguageModel(args.lm)
        paths, texts, probs = corpus_probabilities(transcriber, args.corpus, args.batch_size, not args.quiet)
    except (ModelFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    options = DecodingOptions.from_args(args, lm)
    if args.tune:
        if lm is None:
            parser.error("--tune needs --lm")
        options, _ = tune_lm_weights(texts, probs, lm, options.beam, tuple(args.alphas), tuple(args.betas),
                                     tuple(args.unk_offsets), progress=not args.quiet)
        print(f"tuned on {args.corpus}: alpha={options.alpha} beta={options.beta} unk_offset={options.unk_offset}")
        if args.save_tuned:
            save_tuned(lm.path, options.tuned_record(args.corpus))
            print(f"saved in {sidecar_path(lm.path)}")
    result = evaluate_decoding(paths, texts, probs, options, lm, progress=not args.quiet)
    print(f"{args.corpus}: {len(texts)} utterances, {options.describe()}: CER {result.cer:.4f}  WER {result.wer:.4f}")
    if args.report:
        write_report(args.report, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
