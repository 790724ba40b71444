"""The acoustic features a model was trained on: their settings, their normalisation, and their
computation from an audio file.

One ``Features`` object is the single owner of this concept: training fits it (``fit``) and saves it
in the model's description (``to_dict``); ``get_predictions``, ``Transcriber``, ``transcribe`` and
``evaluate`` rebuild it from there (``from_dict``), so inference computes exactly the training
features. ``features(path)`` gives the normalised features of a file, shape (frames, dim).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy.signal import resample_poly

from utils import (
    MAX_FREQ,
    MFCC_DIM,
    STEP_MS,
    WINDOW_MS,
    calc_feat_dim,
    load_audio,
    mfcc_from_samples,
    spectrogram_from_samples,
    write_atomic,
)

FEATURE_VERSION: int = 1  # bump when feature code changes, so cached features are recomputed
NORMALIZE_EPS: float = 1e-14  # added to the standard deviation before dividing
MAX_SPEED_DENOMINATOR: int = 100  # speed factors are applied as resampling ratios p/q with q <= this


def change_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """The samples played `speed` times as fast, tempo and pitch together (sox's ``speed`` effect,
    as Kaldi's speed perturbation uses it): resampled by 1/speed, shape (about n / speed,)."""
    if speed == 1.0:
        return samples
    if speed <= 0:
        raise ValueError(f"speed must be positive, not {speed}")
    ratio = Fraction(1 / speed).limit_denominator(MAX_SPEED_DENOMINATOR)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


@dataclass(eq=False)  # compared by to_dict(): numpy statistics have no single truth value
class Features:
    """Spectrogram (``spectrogram=True``, calc_feat_dim(window, max_freq) = 161 values per frame) or
    MFCC (``mfcc_dim`` values) features every ``step`` ms over ``window`` ms windows, up to
    ``max_freq`` Hz, normalised with the training set's per-dimension ``mean`` and ``std`` (dim,).

    ``cache_dir`` keeps computed (un-normalised) features on disk between epochs, models and runs;
    it is where this machine keeps them, not part of what a saved model describes.
    """

    spectrogram: bool = True
    mfcc_dim: int = MFCC_DIM
    step: int = STEP_MS
    window: int = WINDOW_MS
    max_freq: int = MAX_FREQ
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    cache_dir: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.mean = np.zeros(self.dim, np.float32) if self.mean is None else np.asarray(self.mean, np.float32)
        self.std = np.ones(self.dim, np.float32) if self.std is None else np.asarray(self.std, np.float32)
        if self.mean.shape != (self.dim,) or self.std.shape != (self.dim,):
            raise ValueError(f"normalisation statistics have shapes {self.mean.shape} and {self.std.shape}; "
                             f"these features have {self.dim} dimensions")

    @property
    def dim(self) -> int:
        """Values per frame: 161 for the default spectrogram, mfcc_dim for MFCCs."""
        return calc_feat_dim(self.window, self.max_freq) if self.spectrogram else self.mfcc_dim

    # --- computing ---------------------------------------------------------------------------------
    def raw(self, audio_path: str, speed: float = 1.0) -> np.ndarray:
        """Un-normalised features of one audio file, shape (frames, dim), from the cache if set;
        `speed` other than 1 plays the audio that much faster first (training's speed perturbation)."""
        cache = self.cache_path(audio_path, speed) if self.cache_dir else None
        if cache is not None and os.path.exists(cache):
            try:
                return np.load(cache)
            except (OSError, ValueError):  # damaged entry: compute again and replace it
                pass
        samples, sample_rate = load_audio(audio_path)
        feats = self.raw_from_samples(change_speed(samples, speed), sample_rate, audio_path)
        if cache is not None:
            buffer = io.BytesIO()
            np.save(buffer, feats)
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            write_atomic(cache, buffer.getvalue())
        return feats

    def raw_from_samples(self, samples: np.ndarray, sample_rate: int, name: str = "<samples>") -> np.ndarray:
        """Un-normalised features of mono samples (n,) at `sample_rate` Hz, shape (frames, dim);
        `name` is what an error about them calls them."""
        if self.spectrogram:
            return spectrogram_from_samples(samples, sample_rate, self.step, self.window, self.max_freq, filename=name)
        return mfcc_from_samples(samples, sample_rate, self.mfcc_dim, self.step, self.window, self.max_freq,
                                 filename=name)

    def cache_path(self, audio_path: str, speed: float = 1.0) -> str:
        """Where the features of `audio_path` (at `speed`) are cached: keyed by the file's absolute
        path, size, modification time, the speed and every feature setting, so a change to any of
        them misses the cache.
        Entries are written atomically, so several processes may fill the cache at once, and the
        folder can be deleted at any time."""
        st = os.stat(audio_path)
        key = json.dumps([os.path.abspath(audio_path), st.st_size, st.st_mtime_ns, self.spectrogram,
                          self.mfcc_dim, self.step, self.window, self.max_freq, FEATURE_VERSION]
                         + ([speed] if speed != 1.0 else []))
        digest = hashlib.sha1(key.encode()).hexdigest()
        return os.path.join(self.cache_dir, digest[:2], digest + ".npy")

    def normalize(self, feats: np.ndarray, eps: float = NORMALIZE_EPS) -> np.ndarray:
        """Centre and scale (frames, dim) features with the training statistics."""
        return ((feats - self.mean) / (self.std + eps)).astype(np.float32)

    def __call__(self, audio_path: str) -> np.ndarray:
        """Normalised features of one audio file, shape (frames, dim): what the model reads."""
        return self.normalize(self.raw(audio_path))

    def of_samples(self, samples: np.ndarray, sample_rate: int, name: str = "<samples>") -> np.ndarray:
        """Normalised features of mono samples (n,) at `sample_rate` Hz, shape (frames, dim): a piece
        of a long recording, or a recording made in the notebook."""
        return self.normalize(self.raw_from_samples(samples, sample_rate, name))

    def fit(self, audio_paths: Sequence[str]) -> "Features":
        """Set the normalisation to the per-dimension mean and std over all frames of these files."""
        frames = np.vstack([self.raw(p) for p in audio_paths])
        self.mean = frames.mean(axis=0).astype(np.float32)
        self.std = frames.std(axis=0).astype(np.float32)
        return self

    # --- saving --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The settings and statistics as a saved model's description holds them (JSON-ready)."""
        return {"spectrogram": self.spectrogram, "mfcc_dim": self.mfcc_dim, "step": self.step,
                "window": self.window, "max_freq": self.max_freq,
                "feats_mean": self.mean.tolist(), "feats_std": self.std.tolist()}

    def settings(self) -> dict:
        """to_dict without the statistics: what must match for two runs to see the same features."""
        return {k: v for k, v in self.to_dict().items() if not k.startswith("feats")}

    @classmethod
    def from_dict(cls, saved: dict, cache_dir: str | None = None) -> "Features":
        """The features described by to_dict's output (a saved model's ``description['features']``)."""
        try:
            return cls(spectrogram=bool(saved["spectrogram"]), mfcc_dim=int(saved["mfcc_dim"]),
                       step=int(saved["step"]), window=int(saved["window"]), max_freq=int(saved["max_freq"]),
                       mean=saved.get("feats_mean"), std=saved.get("feats_std"), cache_dir=cache_dir)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"feature description lacks or garbles {exc}") from None

    def save(self, path: str) -> None:
        """Write to_dict() as JSON, atomically."""
        write_atomic(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str, cache_dir: str | None = None) -> "Features":
        """Features saved by save()."""
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f), cache_dir)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read feature settings ({exc})") from None
