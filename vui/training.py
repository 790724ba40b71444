"""What ``train_utils.train_model`` hands to Keras' ``Model.fit``: the corpus as a ``PyDataset`` and
the callbacks that save, resume and guard a run.

- ``CorpusBatches``: one partition of an ``AudioGenerator`` as a ``keras.utils.PyDataset``; batch
  ``i`` of epoch ``e`` is always the same utterances (seeded per epoch), so a resumed run sees the
  data an uninterrupted one would; the next batch is prepared in a thread while the model trains.
- ``EpochOrder``: tells the training dataset which epoch ``fit`` is in.
- ``StopOnNaN``: stops at the first non-finite loss and puts back the last good epoch's weights
  (Keras' ``TerminateOnNaN`` stops but keeps the broken weights).
- ``SaveRun``: after each epoch writes the run's files (below): resume state, best-epoch checkpoint,
  the seed's history and the description, in one callback because their order is what makes an
  interrupted run resumable. Keras' ``BackupAndRestore``/``ModelCheckpoint`` are not used: they
  write neither atomically nor in the seed's layout, and cannot refuse another model's state.
  A run ends finished when it reaches its epochs or a user's callback (EarlyStopping) stops it.

Files of a run (``RunFiles``), each replaced atomically, in this order after every epoch: the weights
(``model_N.h5``: the last epoch's, or with keep_best the best one's), the resume state
(``model_N.h5.resume.npz``: weights, optimizer state and history, removed when the run finishes),
the history (``model_N.pickle``: ``{'loss', 'val_loss', 'epoch_seconds'}`` per finished epoch) and
the description (``model_N.json``). A kill between two writes leaves the resume state at or ahead of
the history, so a rerun never repeats an epoch the history already shows.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
import numpy as np

from data_generator import AudioGenerator
from utils import write_atomic
from vui.saved_model import description_path, save_weights, write_description

if TYPE_CHECKING:  # annotations only: TensorFlow is imported where it is used, on its own backend
    import tensorflow as tf


class ResultsError(OSError):
    """The results folder cannot be written (missing permission, disk full); names the file."""


@dataclass
class RunFiles:
    """Where one run's files live (all inside its results folder)."""

    pickle: str
    weights: str
    description: str
    resume: str

    @classmethod
    def in_folder(cls, results_dir: str, pickle_path: str, save_model_path: str) -> "RunFiles":
        weights = os.path.join(results_dir, save_model_path)
        return cls(os.path.join(results_dir, pickle_path), weights, description_path(weights), weights + ".resume.npz")


def check_writable(results_dir: str) -> None:
    """Fail before training, not after the first epoch, when results cannot be saved."""
    try:
        os.makedirs(results_dir, exist_ok=True)
        probe = os.path.join(results_dir, ".write-test")
        write_atomic(probe, b"ok")
        os.unlink(probe)
    except OSError as exc:
        raise ResultsError(f"cannot write to results folder {results_dir}: {exc}") from None


# --- the data ----------------------------------------------------------------------------------------
class CorpusBatches(keras.utils.PyDataset):
    """Minibatches of one partition of `audio_gen`, in the order epoch_batches gives for the current
    epoch (set_epoch). Items are ``(inputs, {'ctc': zeros})`` as AudioGenerator.batch_from_indices
    makes them. With several devices each batch is cut to a multiple of `devices` utterances (only
    the last can be uneven) and a batch left empty is dropped.

    Reading batch i starts preparing batch i + 1 in a background thread, while the model trains.
    Keras' own worker queue (workers >= 2) is not used: it hands batches it prepared ahead to the
    next epoch (its stop() keeps them "for the next run"), which would break each epoch's order."""

    def __init__(self, audio_gen: AudioGenerator, partition: str, devices: int = 1):
        super().__init__(workers=1, use_multiprocessing=False)  # Keras reads items in order, in fit's thread
        self.audio_gen, self.partition, self.devices = audio_gen, partition, devices
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vui-{partition}-batches")
        self._ahead: tuple[list, int, Future] | None = None  # (the epoch's batches, index, its batch)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch `epoch`'s batches from now on (call before the epoch's first batch is read)."""
        batches = self.audio_gen.epoch_batches(self.partition, epoch)
        batches = [b[: len(b) - len(b) % self.devices] for b in batches]
        self.batches, self.epoch = [b for b in batches if b], epoch

    def __len__(self) -> int:
        return len(self.batches)

    def _load(self, batches: list[list[int]], index: int, epoch: int) -> tuple[dict, dict]:
        return self.audio_gen.batch_from_indices(self.partition, batches[index], epoch)

    def __getitem__(self, index: int) -> tuple[dict, dict]:
        batches, ahead = self.batches, self._ahead
        if ahead is not None and ahead[0] is batches and ahead[1] == index:
            batch = ahead[2].result()  # prepared while the previous batch trained; raises what it raised
        else:
            batch = self._load(batches, index, self.epoch)
        following = index + 1
        self._ahead = (batches, following, self._pool.submit(self._load, batches, following, self.epoch)) \
            if following < len(batches) else None
        return batch


def fit_input(batches: CorpusBatches) -> CorpusBatches | tf.data.Dataset:
    """What fit reads `batches` from. TensorFlow infers a PyDataset's shapes from its first two
    batches and fixes any dimension they happen to share (two batches padded to the same length
    would break every later one), so there it gets a tf.data pipeline with the time and label
    dimensions declared variable; the other backends read the PyDataset itself."""
    if keras.backend.backend() != "tensorflow":
        return batches
    import tensorflow as tf  # only on the TensorFlow backend

    dim = batches.audio_gen.input_dim
    signature = (
        {"the_input": tf.TensorSpec((None, None, dim), tf.float32), "the_labels": tf.TensorSpec((None, None), tf.int32),
         "input_length": tf.TensorSpec((None, 1), tf.int32), "label_length": tf.TensorSpec((None, 1), tf.int32)},
        {"ctc": tf.TensorSpec((None,), tf.float32)},
    )
    dataset = tf.data.Dataset.from_generator(lambda: (batches[i] for i in range(len(batches))),
                                             output_signature=signature)
    # no tf.data prefetch: the dataset already prepares the next batch (and Keras starts a fresh
    # iterator after each epoch, so a prefetched batch of the old order would be thrown away)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


class EpochOrder(keras.callbacks.Callback):
    """Draws the training data in epoch `e`'s own order at the start of epoch `e` (also when a
    resumed fit starts at a later epoch)."""

    def __init__(self, batches: CorpusBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.batches.set_epoch(epoch)


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and restores the weights of the last finished
    epoch, with a message saying what to try. `net` is the acoustic model inside the loss model."""

    def __init__(self, net: keras.Model, weights_path: str):
        super().__init__()
        self.net, self.weights_path = net, weights_path

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.good_weights = self.net.get_weights()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if finite_epoch(logs):
            self.good_weights = self.net.get_weights()
            return
        self.net.set_weights(self.good_weights)
        self.model.stop_training = True
        print(f"Training stopped: the loss became NaN or infinite in epoch {epoch + 1}. Kept the weights of the "
              f"last finished epoch ({epoch}) in {self.weights_path}; try a lower learning rate or clipnorm.",
              file=sys.stderr)


def finite_epoch(logs: dict | None) -> bool:
    """Whether an epoch's logs hold a finite training and validation loss."""
    return all(math.isfinite(float((logs or {}).get(k, float("nan")))) for k in ("loss", "val_loss"))


# --- saving and resuming -------------------------------------------------------------------------------
class SaveRun(keras.callbacks.Callback):
    """After every finished epoch, writes the run's files (see the module docstring); with
    keep_best the weights file keeps the epoch of lowest validation loss and the net ends with it.
    `history` holds the epochs already done (resumed runs). At the end of training the run is
    finished when its history has all `epochs`, or when another callback stopped it after a good
    epoch (EarlyStopping; the description records ``stopped_early``): then the resume file goes.
    After a NaN the run stays unfinished, so the next call resumes from its last good epoch."""

    def __init__(self, net: keras.Model, files: RunFiles, description: dict, fingerprint: str, history: dict,
                 epochs: int, keep_best: bool = False):
        super().__init__()
        self.net, self.files, self.description, self.fingerprint = net, files, description, fingerprint
        self.history, self.epochs, self.keep_best = history, epochs, keep_best
        self.diverged, self.epochs_run = False, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not finite_epoch(logs):
            self.diverged = True
            if not self.history["loss"]:
                save_weights(self.net, self.files.weights)  # the initial weights, which StopOnNaN put back
            return
        self.history["loss"].append(float(logs["loss"]))
        self.history["val_loss"].append(float(logs["val_loss"]))
        self.history.setdefault("epoch_seconds", []).append(round(time.perf_counter() - self.started, 2))
        self.epochs_run += 1
        is_best = self.history["val_loss"][-1] <= min(self.history["val_loss"])
        self.save(write_weights=is_best or not self.keep_best)

    def save(self, write_weights: bool = True, **training: object) -> None:
        """save_state for the epochs in the history; `training` adds to the description's training."""
        description = dict(self.description, training={**self.description["training"], **training})
        save_state(self.files, self.net, self.model.optimizer, self.history, description, self.fingerprint,
                   epochs_done=len(self.history["loss"]), write_weights=write_weights)

    def on_train_end(self, logs: dict | None = None) -> None:
        done = len(self.history["loss"])
        stopped_early = self.model.stop_training and not self.diverged and 0 < done < self.epochs
        if self.diverged or not (done >= self.epochs or stopped_early):
            return
        if stopped_early:  # the net holds what the stopping callback chose (e.g. restore_best_weights)
            self.description["training"]["stopped_early"] = True
            self.save(write_weights=not self.keep_best)
        elif not self.epochs_run:  # resumed after its last epoch: bring history and description up to date
            self.save(write_weights=False)
        if self.keep_best and self.history["val_loss"]:
            self.net.load_weights(self.files.weights)  # the best epoch's weights, as saved
        if os.path.exists(self.files.resume):
            os.unlink(self.files.resume)  # finished: the description and weights are all that is needed


def save_state(files: RunFiles, model: keras.Model, optimizer: keras.optimizers.Optimizer, history: dict, description: dict, fingerprint: str,
               epochs_done: int, write_weights: bool = True) -> None:
    """Write weights, resume state, history and description for `epochs_done` finished epochs, in
    that order. A failed write raises ResultsError naming the file, and leaves that file and the
    ones after it as they were. write_weights=False leaves the weights file as it is (keep_best:
    it holds a better earlier epoch); the resume state always holds the latest weights."""
    try:
        if write_weights:
            save_weights(model, files.weights)
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
        meta = json.dumps({"fingerprint": fingerprint, "epochs_done": epochs_done, "history": history}).encode()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, meta=np.frombuffer(meta, dtype=np.uint8))
        write_atomic(files.resume, buffer.getvalue())
        write_history(files.pickle, history)
        training = dict(description["training"], epochs_done=epochs_done)
        if training.get("keep_best") and history.get("val_loss"):
            training["best_epoch"] = int(np.argmin(history["val_loss"])) + 1
        write_description(files.weights, dict(description, training=training))
    except OSError as exc:
        name = getattr(exc, "filename", None) or "results"
        raise ResultsError(f"cannot save training results ({name}): {exc}; the files of the last "
                           "finished epoch are left as they were") from None


def write_history(path: str, history: dict) -> None:
    """The seed's results/model_N.pickle: the loss history as a pickled dict."""
    write_atomic(path, pickle.dumps(history))


def _resume_meta(data: np.lib.npyio.NpzFile) -> dict:
    """The metadata (fingerprint, epochs_done, history) of an opened resume file."""
    return json.loads(data["meta"].tobytes().decode())


def load_resume(path: str, fingerprint: str) -> tuple[int, dict, list, list] | None:
    """(epochs_done, history, weights, optimizer arrays) from a resume file of the same run, else None."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            meta = _resume_meta(data)
            if meta.get("fingerprint") != fingerprint:
                return None
            weights = [data[f"w{i}"] for i in range(sum(k.startswith("w") for k in data.files))]
            opt = [data[f"o{i}"] for i in range(sum(k.startswith("o") for k in data.files))]
    except Exception as exc:  # a damaged resume file: say so and start over
        print(f"warning: ignoring unreadable resume file {path} ({exc})", file=sys.stderr)
        return None
    return meta["epochs_done"], meta["history"], weights, opt


def saved_fingerprint(files: RunFiles) -> str | None:
    """The fingerprint of the run saved in `files` (its resume file's, else its description's), if any."""
    try:
        with np.load(files.resume) as data:
            return _resume_meta(data).get("fingerprint")
    except Exception:
        pass
    try:
        with open(files.description, encoding="utf-8") as f:
            return json.load(f)["training"].get("fingerprint")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finished_run(files: RunFiles, fingerprint: str, epochs: int) -> dict | None:
    """The history of a finished run of the same model and data with at least `epochs` epochs, else None."""
    try:
        with open(files.description, encoding="utf-8") as f:
            training = json.load(f)["training"]
        with open(files.pickle, "rb") as f:
            history = pickle.load(f)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError):
        return None
    complete = training.get("epochs_done", 0) >= epochs or training.get("stopped_early", False)
    if (training.get("fingerprint") != fingerprint or not complete
            or os.path.exists(files.resume) or not os.path.exists(files.weights)):
        return None
    return history
