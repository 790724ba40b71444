"""A timed transcript written as whisper writes it: plain text, SubRip and WebVTT subtitles, JSON.

The transcript is ``vui.long_form``'s dict (whisper's layout: "text" and "segments", each with
"start", "end", "text" and timed "words", in seconds). ``write_transcript(result, audio_path,
out_dir, "srt")`` writes ``out_dir/<audio stem>.srt``, atomically; "all" writes every format.
"""

from __future__ import annotations

import json
import os

from utils import write_atomic

FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json")


def timestamp(seconds: float, decimal_marker: str = ".") -> str:
    """HH:MM:SS.mmm (SubRip uses a comma before the milliseconds)."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def as_txt(result: dict) -> str:
    """One segment per line."""
    return "".join(segment["text"] + "\n" for segment in result["segments"])


def as_srt(result: dict) -> str:
    """SubRip: numbered cues from 1, times with a comma."""
    return "\n".join(f"{k}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n{s['text']}\n"
                     for k, s in enumerate(result["segments"], 1))


def as_vtt(result: dict) -> str:
    """WebVTT: a header, then cues."""
    return "WEBVTT\n\n" + "\n".join(f"{timestamp(s['start'])} --> {timestamp(s['end'])}\n{s['text']}\n"
                                    for s in result["segments"])


def as_json(result: dict) -> str:
    """whisper's JSON: text, segments with their words."""
    return json.dumps({"text": result["text"], "segments": result["segments"]}, ensure_ascii=False)


WRITERS = {"txt": as_txt, "srt": as_srt, "vtt": as_vtt, "json": as_json}


def write_transcript(result: dict, audio_path: str, out_dir: str, output_format: str = "all") -> list[str]:
    """Write `result` as ``out_dir/<audio stem>.<ext>`` in `output_format` (one of FORMATS, or
    "all"); returns the paths written."""
    formats = FORMATS if output_format == "all" else (output_format,)
    stem = os.path.splitext(os.path.basename(audio_path))[0]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in formats:
        path = os.path.join(out_dir, f"{stem}.{name}")
        write_atomic(path, WRITERS[name](result).encode("utf-8"))
        written.append(path)
    return written
