"""The notebook's display helpers: feature plots, the loss comparison, and transcriptions.

``vis_train_features`` and the ``plot_*`` helpers draw the capstone's STEP 1 figures (the original
notebook imports them from ``data_generator``, which still hands them out); ``plot_loss_comparison``
draws the trained models' losses; ``get_predictions`` (the seed's) and ``show_transcriptions`` print
true and predicted transcripts with an audio player. Plots are shown, not returned: a returned
figure would be drawn a second time when the call is a cell's last line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable

from data_generator import AudioGenerator, CorpusError, read_corpus
from utils import MAX_DURATION_S, MFCC_DIM, SPECTROGRAM_DIM, load_audio
from vui.decoding import DecodingOptions, decode, greedy_decode
from vui.evaluate import load_histories
from vui.features import Features
from vui.lm_scorer import LanguageModel
from vui.saved_model import description_path, load_weights_checked, read_description
from vui.transcriber import Transcriber

if TYPE_CHECKING:  # annotations only; vui.saved_model loads Keras after choosing its backend
    import keras

RULE: str = "-" * 80  # between the parts of a printed transcription


def _play(audio_path: str) -> None:
    """An audio player for the file, in a notebook; nothing elsewhere."""
    try:  # IPython is there in a notebook only
        from IPython.display import Audio, display
    except ImportError:
        return
    display(Audio(audio_path))


# --- STEP 1: features ------------------------------------------------------------------------------
def vis_train_features(index: int = 0, desc_file: str = "train_corpus.json"):
    """Features of one training example for the notebook's plots.

    Returns (vis_text, vis_raw_audio, vis_mfcc_feature, vis_spectrogram_feature, vis_audio_path):
    the transcript, the raw samples (float32, mono, at the file's rate), normalised MFCCs
    (frames, 13), normalised spectrogram (frames, 161) and the file's path.
    """
    audio_gen = AudioGenerator(spectrogram=True)
    audio_gen.load_train_data(desc_file)
    vis_audio_path = audio_gen.train_audio_paths[index]
    vis_spectrogram_feature = audio_gen.normalize(audio_gen.featurize(vis_audio_path))
    mfcc_gen = AudioGenerator(spectrogram=False)
    mfcc_gen.load_train_data(desc_file)
    vis_mfcc_feature = mfcc_gen.normalize(mfcc_gen.featurize(vis_audio_path))
    vis_text = audio_gen.train_texts[index]
    vis_raw_audio, _ = load_audio(vis_audio_path)
    print(f"There are {len(audio_gen.train_audio_paths)} total training examples.")
    return vis_text, vis_raw_audio, vis_mfcc_feature, vis_spectrogram_feature, vis_audio_path


def plot_raw_audio(vis_raw_audio: np.ndarray) -> None:
    """Waveform plot of raw samples, shape (samples,)."""
    fig = plt.figure(figsize=(12, 3))
    ax = fig.add_subplot(111)
    ax.plot(np.arange(1, len(vis_raw_audio) + 1), vis_raw_audio)
    ax.set_title("Audio Signal")
    ax.set_xlabel("Time (samples)")
    ax.set_ylabel("Amplitude")
    plt.show()


def _plot_feature(feature: np.ndarray, title: str, xlabel: str, figsize: tuple[int, int],
                  xtick_step: int | None = None) -> None:
    """Heat map of (frames, dims) features as the original drew it: time down, feature dimension across."""
    fig = plt.figure(figsize=figsize)
    ax = fig.add_subplot(111)
    im = ax.imshow(feature, cmap=plt.cm.jet, aspect="auto")
    plt.title(title)
    plt.ylabel("Time (frames)")
    plt.xlabel(xlabel)
    divider = make_axes_locatable(ax)
    cax = divider.append_axes("right", size="5%", pad=0.05)
    plt.colorbar(im, cax=cax)
    if xtick_step:
        ax.set_xticks(np.arange(0, feature.shape[1], xtick_step), minor=False)
    plt.show()


def plot_mfcc_feature(vis_mfcc_feature: np.ndarray) -> None:
    """Heat map of normalised MFCCs (frames, coefficients)."""
    _plot_feature(vis_mfcc_feature, "Normalized MFCC", "MFCC coefficient", (12, 5), xtick_step=2)


def plot_spectrogram_feature(vis_spectrogram_feature: np.ndarray) -> None:
    """Heat map of a normalised spectrogram (frames, 161 bins of 50 Hz)."""
    _plot_feature(vis_spectrogram_feature, "Normalized Spectrogram", "Frequency (50 Hz bins)", (12, 5))


# --- STEP 2: losses --------------------------------------------------------------------------------
def plot_loss_comparison(results_dir: str = "results", histories: dict[str, dict] | None = None,
                         path: str | None = None) -> None:
    """Training (left) and validation (right) CTC loss per epoch for every saved model, shown (and
    saved to `path` if given). As the seed's notebook did, a second row repeats the plot without
    model_0, whose loss is several times the others' and flattens their curves."""
    import seaborn as sns  # only for the seed's plot style; a slow import the other helpers do not need

    histories = histories if histories is not None else load_histories(results_dir)
    if not histories:
        raise ValueError(f"no loss histories (*.pickle) in {results_dir}: train a model first")
    rows = [histories]
    if "model_0" in histories and len(histories) > 1:
        rows.append({name: h for name, h in histories.items() if name != "model_0"})
    sns.set_style(style="white")
    colors = {name: f"C{i % 10}" for i, name in enumerate(histories)}  # a model keeps its colour in both rows
    fig, axes = plt.subplots(len(rows), 2, figsize=(16, 5 * len(rows)), squeeze=False)
    longest = max(len(h["loss"]) for h in histories.values())
    for row, shown in zip(axes, rows):
        for ax, key, label in ((row[0], "loss", "Training Loss"), (row[1], "val_loss", "Validation Loss")):
            for name, history in shown.items():
                epochs = range(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], marker="o" if longest < 6 else None, label=name, color=colors[name])
            ax.set_xlim([1, max(longest, 2)])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("Epoch")
            ax.set_ylabel(label + ("" if len(shown) == len(histories) else " (without model_0)"))
            ax.legend()
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    plt.show()


# --- STEP 3: transcriptions ------------------------------------------------------------------------
def _prediction_features(input_to_softmax: keras.Model, model_path: str, train_json: str) -> Features:
    """The features `model_path` was trained on: from the description saved beside it when there is
    one (exactly the training normalisation), else as the seed did: spectrogram or MFCC by the model's
    input dimension, normalisation fitted on `train_json`."""
    if os.path.exists(description_path(model_path)):
        return Features.from_dict(read_description(model_path)["features"])
    input_dim = input_to_softmax.input_shape[-1]
    spectrogram = input_dim == SPECTROGRAM_DIM
    data_gen = AudioGenerator(spectrogram=spectrogram, mfcc_dim=MFCC_DIM if spectrogram else input_dim)
    data_gen.load_train_data(train_json)
    return data_gen.features


def get_predictions(index: int, partition: str, input_to_softmax: keras.Model, model_path: str,
                    train_json: str = "train_corpus.json", valid_json: str = "valid_corpus.json") -> tuple[str, str]:
    """Print the true and the predicted (greedy) transcription of one corpus utterance, as the seed did.

    partition is 'train' or 'validation'; input_to_softmax is a freshly built model of the same call
    as the one trained, and model_path its weights (a name alone is looked for in results/, as the
    seed's notebook called it: ``model_path='model_end.h5'``). Shows an audio player in a notebook.
    Returns (true, predicted).
    """
    if partition in ("validation", "valid"):
        corpus_json = valid_json
    elif partition == "train":
        corpus_json = train_json
    else:
        raise ValueError(f"partition must be 'train' or 'validation', not {partition!r}")
    corpus = read_corpus(corpus_json, MAX_DURATION_S)  # the utterances an AudioGenerator loads, in order
    if not corpus.audio_paths:
        raise CorpusError(f"{corpus_json}: no usable utterances")
    transcr, audio_path = corpus.texts[index], corpus.audio_paths[index]
    if not os.path.exists(model_path) and os.path.exists(os.path.join("results", model_path)):
        model_path = os.path.join("results", model_path)  # the seed's call: model_path='model_end.h5'
    data_point = _prediction_features(input_to_softmax, model_path, train_json)(audio_path)
    load_weights_checked(input_to_softmax, model_path)
    prediction = np.asarray(input_to_softmax.predict_on_batch(data_point[None]))[0]
    predicted = greedy_decode(prediction, int(input_to_softmax.output_length(data_point.shape[0])))
    _play(audio_path)
    print(f"{RULE}\nTrue transcription:\n\n{transcr}\n{RULE}\nPredicted transcription:\n\n{predicted}\n{RULE}")
    return transcr, predicted


def show_transcriptions(weights_path: str, corpus_json: str, indices: Sequence[int] = (0, 1, 2),
                        lm_path: str | None = None, beam: int | None = None) -> list[dict]:
    """Transcribe some utterances of a corpus file with a saved model (its own feature statistics):
    print the true, the greedy and (with an LM) the beam-search transcript, with an audio player.

    The LM's tuned alpha/beta/beam (saved by vui.train_recipe) are used when present. Returns one
    dict per utterance: path, true, greedy and, with an LM, lm.
    """
    if not os.path.exists(weights_path):
        print(f"No model at {weights_path}: `python -m vui.train_recipe` trains the shipped one.")
        return []
    transcriber = Transcriber(weights_path)
    lm = LanguageModel(lm_path) if lm_path is not None else None
    options = DecodingOptions.for_lm(lm, beam)
    corpus = read_corpus(corpus_json)
    rows = []
    for index in indices:
        if not 0 <= index < len(corpus.audio_paths):
            raise IndexError(f"{corpus_json} has {len(corpus.audio_paths)} usable utterances; no index {index}")
        path = corpus.audio_paths[index]
        probs = transcriber.file_probabilities(path)
        row = {"path": path, "true": corpus.texts[index], "greedy": decode(probs)}
        if lm is not None:
            row["lm"] = decode(probs, options, lm)
        _play(path)
        lines = [f"True:        {row['true']}", f"Greedy:      {row['greedy']}"]
        if lm is not None:
            lines.append(f"Beam + LM:   {row['lm']}")
        print(RULE + "\n" + os.path.basename(path) + "\n" + "\n".join(lines))
        rows.append(row)
    return rows
