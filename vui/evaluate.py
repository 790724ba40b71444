"""Evaluating trained models: character and word error rates (CER/WER, jiwer) over a whole corpus
file with greedy, beam or beam + language-model decoding; loss histories from results/*.pickle, the
seed's two-panel loss plot and a comparison table.

    python -m vui.evaluate --corpus valid_corpus.json      # the shipped model and LM (results/vui_model.h5)
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json --lm results/lm.arpa --beam 32
    python -m vui.evaluate --weights results/model_end.h5 --corpus valid_corpus.json --lm results/lm.arpa --tune

The model is rebuilt from the description saved beside its weights (results/model_end.json), so no
model call needs retyping. Inference is batched (utterances sorted by length, so little padding);
the softmax outputs are computed once and every decoding reuses them. ``--report`` writes one line
per utterance (TSV). ``--tune`` searches the LM weight and word bonus on the corpus given, which
must be the validation split, never the test set.
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
from dataclasses import dataclass, field

import numpy as np


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
    from vui.decoding import ModelFileError, read_description

    try:
        description = read_description(os.path.join(results_dir, name + ".h5"))
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


def plot_loss_comparison(results_dir: str = "results", histories: dict[str, dict] | None = None,
                         path: str | None = None) -> None:
    """Training (left) and validation (right) CTC loss per epoch for every saved model, shown (and
    saved to `path` if given). As the seed's notebook did, a second row repeats the plot without
    model_0, whose loss is several times the others' and flattens their curves."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    histories = histories if histories is not None else load_histories(results_dir)
    if not histories:
        raise ValueError(f"no loss histories (*.pickle) in {results_dir}: train a model first")
    rows = [histories]
    if "model_0" in histories and len(histories) > 1:
        rows.append({name: h for name, h in histories.items() if name != "model_0"})
    sns.set_style(style="white")
    fig, axes = plt.subplots(len(rows), 2, figsize=(16, 5 * len(rows)), squeeze=False)
    longest = max(len(h["loss"]) for h in histories.values())
    for row, shown in zip(axes, rows):
        for ax, key, label in ((row[0], "loss", "Training Loss"), (row[1], "val_loss", "Validation Loss")):
            for name, history in shown.items():
                epochs = range(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], marker="o" if longest < 6 else None, label=name)
            ax.set_xlim([1, max(longest, 2)])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Epoch")
            ax.set_ylabel(label + ("" if len(shown) == len(histories) else " (without model_0)"))
            ax.legend()
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    plt.show()


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
    settings: dict = field(default_factory=dict)


def error_rates(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """(CER, WER) over whole lists, as jiwer computes them (errors / reference length)."""
    import jiwer

    return float(jiwer.cer(references, hypotheses)), float(jiwer.wer(references, hypotheses))


def corpus_probabilities(transcriber, corpus_json: str, batch_size: int = 16, progress: bool = True):
    """(paths, texts, softmax outputs) for every usable utterance of a corpus file (any duration)."""
    from tqdm.auto import tqdm

    from data_generator import read_corpus

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


def decode_all(probs, beam: int = 0, lm=None, alpha: float = 0.5, beta: float = 1.0, progress: bool = False) -> list[str]:
    """Decode every utterance: greedy when beam is 0, else prefix beam search (with `lm` if given)."""
    from tqdm.auto import tqdm

    from vui.decoding import decode, is_greedy

    return [decode(p, beam, lm, alpha, beta)
            for p in tqdm(probs, desc="Decoding", unit="utt", disable=is_greedy(beam, lm) or not progress)]


def evaluate_decoding(paths, texts, probs, beam=0, lm=None, alpha=0.5, beta=1.0, progress=False) -> Evaluation:
    """Decode and score; the settings and decoding time are kept with the result."""
    start = time.perf_counter()
    hyps = decode_all(probs, beam, lm, alpha, beta, progress)
    seconds = time.perf_counter() - start
    cer, wer = error_rates(texts, hyps)
    settings = {"beam": beam, "lm": getattr(lm, "path", None), "alpha": alpha if lm else None, "beta": beta if lm else None}
    return Evaluation(cer, wer, list(texts), hyps, list(paths), seconds, settings)


def tune_lm_weights(texts, probs, lm, beam: int, alphas=(0.3, 0.5, 0.8, 1.2), betas=(0.0, 1.0, 2.0, 3.0),
                    progress: bool = True) -> tuple[float, float, Evaluation]:
    """Grid search of (alpha, beta) by WER on the given (validation) utterances."""
    from tqdm.auto import tqdm

    best = None
    for alpha, beta in tqdm(list(itertools.product(alphas, betas)), desc="Tuning", disable=not progress):
        result = evaluate_decoding([""] * len(texts), texts, probs, beam, lm, alpha, beta)
        if best is None or (result.wer, result.cer) < (best[2].wer, best[2].cer):
            best = (alpha, beta, result)
    return best


def write_report(path: str, evaluation: Evaluation) -> None:
    """One TSV line per utterance: audio path, CER, WER, reference, hypothesis (atomically)."""
    from utils import write_atomic

    lines = ["path\tcer\twer\treference\thypothesis"]
    for p, ref, hyp in zip(evaluation.paths, evaluation.references, evaluation.hypotheses):
        cer, wer = error_rates([ref], [hyp])
        lines.append(f"{p}\t{cer:.4f}\t{wer:.4f}\t{ref}\t{hyp}")
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))


def comparison_table(results_dir: str = "results", corpus_json: str = "valid_corpus.json", lm_path: str | None = None,
                     beam: int = 32, alpha: float = 0.5, beta: float = 1.0, progress: bool = False,
                     models: list[str] | None = None):
    """A pandas DataFrame: model, parameters, best val loss, greedy CER/WER and (with lm_path) beam+LM CER/WER
    of every saved model in `results_dir` validated on `corpus_json` (see load_histories), or of those
    named in `models` (by file stem, e.g. 'model_end') whatever they were validated on."""
    import pandas as pd

    from vui.decoding import ModelFileError, Transcriber, read_description, spec_path_for_weights
    from vui.language_model import LanguageModel

    lm = LanguageModel(lm_path) if lm_path else None
    rows = []
    for name, history in load_histories(results_dir, None if models else corpus_json).items():
        if models is not None and name not in models:
            continue
        weights = os.path.join(results_dir, name + ".h5")
        if not (os.path.exists(weights) and os.path.exists(spec_path_for_weights(weights))):
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
            with_lm = evaluate_decoding(paths, texts, probs, beam, lm, alpha, beta)
            row.update({"LM CER": round(with_lm.cer, 3), "LM WER": round(with_lm.wer, 3)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CER/WER of a trained model over a corpus file")
    parser.add_argument("--weights", help="weights saved by train_model, e.g. results/model_end.h5 "
                        "(default: the shipped model, results/vui_model.h5)")
    parser.add_argument("--corpus", required=True, help="JSON-lines corpus file to evaluate on")
    parser.add_argument("--lm", help="ARPA language model (language_model.py builds one; default with the "
                        "shipped model: the shipped LM, results/vui_lm.arpa)")
    parser.add_argument("--no-lm", action="store_true", help="no language model (greedy unless --beam)")
    parser.add_argument("--beam", type=int, default=None, help="beam width (default: greedy; 32 with --lm)")
    parser.add_argument("--alpha", type=float, default=None, help="LM weight (default: the LM's tuned value or 0.5)")
    parser.add_argument("--beta", type=float, default=None, help="word insertion bonus (default: tuned or 1.0)")
    parser.add_argument("--tune", action="store_true", help="grid-search alpha and beta on this (validation) corpus")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--report", help="per-utterance TSV report to write")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from vui.decoding import ModelFileError, Transcriber, decoding_settings, default_model_and_lm, is_greedy

    args.weights, args.lm = default_model_and_lm(args.weights, args.lm, args.no_lm)
    try:
        transcriber = Transcriber(args.weights)
        lm = None
        if args.lm:
            from vui.language_model import LanguageModel, check_lm_excludes

            check_lm_excludes(args.lm, args.corpus)
            lm = LanguageModel(args.lm)
        paths, texts, probs = corpus_probabilities(transcriber, args.corpus, args.batch_size, not args.quiet)
    except (ModelFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    beam, alpha, beta = decoding_settings(lm, args.beam, args.alpha, args.beta)
    if args.tune:
        if lm is None:
            parser.error("--tune needs --lm")
        alpha, beta, _ = tune_lm_weights(texts, probs, lm, beam, progress=not args.quiet)
        print(f"tuned on {args.corpus}: alpha={alpha} beta={beta}")
    result = evaluate_decoding(paths, texts, probs, beam, lm, alpha, beta, progress=not args.quiet)
    mode = "greedy" if is_greedy(beam, lm) else f"beam {beam}" + (f" + LM (alpha={alpha}, beta={beta})" if lm else "")
    print(f"{args.corpus}: {len(texts)} utterances, {mode}: CER {result.cer:.4f}  WER {result.wer:.4f}")
    if args.report:
        write_report(args.report, result)
        print(f"per-utterance report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
