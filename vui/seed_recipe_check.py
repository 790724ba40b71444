"""Train the seed notebook's Models 0-4 and final model with the seed's own settings and print their
losses per epoch beside the seed's 20-epoch figures: the check that the seed's recipe trains without NaN.

The seed's settings: its model calls, its optimizer (train_utils.seed_optimizer), minibatches of 20
drawn at random (bucket_by_duration=False; the first epoch in corpus order, as the seed's), spectrogram
features, utterances up to 10 s. Each model trains through ``train_model``, so an interrupted run
continues where it stopped when the same command is run again.

    python -m vui.seed_recipe_check --epochs 5 --results-dir ~/vui-runs/seed5
    python -m vui.seed_recipe_check --probe 40 --no-mask     # where the original's padding makes it NaN
    python -m vui.seed_recipe_check --models model_2 --student-code tests/data/student_models_2017.py

``--student-code FILE`` trains a student's builders instead of the project's: FILE's definitions
placed in a copy of sample_models.py below its imports, as a student edits the file.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import math
import os
import pickle
import sys
import types

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
import numpy as np

import sample_models
from data_generator import AudioGenerator
from train_utils import add_ctc_loss, seed_optimizer, train_model
from vui import keras2
from vui.evaluate import SEED_FINAL_VAL_LOSS

SPLIT_HELP = ("python create_desc_json.py ../shared/corpora/LibriSpeech/test-clean train_corpus.json "
              "--valid-speakers 8 --valid-output valid_corpus.json")
SEED_MODEL_NAMES: tuple[str, ...] = ("model_0", "model_1", "model_2", "model_3", "model_4", "model_end")


def sample_models_with(code_path: str, folder: str) -> types.ModuleType:
    """A student's edit of sample_models.py, imported: a copy of the file with the code in `code_path`
    placed below its imports, in place of the project's builders of the same names. The copy is
    written to `folder` as sample_models_student.py (tracebacks show its lines)."""
    with open(sample_models.__file__, encoding="utf-8") as f:
        project = f.read()
    with open(code_path, encoding="utf-8") as f:
        student = f.read()
    replaced = {node.name for node in ast.parse(student, code_path).body if isinstance(node, ast.FunctionDef)}
    lines = project.splitlines()
    tree = ast.parse(project)
    for node in reversed(tree.body):  # drop the project's definitions the student's replace
        if isinstance(node, ast.FunctionDef) and node.name in replaced:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            del lines[first - 1: node.end_lineno]
    imports_end = max(node.end_lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    lines[imports_end:imports_end] = ["", "", *student.splitlines(), ""]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "sample_models_student.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    spec = importlib.util.spec_from_file_location(f"sample_models_student_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_notebook_model(name: str, models: types.ModuleType = sample_models) -> keras.Model:
    """The notebook's model `name` (model_0 ...) built by `models`' builder of that model, with the
    notebook's call; a student's builder (not registered, no `verbose`) prints its summary."""
    builder, kwargs = sample_models.NOTEBOOK_MODELS[name]
    build = getattr(models, builder)
    registered = models.BUILDERS.get(builder) is build
    return build(**kwargs, verbose=False) if registered else build(**kwargs)


def train_all(names: list[str], epochs: int, results_dir: str, train_json: str, valid_json: str,
              models: types.ModuleType = sample_models, bucketed: bool = False) -> None:
    """Train each named seed model with the seed's settings (resumes a run left unfinished); bucketed:
    batches of similar durations, as the notebook's train_model call draws them, instead of the seed's
    random batches."""
    for name in names:
        print(f"== {name}: {sample_models.NOTEBOOK_MODELS[name][0]}", flush=True)
        model = build_notebook_model(name, models)
        train_model(model, f"{name}.pickle", f"{name}.h5", train_json=train_json, valid_json=valid_json,
                    minibatch_size=20, epochs=epochs, verbose=2, results_dir=results_dir, bucket_by_duration=bucketed)


def probe_padding(steps: int, seed: int, mask: bool, train_json: str) -> None:
    """Train the seed's cnn_rnn_model `steps` batches (seed's optimizer, random batches of 20) and print,
    before each step, the largest RNN output on real and on padded frames, the loss and the largest
    moving variance of batch normalisation: where the seed's recipe goes NaN, and why."""
    keras.utils.set_random_seed(seed)
    keras2.MASK_PADDING = mask
    model = build_notebook_model("model_2")
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
    parser.add_argument("--batches", choices=("random", "bucketed"), default="random",
                        help="the seed's random minibatches, or duration buckets as the notebook's train_model draws them")
    parser.add_argument("--student-code", metavar="FILE",
                        help="train the builders FILE defines, placed in a copy of sample_models.py below its imports")
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
        keras2.MASK_PADDING = False
    models = sample_models_with(args.student_code, args.results_dir) if args.student_code else sample_models
    if not args.table_only:
        train_all(args.models, args.epochs, args.results_dir, args.train_json, args.valid_json, models,
                  bucketed=args.batches == "bucketed")
    print(table(args.models, args.epochs, args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
