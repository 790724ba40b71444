"""Transcribe audio files of any length and format with a trained model, with word timestamps.

    python -m vui.transcribe recording.wav                 # prints the transcript alone (shipped model + LM)
    python -m vui.transcribe --no-lm recording.wav         # greedy decoding, no language model
    python -m vui.transcribe a.flac b.mp3                  # prints "<path>\t<transcript>" per file
    python -m vui.transcribe --lm results/lm.arpa a.wav    # beam search with the word language model
    python -m vui.transcribe -v a.wav                      # also reports the real-time factor (stderr)
    python -m vui.transcribe lecture.m4a --output-format srt --output-dir subs   # subs/lecture.srt

Formats: what soundfile reads (WAV, FLAC, OGG, MP3) and what FFmpeg reads through PyAV (m4a/AAC,
webm/opus, ...), at any sample rate of 16 kHz or more and any channel count (mixed down to mono).
A recording longer than 30 s is cut at pauses found by a voice-activity detector (``--vad``) and
decoded piece by piece (vui.long_form), so memory stays bounded whatever its length; a progress bar
goes to stderr for recordings over a minute. ``--output-format {txt,srt,vtt,json,all}`` and
``--output-dir DIR`` write ``DIR/<audio stem>.<ext>`` as whisper does (the JSON is whisper's: text,
segments, words with start and end in seconds); the transcript also goes to standard output.
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
from vui.long_form import WHOLE_UP_TO_S, piece_words, transcribe_long, transcript
from vui.saved_model import ModelFileError, default_model_and_lm
from vui.transcriber import Transcriber
from vui.transcript_files import FORMATS, write_transcript
from vui.vad import DEFAULT_VAD, VAD_NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Transcribe audio files with a trained model")
    parser.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, M4A, WEBM, ...)")
    parser.add_argument("--model", help="weights saved by train_model (default: the shipped model)")
    add_decoding_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=16, help="files per forward pass (default %(default)s)")
    parser.add_argument("--output-format", "-f", choices=[*FORMATS, "all"],
                        help="also write each transcript in this format (default: all, if --output-dir is given)")
    parser.add_argument("--output-dir", "-o", help="folder for the transcript files (default: the current one)")
    parser.add_argument("--vad", choices=VAD_NAMES, default=DEFAULT_VAD,
                        help="voice-activity detector that cuts recordings over 30 s (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="report model, timing and real-time factor on stderr")
    args = parser.parse_args(argv)
    write_files = args.output_format is not None or args.output_dir is not None

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
    results: dict[str, dict] = {}
    short = []  # (path, features, seconds of audio) of each readable file of one piece, in the order given
    for path in args.audio:
        try:
            seconds = audio_duration(path)
            if seconds > WHOLE_UP_TO_S:
                results[path] = transcribe_long(transcriber, path, options, lm, vad=args.vad)
            else:
                short.append((path, transcriber.features(path), seconds))
        except AudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    # Short files of similar length share a forward pass (a batch is much faster than one file at a time);
    # transcripts are printed in the order the files were given.
    probs = transcriber.probabilities_by_length([feats for _, feats, _ in short], args.batch_size)
    for (path, feats, seconds), p in zip(short, probs):
        results[path] = transcript(piece_words(transcriber, len(feats), p, decode(p, options, lm)), 1, seconds)
    compute_seconds = time.perf_counter() - start
    audio_seconds = sum(result["duration"] for result in results.values())
    for path in args.audio:
        if path not in results:
            continue
        text = results[path]["text"]
        print(text if len(args.audio) == 1 else f"{path}\t{text}", flush=True)
        if write_files:
            try:
                write_transcript(results[path], path, args.output_dir or ".", args.output_format or "all")
            except OSError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failures += 1
    if args.verbose and audio_seconds:
        print(f"model {weights}, {options.describe()}: {audio_seconds:.1f} s of audio in {compute_seconds:.2f} s, "
              f"{audio_seconds / compute_seconds:.0f}x faster than real time (RTF {compute_seconds / audio_seconds:.4f})",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
