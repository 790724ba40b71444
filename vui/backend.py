"""Choose the Keras backend before Keras is imported: the fastest one installed, unless the user chose.

Measured on this project's 2-core CPU (BENCHMARKS.md), the torch backend trains the capstone's
recurrent models several times faster than TensorFlow and, unlike JAX or TensorFlow with XLA, does
not recompile for every new batch length. So unless ``KERAS_BACKEND`` names a backend, torch is used
if it is installed, else TensorFlow. (``~/.keras/keras.json`` is not consulted: Keras writes
"tensorflow" there on first import, so it cannot tell a user's choice from a default.) Set
``KERAS_BACKEND=tensorflow`` (or ``jax``) to override; every module runs unchanged on all three.
"""

from __future__ import annotations

import importlib.util
import os

PREFERRED_BACKENDS: tuple[str, ...] = ("torch", "tensorflow")  # fastest first, as measured


def select_backend() -> str:
    """Set KERAS_BACKEND (if unset) and return the backend Keras will use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    chosen = os.environ.get("KERAS_BACKEND")
    if not chosen:
        chosen = next((name for name in PREFERRED_BACKENDS if importlib.util.find_spec(name) is not None), "tensorflow")
        os.environ["KERAS_BACKEND"] = chosen
    if chosen != "tensorflow":
        # Keras' serialisation imports TensorFlow whenever it is installed (to recognise its shapes),
        # even under another backend; TensorFlow then prints a oneDNN notice that no log level hides.
        # It computes nothing here, so its oneDNN kernels are not needed.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return chosen


BACKEND: str = select_backend()
