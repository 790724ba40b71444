"""CMU PocketSphinx on a corpus file: the off-the-shelf CPU recogniser our models are compared with.

PocketSphinx 5 (``pip install pocketsphinx``, an optional development dependency, not one of the
product's) ships an en-US acoustic model, a 3-gram language model and a dictionary; it decodes each
utterance in one ``process_raw`` call. Its hypotheses are scored like ours (``vui.evaluate``'s CER and
WER over the corpus's normalised transcripts), so the two rows of BENCHMARKS.md compare directly::

    python -m vui.pocketsphinx_baseline --corpus valid_corpus.json [--report ps.tsv] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from data_generator import read_corpus
from utils import AudioError, load_audio
from vui.evaluate import Evaluation, error_rates, write_report

SAMPLE_RATE: int = 16000  # Hz: the rate of PocketSphinx's en-US acoustic model (and of LibriSpeech)
INT16_SCALE: float = 32767.0  # float samples in [-1, 1] -> the 16-bit PCM process_raw takes


def pocketsphinx_decoder():
    """A PocketSphinx decoder with its bundled en-US models; ImportError says how to install it."""
    try:  # optional: a benchmark baseline, not a dependency of vui itself
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise ImportError("the PocketSphinx baseline needs pocketsphinx: pip install pocketsphinx") from exc
    return Decoder(samprate=SAMPLE_RATE)


def recognise(decoder, path: str) -> str:
    """One audio file (16 kHz) -> PocketSphinx's best hypothesis, lower case."""
    samples, rate = load_audio(path)
    if rate != SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz, PocketSphinx's model needs {SAMPLE_RATE} Hz")
    pcm = np.clip(np.round(samples * INT16_SCALE), -32768, 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return " ".join(hyp.hypstr.lower().split()) if hyp is not None else ""


def evaluate_corpus(corpus_json: str, limit: int | None = None, progress: bool = True) -> tuple[Evaluation, float]:
    """(PocketSphinx's evaluation on the corpus's utterances, real-time factor)."""
    corpus = read_corpus(corpus_json)
    paths, texts = corpus.audio_paths[:limit], corpus.texts[:limit]
    decoder = pocketsphinx_decoder()
    start = time.perf_counter()
    hyps = [recognise(decoder, p) for p in tqdm(paths, desc="PocketSphinx", unit="utt", disable=not progress)]
    seconds = time.perf_counter() - start
    cer, wer = error_rates(list(texts), hyps)
    audio_seconds = float(sum(corpus.durations[:limit]))
    return Evaluation(cer, wer, list(texts), hyps, list(paths), seconds), seconds / audio_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CER/WER of CMU PocketSphinx (its bundled en-US models) on a corpus")
    parser.add_argument("--corpus", required=True, help="JSON-lines corpus file, e.g. valid_corpus.json")
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("--report", help="per-utterance TSV report to write")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        result, rtf = evaluate_corpus(args.corpus, args.limit, not args.quiet)
    except (ImportError, AudioError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.corpus}: {len(result.references)} utterances, PocketSphinx: CER {result.cer:.4f}  "
          f"WER {result.wer:.4f}  (real-time factor {rtf:.3f})")
    if args.report:
        write_report(args.report, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
