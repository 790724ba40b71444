"""Comparing trained models: loss histories from results/*.pickle, the seed's two-panel loss plot,
and a plain-language summary of which model learned best."""

from __future__ import annotations

import glob
import os
import pickle


def load_histories(results_dir: str = "results") -> dict[str, dict]:
    """{model name: {'loss': [...], 'val_loss': [...]}} for every results/<name>.pickle, sorted by name."""
    histories = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(results_dir), "*.pickle"))):
        with open(path, "rb") as f:
            history = pickle.load(f)
        if history.get("loss"):
            histories[os.path.splitext(os.path.basename(path))[0]] = history
    return histories


def plot_loss_comparison(results_dir: str = "results", histories: dict[str, dict] | None = None):
    """Training (left) and validation (right) CTC loss per epoch for every saved model; returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    histories = histories if histories is not None else load_histories(results_dir)
    if not histories:
        raise ValueError(f"no loss histories (*.pickle) in {results_dir}: train a model first")
    sns.set_style(style="white")
    fig, axes = plt.subplots(1, 2, figsize=(16, 5))
    longest = max(len(h["loss"]) for h in histories.values())
    for ax, key, label in ((axes[0], "loss", "Training Loss"), (axes[1], "val_loss", "Validation Loss")):
        for name, history in histories.items():
            epochs = range(1, len(history[key]) + 1)
            ax.plot(epochs, history[key], marker="o" if longest < 6 else None, label=name)
        ax.set_xlim([1, max(longest, 2)])
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.legend()
    plt.show()
    return fig


def summarize_histories(histories: dict[str, dict]) -> str:
    """A few sentences ranking the models by their best validation loss, and flagging over-fitting."""
    if not histories:
        return "No trained models yet."
    ranked = sorted(histories.items(), key=lambda kv: min(kv[1]["val_loss"]))
    lines = ["Models ranked by their best validation loss (lower is better):"]
    for rank, (name, h) in enumerate(ranked, 1):
        best = min(h["val_loss"])
        epoch = h["val_loss"].index(best) + 1
        gap = h["val_loss"][-1] - h["loss"][-1]
        lines.append(
            f"{rank}. {name}: best val loss {best:.1f} (epoch {epoch} of {len(h['val_loss'])}), "
            f"last train/val loss {h['loss'][-1]:.1f}/{h['val_loss'][-1]:.1f} (gap {gap:+.1f})"
        )
    rising = [name for name, h in histories.items() if len(h["val_loss"]) >= 3 and h["val_loss"][-1] > min(h["val_loss"]) * 1.05]
    if rising:
        lines.append("Validation loss ended above its best (over-fitting or instability) for: " + ", ".join(rising) + ".")
    return "\n".join(lines)
