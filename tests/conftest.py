"""Shared fixtures: small generated corpora (no downloads), and the shared LibriSpeech copy if present."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("VUI_FEATURE_CACHE", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vui-test-cache-{os.getpid()}"))
from vui import backend  # noqa: E402,F401  (the same backend choice as the product)

from char_map import CHARACTERS  # noqa: E402
from utils import SAMPLE_RATE  # noqa: E402

LIBRISPEECH_TEST_CLEAN = os.path.join(ROOT, "..", "shared", "corpora", "LibriSpeech", "test-clean")
WORDS = ["a", "cab", "bed", "dog", "it's", "feed", "go", "hi", "ice"]
CHAR_S = 0.08  # seconds of tone per character


def tone_for_text(text: str, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A learnable stand-in for speech: each character is a short tone of its own pitch, plus noise."""
    n = int(CHAR_S * sample_rate)
    t = np.arange(n) / sample_rate
    parts = [np.zeros(int(0.05 * sample_rate))]
    for ch in text:
        freq = 300 + 180 * CHARACTERS.index(ch)
        parts.append(0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(n))
    parts.append(np.zeros(int(0.05 * sample_rate)))
    audio = np.concatenate(parts)
    return (audio + 0.01 * rng.standard_normal(len(audio))).astype(np.float32)


def absolute_paths_in(value: object) -> list[str]:
    """Every string in a JSON-ready value (a saved description) that is an absolute path."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in absolute_paths_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in absolute_paths_in(v)]
    if isinstance(value, str) and (os.path.isabs(value) or value[1:3] in (":\\", ":/")):
        return [value]
    return []


def make_tiny_corpus(folder: str, n_train: int = 24, n_valid: int = 8, seed: int = 0) -> tuple[str, str]:
    """Write tone-coded WAVs and train/valid JSON-lines corpus files; returns their paths."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = []
    for part, n in (("train", n_train), ("valid", n_valid)):
        lines = []
        for i in range(n):
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4))))
            audio = tone_for_text(text, rng)
            path = os.path.join(folder, f"{part}-{i:03d}.wav")
            soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
            lines.append(json.dumps({"key": path, "duration": len(audio) / SAMPLE_RATE, "text": text}))
        desc = os.path.join(folder, f"{part}_corpus.json")
        with open(desc, "w") as f:
            f.write("\n".join(lines) + "\n")
        out.append(desc)
    return out[0], out[1]


@pytest.fixture
def tiny_corpus(tmp_path):
    """(train_json, valid_json) of a small tone-coded corpus in a temporary folder."""
    return make_tiny_corpus(str(tmp_path / "corpus"))


@pytest.fixture
def librispeech_test_clean():
    """The shared LibriSpeech test-clean folder; the test is skipped where it is absent."""
    if not os.path.isdir(LIBRISPEECH_TEST_CLEAN):
        pytest.skip("../shared/corpora/LibriSpeech/test-clean is not here")
    return LIBRISPEECH_TEST_CLEAN


@pytest.fixture(scope="session", autouse=True)
def _remove_feature_cache():
    """The tests' feature cache lives in a temporary folder, removed at the end."""
    yield
    import shutil

    shutil.rmtree(os.environ["VUI_FEATURE_CACHE"], ignore_errors=True)
