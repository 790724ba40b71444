"""The 28-character alphabet and the CTC blank shared by every model, the data layer and the decoders.

Index 0 is the apostrophe, 1 the space, 2..27 the letters a..z, and 28 the CTC blank, so every model
ends in a softmax over ``NUM_CLASSES = 29`` outputs. ``CHAR_TO_INDEX``/``INDEX_TO_CHAR`` are the
project's mapping; ``char_map``/``index_map`` are the original capstone's two dictionaries, kept
exactly for code written against it: the space is ``'<SPACE>'`` in ``char_map``, and ``index_map``
is keyed by class index + 1 (the original notebook decoded with ``ctc_decode(...) + 1``).
"""

from __future__ import annotations

import string

CHARACTERS: str = "' " + string.ascii_lowercase  # index i of this string is class i
BLANK_INDEX: int = len(CHARACTERS)  # 28: the CTC blank, last class
NUM_CLASSES: int = BLANK_INDEX + 1  # 29 softmax outputs

CHAR_TO_INDEX: dict[str, int] = {ch: i for i, ch in enumerate(CHARACTERS)}
INDEX_TO_CHAR: dict[int, str] = {i: ch for i, ch in enumerate(CHARACTERS)}

# The original's dictionaries: "'" 0, "<SPACE>" 1, a..z 2..27; index_map[class + 1], with 2 -> ' '.
char_map: dict[str, int] = {("<SPACE>" if ch == " " else ch): i for i, ch in enumerate(CHARACTERS)}
index_map: dict[int, str] = {i + 1: ch for ch, i in char_map.items()}
index_map[2] = " "
