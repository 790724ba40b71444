"""Corpus files to normalised minibatches for CTC training, plus the notebook's plotting helpers.

An ``AudioGenerator`` reads JSON-lines corpus files (``{"key", "duration", "text"}`` per line),
turns audio into spectrogram (161-dim) or MFCC (13-dim) features, normalises them with the mean and
standard deviation of a seeded sample of training clips, and yields minibatches::

    inputs = {"the_input":    float32 (batch, max_frames, feat_dim), zero-padded,
              "the_labels":   int32   (batch, max_label_len), padded with the blank (28),
              "input_length": int32   (batch, 1) feature frames of each clip,
              "label_length": int32   (batch, 1) characters of each transcript}
    outputs = {"ctc": float32 (batch,) zeros}   # the CTC loss is computed inside the model

Bugs of the original fixed here: ``desc_file=`` in the constructor loads training data; the test
partition uses its own cursor; shuffles are seeded; every epoch sees every utterance (the last
minibatch may be smaller); ``sort_by_duration`` holds for every epoch, not only the first.
"""

from __future__ import annotations

import json
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from char_map import BLANK_INDEX
from utils import (
    MAX_DURATION_S,
    MAX_FREQ,
    MFCC_DIM,
    STEP_MS,
    WINDOW_MS,
    AudioError,
    audio_duration,
    calc_feat_dim,
    normalize_transcript,
    text_to_int_sequence,
)
from vui.features import NORMALIZE_EPS, Features

RNG_SEED: int = 123
PARTITIONS: tuple[str, ...] = ("train", "valid", "test")
PARTITION_ALIASES: dict[str, str] = {"validation": "valid"}  # the original loaded its validation data as 'validation'


def _partition(name: str) -> str:
    """'train', 'valid' or 'test' ('validation' as the original called it); ValueError otherwise."""
    name = PARTITION_ALIASES.get(name, name)
    if name not in PARTITIONS:
        raise ValueError(f"partition must be one of {PARTITIONS} (or 'validation'), not {name!r}")
    return name


def _in_order(order, *columns: list) -> tuple[list, ...]:
    """Each column (paths, durations, texts) reordered (or subset) by the indices in `order`."""
    return tuple([column[i] for i in order] for column in columns)


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the file and line."""


@dataclass
class Partition:
    """The utterances of one partition, in the order batches are drawn."""

    audio_paths: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    cursor: int = 0  # next batch within the current epoch
    epoch: int = 0
    order: list[list[int]] = field(default_factory=list)  # the current epoch's batches of indices


DURATION_TOLERANCE_S: float = 0.1  # a listed duration further than this from the audio's is an error


@dataclass
class CorpusFile:
    """The usable utterances of a corpus file, and what was left out."""

    audio_paths: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    too_long: int = 0  # utterances over max_duration, left out by design
    problems: list[str] = field(default_factory=list)  # "file:line: why" for each line skipped


def _parse_line(line: str, where: str) -> tuple[str, float, str]:
    """(audio path, duration, normalised text) of one corpus line; CorpusError saying what is wrong."""
    try:
        spec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(spec, dict):
        raise CorpusError(f"{where}: expected a JSON object")
    missing = [k for k in ("key", "duration", "text") if k not in spec]
    if missing:
        raise CorpusError(f"{where}: missing key(s) {', '.join(missing)}")
    try:
        duration = float(spec["duration"])
    except (TypeError, ValueError):
        raise CorpusError(f"{where}: duration {spec['duration']!r} is not a number") from None
    try:
        text = normalize_transcript(str(spec["text"]))
    except ValueError as exc:
        raise CorpusError(f"{where}: {exc}") from None
    if not text:
        raise CorpusError(f"{where}: empty transcript")
    return str(spec["key"]), duration, text


def _check_audio(key: str, duration: float, where: str) -> None:
    """The audio file exists, can be decoded and lasts about as long as the corpus says."""
    if not os.path.exists(key):
        raise CorpusError(f"{where}: audio file {key} not found")
    try:
        actual = audio_duration(key)
    except AudioError as exc:
        raise CorpusError(f"{where}: {exc}") from None
    if abs(actual - duration) > DURATION_TOLERANCE_S:
        raise CorpusError(
            f"{where}: duration {duration:g} s does not match the audio file {key} ({actual:.3f} s); "
            "rebuild the corpus file"
        )


def read_corpus(desc_file: str, max_duration: float = float("inf"), strict: bool = False) -> CorpusFile:
    """Parse a JSON-lines corpus file and check every audio file it names (header only).

    Utterances longer than `max_duration` seconds are left out and counted. A bad line (invalid JSON,
    a missing key, text outside the character map, a missing, undecodable or empty audio file, or a
    duration that does not match the audio) is skipped with a warning naming the file and line, and a
    count at the end; with strict=True it raises CorpusError instead. Relative audio paths are taken
    relative to the current folder, as the original did.
    """
    if not os.path.exists(desc_file):
        raise CorpusError(f"{desc_file}: corpus file not found")
    corpus = CorpusFile()
    with open(desc_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{desc_file}:{lineno}"
            try:
                key, duration, text = _parse_line(line, where)
                if duration > max_duration:
                    corpus.too_long += 1
                    continue
                _check_audio(key, duration, where)
            except CorpusError as exc:
                if strict:
                    raise
                corpus.problems.append(str(exc))
                print(f"warning: skipped {exc}", file=sys.stderr)
                continue
            corpus.audio_paths.append(key)
            corpus.durations.append(duration)
            corpus.texts.append(text)
    if corpus.problems:
        print(f"warning: skipped {len(corpus.problems)} bad line(s) of {desc_file}", file=sys.stderr)
    return corpus


class AudioGenerator:
    """Minibatches of normalised features and integer labels from corpus files.

    Args (as in the seed): step and window in ms, max_freq in Hz, mfcc_dim coefficients,
    minibatch_size utterances, desc_file a training corpus to load at once, spectrogram chooses
    spectrogram (True) or MFCC (False) features, max_duration in seconds, sort_by_duration draws
    training batches shortest first every epoch instead of shuffling. Beyond the seed:
    bucket_by_duration batches utterances of similar length (see epoch_batches), and cache_dir
    keeps computed features on disk (see feature_cache_path), shared by every model and epoch.
    """

    def __init__(self, step: int = STEP_MS, window: int = WINDOW_MS, max_freq: int = MAX_FREQ, mfcc_dim: int = MFCC_DIM,
                 minibatch_size: int = 20, desc_file: str | None = None, spectrogram: bool = True,
                 max_duration: float = MAX_DURATION_S, sort_by_duration: bool = False, seed: int = RNG_SEED,
                 bucket_by_duration: bool = False, cache_dir: str | None = None,
                 speed_perturbation: Sequence[float] = ()) -> None:
        if minibatch_size < 1:
            raise ValueError("minibatch_size must be at least 1")
        if any(s <= 0 for s in speed_perturbation):
            raise ValueError(f"speed_perturbation factors must be positive, not {list(speed_perturbation)}")
        self.speed_perturbation = tuple(float(s) for s in speed_perturbation)
        self.features = Features(spectrogram, mfcc_dim, step, window, max_freq, cache_dir=cache_dir)
        self.minibatch_size = minibatch_size
        self.max_duration = max_duration
        self.sort_by_duration = sort_by_duration
        self.bucket_by_duration = bucket_by_duration
        self.seed = seed
        self.rng = random.Random(seed)
        self.partitions: dict[str, Partition] = {p: Partition() for p in PARTITIONS}
        if desc_file is not None:
            self.load_train_data(desc_file)

    # --- seed-compatible attribute names --------------------------------------------------------
    train_audio_paths = property(lambda self: self.partitions["train"].audio_paths)
    train_durations = property(lambda self: self.partitions["train"].durations)
    train_texts = property(lambda self: self.partitions["train"].texts)
    valid_audio_paths = property(lambda self: self.partitions["valid"].audio_paths)
    valid_durations = property(lambda self: self.partitions["valid"].durations)
    valid_texts = property(lambda self: self.partitions["valid"].texts)
    test_audio_paths = property(lambda self: self.partitions["test"].audio_paths)
    test_durations = property(lambda self: self.partitions["test"].durations)
    test_texts = property(lambda self: self.partitions["test"].texts)

    def _cursor_property(partition: str):  # the original's cur_<partition>_index: utterances drawn this epoch
        def get(self) -> int:
            return self.partitions[partition].cursor * self.minibatch_size

        def set(self, value: int) -> None:
            self.partitions[partition].cursor = int(value) // self.minibatch_size

        return property(get, set)

    cur_train_index = _cursor_property("train")
    cur_valid_index = _cursor_property("valid")
    cur_test_index = _cursor_property("test")
    del _cursor_property

    def shuffle_data_by_partition(self, partition: str) -> None:
        """Shuffle the utterances of `partition` in place (seeded) and restart its epoch."""
        partition = _partition(partition)
        order = list(range(len(self.partitions[partition].audio_paths)))
        self.rng.shuffle(order)
        self._reorder(partition, order)

    def sort_data_by_duration(self, partition: str) -> None:
        """Sort the utterances of `partition` shortest first and restart its epoch."""
        partition = _partition(partition)
        durations = self.partitions[partition].durations
        self._reorder(partition, sorted(range(len(durations)), key=durations.__getitem__))

    def _reorder(self, partition: str, order: list[int], epoch: int | None = None) -> None:
        """Keep the utterances of `partition` at `order`, in that order, and restart epoch `epoch`
        (default: the current one)."""
        part = self.partitions[partition]
        self.partitions[partition] = Partition(*_in_order(order, part.audio_paths, part.durations, part.texts))
        self._start_epoch(partition, part.epoch if epoch is None else epoch)

    # --- loading -------------------------------------------------------------------------------
    def load_metadata_from_desc_file(self, desc_file: str, partition: str) -> None:
        """Read a corpus file into `partition` ('train', 'valid'/'validation' or 'test')."""
        partition = _partition(partition)
        corpus = read_corpus(desc_file, self.max_duration)
        if not corpus.audio_paths:
            why = [f"{corpus.too_long} longer than max_duration={self.max_duration:g} s"] if corpus.too_long else []
            why += [f"{len(corpus.problems)} bad"] if corpus.problems else []
            raise CorpusError(f"{desc_file}: no usable utterances" + (f" ({', '.join(why)})" if why else ""))
        self.partitions[partition] = Partition(corpus.audio_paths, corpus.durations, corpus.texts)
        self._start_epoch(partition, 0)

    def load_train_data(self, desc_file: str = "train_corpus.json") -> None:
        """Load the training corpus and fit the feature normalisation on it."""
        self.load_metadata_from_desc_file(desc_file, "train")
        self.fit_train()

    def load_validation_data(self, desc_file: str = "valid_corpus.json") -> None:
        self.load_metadata_from_desc_file(desc_file, "valid")

    def load_test_data(self, desc_file: str = "test_corpus.json") -> None:
        self.load_metadata_from_desc_file(desc_file, "test")

    # --- features (owned by vui.features.Features; the seed's names delegate to it) ---------------
    step = property(lambda self: self.features.step)
    window = property(lambda self: self.features.window)
    max_freq = property(lambda self: self.features.max_freq)
    mfcc_dim = property(lambda self: self.features.mfcc_dim)
    spectrogram = property(lambda self: self.features.spectrogram)
    feat_dim = property(lambda self: calc_feat_dim(self.window, self.max_freq))  # spectrogram bins
    input_dim = property(lambda self: self.features.dim)  # values per frame the model reads
    feats_mean = property(lambda self: self.features.mean, lambda self, v: setattr(self.features, "mean", np.asarray(v, np.float32)))
    feats_std = property(lambda self: self.features.std, lambda self, v: setattr(self.features, "std", np.asarray(v, np.float32)))

    def featurize(self, audio_clip: str, speed: float = 1.0) -> np.ndarray:
        """Un-normalised features of one audio file, shape (frames, input_dim), from the cache if set;
        `speed` plays it that much faster first (see utterance_speed)."""
        return self.features.raw(audio_clip, speed)

    def feature_cache_path(self, audio_clip: str) -> str:
        """Where the features of `audio_clip` are cached (see Features.cache_path)."""
        return self.features.cache_path(audio_clip)

    def fit_train(self, k_samples: int = 100) -> None:
        """Feature mean and std over `k_samples` training clips drawn with a seeded generator."""
        paths = self.partitions["train"].audio_paths
        if not paths:
            raise CorpusError("fit_train needs training data: call load_train_data first")
        self.features.fit(random.Random(self.seed).sample(paths, min(k_samples, len(paths))))

    def normalize(self, feature: np.ndarray, eps: float = NORMALIZE_EPS) -> np.ndarray:
        """Centre and scale features with the training statistics."""
        return self.features.normalize(feature, eps)

    # --- batches --------------------------------------------------------------------------------
    def steps_per_epoch(self, partition: str) -> int:
        """Minibatches in one pass over `partition` (the last one may be smaller)."""
        n = len(self.partitions[partition].audio_paths)
        return -(-n // self.minibatch_size)

    def epoch_batches(self, partition: str, epoch: int) -> list[list[int]]:
        """Utterance indices of `partition`, in minibatches, in the order epoch `epoch` draws them.

        Training data is shuffled with a generator seeded by (seed, epoch), except the first epoch, which
        keeps corpus order as the seed's did; with sort_by_duration it
        is sorted shortest first instead; with bucket_by_duration, utterances of similar duration
        (sorted with +-10 % random jitter) share a batch and the batches are drawn in a shuffled
        order, which cuts padding while training still mixes. Validation and test data keep corpus
        order. Every utterance is in exactly one batch; only the last batch may be smaller.
        """
        part = self.partitions[partition]
        order = list(range(len(part.audio_paths)))
        rng = random.Random(f"{self.seed}:{epoch}")
        size = self.minibatch_size
        if partition == "train":
            if self.sort_by_duration:
                order.sort(key=lambda i: part.durations[i])
            elif self.bucket_by_duration:
                jitter = {i: part.durations[i] * (1 + rng.uniform(-0.1, 0.1)) for i in order}
                order.sort(key=jitter.__getitem__)
                batches = [order[i:i + size] for i in range(0, len(order), size)]
                full = [b for b in batches if len(b) == size]
                rng.shuffle(full)
                return full + [b for b in batches if len(b) < size]
            elif epoch > 0:  # the seed drew its first epoch in corpus order and shuffled after each epoch
                rng.shuffle(order)
        return [order[i:i + size] for i in range(0, len(order), size)]

    def epoch_order(self, partition: str, epoch: int) -> list[int]:
        """The utterance indices of epoch_batches, flattened."""
        return [i for batch in self.epoch_batches(partition, epoch) for i in batch]

    def _start_epoch(self, partition: str, epoch: int) -> None:
        part = self.partitions[partition]
        part.order, part.cursor, part.epoch = self.epoch_batches(partition, epoch), 0, epoch

    def drop(self, partition: str, indices: list[int]) -> None:
        """Remove the given utterances from `partition` (e.g. ones CTC cannot fit) and restart it."""
        part = self.partitions[partition]
        gone = set(indices)
        keep = [i for i in range(len(part.audio_paths)) if i not in gone]
        if not keep:
            raise CorpusError(f"no {partition} utterances left after leaving out {len(gone)}")
        self._reorder(partition, keep, epoch=0)

    def utterance_speed(self, partition: str, index: int, epoch: int | None) -> float:
        """The speed at which utterance `index` of `partition` is read in epoch `epoch`: with
        speed_perturbation, training utterances are read at one of its factors, drawn anew every
        epoch from (seed, epoch, audio path), so a resumed run draws the same; everything else at 1."""
        if partition != "train" or not self.speed_perturbation or epoch is None:
            return 1.0
        path = self.partitions[partition].audio_paths[index]
        return random.Random(f"{self.seed}:{epoch}:{path}").choice(self.speed_perturbation)

    def batch_from_indices(self, partition: str, indices: list[int], epoch: int | None = None) -> tuple[dict, dict]:
        """The minibatch of the given utterances of `partition` (see the module docstring), in epoch
        `epoch` (which draws the speed of each training utterance, see utterance_speed)."""
        part = self.partitions[partition]
        features = [self.normalize(self.featurize(part.audio_paths[i], self.utterance_speed(partition, i, epoch)))
                    for i in indices]
        labels = [text_to_int_sequence(part.texts[i]) for i in indices]
        batch = len(indices)
        max_frames = max(f.shape[0] for f in features)
        max_label = max(len(l) for l in labels)
        x = np.zeros((batch, max_frames, self.input_dim), dtype=np.float32)
        y = np.full((batch, max_label), BLANK_INDEX, dtype=np.int32)
        input_length = np.zeros((batch, 1), dtype=np.int32)
        label_length = np.zeros((batch, 1), dtype=np.int32)
        for i, (feat, lab) in enumerate(zip(features, labels)):
            x[i, : feat.shape[0]] = feat
            y[i, : len(lab)] = lab
            input_length[i] = feat.shape[0]
            label_length[i] = len(lab)
        inputs = {"the_input": x, "the_labels": y, "input_length": input_length, "label_length": label_length}
        return inputs, {"ctc": np.zeros((batch,), dtype=np.float32)}

    def get_batch(self, partition: str) -> tuple[dict, dict]:
        """The next minibatch of `partition`; after the last one a new epoch starts (reshuffled)."""
        partition = _partition(partition)
        part = self.partitions[partition]
        if not part.audio_paths:
            raise CorpusError(f"no {partition} data loaded")
        if part.cursor >= len(part.order):
            self._start_epoch(partition, part.epoch + 1)
        part.cursor += 1
        return self.batch_from_indices(partition, part.order[part.cursor - 1], part.epoch)

    def _forever(self, partition: str) -> Iterator[tuple[dict, dict]]:
        while True:
            yield self.get_batch(partition)

    def next_train(self) -> Iterator[tuple[dict, dict]]:
        """Endless training minibatches, a new seeded order each epoch."""
        return self._forever("train")

    def next_valid(self) -> Iterator[tuple[dict, dict]]:
        """Endless validation minibatches, in corpus order."""
        return self._forever("valid")

    def next_test(self) -> Iterator[tuple[dict, dict]]:
        """Endless test minibatches, in corpus order."""
        return self._forever("test")


def shuffle_data(audio_paths: list, durations: list, texts: list) -> tuple[list, list, list]:
    """The three lists in one random order (numpy's global generator, as the original)."""
    return _in_order(np.random.permutation(len(audio_paths)), audio_paths, durations, texts)


def sort_data(audio_paths: list, durations: list, texts: list) -> tuple[list, list, list]:
    """The three lists ordered by duration, shortest first."""
    return _in_order(np.argsort(durations, kind="stable"), audio_paths, durations, texts)


# --- the notebook's plotting helpers (they live in vui.display) --------------------------------------
DISPLAY_HELPERS: tuple[str, ...] = ("vis_train_features", "plot_raw_audio", "plot_spectrogram_feature", "plot_mfcc_feature")


def __getattr__(name: str) -> object:
    """``from data_generator import vis_train_features, plot_raw_audio, ...`` (the original notebook's
    import) hands out vui.display's helpers. Imported on first use (PEP 562), because vui.display
    imports this module: a top-level import would be circular."""
    if name in DISPLAY_HELPERS:
        from vui import display

        return getattr(display, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
