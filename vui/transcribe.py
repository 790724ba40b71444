"""Transcribe audio files with a trained model.

    python -m vui.transcribe recording.wav                 # prints the transcript alone (shipped model + LM)
    python -m vui.transcribe --no-lm recording.wav         # greedy decoding, no language model
    python -m vui.transcribe a.flac b.wav                  # prints "<path>\t<transcript>" per file
    python -m vui.transcribe --lm results/lm.arpa a.wav    # beam search with the word language model
    python -m vui.transcribe -v a.wav                      # also reports the real-time factor (stderr)

Any sample rate of 16 kHz or more and any channel count the data layer reads (mixed down to mono).
The model defaults to the shipped one (results/vui_model.weights.h5, made by python -m vui.train_recipe) decoded with
the shipped LM (results/vui_lm.arpa) and its tuned weights; without a shipped model, the best one in
results/ (lowest validation loss among the saved models with a description). ``--model`` picks
another (decoded greedily unless ``--lm`` is given). Nothing but transcripts goes to standard output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before Keras loads: nothing but transcripts on stdout

from utils import AudioError, audio_duration
from vui.decoding import DecodingOptions, add_decoding_arguments, decode
from vui.lm_scorer import LanguageModel
from vui.saved_model import ModelFileError, default_model_and_lm
from vui.transcriber import Transcriber


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Transcribe audio files with a trained model")
    parser.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, ...)")
    parser.add_argument("--model", help="weights saved by train_model (default: the shipped model)")
    add_decoding_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=16, help="files per forward pass (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="report model, timing and real-time factor on stderr")
    args = parser.parse_args(argv)

    try:
        weights, args.lm = default_model_and_lm(args.model, args.lm, args.no_lm)
        transcriber = Transcriber(weights)
        lm = LanguageModel(args.lm) if args.lm else None
    except (ModelFileError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    options = DecodingOptions.from_args(args, lm)
    failures = 0
    start = time.perf_counter()
    ready = []  # (path, features, seconds of audio) of each readable file, in the order given
    for path in args.audio:
        try:
            ready.append((path, transcriber.features(path), audio_duration(path)))
        except AudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    # Files of similar length share a forward pass (a batch is much faster than one file at a time);
    # transcripts are printed in the order the files were given.
    probs = transcriber.probabilities_by_length([feats for _, feats, _ in ready], args.batch_size)
    texts = [decode(p, options, lm) for p in probs]
    compute_seconds = time.perf_counter() - start
    audio_seconds = sum(seconds for *_, seconds in ready)
    for (path, _, _), text in zip(ready, texts):
        print(text if len(args.audio) == 1 else f"{path}\t{text}", flush=True)
    if args.verbose and audio_seconds:
        print(f"model {weights}, {options.describe()}: {audio_seconds:.1f} s of audio in {compute_seconds:.2f} s, "
              f"{audio_seconds / compute_seconds:.0f}x faster than real time (RTF {compute_seconds / audio_seconds:.4f})",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
