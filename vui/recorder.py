"""A recorder in the notebook: record, stop or upload, and the audio reaches the kernel.

Built on anywidget (Jupyter Notebook 7, JupyterLab 4, VS Code); its front end is ``recorder.js``.
The browser records raw PCM through Web Audio, so no compressed format crosses; an upload crosses as
the file's bytes and is decoded here like any file (``utils.load_audio``: WAV, FLAC, MP3, OGG,
m4a, webm, ...). ``Recorder.on_take(callback)`` calls ``callback(samples, sample_rate, name)`` for
each new take; a cell cannot wait for one, since the kernel sees widget messages only between cells.
"""

from __future__ import annotations

import base64
import os
import pathlib
import tempfile
from collections.abc import Callable

import anywidget
import numpy as np
import traitlets

from utils import load_audio


class Recorder(anywidget.AnyWidget):
    """Record (microphone), Stop, and Upload buttons with a status line (`message`)."""

    _esm = pathlib.Path(__file__).with_name("recorder.js")
    recording = traitlets.Unicode("").tag(sync=True)  # base64 of little-endian float32 mono samples
    sample_rate = traitlets.Int(0).tag(sync=True)  # Hz, of `recording`
    upload = traitlets.Unicode("").tag(sync=True)  # base64 of an uploaded file's bytes
    upload_name = traitlets.Unicode("").tag(sync=True)
    take = traitlets.Int(0).tag(sync=True)  # counts the takes: a new one changes it even if its audio repeats
    message = traitlets.Unicode("Press Record and speak, or upload a recording.").tag(sync=True)

    def __repr__(self) -> str:  # what a static export shows where a live notebook shows the buttons
        return "Recorder (record, stop, upload): live in Jupyter; the result below is of the last take."

    def audio(self) -> tuple[np.ndarray, int, str]:
        """The last take: (mono float32 samples, sample rate, a name for it)."""
        if self.upload:
            with tempfile.TemporaryDirectory() as folder:  # decoded from a file, as any recording on disk
                path = os.path.join(folder, os.path.basename(self.upload_name) or "upload")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(self.upload))
                samples, rate = load_audio(path)
            return samples, rate, self.upload_name
        samples = np.frombuffer(base64.b64decode(self.recording), dtype="<f4").astype(np.float32)
        return samples, self.sample_rate, "your recording"

    def on_take(self, callback: Callable[[np.ndarray, int, str], None]) -> None:
        """Call `callback(samples, sample_rate, name)` after each new take; what it raises becomes
        the recorder's message, not a lost traceback in the kernel's log."""

        def handle(_change: dict) -> None:
            try:
                callback(*self.audio())
            except Exception as exc:  # shown to the person recording, who can try again
                self.message = f"Could not transcribe that take: {exc}"

        self.observe(handle, names="take")
