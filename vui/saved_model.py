"""A trained acoustic model on disk: the one module that describes, saves and loads it.

A trained model is two files side by side in ``results/``: its weights (``model_0.h5``, in the
layout ``model.load_weights`` reads for that name) and its description (``model_0.json``: the
sample_models builder and its arguments, the feature settings and normalisation as
``vui.features.Features.to_dict`` writes them, and the training run). ``train_utils.train_model``
writes both through ``save_weights`` and ``write_description``; ``load_trained_model`` rebuilds the
model from the description alone, so evaluation and transcription need nothing but the saved files.
"""

from __future__ import annotations

import glob
import io
import json
import os
import pickle

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import h5py
import keras
# No public Keras 3 API writes the Keras 2 HDF5 layout that model.load_weights('x.h5') reads.
from keras.src.legacy.saving import legacy_h5_format

from sample_models import build_model
from utils import write_atomic

# The model and LM shipped in results/ (vui.train_recipe makes them): the default of vui.transcribe,
# vui.evaluate and the notebook's STEP 3.
PROJECT_DIR: str = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_MODEL: str = os.path.join(PROJECT_DIR, "results", "vui_model.weights.h5")
SHIPPED_LM: str = os.path.join(PROJECT_DIR, "results", "vui_lm.arpa")
# Four LibriSpeech clips of speakers the shipped model never heard (a corpus file; paths relative to PROJECT_DIR)
SHIPPED_CLIPS: str = os.path.join(PROJECT_DIR, "vui", "clips", "clips.json")


class ModelFileError(ValueError):
    """Saved weights or a description that are missing, unreadable or do not match the model; names the files."""


def description_path(weights_path: str) -> str:
    """The JSON description saved beside a weights file: results/model_0.h5 -> results/model_0.json,
    results/x.weights.h5 -> results/x.json."""
    if weights_path.endswith(".weights.h5"):
        return weights_path[: -len(".weights.h5")] + ".json"
    return os.path.splitext(weights_path)[0] + ".json"


def save_weights(model: keras.Model, path: str) -> None:
    """Save `model`'s weights atomically (temporary file + rename) in the layout ``model.load_weights(path)``
    reads for that name: ``*.weights.h5`` and ``*.keras`` through Keras' own savers, any other name (the
    seed's ``results/model_0.h5``) in Keras 2's HDF5 layout, which Keras 3 still loads but no longer writes."""
    if path.endswith((".weights.h5", ".keras")):
        suffix = ".weights.h5" if path.endswith(".weights.h5") else ".keras"
        tmp = path + ".tmp" + suffix  # Keras picks the format by the name's ending
        try:
            if suffix == ".keras":
                model.save(tmp)
            else:
                model.save_weights(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    write_atomic(path, buffer.getvalue())


def describe(model: keras.Model, features: dict, training: dict) -> dict:
    """A trained model's description (JSON-ready): how it was built (``model.build_spec``: its
    sample_models builder and arguments; None for a model built otherwise), its parameter count, its
    features (``Features.to_dict()``) and how it was trained (`training`)."""
    return {**getattr(model, "build_spec", {"builder": None, "kwargs": {}}), "params": int(model.count_params()),
            "features": features, "training": training}


def write_description(weights_path: str, description: dict) -> None:
    """Write `description` (JSON-ready) beside `weights_path` (see description_path), atomically."""
    write_atomic(description_path(weights_path), (json.dumps(description, indent=1) + "\n").encode("utf-8"))


def read_description(weights_path: str) -> dict:
    """The JSON description saved beside `weights_path` by train_model; ModelFileError if there is none."""
    path = description_path(weights_path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelFileError(
            f"{path} not found: it describes how {weights_path} was built and is written by train_model"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot read model description ({exc})") from None


def load_weights_checked(model: keras.Model, weights_path: str) -> None:
    """model.load_weights, with a ModelFileError naming the file when it is missing or does not fit the model."""
    if not os.path.exists(weights_path):
        raise ModelFileError(f"{weights_path}: weights file not found (train the model first)")
    try:
        model.load_weights(weights_path)
    except Exception as exc:  # noqa: BLE001  (Keras raises many types for a mismatched file; all mean this)
        raise ModelFileError(
            f"{weights_path} does not fit {model.name} ({model.count_params():,} parameters, input dim "
            f"{model.input_shape[-1]}): were the weights saved from another architecture or feature type? ({exc})"
        ) from None


def load_trained_model(weights_path: str) -> tuple[keras.Model, dict]:
    """(model, description): the model rebuilt from the description saved beside `weights_path`, with
    its weights loaded."""
    description = read_description(weights_path)
    try:
        model = build_model(description)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{description_path(weights_path)}: cannot build the model ({exc})") from None
    load_weights_checked(model, weights_path)
    return model, description


def weights_of(results_dir: str, name: str) -> str:
    """The weights file of the model saved as `name` in `results_dir` (``model_0`` -> ``model_0.h5``,
    ``vui_model`` -> ``vui_model.weights.h5``), as its description names it; ``<name>.h5`` when there
    is no description."""
    try:
        with open(os.path.join(results_dir, name + ".json"), encoding="utf-8") as f:
            return os.path.join(results_dir, json.load(f)["training"]["weights"])
    except (OSError, ValueError, KeyError, TypeError):
        return os.path.join(results_dir, name + ".h5")


def best_saved_model(results_dir: str = os.path.dirname(SHIPPED_MODEL)) -> str:
    """Weights path of the saved model with the lowest validation loss in `results_dir` (searched
    recursively; a model counts only with its weights, description and loss history)."""
    best = None
    for spec in sorted(glob.glob(os.path.join(glob.escape(results_dir), "**", "*.json"), recursive=True)):
        try:
            with open(spec, encoding="utf-8") as f:
                training = json.load(f)["training"]
            folder = os.path.dirname(spec)
            weights = os.path.join(folder, training["weights"])
            with open(os.path.join(folder, training["pickle"]), "rb") as f:
                val = min(pickle.load(f)["val_loss"])
        except (OSError, KeyError, ValueError, TypeError, pickle.UnpicklingError, EOFError):
            continue  # not a model description (an LM sidecar, a corpus file) or an incomplete run
        if os.path.exists(weights) and (best is None or val < best[0]):
            best = (val, weights)
    if best is None:
        raise FileNotFoundError(f"no trained model in {results_dir}: train one (vui_notebook.ipynb) or pass --model")
    return best[1]


def default_model_and_lm(weights: str | None, lm: str | None, no_lm: bool = False,
                         results_dir: str | None = None) -> tuple[str, str | None]:
    """The (weights, LM) a command uses when not told: the shipped model, and with it the shipped LM.

    An explicit `weights` is used as given (no LM unless `lm` names one); with no shipped model the
    best model in `results_dir` (lowest validation loss) is used. Raises FileNotFoundError when
    there is no model at all.
    """
    if weights is None:
        if os.path.exists(SHIPPED_MODEL) and results_dir is None:
            weights = SHIPPED_MODEL
            if lm is None and os.path.exists(SHIPPED_LM):
                lm = SHIPPED_LM
        else:
            weights = best_saved_model(results_dir or os.path.dirname(SHIPPED_MODEL))
    return weights, None if no_lm else lm
