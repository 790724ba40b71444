"""Recordings in the formats people make them: soundfile where it can, PyAV (FFmpeg) otherwise.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, OGG/Opus and MP3; browsers' webm/opus, phones'
m4a/AAC and anything else FFmpeg knows go through PyAV, whose wheels carry FFmpeg. ``read`` gives a
whole file at its own rate (what ``utils.load_audio`` returns); ``read_at_rate`` streams a file of
any length block by block into mono samples at one rate, so an hour-long mp3 never exists in memory
as 44.1 kHz stereo floats. Errors are raised as ``AudioFormatError`` naming the file; ``utils``
turns them into its ``AudioError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import gcd

import av
import numpy as np
import soundfile
from scipy.signal import resample_poly

BLOCK_S: float = 10.0  # seconds of audio decoded at a time when streaming
RESAMPLER_FORMAT: str = "flt"  # FFmpeg's packed float32 samples


class AudioFormatError(ValueError):
    """Neither soundfile nor PyAV can decode a file."""


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float32 samples (n,) at `rate` Hz as samples at `target` Hz (polyphase filtering)."""
    if rate == target:
        return np.asarray(samples, dtype=np.float32)
    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def _mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) float32 -> (frames,) by averaging the channels."""
    return block.mean(axis=1) if block.ndim == 2 and block.shape[1] > 1 else block.reshape(-1)


def _av_open(path: str) -> tuple[av.container.InputContainer, av.audio.stream.AudioStream]:
    """The file opened by PyAV and its first audio stream; AudioFormatError if it has none."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioFormatError(f"{path}: cannot decode audio ({exc})") from None
    if not container.streams.audio:
        container.close()
        raise AudioFormatError(f"{path}: holds no audio stream")
    return container, container.streams.audio[0]


def _av_blocks(path: str, rate: int | None) -> Iterator[tuple[np.ndarray, int]]:
    """(mono float32 samples, their rate) block by block, resampled to `rate` if given, through PyAV."""
    container, stream = _av_open(path)
    with container:
        channels = stream.codec_context.channels
        # channels kept, then averaged as soundfile's are: FFmpeg's own downmix scales them by 1/sqrt(2)
        resampler = av.AudioResampler(format=RESAMPLER_FORMAT, layout=stream.layout, rate=rate or stream.rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield _mono(out.to_ndarray().reshape(-1, channels)), out.sample_rate
            for out in resampler.resample(None):
                yield _mono(out.to_ndarray().reshape(-1, channels)), out.sample_rate
        except av.FFmpegError as exc:
            raise AudioFormatError(f"{path}: cannot decode audio ({exc})") from None


def _soundfile_blocks(path: str, rate: int | None) -> Iterator[tuple[np.ndarray, int]]:
    """(mono float32 samples, their rate) block by block through soundfile, resampled to `rate` by
    FFmpeg's resampler (which keeps its filter state from block to block) if the file's rate differs."""
    with soundfile.SoundFile(path) as f:
        resampler = None
        if rate is not None and rate != f.samplerate:
            resampler = av.AudioResampler(format=RESAMPLER_FORMAT, layout="mono", rate=rate)
        for block in f.blocks(blocksize=int(BLOCK_S * f.samplerate), dtype="float32", always_2d=True):
            mono = np.ascontiguousarray(_mono(block), dtype=np.float32)
            if resampler is None:
                yield mono, f.samplerate
                continue
            frame = av.AudioFrame.from_ndarray(mono[None, :], format=RESAMPLER_FORMAT, layout="mono")
            frame.sample_rate = f.samplerate
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1), rate
        if resampler is not None:
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1), rate


def _soundfile_can_open(path: str) -> bool:
    try:
        soundfile.info(path)
    except Exception:  # soundfile raises LibsndfileError/RuntimeError/TypeError by format
        return False
    return True


def read(path: str) -> tuple[np.ndarray, int]:
    """A whole file that soundfile cannot read, decoded by PyAV: (mono float32 samples (n,), rate)."""
    blocks, rate = [], 0
    for samples, rate in _av_blocks(path, None):
        blocks.append(samples)
    return (np.concatenate(blocks) if blocks else np.zeros(0, np.float32)), rate


def duration(path: str) -> float:
    """Seconds of audio in a file soundfile cannot read, from PyAV's header (decoding it if the
    container does not say)."""
    container, stream = _av_open(path)
    with container:
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
    samples, rate = read(path)
    return len(samples) / rate


def read_at_rate(path: str, rate: int, expected_s: float | None = None) -> np.ndarray:
    """A file of any length and format as mono float32 samples at `rate` Hz, shape (n,), decoded and
    resampled in blocks; `expected_s` (its duration, if known) lets the result be allocated once."""
    blocks = _soundfile_blocks(path, rate) if _soundfile_can_open(path) else _av_blocks(path, rate)
    out = np.zeros(int((expected_s or BLOCK_S) * rate) + rate, np.float32)
    filled = 0
    for samples, _ in blocks:
        if filled + len(samples) > len(out):
            out = np.concatenate([out[:filled], np.zeros(max(len(out) // 2, len(samples)), np.float32)])
        out[filled:filled + len(samples)] = samples
        filled += len(samples)
    return out[:filled]
