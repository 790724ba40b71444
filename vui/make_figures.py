"""Draw the notebook's figures into images/: the pipeline, and one architecture diagram per model,
read from the model definitions in sample_models.py (so the pictures cannot drift from the code).

    python -m vui.make_figures [--out images]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

import sample_models as sm
from sample_models import NOTEBOOK_MODELS
from utils import MFCC_DIM, SPECTROGRAM_DIM, STEP_MS, WINDOW_MS

COLOURS = {"InputLayer": "#dddddd", "GRU": "#f4a582", "SimpleRNN": "#f4a582", "Bidirectional": "#d6604d",
           "Conv1D": "#92c5de", "MaxPooling1D": "#4393c3", "BatchNormalization": "#fddbc7",
           "Dense": "#b8e186", "TimeDistributed": "#b8e186", "Activation": "#4dac26", "InputPadding": "#eeeeee",
           "Dropout": "#eeeeee"}


def _box(ax, x, y, w, h, text, colour):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=colour, ec="#333333"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def draw_model(model, title: str, path: str) -> None:
    """One box per layer, top (input) to bottom (softmax), with output shape and parameters."""
    rows = model.layers
    fig, ax = plt.subplots(figsize=(6, 0.9 * len(rows) + 1))
    for i, layer in enumerate(rows):
        kind = type(layer).__name__
        detail = kind
        if kind == "Bidirectional":
            detail = f"Bidirectional({type(layer.forward_layer).__name__}, {layer.merge_mode})"
        elif kind == "TimeDistributed":
            detail = f"TimeDistributed({type(layer.layer).__name__})"
        activation = getattr(layer, "activation", None) or getattr(getattr(layer, "forward_layer", None), "activation", None)
        if activation is not None and kind != "InputLayer":
            detail += f" · {activation.__name__}"
        shape = tuple(layer.output.shape) if kind != "InputLayer" else tuple(model.input_shape)
        text = f"{detail}\noutput {shape} · {layer.count_params():,} params"
        y = len(rows) - i
        _box(ax, 0.5, y, 0.9, 0.62, text, COLOURS.get(kind, "#ffffff"))
        if i:
            ax.annotate("", xy=(0.5, y + 0.31), xytext=(0.5, y + 0.69), arrowprops=dict(arrowstyle="->"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.axis("off")
    ax.set_title(f"{title}: {model.count_params():,} parameters", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_pipeline(path: str) -> None:
    """Audio -> features -> acoustic model -> CTC / decoding -> text."""
    steps = [
        ("Raw audio\n16 kHz samples", "#dddddd"),
        (f"Features\nspectrogram ({SPECTROGRAM_DIM})\nor MFCC ({MFCC_DIM})\n{WINDOW_MS} ms window, {STEP_MS} ms step", "#92c5de"),
        ("Acoustic model\nCNN / RNN layers\nsoftmax over 29\nper frame", "#f4a582"),
        ("CTC\nloss in training,\ndecoding (greedy\nor beam + LM)", "#b8e186"),
        ("Text\n\"hello world\"", "#dddddd"),
    ]
    fig, ax = plt.subplots(figsize=(13, 2.6))
    for i, (text, colour) in enumerate(steps):
        _box(ax, i * 2.6 + 1, 1, 2.1, 1.5, text, colour)
        if i:
            ax.annotate("", xy=(i * 2.6 - 0.07, 1), xytext=(i * 2.6 - 0.53, 1), arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.set_xlim(-0.2, len(steps) * 2.6 - 0.4)
    ax.set_ylim(0.1, 1.9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="images", help="folder for the PNG files")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    draw_pipeline(os.path.join(args.out, "pipeline.png"))
    for name, (builder, kwargs) in NOTEBOOK_MODELS.items():
        model = getattr(sm, builder)(**kwargs, verbose=False)
        draw_model(model, f"{name} = {builder}", os.path.join(args.out, f"{name}.png"))
    print(f"wrote {len(NOTEBOOK_MODELS) + 1} figures to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
