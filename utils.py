"""Audio loading, acoustic features and text <-> integer sequences.

The audio hyper-parameters are defined here once, with their units, and everything else derives from
them or imports them: a 20 ms analysis window moved in 10 ms steps, keeping frequencies up to 8 kHz,
gives 161 spectrogram bins (one every 50 Hz, 0..8000 Hz inclusive) at any sample rate whose window is
a whole number of samples (16 kHz, 22.05 kHz, 44.1 kHz, 48 kHz, ...). MFCCs use the same window and
step, so both feature types have the same number of frames for a clip.
"""

from __future__ import annotations

import os
import tempfile
from typing import Sequence

import numpy as np
import soundfile
from python_speech_features import mfcc

from char_map import BLANK_INDEX, CHAR_TO_INDEX, INDEX_TO_CHAR, index_map
from vui import audio as audio_formats

# --- audio hyper-parameters (each defined once) -------------------------------------------------
SAMPLE_RATE: int = 16000  # Hz: LibriSpeech's rate; the rate of generated and converted audio
WINDOW_MS: int = 20  # analysis window, milliseconds
STEP_MS: int = 10  # hop between frames, milliseconds
MAX_FREQ: int = 8000  # Hz: highest frequency kept in the spectrogram
MFCC_DIM: int = 13  # cepstral coefficients per frame
MAX_DURATION_S: float = 10.0  # utterances longer than this are left out of training
EPS: float = 1e-14  # floor added before taking the log of the power spectrum


def calc_feat_dim(window: int = WINDOW_MS, max_freq: int = MAX_FREQ) -> int:
    """Number of spectrogram bins for a `window` ms window up to `max_freq` Hz (161 by default)."""
    return int(0.001 * window * max_freq) + 1


SPECTROGRAM_DIM: int = calc_feat_dim(WINDOW_MS, MAX_FREQ)  # 161


class AudioError(ValueError):
    """An audio file that cannot be turned into features; the message names the file and the problem."""


def conv_output_length(
    input_length: int | None, filter_size: int, border_mode: str, stride: int, dilation: int = 1
) -> int | None:
    """Frames out of a 1-D convolution over `input_length` frames (None stays None).

    border_mode is 'same', 'valid' or 'causal' (Keras' padding names); the dilated filter spans
    ``filter_size + (filter_size - 1) * (dilation - 1)`` frames.
    """
    if input_length is None:
        return None
    if border_mode not in {"same", "valid", "causal"}:
        raise ValueError(f"border_mode must be 'same', 'valid' or 'causal', not {border_mode!r}")
    dilated_filter_size = filter_size + (filter_size - 1) * (dilation - 1)
    if border_mode == "valid":
        output_length = input_length - dilated_filter_size + 1
    else:
        output_length = input_length
    return (output_length + stride - 1) // stride


def load_audio(filename: str) -> tuple[np.ndarray, int]:
    """Read an audio file: what soundfile decodes (WAV of any sample width, FLAC, OGG, MP3) directly,
    other formats (m4a/AAC, webm/opus, ...) through FFmpeg (vui.audio).

    Returns ``(samples, sample_rate)``: float32 samples in [-1, 1], shape (n,), with several channels
    mixed down to mono. Raises AudioError naming the file for a missing, unreadable or empty file.
    """
    filename = os.fspath(filename)
    if not os.path.exists(filename):
        raise AudioError(f"{filename}: audio file not found")
    if os.path.getsize(filename) == 0:
        raise AudioError(f"{filename}: audio file is empty (0 bytes)")
    try:
        audio, sample_rate = soundfile.read(filename, dtype="float32", always_2d=True)
        samples = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/TypeError by format
        try:  # mp3 it cannot, m4a/AAC, webm/opus, ...: FFmpeg through PyAV
            samples, sample_rate = audio_formats.read(filename)
        except audio_formats.AudioFormatError as av_exc:
            raise AudioError(f"{filename}: cannot decode audio ({exc}; {av_exc})") from exc
    if samples.shape[0] == 0:
        raise AudioError(f"{filename}: audio file holds no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{filename}: audio holds NaN or infinite samples")
    return np.ascontiguousarray(samples, dtype=np.float32), int(sample_rate)


def _usable_samples(
    samples: np.ndarray, sample_rate: int, step: int, window: int, max_freq: float, filename: str
) -> tuple[np.ndarray, int, int, int]:
    """(samples, sample_rate, hop, fft) ready for framing, after checking the rate can give the features.

    A rate whose Nyquist frequency is below max_freq cannot be used (upsampling adds no content); a
    rate at which the window is not a whole number of samples (e.g. 44,056 Hz) would shift every bin,
    so such audio is resampled to SAMPLE_RATE first.
    """
    if step > window:
        raise ValueError("step size must not be greater than window size")
    if max_freq > sample_rate / 2:
        raise AudioError(
            f"{filename}: sample rate {sample_rate} Hz has Nyquist frequency {sample_rate / 2:g} Hz, "
            f"below max_freq={max_freq:g} Hz; use audio sampled at >= {2 * max_freq:g} Hz "
            f"(e.g. {SAMPLE_RATE} Hz) or lower max_freq"
        )
    if (sample_rate * window) % 1000:
        samples, sample_rate = audio_formats.resample(samples, sample_rate, SAMPLE_RATE), SAMPLE_RATE
    return samples, sample_rate, int(0.001 * step * sample_rate), int(0.001 * window * sample_rate)


def spectrogram(
    samples: np.ndarray, fft_length: int = 256, sample_rate: int = 2, hop_length: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrogram of a mono signal with a Hann window, as in the seed.

    Returns ``(pxx, freqs)``: pxx has shape (fft_length // 2 + 1, frames), scaled to a power spectral
    density; freqs (Hz) has shape (fft_length // 2 + 1,). Trailing samples that do not fill a hop
    are dropped, so frames = (len(samples) - fft_length) // hop_length + 1.
    """
    samples = np.asarray(samples)
    if np.iscomplexobj(samples):
        raise ValueError("spectrogram needs real samples, not complex ones")
    if len(samples) < fft_length:
        raise ValueError(f"signal of {len(samples)} samples is shorter than one window ({fft_length})")
    window = np.hanning(fft_length)[:, None]
    scale = np.sum(window**2) * sample_rate
    frames = np.lib.stride_tricks.sliding_window_view(samples, fft_length)[::hop_length].T
    x = np.abs(np.fft.rfft(frames * window, axis=0)) ** 2
    x[1:-1, :] *= 2.0 / scale
    x[(0, -1), :] /= scale
    freqs = float(sample_rate) / fft_length * np.arange(x.shape[0])
    return x, freqs


def spectrogram_from_samples(samples: np.ndarray, sample_rate: int, step: int = STEP_MS, window: int = WINDOW_MS,
                             max_freq: float = MAX_FREQ, eps: float = EPS, filename: str = "<samples>") -> np.ndarray:
    """Log power spectrogram, shape (frames, calc_feat_dim(window, max_freq)), float32."""
    samples, sample_rate, hop_length, fft_length = _usable_samples(samples, sample_rate, step, window, max_freq, filename)
    if len(samples) < fft_length:
        raise AudioError(
            f"{filename}: audio of {len(samples) / sample_rate * 1000:.1f} ms is shorter than one "
            f"{window} ms analysis window"
        )
    pxx, freqs = spectrogram(samples, fft_length=fft_length, sample_rate=sample_rate, hop_length=hop_length)
    ind = int(np.where(freqs <= max_freq)[0][-1]) + 1
    feats = np.transpose(np.log(pxx[:ind, :] + eps)).astype(np.float32)
    return feats


def spectrogram_from_file(
    filename: str, step: int = STEP_MS, window: int = WINDOW_MS, max_freq: float = MAX_FREQ, eps: float = EPS
) -> np.ndarray:
    """Log power spectrogram of an audio file at its own sample rate, shape (frames, 161) by default."""
    samples, sample_rate = load_audio(filename)
    return spectrogram_from_samples(samples, sample_rate, step, window, max_freq, eps, filename=str(filename))


def mfcc_from_samples(samples: np.ndarray, sample_rate: int, numcep: int = MFCC_DIM, step: int = STEP_MS,
                      window: int = WINDOW_MS, max_freq: float = MAX_FREQ, filename: str = "<samples>") -> np.ndarray:
    """MFCCs (python_speech_features), shape (frames, numcep), float32.

    The same window, step and upper frequency as the spectrogram, so a clip has as many MFCC frames
    as spectrogram frames (381 for 84,231 samples at 22,050 Hz).
    """
    samples, sample_rate, hop_length, fft_length = _usable_samples(samples, sample_rate, step, window, max_freq, filename)
    if len(samples) < fft_length:
        raise AudioError(f"{filename}: audio is shorter than one {window} ms analysis window")
    n_frames = num_feature_frames(len(samples), sample_rate, step, window)
    nfft = 1 << (fft_length - 1).bit_length()  # a power of two >= the window: no frame is truncated
    feats = mfcc(
        samples,
        samplerate=sample_rate,
        winlen=fft_length / sample_rate,
        winstep=hop_length / sample_rate,
        numcep=numcep,
        nfilt=max(26, numcep),
        nfft=nfft,
        highfreq=max_freq,
        winfunc=np.hanning,
    )
    return feats[:n_frames].astype(np.float32)


def mfcc_from_file(
    filename: str, numcep: int = MFCC_DIM, step: int = STEP_MS, window: int = WINDOW_MS, max_freq: float = MAX_FREQ
) -> np.ndarray:
    """MFCCs of an audio file at its own sample rate, shape (frames, numcep)."""
    samples, sample_rate = load_audio(filename)
    return mfcc_from_samples(samples, sample_rate, numcep, step, window, max_freq, filename=str(filename))


def text_to_int_sequence(text: str) -> list[int]:
    """Map a lower-case transcript to class indices ("it's" -> [10, 21, 0, 20]).

    Raises ValueError naming the first character outside the 28-character map.
    """
    try:
        return [CHAR_TO_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError(
            f"character {exc.args[0]!r} in {text!r} is not in the character map "
            "(apostrophe, space, a-z)"
        ) from None


def indices_to_text(indices: Sequence[int]) -> str:
    """Map class indices (0..27) back to text; blanks (28) are dropped."""
    return "".join(INDEX_TO_CHAR[int(c)] for c in indices if int(c) != BLANK_INDEX)


def int_sequence_to_text(int_sequence: Sequence[int]) -> list[str]:
    """The original capstone's decoder: characters of class indices + 1, looked up in its
    ``index_map`` (the original notebook printed ``''.join(int_sequence_to_text(ctc_decode(...) + 1))``).
    Use indices_to_text for class indices as they are."""
    return [index_map[int(c)] for c in int_sequence]


def num_feature_frames(n_samples: int, sample_rate: int, step: int = STEP_MS, window: int = WINDOW_MS) -> int:
    """Feature frames (spectrogram or MFCC) for `n_samples` samples at `sample_rate` Hz."""
    if (sample_rate * window) % 1000:  # resampled to SAMPLE_RATE first (see _usable_samples)
        n_samples, sample_rate = -(-n_samples * SAMPLE_RATE // sample_rate), SAMPLE_RATE
    hop_length, fft_length = int(0.001 * step * sample_rate), int(0.001 * window * sample_rate)
    return 0 if n_samples < fft_length else (n_samples - fft_length) // hop_length + 1


def audio_duration(filename: str) -> float:
    """Duration of an audio file in seconds, from its header; AudioError naming the file if it is
    missing, empty or cannot be decoded."""
    if not os.path.exists(filename):
        raise AudioError(f"{filename}: audio file not found")
    if os.path.getsize(filename) == 0:
        raise AudioError(f"{filename}: audio file is empty (0 bytes)")
    try:
        info = soundfile.info(filename)
        seconds = info.frames / info.samplerate if info.frames > 0 and info.samplerate > 0 else 0.0
    except Exception as exc:
        try:
            seconds = audio_formats.duration(filename)
        except audio_formats.AudioFormatError as av_exc:
            raise AudioError(f"{filename}: cannot decode audio ({exc}; {av_exc})") from exc
    if seconds <= 0:
        raise AudioError(f"{filename}: audio file holds no samples")
    return seconds


def audio_feature_frames(filename: str, step: int = STEP_MS, window: int = WINDOW_MS) -> int:
    """Feature frames of an audio file, from its header alone (no decoding)."""
    try:
        info = soundfile.info(filename)
    except Exception as exc:
        raise AudioError(f"{filename}: cannot decode audio ({exc})") from exc
    return num_feature_frames(info.frames, info.samplerate, step, window)


_SPELLED = {"\u2019": "'", "\u2018": "'", "`": "'", "-": " ", "\u2014": " ", "\u2013": " "}


def normalize_transcript(text: str) -> str:
    """Lower-case a transcript and map what has one clear spelling onto the character map.

    Curly quotes and backticks become apostrophes, hyphens and dashes spaces, and runs of white space
    one space. Anything else outside the map (digits, punctuation, accented letters) raises
    ValueError naming the character, since it has no single spoken form to map to.
    """
    text = "".join(_SPELLED.get(c, c) for c in text.lower())
    text = " ".join(text.split())
    bad = sorted({c for c in text if c not in CHAR_TO_INDEX})
    if bad:
        raise ValueError(f"characters {''.join(bad)!r} are outside the character map (apostrophe, space, a-z)")
    return text


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    A reader sees either the old file or the whole new one, never a half-written file; on any error
    (disk full, no permission) the temporary file is removed and the old file is left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # the permissions open() would give, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not exc.filename:
            exc.filename = path
        raise
