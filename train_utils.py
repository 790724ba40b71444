"""CTC loss and the training the notebook calls: ``train_model(model, 'model_0.pickle', 'model_0.h5')``.

``train_model`` trains with Keras' ``Model.fit`` on the corpus as a ``PyDataset``, with callbacks that
write, inside ``results/`` and each atomically, the seed's files and ours after every epoch
(vui/training.py says in which order and why):

- ``<pickle_path>``: ``{'loss': [...], 'val_loss': [...], 'epoch_seconds': [...]}``, one value per
  finished epoch (the seed's comparison cell reads the first two);
- ``<save_model_path>``: the acoustic model's weights, in the layout that
  ``model.load_weights('results/<save_model_path>')`` reads on a freshly built model;
- ``<save_model_path minus extension>.json``: the model's description (vui/saved_model.py): how it
  was built, its features (vui/features.py), its corpora by what they hold (vui/provenance.py: no
  folder of this machine) and how far training got;
- ``<save_model_path>.resume.npz`` while a run is unfinished: weights, optimizer state and history.

Resuming: calling ``train_model`` again with the same paths, model and data continues from the last
finished epoch (the interrupted epoch is redone from its start; epoch ``e`` always draws the same
batches, so the result matches an uninterrupted run). A finished run is not trained again: its
weights are loaded and its history printed and returned. ``resume=False`` always starts from scratch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
from typing import Callable, Sequence

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras

from char_map import BLANK_INDEX
from data_generator import AudioGenerator
from sample_models import build_model
from utils import MFCC_DIM, audio_feature_frames
from vui.provenance import describe_corpus
from vui.saved_model import describe
from vui.training import (
    CorpusBatches,
    EpochOrder,
    ResultsError,  # noqa: F401  (what train_model raises when results cannot be written; importable here)
    RunFiles,
    SaveRun,
    StopOnNaN,
    check_writable,
    finished_run,
    fit_input,
    load_resume,
    saved_fingerprint,
)

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


def seed_optimizer() -> keras.optimizers.Optimizer:
    """The seed's optimizer: SGD(lr=0.02, decay=1e-6, momentum=0.9, nesterov=True, clipnorm=5).

    Keras 3 dropped ``decay``; InverseTimeDecay(decay_steps=1) is the same schedule. Keras 2's
    ``clipnorm`` scaled all gradients by one global norm, which is Keras 3's ``global_clipnorm``
    (Keras 3's ``clipnorm`` clips each variable on its own).
    """
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.02, decay_steps=1, decay_rate=1e-6)
    return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, global_clipnorm=5)


def configure_gpu_memory_growth() -> list[str]:
    """Let the backend take GPU memory as it needs it instead of all at once (TF2's replacement for
    the seed's ``set_session(tf.Session(config=ConfigProto(...)))``). Returns the GPUs found; on a
    machine without one it does nothing and training runs on the CPU."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX: read when it first starts
    backend_name = keras.backend.backend()
    if backend_name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised: growth can no longer be changed
                pass
        return [gpu.name for gpu in gpus]
    if backend_name == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend_name == "torch":  # torch allocates GPU memory as it goes already
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


# --- what a run is -------------------------------------------------------------------------------
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


def check_output_length(model: keras.Model, input_dim: int, frames: tuple[int, ...] = (101, 160)) -> None:
    """Raise ValueError, saying what to write, when `model` has no ``output_length`` or it disagrees with
    the frames the model outputs (checked on random inputs of `frames` frames): the CTC loss reads
    that many output frames, so a wrong output_length trains on missing or invented frames."""
    if not callable(getattr(model, "output_length", None)):
        raise ValueError(f"model {model.name!r} has no output_length: set model.output_length = lambda x: x (or, after "
                         "a convolution, lambda x: cnn_output_length(x, kernel_size, border_mode, stride)) in its builder")
    for n in frames:
        features = keras.random.normal((1, n, input_dim), seed=n)
        got = int(keras.ops.shape(model(features, training=False))[1])
        said = model.output_length(n)
        if said is None or int(said) != got:
            raise ValueError(f"model {model.name!r}: output_length({n}) gives {said}, but the model outputs {got} frames "
                             f"for {n} input frames; make model.output_length compute the model's output frames")


def find_unfit_labels(audio_gen: AudioGenerator, partition: str, output_length: Callable) -> list[tuple[int, str]]:
    """Utterances of `partition` whose transcript CTC cannot fit in the model's output frames (for
    training data with speed perturbation: at its fastest speed, the fewest frames).

    Returns (index, message) pairs; the message names the audio file, the frames the model outputs
    for it and the frames its transcript needs.
    """
    part = audio_gen.partitions[partition]
    fastest = max(audio_gen.speed_perturbation, default=1.0) if partition == "train" else 1.0
    bad = []
    for i, (path, text) in enumerate(zip(part.audio_paths, part.texts)):
        frames = int(output_length(int(audio_feature_frames(path, audio_gen.step, audio_gen.window) / fastest)))
        needed = ctc_min_frames(text)
        if frames < needed:
            bad.append((i, f"{path}: model outputs {frames} frames, transcript needs {needed} ({len(text)} characters)"))
    return bad


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
    callbacks: list[keras.callbacks.Callback] | None = None,
    speed_perturbation: Sequence[float] = (),
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
    training as on one device, within float tolerance. callbacks: the user's own Keras callbacks
    (CSVLogger, TensorBoard, EarlyStopping, ...), run by fit after the built-in ones; their
    ``self.model`` is the CTC-loss model around `input_to_softmax`. An EarlyStopping that stops the
    run leaves it finished (not resumed by the next call). speed_perturbation, e.g. (0.9, 1.0, 1.1),
    reads each training utterance at one of these speeds, drawn every epoch (Kaldi's speed
    perturbation: tempo and pitch change together); validation is read as it is. A finished run that is loaded trains
    nothing, so its callbacks do not run.
    See the module docstring for the files written and how resuming works.
    """
    optimizer = optimizer or seed_optimizer()
    if optimizer.built:  # used for another model already (Keras 3 binds an optimizer to one model's variables)
        optimizer = optimizer.__class__.from_config(optimizer.get_config())
    audio_gen = AudioGenerator(minibatch_size=minibatch_size, spectrogram=spectrogram, mfcc_dim=mfcc_dim,
                               sort_by_duration=sort_by_duration, max_duration=max_duration,
                               bucket_by_duration=bucket_by_duration, cache_dir=cache_dir,
                               speed_perturbation=speed_perturbation)
    audio_gen.load_train_data(train_json)
    audio_gen.load_validation_data(valid_json)
    expected_dim = audio_gen.input_dim
    model_dim = input_to_softmax.input_shape[-1]
    if model_dim != expected_dim:
        raise ValueError(
            f"the model takes {model_dim}-dim features but spectrogram={spectrogram} gives {expected_dim}; "
            f"build it with input_dim={expected_dim}"
        )
    check_output_length(input_to_softmax, expected_dim)
    for partition in ("train", "valid"):
        bad = find_unfit_labels(audio_gen, partition, input_to_softmax.output_length)
        if bad:
            print(f"Leaving out {len(bad)} of {len(audio_gen.partitions[partition].audio_paths)} {partition} "
                  "utterances whose transcript is longer than the model's output can hold:", file=sys.stderr)
            for _, message in bad:
                print(f"  {message}", file=sys.stderr)
            audio_gen.drop(partition, [i for i, _ in bad])

    check_writable(results_dir)
    files = RunFiles.in_folder(results_dir, pickle_path, save_model_path)
    # which corpus files: in the fingerprint only; the description names the corpora by what they hold
    data_files = {"train_json": os.path.abspath(train_json), "valid_json": os.path.abspath(valid_json)}
    corpora = {"train_corpus": describe_corpus(train_json, audio_gen.train_audio_paths, audio_gen.train_durations),
               "valid_corpus": describe_corpus(valid_json, audio_gen.valid_audio_paths, audio_gen.valid_durations)}
    run = {
        "minibatch_size": minibatch_size, "sort_by_duration": sort_by_duration, "max_duration": max_duration,
        "bucket_by_duration": bucket_by_duration, "keep_best": keep_best,
        "optimizer": _optimizer_description(optimizer),
    }
    if distribution:
        run["distribution"] = distribution
    if audio_gen.speed_perturbation:  # only when used: runs without it keep their earlier fingerprints
        run["speed_perturbation"] = list(audio_gen.speed_perturbation)
    description = describe(input_to_softmax, audio_gen.features.to_dict(),
                           {**corpora, **run, "epochs": epochs, "weights": save_model_path, "pickle": pickle_path,
                            "backend": keras.backend.backend()})
    fingerprint = _fingerprint({"model": description.get("builder"), "kwargs": description.get("kwargs"),
                                "features": audio_gen.features.settings(),
                                "weights": [list(w.shape) for w in input_to_softmax.weights],
                                "architecture": architecture(input_to_softmax), **data_files, **run})
    description["training"]["fingerprint"] = fingerprint

    saved = saved_fingerprint(files)
    if resume and saved not in (None, fingerprint):
        print(f"{files.weights} holds another model or other training settings than this call's (the model, "
              "its layers or the data changed); training this one from scratch. Its files replace the old ones "
              "after the first epoch: give other file names to keep both.", file=sys.stderr)
    finished = finished_run(files, fingerprint, epochs) if resume else None
    if finished is not None:
        input_to_softmax.load_weights(files.weights)
        print(f"{files.weights} already holds this model trained for {len(finished['loss'])} epochs; "
              "loaded it (pass resume=False to train again). Its training:")
        print(history_lines(finished, epochs))
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
        history = _fit(net, audio_gen, optimizer, files, description, fingerprint, epochs, verbose,
                       resume, keep_best, devices, callbacks or [])
    if net is not input_to_softmax:
        input_to_softmax.set_weights(net.get_weights())
    return history


def history_lines(history: dict, epochs: int) -> str:
    """A finished run's record, one line per epoch as fit prints them with verbose=2."""
    seconds = history.get("epoch_seconds") or [None] * len(history["loss"])
    return "\n".join(
        f"Epoch {i + 1}/{epochs}" + (f" - {round(t)}s" if t is not None else "") + f" - loss: {loss:.4f} - val_loss: {val:.4f}"
        for i, (loss, val, t) in enumerate(zip(history["loss"], history["val_loss"], seconds)))


def _fit(net: keras.Model, audio_gen: AudioGenerator, optimizer: keras.optimizers.Optimizer, files: RunFiles,
         description: dict, fingerprint: str, epochs: int, verbose: int, resume: bool, keep_best: bool, devices: int,
         callbacks: list[keras.callbacks.Callback]) -> dict:
    """Model.fit of the CTC loss model from the resume state (if any) to `epochs`, saving every epoch."""
    model = add_ctc_loss(net)
    model.compile(loss={"ctc": _identity_loss}, optimizer=optimizer)
    history = {"loss": [], "val_loss": []}
    initial_epoch = 0
    state = load_resume(files.resume, fingerprint) if resume else None
    if state is not None:
        initial_epoch, history, weights, opt_arrays = state
        net.set_weights(weights)
        optimizer.build(model.trainable_variables)
        for var, value in zip(optimizer.variables, opt_arrays):
            var.assign(value)
        print(f"Resuming from the end of epoch {initial_epoch} of {epochs} ({files.resume}).")
    train_batches = CorpusBatches(audio_gen, "train", devices)
    valid_batches = CorpusBatches(audio_gen, "valid", devices)
    saver = SaveRun(net, files, description, fingerprint, history, epochs, keep_best)
    model.fit(fit_input(train_batches), validation_data=fit_input(valid_batches), epochs=epochs,
              initial_epoch=initial_epoch, verbose=verbose, shuffle=False,  # the batches come in each epoch's own seeded order
              callbacks=[EpochOrder(train_batches), StopOnNaN(net, files.weights), saver, *callbacks])
    return saver.history


def data_parallel_distribution() -> keras.distribution.DataParallel:
    """keras.distribution.DataParallel over every device the backend sees (JAX only): each batch is
    split across the devices, each computes its part, gradients are combined, weights stay equal."""
    if keras.backend.backend() != "jax":
        raise ValueError("data-parallel training uses keras.distribution, which needs the JAX backend: "
                         "run with KERAS_BACKEND=jax (see README, 'Backends, GPUs, larger data')")
    return keras.distribution.DataParallel(devices=keras.distribution.list_devices())


def _rebuild(model: keras.Model) -> keras.Model:
    """The same model built again (in the current distribution scope) with the same weights."""
    spec = getattr(model, "build_spec", None)
    if spec is None:
        raise ValueError("data-parallel training needs a model made by a sample_models builder (it is rebuilt "
                         "across the devices from its build_spec)")
    again = build_model(spec)  # the builder records build_spec and output_length on it
    again.set_weights(model.get_weights())
    return again


