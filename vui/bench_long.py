"""Long recordings: peak memory, speed and accuracy of ``python -m vui.transcribe`` on joined utterances.

LibriSpeech utterances joined end to end with a short pause stand in for a lecture or a podcast whose
every word is known, with the time span of each utterance::

    python -m vui.bench_long --librispeech ../shared/corpora/LibriSpeech/test-clean --memory 1 5 20 60
    python -m vui.bench_long --librispeech ../shared/corpora/LibriSpeech/test-clean --memory 1 5 20 60 \
        --before ../vui-old --before-up-to 20
    python -m vui.bench_long --librispeech ../shared/corpora/LibriSpeech/test-clean --quality --vad webrtc silero --max-piece 10 20 30

``--memory`` runs the command once per length in a fresh process and reads its peak resident memory
from the kernel (``wait4``), and its real-time factor from its ``-v`` line; ``--before DIR`` runs the
same files through another checkout of the project (the code before a change), alternating with this
one. ``--quality`` joins the held-out speakers' utterances, transcribes the joined file and each
utterance alone with the same decoding, and scores the joined transcript whole and by utterance span
(the words whose middle falls in an utterance's span, against that utterance: a check on the
timestamps).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
from tqdm import tqdm

from create_desc_json import scan_corpus, speaker_of
from utils import SAMPLE_RATE, load_audio
from vui.decoding import DecodingOptions, add_decoding_arguments, decode
from vui.evaluate import error_rates
from vui.lm_scorer import LanguageModel
from vui.long_form import MAX_PIECE_S, transcribe_long
from vui.recipe import HELD_OUT_SPEAKERS
from vui.saved_model import PROJECT_DIR, default_model_and_lm
from vui.transcriber import Transcriber
from vui.vad import VAD_NAMES

PAUSE_S: float = 0.5  # silence between joined utterances, seconds
RTF_LINE = re.compile(r"RTF (\d+\.\d+)")


def join_utterances(entries: list[dict], out_path: str, pause_s: float = PAUSE_S,
                    seconds: float | None = None) -> list[dict]:
    """Write `entries`' audio (16 kHz LibriSpeech) one after another, `pause_s` of silence between,
    to `out_path`, up to `seconds` of audio if given (cycling through the entries again if they run
    out). Streams to disk, so an hour costs no more memory than one utterance. Returns the span of
    each utterance written: {"key", "text", "start", "end"} in seconds."""
    spans, position, pause = [], 0, np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    limit = None if seconds is None else int(seconds * SAMPLE_RATE)
    with sf.SoundFile(out_path, "w", samplerate=SAMPLE_RATE, channels=1, format="FLAC") as out:
        k = 0
        while True:
            entry = entries[k % len(entries)]
            samples, rate = load_audio(entry["key"])
            if rate != SAMPLE_RATE:
                raise ValueError(f"{entry['key']}: {rate} Hz; joined files are made of {SAMPLE_RATE} Hz audio")
            if limit is not None:
                samples = samples[: limit - position]
            out.write(samples)
            spans.append({"key": entry["key"], "text": entry["text"], "start": position / SAMPLE_RATE,
                          "end": (position + len(samples)) / SAMPLE_RATE})
            position += len(samples)
            k += 1
            if (limit is not None and position >= limit) or (limit is None and k == len(entries)):
                break
            out.write(pause)
            position += len(pause)
    return spans


def run_measured(command: list[str], cwd: str) -> tuple[int, float, float | None, str]:
    """Run `command` in `cwd`; (peak RSS in bytes, wall seconds, RTF it reported or None, stderr)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    wall = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} in {cwd} failed ({process.returncode}): {stderr[-2000:]}")
    found = RTF_LINE.findall(stderr)
    return usage.ru_maxrss * 1024, wall, float(found[-1]) if found else None, stderr


def memory_table(entries: list[dict], minutes: list[float], work_dir: str, projects: dict[str, tuple[str, float]],
                 extra: list[str]) -> list[dict]:
    """Peak RSS and RTF of `python -m vui.transcribe -v` on a joined file of each length, in each
    project folder (name -> (folder, the longest file in minutes it is given)), the projects
    alternating per length."""
    rows = []
    for length in minutes:
        path = os.path.join(work_dir, f"joined_{length:g}min.flac")
        if not os.path.exists(path):
            join_utterances(entries, path, seconds=length * 60)
        for name, (folder, longest) in projects.items():
            if length > longest:
                continue
            command = [sys.executable, "-m", "vui.transcribe", "-v", *extra, os.path.abspath(path)]
            try:
                rss, wall, rtf, _ = run_measured(command, folder)
                row = {"code": name, "minutes": length, "peak_rss_gb": rss / 1e9, "rtf": rtf, "wall_s": wall}
            except RuntimeError as exc:
                row = {"code": name, "minutes": length, "failed": str(exc).splitlines()[-1][:200]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def span_hypotheses(segments: list[dict], spans: list[dict]) -> list[str]:
    """The words of the transcript whose middle falls in each utterance's span (or the pause after it),
    joined per utterance."""
    starts = np.array([s["start"] for s in spans])
    words_of: list[list[str]] = [[] for _ in spans]
    for segment in segments:
        for word in segment["words"]:
            middle = (word["start"] + word["end"]) / 2
            words_of[max(int(np.searchsorted(starts, middle, side="right")) - 1, 0)].append(word["word"])
    return [" ".join(words) for words in words_of]


def quality(entries: list[dict], work_dir: str, weights: str, lm: LanguageModel | None, options: DecodingOptions,
            vads: list[str], max_pieces: list[float]) -> list[dict]:
    """WER of the joined held-out utterances, whole and by span, beside each utterance transcribed alone."""
    path = os.path.join(work_dir, "joined_held_out.flac")
    spans = join_utterances(entries, path)
    transcriber = Transcriber(weights)
    references = [s["text"] for s in spans]
    alone = [decode(transcriber.file_probabilities(s["key"]), options, lm)
             for s in tqdm(spans, desc="One by one", unit="utt")]
    cer_alone, wer_alone = error_rates([" ".join(references)], [" ".join(alone)])
    rows = [{"mode": "one by one", "cer": cer_alone, "wer": wer_alone,
             "per_utterance_wer": error_rates(references, alone)[1]}]
    print(json.dumps(rows[0]), flush=True)
    for vad in vads:
        for max_piece_s in max_pieces:
            start = time.perf_counter()
            result = transcribe_long(transcriber, path, options, lm, vad=vad, progress=True, max_piece_s=max_piece_s)
            seconds = time.perf_counter() - start
            cer, wer = error_rates([" ".join(references)], [result["text"]])
            span_wer = error_rates(references, span_hypotheses(result["segments"], spans))[1]
            row = {"mode": f"joined, {vad}, pieces <= {max_piece_s:g} s", "cer": cer, "wer": wer, "span_wer": span_wer,
                   "audio_s": spans[-1]["end"], "seconds": seconds, "pieces": result["pieces"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vui.bench_long", description=__doc__.split("\n\n")[0])
    parser.add_argument("--librispeech", required=True, help="a LibriSpeech subset folder (e.g. test-clean)")
    parser.add_argument("--memory", type=float, nargs="*", help="lengths in minutes of the joined files to measure")
    parser.add_argument("--before", help="another checkout of the project, measured on the same files")
    parser.add_argument("--before-up-to", type=float, default=float("inf"),
                        help="the longest file, in minutes, given to --before (its memory grows faster than the length)")
    parser.add_argument("--quality", action="store_true", help="WER of the held-out speakers joined into one file")
    parser.add_argument("--vad", nargs="+", default=list(VAD_NAMES), choices=VAD_NAMES, help="detectors compared")
    parser.add_argument("--max-piece", type=float, nargs="+", default=[MAX_PIECE_S],
                        help="longest pieces compared, seconds (default %(default)s)")
    parser.add_argument("--model", help="weights (default: the shipped model)")
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "vui-bench-long"),
                        help="where the joined files are written (default %(default)s)")
    add_decoding_arguments(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    entries = scan_corpus(args.librispeech).entries
    held_out = [e for e in entries if speaker_of(e["key"], args.librispeech) in HELD_OUT_SPEAKERS]
    training = [e for e in entries if speaker_of(e["key"], args.librispeech) not in HELD_OUT_SPEAKERS]
    if args.memory:
        projects = {"this": (PROJECT_DIR, float("inf"))}
        if args.before:
            projects = {"before": (os.path.abspath(args.before), args.before_up_to), **projects}
        extra = (["--model", args.model] if args.model else []) + (["--no-lm"] if args.no_lm else [])
        memory_table(training, args.memory, args.work_dir, projects, extra)
    if args.quality:
        weights, lm_path = default_model_and_lm(args.model, args.lm, args.no_lm)
        lm = LanguageModel(lm_path) if lm_path else None
        quality(held_out, args.work_dir, weights, lm, DecodingOptions.from_args(args, lm), args.vad, args.max_piece)
    return 0


if __name__ == "__main__":
    sys.exit(main())
