"""Recordings of any length and format: pieces cut at pauses, word timestamps, whisper's output files,
the formats people record in, and the shipped model on shipped clips joined past 30 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile

from char_map import BLANK_INDEX
from data_generator import read_corpus
from tests.conftest import ROOT, tone_for_text
from utils import SAMPLE_RATE, AudioError, audio_duration, load_audio, text_to_int_sequence
from vui import audio, long_form, vad
from vui.decoding import decode
from vui.evaluate import error_rates
from vui.saved_model import SHIPPED_CLIPS, SHIPPED_MODEL
from vui.transcript_files import as_srt, as_vtt, timestamp, write_transcript

RNG = np.random.default_rng(0)


# --- cutting ---------------------------------------------------------------------------------------
def test_plan_pieces_groups_regions_within_the_limit_and_cuts_in_the_middle_of_pauses():
    regions = [(1.0, 9.0), (10.0, 18.0), (19.0, 27.0), (30.0, 38.0), (38.5, 40.0)]
    pieces = long_form.plan_pieces(regions, 45.0, max_s=20.0)
    assert all(p.end - p.start <= 20.0 for p in pieces)
    assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:]))  # no overlap
    for start, end in regions:  # every region inside one piece
        assert sum(p.start <= start and end <= p.end for p in pieces) == 1
    # the first piece takes (1, 9) and (10, 18); the pause after it is 18..19, so it ends by 18.5
    assert pieces[0].start == pytest.approx(1.0 - long_form.CONTEXT_S)
    assert pieces[0].end == pytest.approx(18.0 + long_form.CONTEXT_S)
    assert pieces[1].start == pytest.approx(19.0 - long_form.CONTEXT_S)
    # (19, 27) and (30, 38) share the second piece; (38.5, 40) does not fit, and the 0.5 s pause before it,
    # shorter than twice the context, is cut in its middle
    assert pieces[1].end == pytest.approx(38.25) and pieces[2].start == pytest.approx(38.25)
    assert pieces[2].end == pytest.approx(40.0 + long_form.CONTEXT_S) and len(pieces) == 3
    assert long_form.plan_pieces([], 10.0) == []


def test_split_long_regions_cuts_speech_without_a_pause_at_its_quietest_point():
    rate = 1000
    samples = RNG.uniform(-0.5, 0.5, 70 * rate).astype(np.float32)
    samples[22_000:22_100] *= 0.001  # one quiet moment 22 s in, in the second half of the first 30 s
    parts = long_form.split_long_regions([(0.0, 70.0)], samples, rate, 30.0)
    assert parts[0][0] == 0.0 and 22.0 <= parts[0][1] <= 22.1
    assert all(end - start <= 30.0 for start, end in parts)
    assert parts[-1][1] == 70.0 and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


def test_close_regions_bridges_short_gaps_and_drops_short_bursts():
    frame = 0.03
    speech = np.zeros(200, dtype=bool)
    speech[10:30] = True  # 0.6 s
    speech[32:40] = True  # after a 0.06 s gap: the same region
    speech[100:105] = True  # 0.15 s burst: dropped
    speech[150:190] = True
    regions = vad.close_regions(speech, frame)
    assert regions == [pytest.approx((0.3, 1.2)), pytest.approx((4.5, 5.7))]


@pytest.mark.parametrize("name", vad.VAD_NAMES)
def test_each_detector_finds_the_speech_between_silences(name):
    clip, _ = load_audio(read_corpus(SHIPPED_CLIPS).audio_paths[0])
    silence = np.zeros(2 * SAMPLE_RATE, np.float32)
    regions = vad.speech_regions(np.concatenate([silence, clip, silence, clip, silence]), name)
    assert regions, name
    seconds = len(clip) / SAMPLE_RATE
    assert 1.5 <= regions[0][0] < 3.0 and regions[-1][1] <= 4 + 2 * seconds + 0.5
    pause_middle = 3.0 + seconds
    assert not any(start < pause_middle < end for start, end in regions)  # the pause between the clips is no speech
    assert any(end < pause_middle for _, end in regions) and any(start > pause_middle for start, _ in regions)
    with pytest.raises(ValueError, match="unknown voice-activity detector"):
        vad.speech_regions(clip, "nope")


# --- timestamps and files --------------------------------------------------------------------------
def test_word_times_follow_the_alignment():
    b, space = BLANK_INDEX, text_to_int_sequence(" ")[0]
    h, i, y, o = text_to_int_sequence("hiyo")
    path = [b, h, b, i, b, b, space, b, b, y, o, b]
    probs = np.full((len(path), 29), 0.01)
    probs[np.arange(len(path)), path] = 0.9
    words = long_form.word_times(probs, "hi yo", 0.03, 10.0)
    assert [w["word"] for w in words] == ["hi", "yo"]
    assert words[0]["start"] == pytest.approx(10.03) and words[0]["end"] == pytest.approx(10.12)
    assert words[1]["start"] == pytest.approx(10.27) and words[1]["end"] == pytest.approx(10.33)
    assert long_form.word_times(probs, "", 0.03, 0.0) == []


def test_segments_break_at_pauses_and_at_their_longest():
    words = [{"word": f"w{k}", "start": k * 0.5, "end": k * 0.5 + 0.4} for k in range(30)]
    words.append({"word": "late", "start": 20.0, "end": 20.5})
    segments = long_form.segments_of(words)
    assert all(s["end"] - s["start"] <= long_form.MAX_SEGMENT_S for s in segments)
    assert segments[-1]["text"] == "late" and [w for s in segments for w in s["words"]] == words
    assert [s["id"] for s in segments] == list(range(len(segments)))


def test_subtitle_formats():
    result = {"text": "hello there", "segments": [
        {"id": 0, "start": 0.5, "end": 1.25, "text": "hello", "words": [{"word": "hello", "start": 0.5, "end": 1.25}]},
        {"id": 1, "start": 3661.0, "end": 3662.004, "text": "there",
         "words": [{"word": "there", "start": 3661.0, "end": 3662.004}]}]}
    assert timestamp(3662.004, ",") == "01:01:02,004"
    assert as_srt(result) == "1\n00:00:00,500 --> 00:00:01,250\nhello\n\n2\n01:01:01,000 --> 01:01:02,004\nthere\n"
    assert as_vtt(result).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nhello\n")


def test_write_transcript_names_files_by_the_audio_stem(tmp_path):
    result = {"text": "a", "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": "a",
                                         "words": [{"word": "a", "start": 0.0, "end": 1.0}]}]}
    written = write_transcript(result, "/somewhere/talk.v2.m4a", str(tmp_path / "out"), "all")
    assert sorted(os.path.basename(p) for p in written) == ["talk.v2.json", "talk.v2.srt", "talk.v2.txt", "talk.v2.vtt"]
    assert json.loads((tmp_path / "out" / "talk.v2.json").read_text()) == {"text": "a", "segments": result["segments"]}
    assert write_transcript(result, "x.wav", str(tmp_path), "txt") == [str(tmp_path / "x.txt")]


# --- formats ---------------------------------------------------------------------------------------
def _encode(path: str, samples: np.ndarray, rate: int, codec: str, channels: int = 2) -> None:
    """Write `samples` (mono float) to `path` with FFmpeg's `codec`, in the container its suffix names."""
    layout = "stereo" if channels == 2 else "mono"
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name
        planar = np.tile(samples, (channels, 1)).astype(np.float32)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, planar.shape[1], frame_size):
            chunk = planar[:, start:start + frame_size]
            if fmt.endswith("p"):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T.reshape(1, -1)), format="flt",
                                                   layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("name,codec,rate,soundfile_reads", [
    ("podcast.mp3", "libmp3lame", 44100, True),
    ("voice.ogg", "libopus", 48000, True),
    ("phone.m4a", "aac", 44100, False),
    ("browser.webm", "libopus", 48000, False),
])
def test_recorded_formats_read_through_soundfile_or_pyav(tmp_path, name, codec, rate, soundfile_reads):
    seconds = 2.0
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = str(tmp_path / name)
    _encode(path, tone, rate, codec)
    try:
        soundfile.info(path)
        readable = True
    except Exception:
        readable = False
    assert readable == soundfile_reads  # which library reads it, as the module says
    samples, sample_rate = load_audio(path)
    assert sample_rate == rate and samples.ndim == 1
    assert abs(len(samples) / rate - seconds) < 0.1 and abs(audio_duration(path) - seconds) < 0.1
    middle = samples[len(samples) // 4: 3 * len(samples) // 4]
    assert abs(np.sqrt(np.mean(middle ** 2)) - 0.3 / np.sqrt(2)) < 0.03  # the tone's level survives the codec
    at_16k = audio.read_at_rate(path, SAMPLE_RATE, seconds)
    assert abs(len(at_16k) / SAMPLE_RATE - len(samples) / rate) < 0.05
    spectrum = np.abs(np.fft.rfft(at_16k[SAMPLE_RATE // 2: SAMPLE_RATE // 2 + SAMPLE_RATE]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 2  # 1 s window: bins are 1 Hz


def test_read_at_rate_gives_a_16k_file_exactly_and_a_bad_file_a_clear_error(tmp_path):
    clip = read_corpus(SHIPPED_CLIPS).audio_paths[1]
    np.testing.assert_array_equal(audio.read_at_rate(clip, SAMPLE_RATE), load_audio(clip)[0])
    bad = tmp_path / "notes.mp3"
    bad.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AudioError, match="notes.mp3: cannot decode audio"):
        load_audio(str(bad))
    with pytest.raises(AudioError, match="notes.mp3: cannot decode audio"):
        audio_duration(str(bad))


# --- the shipped model on a recording over 30 s ---------------------------------------------------
@pytest.fixture(scope="module")
def joined_clips(tmp_path_factory):
    """The shipped clips twice over with 1 s pauses (over 30 s), and each clip's span in seconds."""
    corpus = read_corpus(SHIPPED_CLIPS)
    pause = np.zeros(SAMPLE_RATE, np.float32)
    parts, spans, position = [pause], [], 1.0
    for path in corpus.audio_paths * 2:
        samples, _ = load_audio(path)
        parts += [samples, pause]
        spans.append((path, position, position + len(samples) / SAMPLE_RATE))
        position += len(samples) / SAMPLE_RATE + 1.0
    path = str(tmp_path_factory.mktemp("long") / "joined clips.flac")
    soundfile.write(path, np.concatenate(parts), SAMPLE_RATE)
    assert audio_duration(path) > long_form.WHOLE_UP_TO_S
    return path, spans


def test_a_long_recording_transcribes_piece_by_piece_with_true_timestamps(joined_clips):
    from vui.transcriber import Transcriber

    path, spans = joined_clips
    transcriber = Transcriber(SHIPPED_MODEL)
    result = long_form.transcribe_long(transcriber, path, progress=False)
    assert result["pieces"] >= 2 and result["duration"] == pytest.approx(audio_duration(path))
    words = [w for s in result["segments"] for w in s["words"]]
    assert result["text"] == " ".join(w["word"] for w in words)
    assert all(0 <= w["start"] < w["end"] <= result["duration"] for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    # the words dated inside each clip's span transcribe that clip about as well as the clip alone
    truth = read_corpus(SHIPPED_CLIPS).texts * 2
    alone = [decode(transcriber.file_probabilities(clip)) for clip, _, _ in spans]
    by_span = [" ".join(w["word"] for w in words if start - 0.5 <= (w["start"] + w["end"]) / 2 <= end + 0.5)
               for _, start, end in spans]
    assert error_rates(truth, by_span)[0] <= error_rates(truth, alone)[0] + 0.05, list(zip(alone, by_span))
    assert error_rates(truth, by_span)[1] <= error_rates(truth, alone)[1] + 0.1, list(zip(alone, by_span))
    assert all(abs(len(a.split()) - len(b.split())) <= 2 for a, b in zip(alone, by_span))


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vui.transcribe", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_transcribe_command_writes_whisper_files_and_short_files_read_as_before(joined_clips, tmp_path):
    path, _ = joined_clips
    clip = read_corpus(SHIPPED_CLIPS).audio_paths[0]
    out = tmp_path / "subs"
    run = _run(["--no-lm", "--output-dir", str(out), path, clip])
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [path, clip]
    assert sorted(os.listdir(out)) == sorted(f"{stem}.{ext}" for stem in ("joined clips", "1089-134686-0001")
                                             for ext in ("json", "srt", "txt", "vtt"))
    saved = json.loads((out / "joined clips.json").read_text())
    assert set(saved) == {"text", "segments"} and saved["text"] == lines[0].split("\t")[1]
    assert set(saved["segments"][0]) == {"id", "start", "end", "text", "words"}
    assert set(saved["segments"][0]["words"][0]) == {"word", "start", "end"}
    assert (out / "joined clips.srt").read_text().startswith("1\n00:00:0")
    # a file of under 30 s: the transcript the model gives it whole, exactly
    from vui.transcriber import Transcriber

    assert lines[1].split("\t")[1] == decode(Transcriber(SHIPPED_MODEL).file_probabilities(clip))
    srt_only = _run(["--no-lm", "--output-format", "srt", "--output-dir", str(tmp_path / "one"), clip])
    assert srt_only.returncode == 0 and os.listdir(tmp_path / "one") == ["1089-134686-0001.srt"]
