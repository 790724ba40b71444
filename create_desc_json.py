"""Turn a LibriSpeech-layout folder into JSON-lines corpus files.

    python create_desc_json.py LibriSpeech/dev-clean/ train_corpus.json
    python create_desc_json.py LibriSpeech/test-clean/ train_corpus.json \
        --valid-speakers 8 --valid-output valid_corpus.json

The folder holds ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` files whose lines are
``<utterance-id> <TRANSCRIPT>``, beside ``<utterance-id>.flac`` (or ``.wav``). Each output line is
``{"key": <audio path>, "duration": <seconds>, "text": <lower-case transcript>}``. FLAC is read
directly (soundfile), so converting to WAV first is optional; where both exist, WAV is used.

Utterances whose audio is missing, unreadable or empty, or whose transcript has characters outside
the character map, are skipped with a warning each and a count at the end. Output files are written
whole or not at all (temporary file + rename).

``--valid-speakers N`` moves the first N speakers in sorted order (by ID as text) to the validation
file, so the split is speaker-disjoint and the same on every machine; ``--valid-speaker-ids`` names
them instead. For LibriSpeech test-clean, N = 8 holds out 1089, 1188, 121, 1221, 1284, 1320, 1580,
1995.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from utils import audio_duration, normalize_transcript, write_atomic

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")  # first found wins


@dataclass
class CorpusScan:
    """Entries found under a folder, and the utterances skipped, with why."""

    entries: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def speaker_of(key: str, data_dir: str) -> str:
    """The speaker ID of an audio path: its first folder below `data_dir`."""
    rel = os.path.relpath(key, data_dir)
    return rel.split(os.sep)[0]


def scan_corpus(data_dir: str, progress: bool = True) -> CorpusScan:
    """Read every ``*.trans.txt`` below `data_dir` and describe the utterances it names."""
    scan = CorpusScan()
    trans_files = sorted(glob.glob(os.path.join(glob.escape(data_dir), "**", "*.trans.txt"), recursive=True))
    if not trans_files:
        raise ValueError(f"{data_dir}: no *.trans.txt files found (expected LibriSpeech layout)")
    lines = []
    for trans in trans_files:
        with open(trans, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    lines.append((trans, lineno, line))
    for trans, lineno, line in tqdm(lines, desc="Reading corpus", unit="utt", disable=not progress):
        where = f"{trans}:{lineno}"
        parts = line.strip().split(" ", 1)
        utt_id, raw_text = parts[0], parts[1] if len(parts) > 1 else ""
        folder = os.path.dirname(trans)
        path = next(
            (os.path.join(folder, utt_id + ext) for ext in AUDIO_EXTENSIONS if os.path.exists(os.path.join(folder, utt_id + ext))),
            None,
        )
        if path is None:
            scan.skipped.append(f"{where}: no audio file {utt_id}.flac or {utt_id}.wav")
            continue
        try:
            text = normalize_transcript(raw_text)
            if not text:
                raise ValueError("empty transcript")
            duration = audio_duration(path)
        except ValueError as exc:
            scan.skipped.append(f"{where} ({utt_id}): {exc}")
            continue
        scan.entries.append({"key": path, "duration": round(duration, 4), "text": text})
    return scan


def split_by_speaker(
    entries: list[dict], data_dir: str, valid_speakers: int = 0, valid_speaker_ids: list[str] | None = None
) -> tuple[list[dict], list[dict]]:
    """Split entries into (train, valid) with no speaker in both.

    valid_speaker_ids names the held-out speakers; otherwise the first `valid_speakers` speakers in
    sorted order are held out.
    """
    speakers = sorted({speaker_of(e["key"], data_dir) for e in entries})
    if valid_speaker_ids:
        held = set(valid_speaker_ids)
        unknown = held - set(speakers)
        if unknown:
            raise ValueError(f"speakers {sorted(unknown)} are not in {data_dir}")
    else:
        if valid_speakers >= len(speakers) and valid_speakers > 0:
            raise ValueError(
                f"cannot hold out {valid_speakers} speakers: {data_dir} has only {len(speakers)}"
            )
        held = set(speakers[:valid_speakers])
    train = [e for e in entries if speaker_of(e["key"], data_dir) not in held]
    valid = [e for e in entries if speaker_of(e["key"], data_dir) in held]
    return train, valid


def write_corpus(path: str, entries: list[dict]) -> None:
    """Write entries as JSON lines, atomically."""
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    write_atomic(path, text.encode("utf-8"))


def main(data_directory: str | list[str] | None = None, output_file: str | None = None) -> int:
    """``main(data_directory, output_file)`` as the original (one corpus file, no split), or
    ``main(argv)`` / ``main()`` with the command line's arguments."""
    argv = [data_directory, output_file] if output_file is not None else data_directory
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="LibriSpeech-layout folder, e.g. LibriSpeech/dev-clean")
    parser.add_argument("output_file", help="JSON-lines file to write (training set when splitting)")
    parser.add_argument("--valid-speakers", type=int, default=0, help="hold out the first N speakers")
    parser.add_argument("--valid-speaker-ids", nargs="+", help="hold out these speaker IDs")
    parser.add_argument("--valid-output", help="JSON-lines file for the held-out speakers")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    splitting = bool(args.valid_speakers or args.valid_speaker_ids)
    if splitting != bool(args.valid_output):
        parser.error("--valid-output goes with --valid-speakers or --valid-speaker-ids")
    if not os.path.isdir(args.data_dir):
        parser.error(f"{args.data_dir}: not a folder")
    try:
        scan = scan_corpus(args.data_dir, progress=not args.quiet)
        for problem in scan.skipped:
            print(f"warning: skipped {problem}", file=sys.stderr)
        if not scan.entries:
            raise ValueError(f"{args.data_dir}: no usable utterances")
        train, valid = split_by_speaker(scan.entries, args.data_dir, args.valid_speakers, args.valid_speaker_ids)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_corpus(args.output_file, train)
    summary = f"wrote {len(train)} utterances to {args.output_file}"
    if splitting:
        write_corpus(args.valid_output, valid)
        summary += f" and {len(valid)} to {args.valid_output}"
    if scan.skipped:
        summary += f"; skipped {len(scan.skipped)} (see warnings)"
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
