"""Synthesise a small, offline, multi-speaker English speech corpus with eSpeak NG.

    python -m vui.synth_corpus --out data/synth --speakers 12 --utterances 300 --seed 0 \
        --valid-speakers 3 --train-json train_corpus.json --valid-json valid_corpus.json

When LibriSpeech cannot be downloaded (no internet, CI, a quick smoke run of the notebook), this gives
the models real speech to train on: a few hundred sentences, generated from word lists and templates in
this module, each read by one of several synthetic "speakers". A speaker is one eSpeak NG voice (an
English accent such as ``en-us`` or ``en-gb-x-rp`` with a voice variant such as ``m3`` or ``f2``) at
its own speaking rate, pitch and pitch range, all drawn from the seed, so speakers sound different
from each other and a speaker-disjoint validation split is meaningful.

The audio is written in LibriSpeech's layout, ``<out>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac``
(16 kHz, mono, 16-bit FLAC) beside ``<speaker>-<chapter>.trans.txt`` (lines ``<utt-id> <TRANSCRIPT>``),
and the JSON-lines corpus files come from ``create_desc_json`` (the first ``--valid-speakers`` speaker
IDs in sorted order are held out). Transcripts are lower-case and use only the 28-character map.

eSpeak NG is the shared library shipped by the ``espeakng-loader`` wheel, called through ctypes: no
espeak-ng program and no network are needed. The library keeps synthesis state (pitch flutter phase,
gain control, echo buffers) in static variables that ``espeak_Terminate`` does not reset, so the same
text would come out slightly different depending on what was said before. Every utterance is therefore
rendered by a freshly loaded private copy of the library (about 6 ms), which makes each file a pure
function of its own parameters: the output is identical for a seed, and a re-run with the same seed
keeps the files that are already there (each FLAC records a fingerprint of the parameters it was made
from in its metadata, so files made with other settings are replaced, not reused). Files are written
through a temporary name and a rename, so an interrupted run leaves no truncated FLAC behind.

eSpeak renders at 22,050 Hz; the audio is resampled to 16 kHz (polyphase, 320/441), padded with a
little leading and trailing silence, given a very low noise floor (about -70 dBFS, so no frame is
digitally silent) and kept as float32 in [-1, 1] until it is written.
"""

from __future__ import annotations

import _ctypes
import argparse
import ctypes
import glob
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import weakref
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import soundfile
from scipy.signal import resample_poly

from create_desc_json import scan_corpus, split_by_speaker, write_corpus
from utils import MAX_DURATION_S, SAMPLE_RATE, normalize_transcript, text_to_int_sequence, write_atomic

# --- output layout and corpus defaults ----------------------------------------------------------
SPEAKER_ID_BASE: int = 9001  # first speaker ID; speakers are "9001", "9002", ...
MAX_SPEAKERS: int = 999  # IDs stay four digits (9001..9999)
CHAPTER_ID: str = "1"  # one chapter per speaker
SYNTH_VERSION: int = 1  # bump when the rendering changes, so old files are not reused
DEFAULT_OUT_DIR: str = os.path.join("data", "synth")
DEFAULT_SPEAKERS: int = 12
DEFAULT_UTTERANCES: int = 300  # in total, spread evenly over the speakers
DEFAULT_VALID_SPEAKERS: int = 3

# --- sentences ------------------------------------------------------------------------------------
MIN_WORDS: int = 3
MAX_WORDS: int = 15
MAX_TEXT_TRIES: int = 50  # sentences drawn for one utterance before giving up on the length limit

# --- speaker and utterance parameters (espeak units) -------------------------------------------
RATE_WPM_RANGE: tuple[int, int] = (135, 190)  # speaking rate of a speaker, words per minute
RATE_JITTER_WPM: int = 8  # an utterance's rate differs from its speaker's by up to this, wpm
PITCH_RANGE: tuple[int, int] = (35, 65)  # espeakPITCH, 0..100 (50 = the variant's pitch; +-15 = about -20%/+25%)
INTONATION_RANGE: tuple[int, int] = (20, 85)  # espeakRANGE, 0..100 (0 = monotone, 50 = normal)

# --- audio post-processing --------------------------------------------------------------------
ESPEAK_SAMPLE_RATE: int = 22050  # Hz: eSpeak NG's output rate
_RATE_GCD = math.gcd(SAMPLE_RATE, ESPEAK_SAMPLE_RATE)
RESAMPLE_UP: int = SAMPLE_RATE // _RATE_GCD  # 320
RESAMPLE_DOWN: int = ESPEAK_SAMPLE_RATE // _RATE_GCD  # 441
LEAD_SILENCE_S: tuple[float, float] = (0.05, 0.25)  # silence added before the speech, seconds
TRAIL_SILENCE_S: tuple[float, float] = (0.05, 0.25)  # silence added after the speech, seconds
TRIM_LEVEL: float = 1e-3  # |sample| below this at either end of eSpeak's output is trimmed
NOISE_RMS: float = 3e-4  # white noise floor, about -70 dBFS (3e-4 of full scale)
MAX_PEAK: float = 0.9  # louder utterances are scaled down to this peak (resampling can overshoot 1.0)
PEAK_LIMIT: float = 32767 / 32768  # largest sample kept, so PCM_16 conversion never clips

# --- eSpeak NG C API (speak_lib.h) --------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS: int = 2  # espeak_AUDIO_OUTPUT: synthesise in the calling thread
ESPEAK_INITIALIZE_DONT_EXIT: int = 0x8000  # return an error instead of calling exit()
ESPEAK_BUFFER_MS: int = 100  # length of each block handed to the callback, milliseconds
ESPEAK_CHARS_UTF8: int = 1
POS_CHARACTER: int = 1
ESPEAK_RATE: int = 1  # espeak_PARAMETER values
ESPEAK_PITCH: int = 3
ESPEAK_RANGE: int = 4
EE_OK: int = 0

# English accents (eSpeak language voices) and voice variants (files in espeak-ng-data/voices/!v)
# that sound like a plain human reader; those missing from the installed data are left out.
ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
MALE_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Lee", "john", "michel", "quincy", "robert",
    "gustave", "klatt", "klatt3", "edward", "grandpa",
)
FEMALE_VARIANTS: tuple[str, ...] = (
    "f1", "f2", "f3", "f4", "f5", "Annie", "belinda", "linda", "steph", "anika", "aunty", "grandma", "Andrea",
    "shelby",
)


class EspeakError(RuntimeError):
    """libespeak-ng cannot be found, loaded, initialised or made to speak; the message says why."""


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


# --- sentence generator ---------------------------------------------------------------------------
_NAMES = (
    "alice", "peter", "mary", "james", "susan", "robert", "emma", "thomas", "lucy", "henry", "sarah",
    "william", "anna", "george", "kate", "david", "helen", "frank", "grace", "oliver", "martha", "edward",
    "ruth", "charles", "jane", "arthur", "clara", "walter", "rose", "samuel", "joseph", "nora", "victor",
)
_PEOPLE = (
    "man", "woman", "boy", "girl", "teacher", "doctor", "farmer", "sailor", "soldier", "captain", "driver",
    "baker", "painter", "student", "stranger", "neighbor", "king", "queen", "child", "nurse", "writer",
    "singer", "pilot", "guard", "judge", "fisherman", "merchant",
)
_ANIMALS = (
    "dog", "cat", "horse", "bird", "fox", "rabbit", "cow", "sheep", "mouse", "wolf", "bear", "goat", "duck",
    "owl", "pig", "donkey", "squirrel", "frog",
)
_THINGS = (
    "book", "letter", "box", "door", "window", "chair", "table", "lamp", "key", "coat", "hat", "basket",
    "bottle", "cup", "knife", "rope", "boat", "wagon", "apple", "bread", "candle", "clock", "map", "picture",
    "ring", "bell", "blanket", "pencil", "newspaper", "jacket", "umbrella", "bucket", "ladder", "piano",
    "bicycle", "kettle", "mirror", "envelope", "puzzle", "jar", "quilt", "violin", "zipper",
)
_PLURALS = (
    "books", "letters", "boxes", "chairs", "apples", "candles", "bottles", "horses", "birds", "sheep",
    "children", "stones", "flowers", "ships", "coins", "eggs", "windows", "boats", "pictures", "pencils",
    "cups", "keys", "ducks", "foxes", "jars", "oranges", "wolves", "shoes", "buttons", "feathers",
)
_PLACES = (
    "the kitchen", "the garden", "the market", "the station", "the village", "the forest", "the harbor",
    "the church", "the school", "the library", "the river", "the hill", "the city", "the farm", "the beach",
    "the castle", "the office", "the shop", "the valley", "the museum", "the meadow", "the square",
    "the cellar", "the park", "the hospital", "the bakery",
)
_LOCATIONS = (  # things something can be on, under, near ...
    "table", "bed", "bridge", "door", "window", "wall", "tree", "fence", "shelf", "stairs", "bench", "sofa",
    "desk", "gate", "fireplace",
)
_LOCATION_PREPS = ("under", "near", "behind", "beside", "on", "by", "below", "above")
_MOTION_PREPS = ("to", "into", "across", "through", "toward", "around", "along", "past", "near", "behind")
_ADJECTIVES = (
    "old", "young", "small", "large", "quiet", "bright", "dark", "cold", "warm", "heavy", "empty", "broken",
    "strange", "beautiful", "green", "red", "yellow", "blue", "white", "black", "gentle", "angry", "happy",
    "tired", "clever", "quick", "lazy", "brave", "wooden", "silver", "golden", "narrow", "wide", "soft",
    "sharp", "clean", "dusty", "famous", "simple", "careful", "tiny", "enormous", "crooked", "shiny",
)
_STATES = (  # adjectives for people
    "tired", "happy", "hungry", "ready", "late", "busy", "cold", "sorry", "afraid", "glad", "sure", "lucky",
    "thirsty", "worried", "excited", "lost", "right", "wrong",
)
_WEATHER = ("cold", "warm", "dark", "windy", "quiet", "bright", "cloudy", "foggy", "sunny", "wet", "freezing")
_DEGREES = ("very", "quite", "rather", "so", "really", "a little", "too", "not")
_TRANSITIVE = (  # (base, past)
    ("find", "found"), ("lose", "lost"), ("carry", "carried"), ("open", "opened"), ("close", "closed"),
    ("paint", "painted"), ("buy", "bought"), ("sell", "sold"), ("take", "took"), ("bring", "brought"),
    ("watch", "watched"), ("follow", "followed"), ("move", "moved"), ("drop", "dropped"),
    ("lift", "lifted"), ("clean", "cleaned"), ("fix", "fixed"), ("wash", "washed"), ("push", "pushed"),
    ("pull", "pulled"), ("keep", "kept"), ("hide", "hid"), ("hold", "held"), ("see", "saw"),
    ("need", "needed"), ("want", "wanted"), ("forget", "forgot"), ("remember", "remembered"),
    ("choose", "chose"), ("break", "broke"), ("borrow", "borrowed"), ("return", "returned"),
    ("build", "built"), ("catch", "caught"), ("throw", "threw"), ("fill", "filled"), ("check", "checked"),
    ("mend", "mended"), ("pack", "packed"), ("squeeze", "squeezed"), ("examine", "examined"),
)
_INTRANSITIVE = (  # (base, past)
    ("laugh", "laughed"), ("wait", "waited"), ("sleep", "slept"), ("smile", "smiled"), ("walk", "walked"),
    ("listen", "listened"), ("cry", "cried"), ("dance", "danced"), ("stop", "stopped"), ("shout", "shouted"),
    ("whisper", "whispered"), ("arrive", "arrived"), ("sing", "sang"), ("work", "worked"), ("rest", "rested"),
    ("jump", "jumped"), ("hurry", "hurried"), ("sit", "sat"), ("stay", "stayed"), ("run", "ran"),
    ("swim", "swam"), ("wander", "wandered"), ("climb", "climbed"), ("fall", "fell"), ("wake", "woke"),
)
_PUT_VERBS = ("put", "leave", "place", "set", "hide", "keep")
_ADVERBS = (
    "slowly", "quickly", "quietly", "suddenly", "carefully", "happily", "again", "early", "late",
    "together", "alone", "at last", "once more", "for hours", "without a word", "all day",
)
_DIRECTIONS = ("home", "away", "outside", "upstairs", "downstairs", "back", "inside", "across the road")
_PAST_TIMES = (
    "this morning", "last night", "yesterday", "on sunday", "in the evening", "after dinner", "before noon",
    "at midnight", "in the spring", "last winter", "at dawn", "two days ago", "in the afternoon",
    "on monday", "last summer", "after the storm",
)
_FUTURE_TIMES = ("tomorrow", "tonight", "on friday", "next week", "this weekend", "in the morning", "soon")
_NUMBERS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
    "fifty", "a hundred", "a dozen", "several", "many", "a few", "no",
)
_POSSESSIVES = ("my", "his", "her", "our", "their", "your")
_DETERMINERS = ("the", "the", "the", "my", "his", "her", "our", "their", "that", "this", "your")
_PRONOUNS = ("he", "she", "we", "they", "i", "you")
_BE_CONTRACTIONS = ("i'm", "you're", "he's", "she's", "we're", "they're")
_NEGATIONS = ("didn't", "couldn't", "wouldn't", "won't", "can't", "shouldn't", "mustn't")
_THINK_VERBS = ("i think", "i know", "we hope", "they said", "she believes", "he told me", "nobody knew")
_QUESTION_WORDS = ("why", "where", "when", "how")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _subject(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.3:
        return _pick(rng, _NAMES)
    if r < 0.5:
        return "the " + _pick(rng, _PEOPLE)
    if r < 0.7:
        return f"the {_pick(rng, _ADJECTIVES)} {_pick(rng, _PEOPLE + _ANIMALS)}"
    if r < 0.85:
        return f"{_pick(rng, _POSSESSIVES)} {_pick(rng, _PEOPLE)}"
    return _pick(rng, _PRONOUNS)


def _object(rng: np.random.Generator) -> str:
    noun = _pick(rng, _THINGS)
    if rng.random() < 0.5:
        noun = f"{_pick(rng, _ADJECTIVES)} {noun}"
    return f"{_pick(rng, _DETERMINERS)} {noun}"


def _simple_clause(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        clause = f"{_subject(rng)} {_pick(rng, _TRANSITIVE)[1]} {_object(rng)}"
    else:
        clause = f"{_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"
    return clause


def _t_transitive(rng: np.random.Generator) -> str:
    s = f"{_subject(rng)} {_pick(rng, _TRANSITIVE)[1]} {_object(rng)}"
    r = rng.random()
    if r < 0.4:
        s += " " + _pick(rng, _PAST_TIMES)
    elif r < 0.7:
        s += " in " + _pick(rng, _PLACES)
    return s


def _t_intransitive(rng: np.random.Generator) -> str:
    s = f"{_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"
    if rng.random() < 0.6:
        s += f" {_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)}"
    return s


def _t_state(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        s = f"{_pick(rng, _BE_CONTRACTIONS)} {_pick(rng, _DEGREES)} {_pick(rng, _STATES)}"
    else:
        opener = _pick(rng, ("it was", "it is", "it's", "that's"))
        s = f"{opener} {_pick(rng, _DEGREES)} {_pick(rng, _WEATHER)}"
    if rng.random() < 0.5:
        s += " " + _pick(rng, _PAST_TIMES if "was" in s else _FUTURE_TIMES)
    return s


def _t_negation(rng: np.random.Generator) -> str:
    return f"{_subject(rng)} {_pick(rng, _NEGATIONS)} {_pick(rng, _TRANSITIVE)[0]} {_object(rng)}"


def _t_question(rng: np.random.Generator) -> str:
    aux = _pick(rng, ("did", "did", "will", "would", "could"))
    if rng.random() < 0.6:
        return f"{_pick(rng, _QUESTION_WORDS)} {aux} {_subject(rng)} {_pick(rng, _TRANSITIVE)[0]} {_object(rng)}"
    return f"{_pick(rng, _QUESTION_WORDS)} {aux} {_subject(rng)} {_pick(rng, _INTRANSITIVE)[0]}"


def _t_counting(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return (
            f"{_pick(rng, _NUMBERS)} {_pick(rng, _PLURALS)} were "
            f"{_pick(rng, _LOCATION_PREPS)} the {_pick(rng, _LOCATIONS)}"
        )
    return f"there were {_pick(rng, _NUMBERS)} {_pick(rng, _PLURALS)} in {_pick(rng, _PLACES)}"


def _t_request(rng: np.random.Generator) -> str:
    start = _pick(rng, ("please", "please", "don't", "never", "you should", "let's"))
    where = f"{_pick(rng, _LOCATION_PREPS)} the {_pick(rng, _LOCATIONS)}"
    return f"{start} {_pick(rng, _PUT_VERBS)} {_object(rng)} {where}"


def _t_possessive(rng: np.random.Generator) -> str:
    first, second = rng.choice(len(_ADJECTIVES), size=2, replace=False)
    return f"{_pick(rng, _NAMES)}'s {_pick(rng, _THINGS)} was {_ADJECTIVES[first]} and {_ADJECTIVES[second]}"


def _t_reported(rng: np.random.Generator) -> str:
    joiner = _pick(rng, (" that ", " "))
    return _pick(rng, _THINK_VERBS) + joiner + _simple_clause(rng)


def _t_animals(rng: np.random.Generator) -> str:
    first, second = rng.choice(len(_ANIMALS), size=2, replace=False)
    return (
        f"the {_ANIMALS[first]} and the {_ANIMALS[second]} {_pick(rng, _INTRANSITIVE)[1]} "
        f"{_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)}"
    )


def _t_time_first(rng: np.random.Generator) -> str:
    return f"{_pick(rng, _PAST_TIMES)} {_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"


def _t_sequence(rng: np.random.Generator) -> str:
    first, second = rng.choice(len(_TRANSITIVE), size=2, replace=False)
    return (
        f"{_subject(rng)} {_TRANSITIVE[first][1]} {_object(rng)} and {_TRANSITIVE[second][1]} it "
        f"{_pick(rng, _DIRECTIONS)}"
    )


def _t_because(rng: np.random.Generator) -> str:
    reason = _pick(rng, ("it was", "it was", "we were", "they were", "she was", "he was"))
    adjective = _pick(rng, _WEATHER) if reason == "it was" else _pick(rng, _STATES)
    return f"{_simple_clause(rng)} because {reason} {adjective}"


def _t_conditional(rng: np.random.Generator) -> str:
    weather = _pick(rng, ("rains", "snows", "gets dark", "stays warm", "is sunny"))
    then = _pick(rng, ("we'll", "i'll", "they'll", "you'll", "she'll"))
    when = _pick(rng, _FUTURE_TIMES)
    return f"if it {weather} {when} {then} {_pick(rng, _INTRANSITIVE)[0]} {_pick(rng, _DIRECTIONS)}"


def _t_pair(rng: np.random.Generator) -> str:
    first, second = rng.choice(len(_NAMES), size=2, replace=False)
    return (
        f"{_NAMES[first]} and {_NAMES[second]} {_pick(rng, _INTRANSITIVE)[1]} "
        f"{_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)} {_pick(rng, _PAST_TIMES)}"
    )


_TEMPLATES: tuple[Callable[[np.random.Generator], str], ...] = (
    _t_transitive, _t_transitive, _t_intransitive, _t_intransitive, _t_state, _t_negation, _t_question,
    _t_counting, _t_request, _t_possessive, _t_reported, _t_animals, _t_time_first, _t_sequence,
    _t_because, _t_conditional, _t_pair,
)


def check_sentence(text: str) -> str:
    """Return `text` if it is a usable transcript (normalised, in the char map, MIN..MAX words)."""
    if normalize_transcript(text) != text:
        raise ValueError(f"sentence {text!r} is not normalised")
    text_to_int_sequence(text)  # raises ValueError for a character outside the map
    n_words = len(text.split())
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        raise ValueError(f"sentence {text!r} has {n_words} words, not {MIN_WORDS}..{MAX_WORDS}")
    return text


def random_sentence(rng: np.random.Generator) -> str:
    """One sentence from a random template: lower-case, apostrophes, spaces and a-z only."""
    while True:
        text = " ".join(_pick(rng, _TEMPLATES)(rng).split())
        if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            return check_sentence(text)


def make_sentences(n: int, seed: int) -> list[str]:
    """`n` sentences for `seed`, distinct while the generator can find new ones (it can, by far)."""
    rng = np.random.default_rng([seed, 1])
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < n:
        for _ in range(100):
            text = random_sentence(rng)
            if text not in seen:
                break
        seen.add(text)
        sentences.append(text)
    return sentences


# --- eSpeak NG through ctypes -----------------------------------------------------------------
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_dlclose = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")


def espeak_paths() -> tuple[str, str]:
    """(libespeak-ng shared library, espeak-ng-data folder) from the espeakng-loader package."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError(
            "eSpeak NG is not available: the Python package 'espeakng-loader' (which ships "
            "libespeak-ng and its voice data) is not installed; pip install espeakng-loader"
        ) from exc
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except Exception as exc:
        raise EspeakError(f"espeakng-loader cannot locate libespeak-ng or its data: {exc}") from exc


class EspeakSynthesizer:
    """Text to 22,050 Hz int16 speech with libespeak-ng, with no state carried between utterances.

    Each call loads a private copy of the library (made once, in a temporary folder removed by
    close()), initialises it, speaks, and unloads it, so every utterance starts from the same state.
    Raises EspeakError if the library or its data cannot be loaded or does not produce audio.
    """

    def __init__(self, library_path: str | None = None, data_path: str | None = None) -> None:
        if library_path is None or data_path is None:
            default_library, default_data = espeak_paths()
            library_path = library_path or default_library
            data_path = data_path or default_data
        self.library_path = os.fspath(library_path)
        self.data_path = os.fspath(data_path)
        if not os.path.isfile(self.library_path):
            raise EspeakError(f"libespeak-ng not found at {self.library_path}")
        for needed in ("phontab", "phondata", "en_dict"):
            if not os.path.isfile(os.path.join(self.data_path, needed)):
                raise EspeakError(
                    f"{self.data_path} is not an espeak-ng-data folder with English ({needed} is missing)"
                )
        self._tmpdir = tempfile.mkdtemp(prefix="vui-espeak-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        suffix = os.path.splitext(self.library_path)[1]
        self._private_library = os.path.join(self._tmpdir, "libespeak-ng-private" + suffix)
        shutil.copyfile(self.library_path, self._private_library)
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced while the library may call it
        self.accents = self._installed_accents()
        self.variants = self._installed_variants()
        if "en" not in self.accents:
            raise EspeakError(f"{self.data_path} has no English voice (lang/gmw/en)")
        probe = self.synthesize("hello", "en", rate_wpm=175, pitch=50, pitch_range=50, rand_seed=0)
        if probe.size == 0 or not np.any(probe):
            raise EspeakError(f"libespeak-ng ({self.library_path}) produced no audio for a test word")

    def _installed_accents(self) -> set[str]:
        pattern = os.path.join(glob.escape(self.data_path), "lang", "**", "*")
        names = {os.path.basename(p).lower() for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)}
        return {accent for accent in ACCENTS if accent in names}

    def _installed_variants(self) -> set[str]:
        folder = os.path.join(self.data_path, "voices", "!v")
        return set(os.listdir(folder)) if os.path.isdir(folder) else set()

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n_samples: int, _events: int) -> int:
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = carry on synthesising

    def _load(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(self._private_library, mode=ctypes.RTLD_LOCAL)
        except OSError as exc:
            raise EspeakError(f"cannot load libespeak-ng from {self.library_path}: {exc}") from exc
        try:
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                ctypes.c_void_p, ctypes.c_void_p,
            ]
            lib.espeak_Terminate.argtypes = []
        except AttributeError as exc:
            _dlclose(lib._handle)
            raise EspeakError(f"{self.library_path} is not a usable libespeak-ng: {exc}") from exc
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, ESPEAK_BUFFER_MS, self.data_path.encode(), ESPEAK_INITIALIZE_DONT_EXIT
        )
        if rate != ESPEAK_SAMPLE_RATE:
            self._unload(lib)
            raise EspeakError(
                f"espeak_Initialize failed (returned {rate}, expected a sample rate of {ESPEAK_SAMPLE_RATE} Hz) "
                f"with library {self.library_path} and data {self.data_path}"
            )
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _unload(lib: ctypes.CDLL) -> None:
        try:
            lib.espeak_Terminate()
        finally:
            _dlclose(lib._handle)

    def synthesize(
        self, text: str, voice_name: str, rate_wpm: int, pitch: int, pitch_range: int, rand_seed: int
    ) -> np.ndarray:
        """Speak `text` with voice `voice_name` ("en-us+f2"); int16 samples at 22,050 Hz, shape (n,)."""
        if not self._finalizer.alive:
            raise EspeakError("this EspeakSynthesizer has been closed")
        lib = self._load()
        self._chunks = []
        try:
            if lib.espeak_SetVoiceByName(voice_name.encode()) != EE_OK:
                raise EspeakError(f"eSpeak has no voice {voice_name!r}")
            for parameter, value in ((ESPEAK_RATE, rate_wpm), (ESPEAK_PITCH, pitch), (ESPEAK_RANGE, pitch_range)):
                if lib.espeak_SetParameter(parameter, int(value), 0) != EE_OK:
                    raise EspeakError(f"espeak_SetParameter({parameter}, {value}) failed")
            try:  # espeak-ng >= 1.51: seeds the breath/noise generator of voices such as f2
                lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
                lib.espeak_ng_SetRandSeed(int(rand_seed))
            except AttributeError:
                pass  # older library: its noise still starts from the same state, as it is freshly loaded
            data = text.encode("utf-8")
            status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            if status != EE_OK or lib.espeak_Synchronize() != EE_OK:
                raise EspeakError(f"espeak_Synth failed (status {status}) for {text!r}")
        finally:
            self._unload(lib)
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def close(self) -> None:
        """Remove the private copy of the library."""
        self._finalizer()

    def __enter__(self) -> EspeakSynthesizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
    from tqdm.auto import tqdm

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
