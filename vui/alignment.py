"""Where each character and word of a transcript lies in time: CTC forced alignment.

A CTC model's softmax outputs (frames, 29) and a transcript (of the same audio, true or decoded)
give the most likely path that spells the transcript, hence the output frame of every character;
``word_spans`` turns those into words with frames, which ``vui.long_form`` turns into seconds for
subtitles and ``vui.split_long`` into cut points for training pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from char_map import BLANK_INDEX
from utils import STEP_MS


def ctc_align(log_probs: np.ndarray, labels: Sequence[int], blank: int = BLANK_INDEX) -> np.ndarray:
    """The frame at which each label is first emitted on the most likely CTC path that spells `labels`.

    log_probs: (frames, classes) log-softmax outputs; labels: L class indices. Returns shape (L,),
    increasing. Viterbi over CTC's 2L+1 states (blank, label, blank, ...), by hand: torchaudio, which
    has it, is not a dependency. Raises ValueError when the output is too short to spell the labels.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_frames, n_states = log_probs.shape[0], 2 * len(labels) + 1
    needed = len(labels) + int(np.sum(labels[1:] == labels[:-1]))
    if n_frames < needed:
        raise ValueError(f"{n_frames} output frames cannot spell {len(labels)} labels (needs {needed})")
    states = np.full(n_states, blank, dtype=np.int64)
    states[1::2] = labels
    may_skip = np.zeros(n_states, dtype=bool)  # a label state reached from two states back: the blank between
    may_skip[3::2] = labels[1:] != labels[:-1]  # two different labels may be skipped
    score = np.full(n_states, -np.inf)
    score[:2] = log_probs[0, states[:2]]
    came_from = np.zeros((n_frames, n_states), dtype=np.int8)  # 0 stayed, 1 from the state before, 2 from two before
    for t in range(1, n_frames):
        options = np.full((3, n_states), -np.inf)
        options[0] = score
        options[1, 1:] = score[:-1]
        options[2, 2:] = np.where(may_skip[2:], score[:-2], -np.inf)
        came_from[t] = np.argmax(options, axis=0)
        score = options[came_from[t], np.arange(n_states)] + log_probs[t, states]
    state = n_states - 1 if score[-1] >= score[-2] else n_states - 2
    path = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        state -= int(came_from[t, state])
    first = np.empty(len(labels), dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):  # the last assignment is the earliest frame of each label state
        if path[t] % 2:
            first[path[t] // 2] = t
    return first


def seconds_per_frame(feature_frames: int, output_frames: int, step_ms: float = STEP_MS) -> float:
    """Seconds of audio per model output frame: the feature step times the frames each output covers
    (a convolution's stride or a pooling makes an output frame span several feature frames)."""
    return step_ms / 1000 * feature_frames / max(output_frames, 1)


def word_spans(text: str, label_frames: np.ndarray) -> list[tuple[str, int, int]]:
    """(word, first frame, last frame) of each word of `text` from the frame of each of its characters."""
    spans, position = [], 0
    for word in text.split(" "):
        if word:
            spans.append((word, int(label_frames[position]), int(label_frames[position + len(word) - 1])))
        position += len(word) + 1
    return spans


