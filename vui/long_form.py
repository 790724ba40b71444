"""Recordings of any length: cut at pauses, decode piece by piece, join, with word timestamps.

A model run over an hour as one sequence, and a beam search over its outputs, cost memory and time
that grow faster than the length (every prefix the beam search keeps is a string of the whole
transcript so far). So a recording longer than WHOLE_UP_TO_S is read at 16 kHz, a voice-activity
detector (vui.vad) finds its speech, and the speech is grouped into pieces of at most MAX_PIECE_S cut
in the middle of pauses; pieces of similar length share a forward pass, each is decoded alone, and
the forced alignment of each piece's transcript to its outputs (vui.alignment) dates every word.
A recording of at most WHOLE_UP_TO_S is one piece, read and decoded exactly as a single file always was.

``transcribe_long`` returns whisper's layout: ``{"text", "segments": [{"id", "start", "end", "text",
"words": [{"word", "start", "end"}]}]}`` in seconds, where a segment is a run of words with no pause
of SEGMENT_PAUSE_S or more and at most MAX_SEGMENT_S long (a subtitle's worth).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from utils import audio_duration, text_to_int_sequence
from vui.alignment import ctc_align, seconds_per_frame, word_spans
from vui.audio import read_at_rate
from vui.decoding import GREEDY, DecodingOptions, decode
from vui.lm_scorer import LanguageModel
from vui.transcriber import Transcriber
from vui.vad import DEFAULT_VAD, VAD_RATE, speech_regions

WHOLE_UP_TO_S: float = 30.0  # seconds: a recording this short is decoded whole, as a single file always was
MAX_PIECE_S: float = 20.0  # seconds: the longest piece of a longer recording (BENCHMARKS.md compares lengths)
CONTEXT_S: float = 0.3  # seconds of audio kept before and after the speech of a piece, where the pause allows
QUIET_WINDOW_S: float = 0.05  # seconds: the frame over which loudness is measured to cut speech with no pause
PIECES_PER_BATCH: int = 8  # pieces per forward pass
PROGRESS_OVER_S: float = 60.0  # seconds: recordings longer than this show a progress bar
SEGMENT_PAUSE_S: float = 0.5  # seconds: a pause this long between words starts a new segment
MAX_SEGMENT_S: float = 10.0  # seconds: and a segment ends once it is this long



@dataclass
class Piece:
    """Seconds [start, end) of a recording decoded at once."""

    start: float
    end: float


def split_long_regions(regions: list[tuple[float, float]], samples: np.ndarray, rate: int,
                       max_s: float) -> list[tuple[float, float]]:
    """Regions longer than `max_s` cut at their quietest QUIET_WINDOW_S in the second half of each
    `max_s` window (speech with no pause the detector heard); shorter regions unchanged."""
    out, window = [], int(QUIET_WINDOW_S * rate)
    for start, end in regions:
        while end - start > max_s:
            first, last = int((start + max_s / 2) * rate), int((start + max_s) * rate)
            frames = samples[first:last][: (last - first) // window * window].reshape(-1, window)
            quietest = int(np.argmin(np.mean(frames ** 2, axis=1)))
            cut = (first + quietest * window + window / 2) / rate
            out.append((start, cut))
            start = cut
        out.append((start, end))
    return out


def plan_pieces(regions: list[tuple[float, float]], duration_s: float, max_s: float = MAX_PIECE_S) -> list[Piece]:
    """Group speech regions (each at most max_s - 2 * CONTEXT_S long) into pieces of at most `max_s`:
    consecutive regions share a piece while it fits; each piece keeps up to CONTEXT_S of the pause on
    either side, never past the middle of a pause, so no two pieces overlap."""
    pieces: list[Piece] = []
    group_start = 0
    for k in range(1, len(regions) + 1):
        if k < len(regions) and regions[k][1] + CONTEXT_S - (regions[group_start][0] - CONTEXT_S) <= max_s:
            continue
        before = (regions[group_start - 1][1] + regions[group_start][0]) / 2 if group_start else 0.0
        after = (regions[k - 1][1] + regions[k][0]) / 2 if k < len(regions) else duration_s
        pieces.append(Piece(max(regions[group_start][0] - CONTEXT_S, before),
                            min(regions[k - 1][1] + CONTEXT_S, after)))
        group_start = k
    return pieces


def word_times(probs: np.ndarray, text: str, seconds_per_frame: float, offset_s: float) -> list[dict]:
    """{"word", "start", "end"} in seconds for each word of `text`, decoded from `probs` (frames, 29):
    a word starts at the output frame of its first character on the forced alignment and ends one
    frame after that of its last."""
    if not text:
        return []
    label_frames = ctc_align(np.log(np.maximum(probs, 1e-30)), text_to_int_sequence(text))
    return [{"word": word, "start": round(offset_s + first * seconds_per_frame, 3),
             "end": round(offset_s + (last + 1) * seconds_per_frame, 3)}
            for word, first, last in word_spans(text, label_frames)]


def segments_of(words: list[dict]) -> list[dict]:
    """Words (in time order) grouped into whisper's segments: a new one after a pause of
    SEGMENT_PAUSE_S or once one lasts MAX_SEGMENT_S."""
    groups: list[list[dict]] = []
    for word in words:
        if (groups and word["start"] - groups[-1][-1]["end"] < SEGMENT_PAUSE_S
                and word["end"] - groups[-1][0]["start"] <= MAX_SEGMENT_S):
            groups[-1].append(word)
        else:
            groups.append([word])
    return [{"id": k, "start": g[0]["start"], "end": g[-1]["end"], "text": " ".join(w["word"] for w in g),
             "words": g} for k, g in enumerate(groups)]


def piece_words(transcriber: Transcriber, feature_frames: int, probs: np.ndarray, text: str,
                offset_s: float = 0.0) -> list[dict]:
    """Timed words of one piece's transcript `text`, decoded from its outputs `probs` (frames, 29)
    for `feature_frames` frames of features, the piece starting `offset_s` into the recording."""
    return word_times(probs, text, seconds_per_frame(feature_frames, len(probs), transcriber.features.step), offset_s)


def transcript(words: list[dict], pieces: int, duration_s: float) -> dict:
    """Timed words (in time order) as the transcript transcribe_long returns."""
    return {"text": " ".join(w["word"] for w in words), "segments": segments_of(words), "pieces": pieces,
            "duration": duration_s}


def transcribe_long(transcriber: Transcriber, audio_path: str, options: DecodingOptions = GREEDY,
                    lm: LanguageModel | None = None, vad: str = DEFAULT_VAD, progress: bool | None = None,
                    max_piece_s: float = MAX_PIECE_S) -> dict:
    """Transcript of a recording of any length in whisper's layout (see the module), plus "pieces",
    the number decoded, and "duration" in seconds. A recording of at most WHOLE_UP_TO_S is one
    piece, a longer one is cut into pieces of at most `max_piece_s`; `progress` None shows bars on
    stderr for recordings over PROGRESS_OVER_S."""
    duration = audio_duration(audio_path)
    show = duration > PROGRESS_OVER_S if progress is None else progress
    if duration <= WHOLE_UP_TO_S:
        features = transcriber.features(audio_path)
        probs = transcriber.probabilities([features])[0]
        return transcript(piece_words(transcriber, len(features), probs, decode(probs, options, lm)), 1, duration)
    samples = read_at_rate(audio_path, VAD_RATE, duration)
    with tqdm(total=100.0, desc="Finding speech", unit="%", disable=not show, file=sys.stderr,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}%") as bar:
        regions = speech_regions(samples, vad, progress=lambda percent: bar.update(percent - bar.n))
        bar.update(100.0 - bar.n)
    regions = split_long_regions(regions, samples, VAD_RATE, max_piece_s - 2 * CONTEXT_S)
    pieces = plan_pieces(regions, len(samples) / VAD_RATE, max_piece_s)
    words_of: list[list[dict]] = [[] for _ in pieces]
    order = sorted(range(len(pieces)), key=lambda i: pieces[i].end - pieces[i].start)
    with tqdm(total=round(duration), desc="Transcribing", unit="s", disable=not show, file=sys.stderr) as bar:
        for first in range(0, len(order), PIECES_PER_BATCH):
            batch = order[first:first + PIECES_PER_BATCH]
            features = [transcriber.features.of_samples(
                samples[int(pieces[i].start * VAD_RATE):int(pieces[i].end * VAD_RATE)], VAD_RATE,
                f"{audio_path} at {pieces[i].start:.1f} s") for i in batch]
            for i, feats, probs in zip(batch, features, transcriber.probabilities(features)):
                words_of[i] = piece_words(transcriber, len(feats), probs, decode(probs, options, lm), pieces[i].start)
                bar.update(round(pieces[i].end - pieces[i].start))
        bar.update(bar.total - bar.n)
    return transcript([w for timed in words_of for w in timed], len(pieces), duration)
