"""CTC loss and the training loop the notebook calls: ``train_model(model, 'model_0.pickle', 'model_0.h5')``.

A run writes, all inside ``results/`` and each file atomically (temporary file + rename):

- ``<pickle_path>``: ``{'loss': [...], 'val_loss': [...], 'epoch_seconds': [...]}``, one value per
  finished epoch (the seed's comparison cell reads the first two);
- ``<save_model_path>``: the acoustic model's weights after the last finished epoch, in the HDF5
  layout that ``model.load_weights('results/<save_model_path>')`` reads on a freshly built model;
- ``<save_model_path minus extension>.json``: how the model was built (builder and arguments),
  the feature settings and normalisation statistics, and how far training got, so evaluation and
  transcription need only the saved files;
- ``<save_model_path>.resume.npz`` while a run is unfinished: weights, optimizer state and history
  after the last finished epoch.

Resuming: calling ``train_model`` again with the same paths, model and data continues from the last
finished epoch (the interrupted epoch is redone from its start; epoch ``e`` always shuffles the same
way, so the result matches an uninterrupted run). A finished run is not trained again: its weights
are loaded and its history returned. ``resume=False`` always starts from scratch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import pickle
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
import numpy as np

from char_map import BLANK_INDEX
from data_generator import AudioGenerator
from utils import MFCC_DIM, audio_feature_frames, write_atomic

RESULTS_DIR: str = "results"
# Computed features are kept here between epochs, models and runs (safe to delete at any time).
FEATURE_CACHE_DIR: str = os.environ.get("VUI_FEATURE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "vui", "features"))
LOG_EPSILON: float = 1e-7  # added to softmax outputs before the log, as Keras 2's ctc_batch_cost did


def ctc_loss(labels, y_pred, output_length, label_length):
    """Per-utterance CTC loss (negative log-likelihood), shape (batch,).

    labels: int (batch, max_label_len) padded with the blank; y_pred: softmax probabilities
    (batch, frames, 29); output_length, label_length: (batch,) or (batch, 1). keras.ops.ctc_loss wants
    log-probabilities and the blank's index, so the softmax output goes through a log first.
    """
    ops = keras.ops
    output_length = ops.reshape(ops.cast(output_length, "int32"), (-1,))
    label_length = ops.reshape(ops.cast(label_length, "int32"), (-1,))
    frames = ops.shape(y_pred)[1]
    output_length = ops.clip(output_length, 0, frames)
    log_probs = ops.log(ops.cast(y_pred, "float32") + LOG_EPSILON)
    return ops.ctc_loss(ops.cast(labels, "int32"), log_probs, label_length, output_length, mask_index=BLANK_INDEX)


def ctc_lambda_func(args):
    """The original's CTC loss function: ``[y_pred, labels, output_length, label_length]`` -> loss
    per utterance, shape (batch, 1)."""
    y_pred, labels, output_length, label_length = args
    return keras.ops.expand_dims(ctc_loss(labels, y_pred, output_length, label_length), -1)


class CTCLossLayer(keras.layers.Layer):
    """Computes the per-utterance CTC loss inside the model, from input frame counts."""

    def __init__(self, output_length: Callable, **kwargs):
        super().__init__(**kwargs)
        self.output_length = output_length
        self.supports_masking = True  # takes the acoustic model's padding mask; its output has none

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, y_pred, labels, input_length, label_length, mask=None):
        # mask: the acoustic model's padding mask; the loss already reads only output_length frames
        return ctc_lambda_func([y_pred, labels, self.output_length(input_length), label_length])

    def compute_output_shape(self, *args, **kwargs):
        return (None, 1)


def add_ctc_loss(input_to_softmax: keras.Model) -> keras.Model:
    """Wrap an acoustic model into a model whose output is its CTC loss.

    Inputs: the_input (batch, frames, dim), the_labels (batch, max_label_len), input_length and
    label_length (batch, 1); output ``{'ctc': (batch, 1)}``. Trained with the loss ``y_pred`` itself.
    """
    the_labels = keras.Input(name="the_labels", shape=(None,), dtype="int32")
    input_lengths = keras.Input(name="input_length", shape=(1,), dtype="int32")
    label_lengths = keras.Input(name="label_length", shape=(1,), dtype="int32")
    loss_out = CTCLossLayer(input_to_softmax.output_length, name="ctc")(
        input_to_softmax.output, the_labels, input_lengths, label_lengths
    )
    # a dict output named 'ctc', so the original's compile(loss={'ctc': ...}) and its generator's
    # targets {'ctc': zeros} match the model's structure
    model = keras.Model(
        inputs=[input_to_softmax.input, the_labels, input_lengths, label_lengths], outputs={"ctc": loss_out}
    )
    model.fit_generator = functools.partial(_fit_generator, model)  # the original trained with Keras 2's name
    return model


KERAS2_ONLY_FIT_ARGS: tuple[str, ...] = ("workers", "use_multiprocessing", "max_queue_size", "pickle_safe")


def _fit_generator(model: keras.Model, generator, **kwargs):
    """Keras 2's ``fit_generator``: ``fit`` on the generator (Keras 3 dropped the name), without the
    arguments of Keras 2's worker queue, which Keras 3's ``fit`` does not take."""
    for name in KERAS2_ONLY_FIT_ARGS:
        kwargs.pop(name, None)
    return model.fit(generator, shuffle=False, **kwargs)


def _identity_loss(y_true, y_pred):
    return y_pred


def default_optimizer() -> keras.optimizers.Optimizer:
    """The seed's optimizer: SGD(lr=0.02, decay=1e-6, momentum=0.9, nesterov=True, clipnorm=5).

    Keras 3 dropped ``decay``; InverseTimeDecay(decay_steps=1) is the same schedule. Keras 2's
    ``clipnorm`` scaled all gradients by one global norm, which is Keras 3's ``global_clipnorm``
    (Keras 3's ``clipnorm`` clips each variable on its own).
    """
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.02, decay_steps=1, decay_rate=1e-6)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, global_clipnorm=5)


def recipe_schedule(total_steps: int, peak_learning_rate: float = 1e-3, warmup_steps: int = 300,
                    final_fraction: float = 0.05) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up from 0 to `peak_learning_rate` over `warmup_steps` updates (at most a quarter
    of the run), then cosine decay to `final_fraction` of the peak at `total_steps`."""
    warmup_steps = min(warmup_steps, max(total_steps // 4, 1))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(total_steps - warmup_steps, 1), alpha=final_fraction,
        warmup_target=peak_learning_rate, warmup_steps=warmup_steps)


def recipe_optimizer(total_steps: int, peak_learning_rate: float = 1e-3, warmup_steps: int = 300,
                     final_fraction: float = 0.05, clipnorm: float = 5.0) -> keras.optimizers.Optimizer:
    """The shipped model's optimizer: Adam on recipe_schedule (total_steps = epochs x steps per
    epoch), gradients clipped to norm `clipnorm`."""
    schedule = recipe_schedule(total_steps, peak_learning_rate, warmup_steps, final_fraction)
    return keras.optimizers.Adam(learning_rate=schedule, clipnorm=clipnorm)


def configure_gpu_memory_growth() -> list[str]:
    """Let the backend take GPU memory as it needs it instead of all at once (TF2's replacement for
    the seed's ``set_session(tf.Session(config=ConfigProto(...)))``). Returns the GPUs found; on a
    machine without one it does nothing and training runs on the CPU."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX: read when it first starts
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised: growth can no longer be changed
                pass
        return [gpu.name for gpu in gpus]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":  # torch allocates GPU memory as it goes already
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


# --- saved files ------------------------------------------------------------------------------------
def save_weights_h5(model: keras.Model, path: str) -> None:
    """Save weights atomically in the HDF5 layout ``model.load_weights(path)`` reads for ``.h5``.

    Keras 3's save_weights only writes ``*.weights.h5``; its loader still reads the Keras 2 layout for
    other ``.h5`` names, which is what the seed's ``results/model_N.h5`` files need.
    """
    import h5py

    if path.endswith(".weights.h5") or path.endswith(".keras"):
        tmp = path + ".tmp" + (".weights.h5" if path.endswith(".weights.h5") else ".keras")
        try:
            model.save_weights(tmp) if path.endswith(".weights.h5") else model.save(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    from keras.src.legacy.saving import legacy_h5_format

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    write_atomic(path, buffer.getvalue())


def spec_path(save_model_path: str) -> str:
    """The JSON description saved beside a weights file: results/model_0.h5 -> results/model_0.json."""
    stem = save_model_path[: -len(".weights.h5")] if save_model_path.endswith(".weights.h5") else os.path.splitext(save_model_path)[0]
    return stem + ".json"


def _write_json(path: str, obj: dict) -> None:
    write_atomic(path, (json.dumps(obj, indent=1) + "\n").encode("utf-8"))


def _write_pickle(path: str, history: dict) -> None:
    write_atomic(path, pickle.dumps(history))


def _fingerprint(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def architecture(model: keras.Model) -> list:
    """Each layer's class and configuration, without layer names (Keras numbers unnamed layers anew
    each time a model is built): what resuming compares, so an edited model is not taken for the
    one saved (e.g. activation relu -> tanh, which leaves names, shapes and parameter counts alike)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "name"}
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        return value

    return [[type(layer).__name__, strip(layer.get_config())] for layer in model.layers]


def _optimizer_description(optimizer: keras.optimizers.Optimizer) -> dict:
    config = keras.optimizers.serialize(optimizer)
    config.get("config", {}).pop("name", None)
    return config


# --- label checks ---------------------------------------------------------------------------------
def ctc_min_frames(label: str) -> int:
    """Fewest output frames CTC needs for `label`: one per character plus a blank between repeats."""
    return len(label) + sum(1 for a, b in zip(label, label[1:]) if a == b)


def find_unfit_labels(audio_gen: AudioGenerator, partition: str, output_length: Callable) -> list[tuple[int, str]]:
    """Utterances of `partition` whose transcript CTC cannot fit in the model's output frames.

    Returns (index, message) pairs; the message names the audio file, the frames the model outputs
    for it and the frames its transcript needs.
    """
    part = audio_gen.partitions[partition]
    bad = []
    for i, (path, text) in enumerate(zip(part.audio_paths, part.texts)):
        frames = int(output_length(audio_feature_frames(path, audio_gen.step, audio_gen.window)))
        needed = ctc_min_frames(text)
        if frames < needed:
            bad.append((i, f"{path}: model outputs {frames} frames, transcript needs {needed} ({len(text)} characters)"))
    return bad


class ResultsError(OSError):
    """The results folder cannot be written (missing permission, disk full); names the file."""


def _check_writable(results_dir: str) -> None:
    """Fail before training, not after the first epoch, when results cannot be saved."""
    try:
        os.makedirs(results_dir, exist_ok=True)
        probe = os.path.join(results_dir, ".write-test")
        write_atomic(probe, b"ok")
        os.unlink(probe)
    except OSError as exc:
        raise ResultsError(f"cannot write to results folder {results_dir}: {exc}") from None


def save_state(paths: dict, model, optimizer, history: dict, description: dict, fingerprint: str, epochs_done: int,
               write_weights: bool = True) -> None:
    """Write weights, resume state, history and description for `epochs_done` finished epochs.

    Each file is replaced atomically, in the order weights, resume state, history, description; a
    kill between two writes leaves the resume state at or ahead of the history, so a rerun never
    repeats an epoch the history already shows. A failed write raises ResultsError naming the
    file, and leaves that file and the ones after it as they were. write_weights=False leaves the
    weights file as it is (keep_best: it holds a better earlier epoch); the resume state always
    holds the latest weights.
    """
    try:
        _save_state(paths, model, optimizer, history, description, fingerprint, epochs_done, write_weights)
    except OSError as exc:
        name = getattr(exc, "filename", None) or "results"
        raise ResultsError(f"cannot save training results ({name}): {exc}; the files of the last "
                           "finished epoch are left as they were") from None


def _save_state(paths, model, optimizer, history, description, fingerprint, epochs_done, write_weights=True) -> None:
    if write_weights:
        save_weights_h5(model, paths["weights"])
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.frombuffer(json.dumps(
        {"fingerprint": fingerprint, "epochs_done": epochs_done, "history": history}).encode(), dtype=np.uint8))
    write_atomic(paths["resume"], buffer.getvalue())
    _write_pickle(paths["pickle"], history)
    training = dict(description["training"], epochs_done=epochs_done)
    if training.get("keep_best") and history.get("val_loss"):
        training["best_epoch"] = int(np.argmin(history["val_loss"])) + 1
    description = dict(description, training=training)
    _write_json(paths["spec"], description)


def _resume_meta(data) -> dict:
    """The metadata (fingerprint, epochs_done, history) of an opened resume file."""
    return json.loads(data["meta"].tobytes().decode())


def _load_resume(path: str, fingerprint: str):
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


def train_model(
    input_to_softmax: keras.Model,
    pickle_path: str,
    save_model_path: str,
    train_json: str = "train_corpus.json",
    valid_json: str = "valid_corpus.json",
    minibatch_size: int = 20,
    spectrogram: bool = True,
    mfcc_dim: int = MFCC_DIM,
    optimizer: keras.optimizers.Optimizer | None = None,
    epochs: int = 20,
    verbose: int = 1,
    sort_by_duration: bool = False,
    max_duration: float = 10.0,
    resume: bool = True,
    results_dir: str = RESULTS_DIR,
    bucket_by_duration: bool = True,
    cache_dir: str | None = FEATURE_CACHE_DIR,
    keep_best: bool = False,
    distribution: str | None = os.environ.get("VUI_DISTRIBUTION") or None,
) -> dict:
    """Train an acoustic model with CTC and save its history, weights and description in results/.

    Returns the history ``{'loss': [...], 'val_loss': [...]}`` of all finished epochs. Utterances
    whose transcript cannot fit in the model's output are reported by file and left out before
    training. A non-finite loss stops training with a message; the weights of the last finished
    epoch are kept. verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

    Beyond the seed's arguments: bucket_by_duration batches training utterances of similar length
    (less padding, same data every epoch; False gives the seed's random batches), cache_dir keeps
    computed features on disk (None computes them every time, as the seed did), keep_best leaves
    the weights of the epoch with the lowest validation loss in the weights file (checkpoint
    selection; the description's ``training.best_epoch`` says which) instead of the last epoch's.
    distribution="data_parallel" (or the environment variable VUI_DISTRIBUTION=data_parallel)
    trains data-parallel over every device the JAX backend sees: each minibatch (a multiple of the
    device count) is split across them (keras.distribution.DataParallel); the result is the same
    training as on one device, within float tolerance.
    See the module docstring for the files written and how resuming works.
    """
    optimizer = optimizer or default_optimizer()
    if optimizer.built:  # used for another model already (Keras 3 binds an optimizer to one model's variables)
        optimizer = optimizer.__class__.from_config(optimizer.get_config())
    audio_gen = AudioGenerator(minibatch_size=minibatch_size, spectrogram=spectrogram, mfcc_dim=mfcc_dim,
                               sort_by_duration=sort_by_duration, max_duration=max_duration,
                               bucket_by_duration=bucket_by_duration, cache_dir=cache_dir)
    audio_gen.load_train_data(train_json)
    audio_gen.load_validation_data(valid_json)
    expected_dim = audio_gen.input_dim
    model_dim = input_to_softmax.input_shape[-1]
    if model_dim != expected_dim:
        raise ValueError(
            f"the model takes {model_dim}-dim features but spectrogram={spectrogram} gives {expected_dim}; "
            f"build it with input_dim={expected_dim}"
        )
    for partition in ("train", "valid"):
        bad = find_unfit_labels(audio_gen, partition, input_to_softmax.output_length)
        if bad:
            print(f"Leaving out {len(bad)} of {len(audio_gen.partitions[partition].audio_paths)} {partition} "
                  "utterances whose transcript is longer than the model's output can hold:", file=sys.stderr)
            for _, message in bad:
                print(f"  {message}", file=sys.stderr)
            audio_gen.drop(partition, [i for i, _ in bad])

    _check_writable(results_dir)
    paths = {
        "pickle": os.path.join(results_dir, pickle_path),
        "weights": os.path.join(results_dir, save_model_path),
        "spec": os.path.join(results_dir, spec_path(save_model_path)),
        "resume": os.path.join(results_dir, save_model_path + ".resume.npz"),
    }
    run = {
        "train_json": os.path.abspath(train_json), "valid_json": os.path.abspath(valid_json),
        "minibatch_size": minibatch_size, "sort_by_duration": sort_by_duration, "max_duration": max_duration,
        "bucket_by_duration": bucket_by_duration, "keep_best": keep_best,
        "optimizer": _optimizer_description(optimizer),
    }
    if distribution:
        run["distribution"] = distribution
    description = {
        **getattr(input_to_softmax, "build_spec", {"builder": None, "kwargs": {}}),
        "params": int(input_to_softmax.count_params()),
        "features": {
            "spectrogram": spectrogram, "mfcc_dim": mfcc_dim, "step": audio_gen.step,
            "window": audio_gen.window, "max_freq": audio_gen.max_freq,
            "feats_mean": audio_gen.feats_mean.tolist(), "feats_std": audio_gen.feats_std.tolist(),
        },
        "training": {**run, "epochs": epochs, "weights": save_model_path, "pickle": pickle_path,
                     "backend": keras.backend.backend()},
    }
    fingerprint = _fingerprint({"model": description.get("builder"), "kwargs": description.get("kwargs"),
                                "features": {k: v for k, v in description["features"].items() if not k.startswith("feats")},
                                "weights": [list(w.shape) for w in input_to_softmax.weights],
                                "architecture": architecture(input_to_softmax), **run})
    description["training"]["fingerprint"] = fingerprint

    saved = _saved_fingerprint(paths)
    if resume and saved not in (None, fingerprint):
        print(f"{paths['weights']} holds another model or other training settings than this call's (the model, "
              "its layers or the data changed); training this one from scratch. Its files replace the old ones "
              "after the first epoch: give other file names to keep both.", file=sys.stderr)
    finished = _finished_run(paths, fingerprint, epochs) if resume else None
    if finished is not None:
        input_to_softmax.load_weights(paths["weights"])
        print(f"{paths['weights']} already holds this model trained for {len(finished['loss'])} epochs; "
              "loaded it (pass resume=False to train again).")
        return finished
    if distribution not in (None, "data_parallel"):
        raise ValueError(f"distribution must be None or 'data_parallel', not {distribution!r}")
    strategy = data_parallel_distribution() if distribution else None
    devices = strategy.device_mesh.devices.size if strategy is not None else 1
    if minibatch_size % devices != 0:
        raise ValueError(f"minibatch_size {minibatch_size} must be a multiple of the {devices} "
                         "devices data-parallel training splits each batch across")
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # Under a distribution the model is built again inside its scope, so that its variables are
        # laid out (replicated) across the devices; it starts from the given model's weights.
        net = input_to_softmax if strategy is None else _rebuild(input_to_softmax)
        if strategy is not None:  # the optimizer's variables too (same settings, made in the scope)
            optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        history = _train_epochs(net, audio_gen, optimizer, paths, description, fingerprint, epochs, verbose,
                                resume, keep_best, devices)
    if net is not input_to_softmax:
        input_to_softmax.set_weights(net.get_weights())
    return history


def data_parallel_distribution():
    """keras.distribution.DataParallel over every device the backend sees (JAX only): each batch is
    split across the devices, each computes its part, gradients are combined, weights stay equal."""
    if keras.backend.backend() != "jax":
        raise ValueError("data-parallel training uses keras.distribution, which needs the JAX backend: "
                         "run with KERAS_BACKEND=jax (see README, 'Several GPUs')")
    return keras.distribution.DataParallel(devices=keras.distribution.list_devices())


def _rebuild(model: keras.Model) -> keras.Model:
    """The same model built again (in the current distribution scope) with the same weights."""
    from sample_models import build_model

    spec = getattr(model, "build_spec", None)
    if spec is None:
        raise ValueError("data-parallel training needs a model made by a sample_models builder (it is rebuilt "
                         "across the devices from its build_spec)")
    again = build_model(spec)  # the builder records build_spec and output_length on it
    again.set_weights(model.get_weights())
    return again


def _train_epochs(input_to_softmax, audio_gen, optimizer, paths, description, fingerprint, epochs, verbose,
                  resume, keep_best, devices: int = 1) -> dict:
    """The epoch loop of train_model: resume, train, validate, save after every epoch."""
    model = add_ctc_loss(input_to_softmax)
    model.compile(loss={"ctc": _identity_loss}, optimizer=optimizer)
    history = {"loss": [], "val_loss": []}
    initial_epoch = 0
    state = _load_resume(paths["resume"], fingerprint) if resume else None
    if state is not None:
        initial_epoch, history, weights, opt_arrays = state
        input_to_softmax.set_weights(weights)
        optimizer.build(model.trainable_variables)
        for var, value in zip(optimizer.variables, opt_arrays):
            var.assign(value)
        print(f"Resuming from the end of epoch {initial_epoch} of {epochs} ({paths['resume']}).")

    good_weights = input_to_softmax.get_weights()
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        epoch_start = time.perf_counter()
        progbar = keras.utils.Progbar(audio_gen.steps_per_epoch("train"), verbose=verbose,
                                       stateful_metrics=["loss", "val_loss"], unit_name="step")
        loss = _run_epoch(model, audio_gen, "train", epoch, progbar, devices)
        val_loss = _run_epoch(model, audio_gen, "valid", epoch, devices=devices) if math.isfinite(loss) else float("nan")
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            input_to_softmax.set_weights(good_weights)
            if not history["loss"]:
                save_weights_h5(input_to_softmax, paths["weights"])
            print(f"Training stopped: the loss became NaN or infinite in epoch {epoch + 1}. Kept the weights "
                  f"of the last finished epoch ({len(history['loss'])}) in {paths['weights']}; try a lower "
                  "learning rate or clipnorm.", file=sys.stderr)
            return history
        progbar.update(progbar.target, values=[("loss", loss), ("val_loss", val_loss)], finalize=True)
        history["loss"].append(loss)
        history["val_loss"].append(val_loss)
        history.setdefault("epoch_seconds", []).append(round(time.perf_counter() - epoch_start, 2))
        good_weights = input_to_softmax.get_weights()
        is_best = val_loss <= min(history["val_loss"])
        save_state(paths, input_to_softmax, optimizer, history, description, fingerprint, epochs_done=epoch + 1,
                   write_weights=is_best or not keep_best)
    if keep_best and history["val_loss"]:
        input_to_softmax.load_weights(paths["weights"])  # the best epoch's weights, as saved
    if os.path.exists(paths["resume"]):
        os.unlink(paths["resume"])  # finished: the description and weights are all that is needed
    return history


def _run_epoch(model: keras.Model, audio_gen: AudioGenerator, partition: str, epoch: int,
               progbar: keras.utils.Progbar | None = None, devices: int = 1) -> float:
    """One pass over `partition`: train on 'train', evaluate otherwise. Returns the mean loss per
    utterance, or NaN as soon as a batch's loss is not finite. The next batch's features are
    computed in a background thread while the model works on the current one. With several
    devices, a batch that does not split evenly across them (only the last can) is cut to a
    multiple of `devices` utterances."""
    batches = audio_gen.epoch_batches(partition, epoch)
    if devices > 1:
        batches = [b[: len(b) - len(b) % devices] for b in batches]
        batches = [b for b in batches if b]
    total, count = 0.0, 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(audio_gen.batch_from_indices, partition, batches[0])
        for step, indices in enumerate(batches):
            inputs, outputs = pending.result()
            if step + 1 < len(batches):
                pending = pool.submit(audio_gen.batch_from_indices, partition, batches[step + 1])
            model.reset_metrics()
            if partition == "train":
                logs = model.train_on_batch(inputs, outputs, return_dict=True)
            else:
                logs = model.test_on_batch(inputs, outputs, return_dict=True)
            batch_loss = float(logs["loss"])
            if not math.isfinite(batch_loss):
                pending.cancel()
                return float("nan")
            total, count = total + batch_loss * len(indices), count + len(indices)
            if progbar is not None and step + 1 < len(batches):
                progbar.update(step + 1, values=[("loss", total / count)], finalize=False)
    return total / count


def _saved_fingerprint(paths: dict) -> str | None:
    """The fingerprint of the run saved at `paths` (its resume file's, else its description's), if any."""
    try:
        with np.load(paths["resume"]) as data:
            return _resume_meta(data).get("fingerprint")
    except Exception:
        pass
    try:
        with open(paths["spec"], encoding="utf-8") as f:
            return json.load(f)["training"].get("fingerprint")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _finished_run(paths: dict, fingerprint: str, epochs: int) -> dict | None:
    """The history of a finished run of the same model and data with at least `epochs` epochs, else None."""
    try:
        with open(paths["spec"], encoding="utf-8") as f:
            training = json.load(f)["training"]
        with open(paths["pickle"], "rb") as f:
            history = pickle.load(f)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError):
        return None
    if (training.get("fingerprint") != fingerprint or training.get("epochs_done", 0) < epochs
            or os.path.exists(paths["resume"]) or not os.path.exists(paths["weights"])):
        return None
    return history
