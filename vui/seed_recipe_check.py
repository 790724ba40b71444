"""Train the seed notebook's Models 0-4 and final model with the seed's own settings and print their
losses per epoch beside the seed's 20-epoch figures: the check that the seed's recipe trains without NaN.

The seed's settings: its model calls, its optimizer (train_utils.seed_optimizer), minibatches of 20
drawn at random (bucket_by_duration=False; the first epoch in corpus order, as the seed's), spectrogram
features, utterances up to 10 s. Each model trains through ``train_model``, so an interrupted run
continues where it stopped when the same command is run again.

    python -m vui.seed_recipe_check --epochs 5 --results-dir ~/vui-runs/seed5
    python -m vui.seed_recipe_check --probe 40 --no-mask     # where the original's padding makes it NaN
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
import numpy as np

import sample_models
from data_generator import AudioGenerator
from train_utils import add_ctc_loss, seed_optimizer, train_model
from vui.evaluate import SEED_FINAL_VAL_LOSS

SPLIT_HELP = ("python create_desc_json.py ../shared/corpora/LibriSpeech/test-clean train_corpus.json "
              "--valid-speakers 8 --valid-output valid_corpus.json")
SEED_MODEL_NAMES: tuple[str, ...] = ("model_0", "model_1", "model_2", "model_3", "model_4", "model_end")


def train_all(names: list[str], epochs: int, results_dir: str, train_json: str, valid_json: str) -> None:
    """Train each named seed model with the seed's settings (resumes a run left unfinished)."""
    for name in names:
        builder, kwargs = sample_models.NOTEBOOK_MODELS[name]
        print(f"== {name}: {builder}", flush=True)
        model = sample_models.BUILDERS[builder](**kwargs, verbose=False)
        train_model(model, f"{name}.pickle", f"{name}.h5", train_json=train_json, valid_json=valid_json,
                    minibatch_size=20, epochs=epochs, verbose=2, results_dir=results_dir, bucket_by_duration=False)


def probe_padding(steps: int, seed: int, mask: bool, train_json: str) -> None:
    """Train the seed's cnn_rnn_model `steps` batches (seed's optimizer, random batches of 20) and print,
    before each step, the largest RNN output on real and on padded frames, the loss and the largest
    moving variance of batch normalisation: where the seed's recipe goes NaN, and why."""
    keras.utils.set_random_seed(seed)
    sample_models.MASK_PADDING = mask
    builder, kwargs = sample_models.NOTEBOOK_MODELS["model_2"]
    model = sample_models.BUILDERS[builder](**kwargs, verbose=False)
    rnn_out = keras.Model(model.input, model.get_layer("rnn").output)
    loss_model = add_ctc_loss(model)
    loss_model.compile(loss={"ctc": lambda y_true, y_pred: y_pred}, optimizer=seed_optimizer())
    gen = AudioGenerator(minibatch_size=20, seed=123 + seed, cache_dir=os.environ.get("VUI_FEATURE_CACHE"))
    gen.load_train_data(train_json)
    print("| step | loss | largest RNN output, real frames | padded frames | padded share | BN moving variance (max) |")
    print("|---|---|---|---|---|---|")
    for step, indices in enumerate(gen.epoch_batches("train", 1)[:steps]):
        inputs, outputs = gen.batch_from_indices("train", indices)
        out = np.abs(keras.ops.convert_to_numpy(rnn_out(inputs["the_input"], training=False)))
        real = np.arange(out.shape[1])[None, :] < np.array(
            [int(model.output_length(int(n))) for n in inputs["input_length"][:, 0]])[:, None]
        loss = float(loss_model.train_on_batch(inputs, outputs, return_dict=True)["loss"])
        variance = max(float(np.max(keras.ops.convert_to_numpy(layer.moving_variance)))
                       for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
        padded = out[~real].max() if (~real).any() else 0.0
        print(f"| {step} | {loss:.1f} | {out[real].max():.3g} | {padded:.3g} | {(~real).mean():.2f} | {variance:.3g} |",
              flush=True)
        if not math.isfinite(loss):
            break


def table(names: list[str], epochs: int, results_dir: str) -> str:
    """Markdown table: per model, train/val loss of each epoch, the median epoch time, whether all
    epochs finished with finite losses, and the seed's validation loss after its 20 epochs."""
    head = "| model | " + " | ".join(f"epoch {e} train / val" for e in range(1, epochs + 1)) + " | median s/epoch | all epochs, no NaN | seed's val after 20 |"
    rows = [head, "|" + "---|" * (epochs + 4)]
    for name in names:
        try:
            with open(os.path.join(results_dir, f"{name}.pickle"), "rb") as f:
                hist = pickle.load(f)
        except OSError:
            continue
        cells = [f"{t:.1f} / {v:.1f}" for t, v in zip(hist["loss"], hist["val_loss"])]
        cells += ["—"] * (epochs - len(cells))
        finite = all(math.isfinite(x) for x in hist["loss"] + hist["val_loss"]) and len(hist["loss"]) >= epochs
        seconds = sorted(hist.get("epoch_seconds") or [float("nan")])
        rows.append(f"| {name} ({sample_models.NOTEBOOK_MODELS[name][0]}) | " + " | ".join(cells)
                    + f" | {seconds[len(seconds) // 2]:.0f} | {'yes' if finite else 'NO'} | {SEED_FINAL_VAL_LOSS[name]} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(SEED_MODEL_NAMES), choices=list(SEED_MODEL_NAMES))
    parser.add_argument("--results-dir", default=os.path.join(os.path.expanduser("~"), "vui-runs", "seed-recipe"))
    parser.add_argument("--train-json", default="train_corpus.json")
    parser.add_argument("--valid-json", default="valid_corpus.json")
    parser.add_argument("--table-only", action="store_true", help="print the table of what is saved; train nothing")
    parser.add_argument("--probe", type=int, metavar="STEPS",
                        help="instead: probe cnn_rnn_model's RNN outputs on real and padded frames for STEPS batches")
    parser.add_argument("--seed", type=int, default=0, help="Keras seed of the probe")
    parser.add_argument("--no-mask", action="store_true",
                        help="build the models as the original did, recurrent layers running over the padding")
    args = parser.parse_args(argv)
    for path in (args.train_json, args.valid_json):
        if not os.path.exists(path):
            print(f"{path} not found; make the test-clean speaker split first: {SPLIT_HELP}", file=sys.stderr)
            return 2
    if args.probe:
        probe_padding(args.probe, args.seed, not args.no_mask, args.train_json)
        return 0
    if args.no_mask:
        sample_models.MASK_PADDING = False
    if not args.table_only:
        train_all(args.models, args.epochs, args.results_dir, args.train_json, args.valid_json)
    print(table(args.models, args.epochs, args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
