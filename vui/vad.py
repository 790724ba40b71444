"""Where people speak in a recording: voice-activity detection, to cut long recordings at pauses.

Two detectors, both shipped inside their wheels (nothing is downloaded): Silero VAD, a small neural
network run by torch on 32 ms windows, and WebRTC's VAD, a Gaussian-mixture model on 30 ms frames.
``speech_regions(samples, name)`` gives the spans of speech, in seconds, of 16 kHz mono samples;
``vui.long_form`` cuts between them. BENCHMARKS.md ("Long recordings and your own voice") compares
the two by the WER of the transcripts they lead to.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import webrtcvad
from silero_vad import get_speech_timestamps, load_silero_vad

VAD_RATE: int = 16000  # Hz: both detectors run on 16 kHz audio
MIN_SPEECH_S: float = 0.25  # seconds: shorter bursts are not speech
MIN_PAUSE_S: float = 0.1  # seconds: shorter gaps do not end a region
WEBRTC_FRAME_S: float = 0.03  # seconds per WebRTC decision (10, 20 or 30 ms)
WEBRTC_AGGRESSIVENESS: int = 2  # 0 (keeps most) .. 3 (drops most non-speech)
WEBRTC_BLOCK_FRAMES: int = 2000  # frames converted to 16-bit PCM at a time (a minute)
VAD_NAMES: tuple[str, ...] = ("silero", "webrtc")
DEFAULT_VAD: str = "webrtc"  # the lower WER and the faster of the two (BENCHMARKS.md)

Regions = list[tuple[float, float]]


def _silero(samples: np.ndarray, progress: Callable[[float], None] | None) -> Regions:
    model = load_silero_vad()
    found = get_speech_timestamps(torch.from_numpy(samples), model, sampling_rate=VAD_RATE,
                                  min_speech_duration_ms=int(MIN_SPEECH_S * 1000),
                                  min_silence_duration_ms=int(MIN_PAUSE_S * 1000),
                                  progress_tracking_callback=progress)
    return [(r["start"] / VAD_RATE, r["end"] / VAD_RATE) for r in found]


def _webrtc(samples: np.ndarray, progress: Callable[[float], None] | None) -> Regions:
    vad = webrtcvad.Vad(WEBRTC_AGGRESSIVENESS)
    frame = int(WEBRTC_FRAME_S * VAD_RATE)
    n_frames = len(samples) // frame
    speech = np.zeros(n_frames, dtype=bool)
    for first in range(0, n_frames, WEBRTC_BLOCK_FRAMES):  # 16-bit PCM a block at a time: no copy of an hour
        last = min(first + WEBRTC_BLOCK_FRAMES, n_frames)
        pcm = (np.clip(samples[first * frame:last * frame], -1.0, 1.0) * 32767).astype(np.int16)
        for k in range(first, last):
            speech[k] = vad.is_speech(pcm[(k - first) * frame:(k - first + 1) * frame].tobytes(), VAD_RATE)
        if progress is not None:
            progress(100.0 * last / n_frames)
    return close_regions(speech, WEBRTC_FRAME_S)


def close_regions(speech: np.ndarray, frame_s: float) -> Regions:
    """Spans (start, end) in seconds of the runs of True in per-frame decisions, after bridging gaps
    shorter than MIN_PAUSE_S and dropping runs shorter than MIN_SPEECH_S."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = [[start * frame_s, end * frame_s] for start, end in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < MIN_PAUSE_S:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(start, end) for start, end in merged if end - start >= MIN_SPEECH_S]


DETECTORS: dict[str, Callable[[np.ndarray, Callable[[float], None] | None], Regions]] = {
    "silero": _silero, "webrtc": _webrtc}


def speech_regions(samples: np.ndarray, name: str = DEFAULT_VAD,
                   progress: Callable[[float], None] | None = None) -> Regions:
    """The spans of speech in 16 kHz mono float32 `samples` (n,), as (start, end) seconds in order,
    found by the detector `name` (one of VAD_NAMES); `progress` is called with the percentage done."""
    if name not in DETECTORS:
        raise ValueError(f"unknown voice-activity detector {name!r}: choose one of {', '.join(VAD_NAMES)}")
    return DETECTORS[name](np.ascontiguousarray(samples, dtype=np.float32), progress)
