"""Choose the Keras backend before Keras is imported: the fastest one installed, unless the user chose.

Measured on this project's 2-core CPU (BENCHMARKS.md), the torch backend trains the capstone's
recurrent models several times faster than TensorFlow and, unlike JAX or TensorFlow with XLA, does
not recompile for every new batch length. So when neither ``KERAS_BACKEND`` nor ``~/.keras/keras.json``
names a backend, torch is used if it is installed, else TensorFlow. Set ``KERAS_BACKEND=tensorflow``
(or ``jax``) to override; every module runs unchanged on all three.
"""

from __future__ import annotations

import importlib.util
import json
import os

PREFERRED_BACKENDS: tuple[str, ...] = ("torch", "tensorflow")  # fastest first, as measured


def _configured_in_keras_json() -> str | None:
    path = os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "keras.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("backend")
    except (OSError, ValueError):
        return None


def select_backend() -> str:
    """Set KERAS_BACKEND (if unset) and return the backend Keras will use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    chosen = os.environ.get("KERAS_BACKEND") or _configured_in_keras_json()
    if chosen:
        return chosen
    for name in PREFERRED_BACKENDS:
        if importlib.util.find_spec(name) is not None:
            os.environ["KERAS_BACKEND"] = name
            return name
    return "tensorflow"


BACKEND: str = select_backend()
