"""The backend choice: a one-line warning when Keras was imported first with a slower backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from vui import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_message_names_the_slowdown_and_the_fix():
    message = backend.slow_backend_message("tensorflow", "torch")
    assert "\n" not in message
    assert "5.6x slower" in message and "restart the kernel" in message and "KERAS_BACKEND=torch" in message
    assert backend.slow_backend_message("torch", "torch") is None
    assert backend.slow_backend_message("tensorflow", "tensorflow") is None  # nothing faster installed
    assert backend.slow_backend_message("tensorflow", None) is None


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("tensorflow") is None,
                    reason="needs torch and tensorflow installed")
@pytest.mark.parametrize("first,user_choice,warned", [
    ("import keras; import sample_models", None, True),           # Keras' default: TensorFlow
    ("import sample_models; import keras", None, False),          # vui chose torch in time
    ("import keras; import sample_models", "tensorflow", False),  # the user's choice
])
def test_keras_imported_first_warns_once(first, user_choice, warned, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # no keras.json: Keras' own default
    if user_choice:
        env["KERAS_BACKEND"] = user_choice
    code = f"{first}; import train_utils; import keras; print(keras.backend.backend())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.startswith("vui: Keras was imported before vui")]
    assert len(lines) == (1 if warned else 0), out.stderr[-2000:]
    assert out.stdout.split()[-1] == ("tensorflow" if first.startswith("import keras") else "torch")
