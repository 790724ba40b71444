"""Choose the Keras backend before Keras is imported: the fastest one installed, unless the user chose.

Measured on this project's 2-core CPU (BENCHMARKS.md), the torch backend trains the capstone's
recurrent models several times faster than TensorFlow and, unlike JAX or TensorFlow with XLA, does
not recompile for every new batch length. So unless ``KERAS_BACKEND`` names a backend, torch is used
if it is installed, else TensorFlow. (``~/.keras/keras.json`` is not consulted: Keras writes
"tensorflow" there on first import, so it cannot tell a user's choice from a default.) Set
``KERAS_BACKEND=tensorflow`` (or ``jax``) to override; every module runs unchanged on all three.

When Keras was imported before this module (``import keras`` first in a notebook), the choice comes too
late: Keras has picked its own default. If that is slower than a backend that is installed and the user
did not ask for it, one line on stderr says so and how to fix it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

PREFERRED_BACKENDS: tuple[str, ...] = ("torch", "tensorflow")  # fastest first, as measured
# how much slower the capstone's seed models train on a backend than on torch (BENCHMARKS.md, issue 43)
SLOWER_THAN_TORCH: dict[str, str] = {
    "tensorflow": "about 5.6x slower per epoch",
    "jax": "much slower: JAX compiles anew for every batch length",
}


def slow_backend_message(loaded: str, installed_best: str | None) -> str | None:
    """The one-line warning for Keras loaded with `loaded` when `installed_best` is installed, or None."""
    if installed_best is None or loaded == installed_best or installed_best != "torch":
        return None
    how = SLOWER_THAN_TORCH.get(loaded, "slower")
    return (f"vui: Keras was imported before vui and chose the {loaded} backend: the capstone's models train "
            f"{how} than on torch, which is installed. Fix: restart the kernel and import sample_models "
            f"(or another project module) before keras, or set KERAS_BACKEND=torch before starting Python.")


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


def warn_if_keras_loaded_first(user_choice: str | None) -> str | None:
    """If Keras was already imported with a slower backend the user did not choose, print the one-line
    warning to stderr; returns it (or None)."""
    keras = sys.modules.get("keras")
    if keras is None or user_choice or not hasattr(keras, "backend"):
        return None
    best = next((name for name in PREFERRED_BACKENDS if importlib.util.find_spec(name) is not None), None)
    message = slow_backend_message(keras.backend.backend(), best)
    if message:
        print(message, file=sys.stderr)
    return message


_USER_CHOICE: str | None = os.environ.get("KERAS_BACKEND")  # before select_backend fills it in
BACKEND: str = select_backend()
KERAS_LOADED_FIRST_WARNING: str | None = warn_if_keras_loaded_first(_USER_CHOICE)
