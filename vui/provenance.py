"""How saved descriptions name their data: a corpus by what it holds, never by a folder of the machine
that wrote it (a model's ``.json``, an LM's sidecar)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

# <speaker>-<chapter>-<utterance>.flac, or _<k> after it for a piece of one (vui.split_long)
LIBRISPEECH_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)(?:_\d+)?$")
# LibriSpeech's subsets as folder names: dev-clean, test-other, train-clean-100, ...
LIBRISPEECH_SUBSET = re.compile(r"^(dev|test|train)-(clean|other)(-\d+)?$")


def librispeech_speaker(audio_path: str) -> str | None:
    """The LibriSpeech speaker ID in an audio file's name (``<speaker>-<chapter>-<utt>.flac``, or
    ``..._<k>.flac`` for a piece of one), or None for a name of another form."""
    match = LIBRISPEECH_NAME.match(os.path.splitext(os.path.basename(audio_path))[0])
    return match.group(1) if match else None


def portable_path(path: str, start: str | None = None) -> str:
    """`path` relative to `start` (default: the current folder, where the commands run) when it lies
    inside it, else the file's name alone; '/' separates folders."""
    full, start = os.path.abspath(path), os.path.abspath(start or os.curdir)
    try:
        inside = os.path.dirname(start) != start and os.path.commonpath([full, start]) == start
    except ValueError:  # another drive (Windows)
        inside = False
    return os.path.relpath(full, start).replace(os.sep, "/") if inside else os.path.basename(full)


def _corpus_lines(corpus_json: str) -> tuple[list[str], list[float]]:
    """(audio paths, durations) of a JSON-lines corpus file's readable lines."""
    paths, durations = [], []
    with open(corpus_json, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
                paths.append(str(entry["key"]))
                durations.append(float(entry["duration"]))
            except (ValueError, KeyError, TypeError):
                continue
    return paths, durations


def describe_corpus(corpus_json: str, audio_paths: Sequence[str] | None = None,
                    durations: Sequence[float] | None = None) -> dict:
    """A corpus file as a description names it: the file (portable_path), its utterances and hours (three
    significant digits), and, where its audio is LibriSpeech's, the speakers and the subsets named in the folders.
    `audio_paths` and `durations` are the utterances used (default: every line of the file)."""
    if audio_paths is None or durations is None:
        audio_paths, durations = _corpus_lines(corpus_json)
    described: dict = {"file": portable_path(corpus_json), "utterances": len(audio_paths),
                       "hours": float(f"{sum(durations) / 3600:.3g}")}
    speakers = {librispeech_speaker(p) for p in audio_paths} - {None}
    if speakers:
        described["librispeech_speakers"] = len(speakers)
    subsets = {part for p in audio_paths for part in re.split(r"[\\/]", p) if LIBRISPEECH_SUBSET.match(part)}
    if subsets:
        described["librispeech_subsets"] = sorted(subsets)
    return described
