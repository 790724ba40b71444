"""Split long utterances at the pauses between words, each piece with the words it holds.

LibriSpeech utterances run to 35 s, while the recipe trains on batches of similar length; pieces of
at most MAX_PIECE_S let the long utterances train beside the short ones. A trained model's softmax
outputs are force-aligned to the transcript (the most likely CTC path that spells it exactly), which
places every word in time; an utterance is cut at the middle of the widest pause between two words
in the second half of each MAX_PIECE_S window. The pieces are written in LibriSpeech layout, so
``python -m vui.train_recipe --add-train OUT`` trains on them (the recipe's second stage makes its
own with the model of its first)::

    python -m vui.split_long --corpus data/recipe/recipe_train.json --out ../split-long

The pieces are named ``<speaker>-<chapter>-<utterance>_<k>``: the reserved-speaker check reads the
speaker from them as from the whole utterance.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from tqdm import tqdm

from data_generator import read_corpus
from utils import load_audio, num_feature_frames, text_to_int_sequence
from vui.alignment import ctc_align, seconds_per_frame, word_spans
from vui.decoding import greedy_decode
from vui.evaluate import error_rates
from vui.saved_model import SHIPPED_MODEL
from vui.transcriber import Transcriber

MAX_PIECE_S: float = 15.0  # seconds: the longest piece written, and the length above which an utterance is split


@dataclass
class Piece:
    """One piece of an utterance: samples [start, end) of it and the words they hold."""

    start: int
    end: int
    text: str


def choose_pieces(spans: list[tuple[str, int, int]], seconds_per_frame: float, n_samples: int, sample_rate: int,
                  max_piece_s: float = MAX_PIECE_S) -> list[Piece]:
    """Cut points at the middle of the widest pause between words in the second half of each
    `max_piece_s` window (the widest in the whole window if the second half has no word boundary)."""
    pieces, start, first_word = [], 0, 0
    max_samples = int(max_piece_s * sample_rate)
    while n_samples - start > max_samples:
        gaps = []  # (pause in frames, cut sample, index of the first word after the cut)
        for k in range(first_word + 1, len(spans)):
            cut = int((spans[k - 1][2] + 1 + spans[k][1]) / 2 * seconds_per_frame * sample_rate)
            if cut - start > max_samples:
                break
            gaps.append((spans[k][1] - spans[k - 1][2], cut, k))
        if not gaps:
            raise ValueError(f"no pause between words within {max_piece_s:g} s")
        late = [g for g in gaps if g[1] - start >= max_samples / 2] or gaps
        _, cut, k = max(late)
        pieces.append(Piece(start, cut, " ".join(w for w, _, _ in spans[first_word:k])))
        start, first_word = cut, k
    pieces.append(Piece(start, n_samples, " ".join(w for w, _, _ in spans[first_word:])))
    return pieces


def split_utterance(transcriber: Transcriber, audio_path: str, text: str,
                    max_piece_s: float = MAX_PIECE_S) -> tuple[list[Piece], np.ndarray, int, str]:
    """Pieces of one utterance, its samples and rate, and the model's greedy transcript of it whole."""
    samples, sample_rate = load_audio(audio_path)
    probs = transcriber.file_probabilities(audio_path)
    label_frames = ctc_align(np.log(np.maximum(probs, 1e-30)), text_to_int_sequence(text))
    spf = seconds_per_frame(num_feature_frames(len(samples), sample_rate), len(probs))
    spans = word_spans(text, label_frames)
    return (choose_pieces(spans, spf, len(samples), sample_rate, max_piece_s), samples, sample_rate,
            greedy_decode(probs))


def split_corpus(corpus_json: str, out_dir: str, weights: str = SHIPPED_MODEL,
                 max_piece_s: float = MAX_PIECE_S) -> dict:
    """Split every utterance of `corpus_json` longer than `max_piece_s` into pieces written under
    `out_dir` in LibriSpeech layout (FLAC and ``*.trans.txt``); returns counts and the model's greedy
    CER on the utterances whole and on their pieces (a check on the cuts: a word cut in two or put in
    the wrong piece raises the second)."""
    corpus = read_corpus(corpus_json)
    long = [i for i, d in enumerate(corpus.durations) if d > max_piece_s]
    transcriber = Transcriber(weights)
    transcripts: dict[str, list[str]] = {}
    whole_refs, whole_hyps, piece_refs, piece_paths, failed = [], [], [], [], []
    for i in tqdm(long, desc="Splitting", unit="utt"):
        path, text = corpus.audio_paths[i], corpus.texts[i]
        try:
            pieces, samples, rate, hypothesis = split_utterance(transcriber, path, text, max_piece_s)
        except ValueError as exc:
            failed.append(f"{path}: {exc}")
            continue
        whole_refs.append(text), whole_hyps.append(hypothesis)
        utt_id = os.path.splitext(os.path.basename(path))[0]
        speaker, chapter = utt_id.split("-")[:2]
        folder = os.path.join(out_dir, speaker, chapter)
        os.makedirs(folder, exist_ok=True)
        for k, piece in enumerate(pieces, 1):
            piece_id = f"{utt_id}_{k}"
            piece_path = os.path.join(folder, piece_id + ".flac")
            sf.write(piece_path, samples[piece.start:piece.end], rate)
            transcripts.setdefault(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), []).append(
                f"{piece_id} {piece.text.upper()}")
            piece_refs.append(piece.text), piece_paths.append(piece_path)
    for trans_path, lines in transcripts.items():
        with open(trans_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    piece_hyps = [transcriber.transcribe(p) for p in tqdm(piece_paths, desc="Checking pieces", unit="piece")]
    durations = [sf.info(p).duration for p in piece_paths]
    for message in failed:
        print(f"warning: not split: {message}", file=sys.stderr)
    return {"utterances": len(long), "split": len(whole_refs), "pieces": len(piece_paths),
            "hours": sum(durations) / 3600, "longest_piece_s": max(durations, default=0.0),
            "shortest_piece_s": min(durations, default=0.0),
            "cer_whole": error_rates(whole_refs, whole_hyps)[0] if whole_refs else None,
            "cer_pieces": error_rates(piece_refs, piece_hyps)[0] if piece_refs else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vui.split_long", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="JSON-lines corpus file whose long utterances are split")
    parser.add_argument("--out", required=True, help="folder for the pieces (LibriSpeech layout)")
    parser.add_argument("--model", default=SHIPPED_MODEL, help="weights of the model that aligns (default: shipped)")
    parser.add_argument("--max-piece", type=float, default=MAX_PIECE_S, help="longest piece, seconds")
    args = parser.parse_args(argv)
    summary = split_corpus(args.corpus, args.out, args.model, args.max_piece)
    print(f"{summary['split']} of {summary['utterances']} utterances over {args.max_piece:g} s split into "
          f"{summary['pieces']} pieces ({summary['hours']:.2f} h, {summary['shortest_piece_s']:.1f}–"
          f"{summary['longest_piece_s']:.1f} s) under {args.out}")
    if summary["cer_whole"] is not None:
        print(f"greedy CER of the aligning model: {summary['cer_whole']:.3f} on the utterances whole, "
              f"{summary['cer_pieces']:.3f} on their pieces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
