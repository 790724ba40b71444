"""The 28-character alphabet and the CTC blank shared by every model, the data layer and the decoders.

Index 0 is the apostrophe, 1 the space, 2..27 the letters a..z, and 28 the CTC blank, so every model
ends in a softmax over ``NUM_CLASSES = 29`` outputs. This module is the only place that defines it.
"""

from __future__ import annotations

import string

CHARACTERS: str = "' " + string.ascii_lowercase  # index i of this string is class i
BLANK_INDEX: int = len(CHARACTERS)  # 28: the CTC blank, last class
NUM_CLASSES: int = BLANK_INDEX + 1  # 29 softmax outputs

char_map: dict[str, int] = {ch: i for i, ch in enumerate(CHARACTERS)}
index_map: dict[int, str] = {i: ch for i, ch in enumerate(CHARACTERS)}
