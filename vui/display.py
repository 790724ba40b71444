"""The notebook's display helpers: feature plots, the loss comparison, and transcriptions.

``vis_train_features`` and the ``plot_*`` helpers draw the capstone's STEP 1 figures (the original
notebook imports them from ``data_generator``, which still hands them out); ``plot_loss_comparison``
draws the trained models' losses; ``get_predictions`` (the seed's) and ``show_transcriptions`` print
true and predicted transcripts with an audio player. Plots are shown, not returned: a returned
figure would be drawn a second time when the call is a cell's last line.
"""

from __future__ import annotations

import base64
import html
import io
import os
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import soundfile
from IPython import get_ipython
from IPython.display import HTML, Audio, display
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable

from char_map import NUM_CLASSES
from data_generator import AudioGenerator, CorpusError, read_corpus
from utils import (MAX_DURATION_S, MAX_FREQ, MFCC_DIM, SAMPLE_RATE, SPECTROGRAM_DIM, STEP_MS, load_audio,
                   spectrogram_from_samples)
from vui.alignment import seconds_per_frame
from vui.audio import resample
from vui.decoding import DecodingOptions, decode, greedy_decode
from vui.evaluate import load_histories
from vui.features import Features
from vui.lm_scorer import LanguageModel
from vui.recorder import Recorder
from vui.saved_model import (SHIPPED_CLIPS, SHIPPED_LM, SHIPPED_MODEL, description_path, load_weights_checked,
                             read_description)
from vui.transcriber import Transcriber

if TYPE_CHECKING:  # annotations only; vui.saved_model loads Keras after choosing its backend
    import keras

RULE: str = "-" * 80  # between the parts of a printed transcription


def _play(audio_path: str) -> None:
    """An audio player for the file, in a notebook; nothing elsewhere."""
    if get_ipython() is not None:
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


def _in_results(model_path: str) -> str:
    """`model_path`, or results/`model_path` where only that exists (the seed's call: ``model_path='model_end.h5'``)."""
    if not os.path.exists(model_path) and os.path.exists(os.path.join("results", model_path)):
        return os.path.join("results", model_path)
    return model_path


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
    model_path = _in_results(model_path)
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


# --- STEP 3: your own voice ------------------------------------------------------------------------
MAX_TAKE_S: float = 30.0  # seconds of a take analysed; longer recordings: python -m vui.transcribe
CLASS_LABELS: list[str] = ["'", "space", *string.ascii_lowercase, "blank"]  # the 29 classes, by index


def _png(fig: plt.Figure) -> str:
    """The figure as base64 PNG, closed (so it is not drawn a second time)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _wav(samples: np.ndarray, sample_rate: int) -> str:
    """The samples as a base64 16-bit WAV file."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def voice_figure(samples: np.ndarray, probs: np.ndarray, seconds_per_frame: float, title: str) -> plt.Figure:
    """Waveform, spectrogram and per-frame class probabilities (frames x 29: the CTC alignment, each
    character a bright spike among blanks) of SAMPLE_RATE samples (n,) and a model's outputs (frames, 29)."""
    seconds = len(samples) / SAMPLE_RATE
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [1, 2, 3]})
    axes[0].plot(np.arange(len(samples)) / SAMPLE_RATE, samples, linewidth=0.5)
    axes[0].set(title="Waveform", ylabel="amplitude")
    spectrum = spectrogram_from_samples(samples, SAMPLE_RATE)
    axes[1].imshow(spectrum.T, origin="lower", aspect="auto", cmap="viridis",
                   extent=(0, len(spectrum) * STEP_MS / 1000, 0, MAX_FREQ / 1000))
    axes[1].set(title="Spectrogram (log power)", ylabel="kHz")
    axes[2].imshow(probs.T, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
                   extent=(0, len(probs) * seconds_per_frame, -0.5, NUM_CLASSES - 0.5))
    axes[2].set_yticks(range(NUM_CLASSES), CLASS_LABELS, fontsize=7)
    axes[2].set(title=f"{title}: probability of each class per output frame", xlabel="seconds", xlim=(0, seconds))
    fig.tight_layout()
    return fig


class VoiceAnalysis:
    """The notebook's "Try your own voice": a take through the student's model and the shipped one.

    The student's model is a freshly built model (`input_to_softmax`) with its trained weights
    (`model_path`) and its features as get_predictions computes them; the shipped model decodes
    greedily and with beam search and its LM. ``html(samples, rate, name)`` gives the result (player,
    pictures, transcripts) as static HTML, which survives export.
    """

    def __init__(self, input_to_softmax: keras.Model, model_path: str, train_json: str,
                 shipped_model: str, shipped_lm: str | None) -> None:
        self.model_path = _in_results(model_path)
        self.student = input_to_softmax if os.path.exists(self.model_path) else None
        if self.student is not None:
            self.student_features = _prediction_features(input_to_softmax, self.model_path, train_json)
            load_weights_checked(input_to_softmax, self.model_path)
        self.shipped = Transcriber(shipped_model) if os.path.exists(shipped_model) else None
        self.lm = LanguageModel(shipped_lm) if self.shipped is not None and shipped_lm and os.path.exists(shipped_lm) else None
        self.options = DecodingOptions.for_lm(self.lm)

    def _student_probs(self, samples: np.ndarray) -> tuple[np.ndarray, float]:
        feats = self.student_features.of_samples(samples, SAMPLE_RATE)
        probs = np.asarray(self.student.predict_on_batch(feats[None]))[0]
        probs = probs[: int(self.student.output_length(len(feats)))]
        return probs, seconds_per_frame(len(feats), len(probs), self.student_features.step)

    def transcripts(self, samples: np.ndarray) -> tuple[list[tuple[str, str]], np.ndarray, float, str]:
        """(label, transcript) rows, and the outputs pictured: the student's model's (else the shipped
        one's) probabilities (frames, 29), seconds per frame, and whose they are."""
        rows, pictured = [], None
        if self.student is not None:
            probs, spf = self._student_probs(samples)
            rows.append((f"Your model ({os.path.basename(self.model_path)}), greedy", greedy_decode(probs)))
            pictured = (probs, spf, f"Your model ({os.path.basename(self.model_path)})")
        else:
            rows.append(("Your model", f"not trained yet: no {self.model_path}"))
        if self.shipped is not None:
            feats = self.shipped.features.of_samples(samples, SAMPLE_RATE)
            probs = self.shipped.probabilities([feats])[0]
            rows.append(("Shipped model, greedy", decode(probs)))
            if self.lm is not None:
                rows.append(("Shipped model, beam search + LM", decode(probs, self.options, self.lm)))
            if pictured is None:
                pictured = (probs, seconds_per_frame(len(feats), len(probs), self.shipped.features.step), "Shipped model")
        if pictured is None:
            raise FileNotFoundError(f"no model to transcribe with: neither {self.model_path} nor the shipped model")
        return rows, *pictured

    def html(self, samples: np.ndarray, sample_rate: int, name: str) -> str:
        """The take (any rate, mono) resampled to SAMPLE_RATE, its first MAX_TAKE_S analysed, as HTML."""
        samples = resample(samples, sample_rate, SAMPLE_RATE)
        note = ""
        if len(samples) > MAX_TAKE_S * SAMPLE_RATE:
            samples = samples[: int(MAX_TAKE_S * SAMPLE_RATE)]
            note = f" (its first {MAX_TAKE_S:g} s; python -m vui.transcribe takes any length)"
        rows, probs, spf, whose = self.transcripts(samples)
        figure = _png(voice_figure(samples, probs, spf, whose))
        table = "".join(f"<tr><th style='text-align:left'>{html.escape(label)}</th><td style='text-align:left'>"
                        f"{html.escape(text) or '<i>(nothing)</i>'}</td></tr>" for label, text in rows)
        return (f"<div class='vui-voice'><p><b>{html.escape(name)}</b>: {len(samples) / SAMPLE_RATE:.1f} s at "
                f"{sample_rate} Hz, heard at {SAMPLE_RATE} Hz{html.escape(note)}</p>"
                f"<audio controls src='data:audio/wav;base64,{_wav(samples, SAMPLE_RATE)}'></audio>"
                f"<table>{table}</table><img src='data:image/png;base64,{figure}'/></div>")


def try_your_voice(input_to_softmax: keras.Model, model_path: str = "model_end.h5",
                   train_json: str = "train_corpus.json", clip: str | None = None,
                   shipped_model: str = SHIPPED_MODEL, shipped_lm: str | None = SHIPPED_LM) -> Recorder:
    """Speak to your model: a recorder (record, stop, upload) above the result of the last take.

    Called like get_predictions: a freshly built model and the weights it was trained to
    (``model_end.h5`` looked for in results/). Until a take arrives, the result shown is that of
    `clip` (default: the first shipped LibriSpeech clip), so a headless run (papermill) does not wait
    for a microphone and its export shows player, pictures and transcripts. Returns the recorder.
    """
    analysis = VoiceAnalysis(input_to_softmax, model_path, train_json, shipped_model, shipped_lm)
    clip = clip or read_corpus(SHIPPED_CLIPS).audio_paths[0]
    samples, rate = load_audio(clip)
    recorder = Recorder()
    display(recorder)
    result = display(HTML(analysis.html(samples, rate, f"Example: {os.path.basename(clip)}")), display_id=True)

    def show(take: np.ndarray, take_rate: int, name: str) -> None:
        recorder.message = f"Transcribing {name}\u2026"
        result.update(HTML(analysis.html(take, take_rate, name)))
        recorder.message = f"Done: {name} transcribed below. Record again, or upload another file."

    recorder.on_take(show)
    return recorder
