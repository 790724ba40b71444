"""Synthesise a small, offline, multi-speaker English speech corpus with eSpeak NG.

    python -m vui.synth_corpus --out data/synth --speakers 12 --utterances 300 --seed 0 \
        --valid-speakers 3 --train-json train_corpus.json --valid-json valid_corpus.json

When LibriSpeech cannot be downloaded (no internet, CI, a quick smoke run of the notebook), this gives
the models real speech to train on: a few hundred sentences (from ``synth_grammar``), each read by one
of several synthetic "speakers" (through ``espeak``). A speaker is one eSpeak NG voice (an English
accent such as ``en-us`` or ``en-gb-x-rp`` with a voice variant such as ``m3`` or ``f2``) at its own
speaking rate, pitch and pitch range, all drawn from the seed, so speakers sound different from each
other and a speaker-disjoint validation split is meaningful.

This module plans the corpus, renders and writes it. The audio is written in LibriSpeech's layout,
``<out>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac`` (16 kHz, mono, 16-bit FLAC) beside
``<speaker>-<chapter>.trans.txt`` (lines ``<utt-id> <TRANSCRIPT>``), and the JSON-lines corpus files
come from ``create_desc_json`` (the first ``--valid-speakers`` speaker IDs in sorted order are held
out). Transcripts are lower-case and use only the 28-character map.

Each file is a pure function of its own parameters (eSpeak NG is reloaded for every utterance): the
output is identical for a seed, and a re-run with the same seed keeps the files that are already
there (each FLAC records a fingerprint of the parameters it was made from in its metadata, so files
made with other settings are replaced, not reused). Files are written through a temporary name and a
rename, so an interrupted run leaves no truncated FLAC behind.

eSpeak renders at 22,050 Hz; the audio is resampled to 16 kHz (polyphase, 320/441), padded with a
little leading and trailing silence, given a very low noise floor (about -70 dBFS, so no frame is
digitally silent) and kept as float32 in [-1, 1] until it is written.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import soundfile
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from create_desc_json import scan_corpus, split_by_speaker, write_corpus
from utils import MAX_DURATION_S, SAMPLE_RATE, write_atomic
from vui.espeak import (
    ACCENTS,
    ESPEAK_SAMPLE_RATE,
    FEMALE_VARIANTS,
    MALE_VARIANTS,
    EspeakError,
    EspeakSynthesizer,
)
from vui.synth_grammar import check_sentence, make_sentences, random_sentence

# --- output layout and corpus defaults ----------------------------------------------------------
SPEAKER_ID_BASE: int = 9001  # first speaker ID; speakers are "9001", "9002", ...
MAX_SPEAKERS: int = 999  # IDs stay four digits (9001..9999)
CHAPTER_ID: str = "1"  # one chapter per speaker
SYNTH_VERSION: int = 1  # bump when the rendering changes, so old files are not reused
DEFAULT_OUT_DIR: str = os.path.join("data", "synth")
DEFAULT_SPEAKERS: int = 12
DEFAULT_UTTERANCES: int = 300  # in total, spread evenly over the speakers
DEFAULT_VALID_SPEAKERS: int = 3

# --- sentence retries -----------------------------------------------------------------------------
MAX_TEXT_TRIES: int = 50  # sentences drawn for one utterance before giving up on the length limit

# --- speaker and utterance parameters (espeak units) -------------------------------------------
RATE_WPM_RANGE: tuple[int, int] = (135, 190)  # speaking rate of a speaker, words per minute
RATE_JITTER_WPM: int = 8  # an utterance's rate differs from its speaker's by up to this, wpm
PITCH_RANGE: tuple[int, int] = (35, 65)  # espeakPITCH, 0..100 (50 = the variant's pitch; +-15 = about -20%/+25%)
INTONATION_RANGE: tuple[int, int] = (20, 85)  # espeakRANGE, 0..100 (0 = monotone, 50 = normal)

# --- audio post-processing --------------------------------------------------------------------
_RATE_GCD = math.gcd(SAMPLE_RATE, ESPEAK_SAMPLE_RATE)
RESAMPLE_UP: int = SAMPLE_RATE // _RATE_GCD  # 320
RESAMPLE_DOWN: int = ESPEAK_SAMPLE_RATE // _RATE_GCD  # 441
LEAD_SILENCE_S: tuple[float, float] = (0.05, 0.25)  # silence added before the speech, seconds
TRAIL_SILENCE_S: tuple[float, float] = (0.05, 0.25)  # silence added after the speech, seconds
TRIM_LEVEL: float = 1e-3  # |sample| below this at either end of eSpeak's output is trimmed
NOISE_RMS: float = 3e-4  # white noise floor, about -70 dBFS (3e-4 of full scale)
MAX_PEAK: float = 0.9  # louder utterances are scaled down to this peak (resampling can overshoot 1.0)
PEAK_LIMIT: float = 32767 / 32768  # largest sample kept, so PCM_16 conversion never clips


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak voice and its prosody settings."""

    speaker_id: str  # numeric string, e.g. "9001"
    accent: str  # eSpeak language voice, e.g. "en-gb-x-rp"
    variant: str  # eSpeak voice variant, e.g. "f2"
    gender: str  # "M" or "F", from the variant
    rate_wpm: int  # espeakRATE, words per minute
    pitch: int  # espeakPITCH, 0..100
    pitch_range: int  # espeakRANGE, 0..100

    @property
    def voice_name(self) -> str:
        """The name espeak_SetVoiceByName takes, e.g. "en-us+f2"."""
        return f"{self.accent}+{self.variant}"


@dataclass(frozen=True)
class UtterancePlan:
    """Everything one utterance is rendered from; the audio is a pure function of it."""

    speaker: Speaker
    utt_id: str  # "<speaker>-<chapter>-<NNNN>"
    text: str  # first-choice sentence (replaced by a shorter one if the audio is too long)
    rng_key: tuple[int, ...]  # seeds the utterance's own random numbers (rate jitter, padding, noise)

    @property
    def fingerprint(self) -> str:
        """Hash of the parameters, stored in the FLAC so a re-run can tell whether a file is current."""
        params = {
            "version": SYNTH_VERSION,
            "speaker": asdict(self.speaker),
            "utt_id": self.utt_id,
            "text": self.text,
            "rng_key": list(self.rng_key),
        }
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode("utf-8")).hexdigest()[:32]


# --- speakers, plans and rendering --------------------------------------------------------------
def make_speakers(n_speakers: int, seed: int, accents: set[str], variants: set[str]) -> list[Speaker]:
    """`n_speakers` distinct speakers for `seed`, alternating female and male voices.

    Each voice variant is used once before any is reused (with another accent); rate, pitch and
    pitch range are drawn per speaker. Only accents and variants in the given installed sets are used.
    """
    rng = np.random.default_rng([seed, 0])
    accent_list = [a for a in ACCENTS if a in accents]
    pools = {
        "F": [v for v in FEMALE_VARIANTS if v in variants],
        "M": [v for v in MALE_VARIANTS if v in variants],
    }
    combos: dict[str, list[tuple[str, str]]] = {}
    for gender, pool in pools.items():
        pairs = [(accent, variant) for variant in pool for accent in accent_list]
        combos[gender] = [pairs[i] for i in rng.permutation(len(pairs))]
    if n_speakers > sum(len(c) for c in combos.values()):
        raise ValueError(
            f"only {sum(len(c) for c in combos.values())} distinct voices are installed; ask for fewer speakers"
        )
    used_variants: dict[str, set[str]] = {"F": set(), "M": set()}
    taken: set[tuple[str, str]] = set()
    speakers = []
    for i in range(n_speakers):
        preferred = ("F", "M") if i % 2 == 0 else ("M", "F")  # alternate, unless one gender is used up
        gender = next(g for g in preferred if any(c not in taken for c in combos[g]))
        free = [c for c in combos[gender] if c not in taken]
        fresh = [c for c in free if c[1] not in used_variants[gender]]
        if not fresh:  # every variant of this gender is in use: start reusing them with other accents
            used_variants[gender].clear()
            fresh = free
        accent, variant = fresh[0]
        taken.add((accent, variant))
        used_variants[gender].add(variant)
        speakers.append(
            Speaker(
                speaker_id=str(SPEAKER_ID_BASE + i),
                accent=accent,
                variant=variant,
                gender=gender,
                rate_wpm=int(rng.integers(RATE_WPM_RANGE[0], RATE_WPM_RANGE[1] + 1)),
                pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                pitch_range=int(rng.integers(INTONATION_RANGE[0], INTONATION_RANGE[1] + 1)),
            )
        )
    return speakers


def plan_corpus(speakers: Sequence[Speaker], n_utterances: int, seed: int) -> list[UtterancePlan]:
    """Spread `n_utterances` distinct sentences evenly over the speakers (in speaker order)."""
    sentences = make_sentences(n_utterances, seed)
    plans = []
    k = 0
    for s_index, speaker in enumerate(speakers):
        count = n_utterances // len(speakers) + (1 if s_index < n_utterances % len(speakers) else 0)
        for u_index in range(count):
            utt_id = f"{speaker.speaker_id}-{CHAPTER_ID}-{u_index:04d}"
            plans.append(UtterancePlan(speaker, utt_id, sentences[k], (seed, 2, s_index, u_index)))
            k += 1
    return plans


def to_model_rate(samples: np.ndarray) -> np.ndarray:
    """int16 eSpeak samples at 22,050 Hz -> float32 in [-1, 1] at SAMPLE_RATE (16 kHz), shape (m,)."""
    audio = samples.astype(np.float32) / 32768.0
    return resample_poly(audio, RESAMPLE_UP, RESAMPLE_DOWN).astype(np.float32)


def render_utterance(synth: EspeakSynthesizer, plan: UtterancePlan) -> tuple[str, np.ndarray]:
    """Speak a plan: (transcript, float32 samples at 16 kHz in [-1, 1], shape (n,)).

    If the audio would be longer than MAX_DURATION_S, other sentences from the utterance's own random
    stream are tried, so the result still depends only on the plan.
    """
    rng = np.random.default_rng(list(plan.rng_key))
    speaker = plan.speaker
    rate = speaker.rate_wpm + int(rng.integers(-RATE_JITTER_WPM, RATE_JITTER_WPM + 1))
    lead_s = float(rng.uniform(*LEAD_SILENCE_S))
    trail_s = float(rng.uniform(*TRAIL_SILENCE_S))
    rand_seed = int(rng.integers(1, 2**31 - 1))
    text = plan.text
    for _ in range(MAX_TEXT_TRIES):
        raw = synth.synthesize(text, speaker.voice_name, rate, speaker.pitch, speaker.pitch_range, rand_seed)
        speech = to_model_rate(raw)
        loud = np.flatnonzero(np.abs(speech) > TRIM_LEVEL)
        if loud.size:
            speech = speech[loud[0] : loud[-1] + 1]
            speech *= min(1.0, MAX_PEAK / float(np.abs(speech).max()))
            n_lead, n_trail = round(lead_s * SAMPLE_RATE), round(trail_s * SAMPLE_RATE)
            if (speech.size + n_lead + n_trail) / SAMPLE_RATE <= MAX_DURATION_S:
                audio = np.concatenate([np.zeros(n_lead, np.float32), speech, np.zeros(n_trail, np.float32)])
                audio += (NOISE_RMS * rng.standard_normal(audio.size)).astype(np.float32)
                return text, np.clip(audio, -1.0, PEAK_LIMIT).astype(np.float32)
        text = random_sentence(rng)  # too long (or silent): try another sentence
    raise RuntimeError(f"{plan.utt_id}: no sentence in {MAX_TEXT_TRIES} tries fit in {MAX_DURATION_S} s")


def encode_flac(audio: np.ndarray, title: str, comment: str) -> bytes:
    """16 kHz mono 16-bit FLAC bytes for float32 samples, with title and comment metadata."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(
        buffer, "w", samplerate=SAMPLE_RATE, channels=1, format="FLAC", subtype="PCM_16"
    ) as f:
        f.title = title
        f.comment = comment
        f.write(audio)
    return buffer.getvalue()


def existing_transcript(path: str, fingerprint: str) -> str | None:
    """The transcript stored in an existing FLAC made from the same parameters, else None."""
    if not os.path.isfile(path):
        return None
    try:
        with soundfile.SoundFile(path) as f:
            if f.comment != fingerprint or f.samplerate != SAMPLE_RATE or f.frames <= 0 or f.channels != 1:
                return None
            text = f.title
        return check_sentence(text)
    except Exception:  # unreadable, truncated or foreign file: make it again
        return None


def _remove_stale_temporaries(folder: str) -> None:
    """Delete temporary files that write_atomic left behind when a run was killed."""
    for tmp in glob.glob(os.path.join(glob.escape(folder), ".*.tmp")):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def synthesize_corpus(
    synth: EspeakSynthesizer, plans: Sequence[UtterancePlan], out_dir: str, progress: bool = True
) -> dict[str, str]:
    """Write every plan's FLAC and each chapter's trans.txt; returns {audio path: transcript}.

    Files already made from the same parameters are kept (read back, not re-rendered).
    """
    written: dict[str, str] = {}
    chapter: list[tuple[str, str]] = []
    reused = 0
    bar = tqdm(plans, desc="Synthesising speech", unit="utt", disable=not progress)
    for i, plan in enumerate(bar):
        folder = os.path.join(out_dir, plan.speaker.speaker_id, CHAPTER_ID)
        if not chapter:
            os.makedirs(folder, exist_ok=True)
            _remove_stale_temporaries(folder)
        path = os.path.join(folder, plan.utt_id + ".flac")
        fingerprint = plan.fingerprint
        text = existing_transcript(path, fingerprint)
        if text is None:
            text, audio = render_utterance(synth, plan)
            write_atomic(path, encode_flac(audio, text, fingerprint))
        else:
            reused += 1
            bar.set_postfix(reused=reused, refresh=False)
        written[path] = text
        chapter.append((plan.utt_id, text))
        if i + 1 == len(plans) or plans[i + 1].speaker != plan.speaker:
            trans = os.path.join(folder, f"{plan.speaker.speaker_id}-{CHAPTER_ID}.trans.txt")
            lines = "".join(f"{utt_id} {t.upper()}\n" for utt_id, t in chapter)
            write_atomic(trans, lines.encode("utf-8"))
            chapter = []
    bar.close()
    return written


def write_speakers_file(out_dir: str, speakers: Sequence[Speaker]) -> None:
    """SPEAKERS.TXT (LibriSpeech-style, ';' comments): ID | SEX | VOICE | RATE | PITCH | RANGE."""
    lines = [f"{'; ID':<6} | SEX | {'VOICE':<24} | RATE (wpm) | PITCH | RANGE\n"]
    for s in speakers:
        lines.append(
            f"{s.speaker_id:<6} | {s.gender:<3} | {s.voice_name:<24} | {s.rate_wpm:<10} | {s.pitch:<5} | "
            f"{s.pitch_range}\n"
        )
    write_atomic(os.path.join(out_dir, "SPEAKERS.TXT"), "".join(lines).encode("utf-8"))


def build_synthetic_corpus(
    out_dir: str = DEFAULT_OUT_DIR,
    n_speakers: int = DEFAULT_SPEAKERS,
    n_utterances: int = DEFAULT_UTTERANCES,
    seed: int = 0,
    valid_speakers: int = DEFAULT_VALID_SPEAKERS,
    train_json: str | None = "train_corpus.json",
    valid_json: str | None = "valid_corpus.json",
    progress: bool = True,
) -> tuple[int, int]:
    """Synthesise the corpus under `out_dir` and write the train/valid JSON-lines files.

    `n_utterances` is the total, spread evenly over `n_speakers`; the first `valid_speakers` speaker
    IDs (sorted) go to `valid_json`, the rest to `train_json` (either may be None to skip writing it).
    The JSON keys are audio paths built on `out_dir` as given (relative stays relative). Only this
    run's utterances are listed, even if `out_dir` holds others. Returns (n_train, n_valid).
    Raises EspeakError if eSpeak NG is unusable, ValueError for impossible arguments.
    """
    if not 1 <= n_speakers <= MAX_SPEAKERS:
        raise ValueError(f"n_speakers must be 1..{MAX_SPEAKERS}, not {n_speakers}")
    if n_utterances < n_speakers:
        raise ValueError(f"n_utterances ({n_utterances}) must be at least n_speakers ({n_speakers})")
    if not 0 <= valid_speakers < n_speakers:
        raise ValueError(f"valid_speakers must be 0..{n_speakers - 1} so some speakers are left to train on")
    out_dir = os.fspath(out_dir)
    with EspeakSynthesizer() as synth:
        speakers = make_speakers(n_speakers, seed, synth.accents, synth.variants)
        plans = plan_corpus(speakers, n_utterances, seed)
        os.makedirs(out_dir, exist_ok=True)
        written = synthesize_corpus(synth, plans, out_dir, progress=progress)
    write_speakers_file(out_dir, speakers)

    scan = scan_corpus(out_dir, progress=False)
    wanted = {os.path.normpath(p) for p in written}
    entries = [e for e in scan.entries if os.path.normpath(e["key"]) in wanted]
    if len(entries) != len(wanted):
        problems = "; ".join(s for s in scan.skipped[:5])
        missing = len(wanted) - len(entries)
        raise RuntimeError(f"{missing} synthesised utterances could not be read back: {problems}")
    train, valid = split_by_speaker(entries, out_dir, valid_speakers)
    for path, part in ((train_json, train), (valid_json, valid)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write_corpus(path, part)
    return len(train), len(valid)


def main(argv: list[str] | None = None) -> int:
    """Build the corpus from the command line; 0 on success, 1 (with a message) if it cannot be made."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, help="output folder (LibriSpeech layout)")
    parser.add_argument("--speakers", type=int, default=DEFAULT_SPEAKERS, help="number of synthetic speakers")
    parser.add_argument("--utterances", type=int, default=DEFAULT_UTTERANCES, help="total utterances")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same corpus)")
    parser.add_argument("--valid-speakers", type=int, default=DEFAULT_VALID_SPEAKERS, help="speakers held out")
    parser.add_argument("--train-json", default="train_corpus.json", help="training JSON-lines file")
    parser.add_argument("--valid-json", default="valid_corpus.json", help="validation JSON-lines file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        n_train, n_valid = build_synthetic_corpus(
            args.out, args.speakers, args.utterances, args.seed, args.valid_speakers,
            args.train_json, args.valid_json, progress=not args.quiet,
        )
    except (EspeakError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {n_train} utterances to {args.train_json} and {n_valid} to {args.valid_json} "
        f"(audio under {args.out})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
