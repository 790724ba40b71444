"""flac_to_wav.sh with neither ffmpeg nor sox on PATH: the Python fallback, odd paths, re-runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

SCRIPT = Path(__file__).resolve().parents[1] / "flac_to_wav.sh"
TARGET_RATE_HZ = 16000
TOOLS = ("bash", "find", "sort", "mv", "rm", "env")  # all the script needs besides python3

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason="needs bash and GNU find/sort/mv/rm"
)


def restricted_path(tmp_path: Path) -> str:
    """A PATH of one folder holding the needed tools and a python3 that has soundfile and scipy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    python3 = bin_dir / "python3"  # a wrapper, since a symlinked venv interpreter loses its venv
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    assert not any((bin_dir / t).exists() for t in ("ffmpeg", "sox"))
    return str(bin_dir)


def run(folder: Path, path: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "LC_ALL": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [shutil.which("bash"), str(SCRIPT), str(folder)], env=env, capture_output=True, text=True, timeout=60
    )


def test_converts_to_16k_mono_pcm16_and_skips_on_rerun(tmp_path: Path) -> None:
    folder = tmp_path / "my corpus ñé 音声" / "chapter 1"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    stereo_rate_hz, stereo_s, mono_s = 44100, 1.25, 0.8
    t = np.arange(int(stereo_rate_hz * stereo_s)) / stereo_rate_hz
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 660 * t)], axis=1)
    soundfile.write(folder / "stereo 44k é.flac", stereo, stereo_rate_hz, subtype="PCM_16")
    mono = 0.3 * rng.standard_normal(int(TARGET_RATE_HZ * mono_s)).clip(-1, 1)
    soundfile.write(folder / "mono 16k.flac", mono, TARGET_RATE_HZ, subtype="PCM_16")
    path = restricted_path(tmp_path)

    result = run(tmp_path / "my corpus ñé 音声", path)
    assert result.returncode == 0, result.stderr
    assert "converted 2, skipped 0" in result.stderr and "with python" in result.stderr
    for name, duration_s in (("stereo 44k é", stereo_s), ("mono 16k", mono_s)):
        info = soundfile.info(folder / f"{name}.wav")
        assert (info.samplerate, info.channels, info.subtype, info.format) == (TARGET_RATE_HZ, 1, "PCM_16", "WAV")
        assert info.frames == round(duration_s * TARGET_RATE_HZ)
    # the 16 kHz mono file only changes by 16-bit rounding
    same, _ = soundfile.read(folder / "mono 16k.wav")
    assert np.max(np.abs(same - mono)) < 1e-4
    assert sorted(p.name for p in folder.iterdir()) == [
        "mono 16k.flac", "mono 16k.wav", "stereo 44k é.flac", "stereo 44k é.wav"
    ]  # no temporary files left

    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.wav")}
    again = run(tmp_path / "my corpus ñé 音声", path)
    assert again.returncode == 0, again.stderr
    assert "converted 0, skipped 2" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.wav")} == mtimes

    # a FLAC newer than its WAV is converted again
    os.utime(folder / "mono 16k.flac", ns=(mtimes["mono 16k.wav"] + 10**9,) * 2)
    third = run(tmp_path / "my corpus ñé 音声", path)
    assert "converted 1, skipped 1" in third.stderr, third.stderr


def test_missing_folder_fails_with_a_message(tmp_path: Path) -> None:
    result = run(tmp_path / "no such folder", restricted_path(tmp_path))
    assert result.returncode != 0
    assert "no such folder" in result.stderr


def test_unreadable_flac_is_reported(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.flac").write_bytes(b"not a flac")
    result = run(tmp_path / "data", restricted_path(tmp_path))
    assert result.returncode != 0
    assert "broken.flac" in result.stderr and "failed 1" in result.stderr
    assert sorted(os.listdir(tmp_path / "data")) == ["broken.flac"]
