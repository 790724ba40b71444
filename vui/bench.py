"""Training and transcription speed: a faithful port of the original's settings against our default,
on the same data, in one run.

    python -m vui.bench                       # LibriSpeech test-clean from ../shared if present, else synthetic
    python -m vui.bench --limit 400 --models rnn_model cnn_rnn_model final_model --write BENCHMARKS.md

Modes, each model trained for one epoch from the same seed in a fresh process:

- faithful: what the original did — TensorFlow backend (no XLA), features computed from audio for
  every batch, batches drawn at random (each padded to its longest clip);
- default:  what ``train_model`` does — the backend ``vui.backend`` picks (torch when installed),
  features read from the on-disk cache (filled once beforehand, timed separately), batches of
  similar duration, the next batch prepared while the model trains.

Prints seconds per epoch (training + validation pass), training utterances per second, the ratio
default / faithful, and both first-epoch losses (same data, same model: they should agree within
the noise of batch order and backend arithmetic), then the real-time factor of transcription.

    python -m vui.bench --seed-speed --limit 200        # the six seed models, previous loops against today's
    python -m vui.bench --profile model_3 --limit 200   # where one seed model's epoch spends its time

``--seed-speed``: the capstone's six seed models (model_0-4 and the final model) with the seed's settings
(SGD, minibatch 20, random batches, spectrograms; features cached beforehand), one epoch each in a fresh
process, once with the recurrent loops before issue 43 (``VUI_RNN_LOOP=autograd``) and once with
today's, alternating; with each epoch's FLOPs counted from the architecture (training 3x the forward
pass, on the utterances' real frames; validation 1x), the achieved GFLOP/s and the machine's sgemm peak
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import numpy as np

from create_desc_json import scan_corpus, split_by_speaker, write_corpus
from data_generator import AudioGenerator, read_corpus
from utils import audio_feature_frames, conv_output_length, load_audio, write_atomic
from vui.decoding import DEFAULT_BEAM_WITH_LM, DecodingOptions, decode
from vui.language_model import build_lm_from_corpora
from vui.lm_scorer import LanguageModel
from vui.synth_corpus import build_synthetic_corpus

if TYPE_CHECKING:  # Keras loads only inside the functions that measure, each worker with its own backend
    from vui.transcriber import Transcriber

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project folder
SHARED_TEST_CLEAN = os.path.join(ROOT, "..", "shared", "corpora", "LibriSpeech", "test-clean")
MODEL_CALLS: dict[str, dict] = {
    "rnn_model": dict(input_dim=161, units=200, activation="relu"),
    "cnn_rnn_model": dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200),
    "final_model": dict(input_dim=161, filters=200, kernel_size=11, conv_stride=2, conv_border_mode="valid", units=200, recur_layers=2),
}


SEED_MODELS: tuple[str, ...] = ("model_0", "model_1", "model_2", "model_3", "model_4", "model_end")
LOOP_BEFORE, LOOP_AFTER = "autograd", "fused"  # VUI_RNN_LOOP: the loops before issue 43, today's
TRAINING_PASSES: float = 3.0  # a training step's FLOPs: forward, then backward (gradients of inputs and weights)


def machine_description() -> str:
    """CPU model, cores and memory of this machine, for the report."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            mem = int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def prepare_corpus(folder: str, limit: int, valid_limit: int) -> tuple[str, str, str]:
    """(train_json, valid_json, description): test-clean split by speaker if present, else synthetic."""
    if os.path.isdir(SHARED_TEST_CLEAN):
        scan = scan_corpus(SHARED_TEST_CLEAN, progress=False)
        train, valid = split_by_speaker(scan.entries, SHARED_TEST_CLEAN, valid_speakers=8)
        name = "LibriSpeech test-clean (32 training / 8 held-out speakers)"
    else:
        build_synthetic_corpus(os.path.join(folder, "synth"), n_utterances=max(300, limit + valid_limit),
                               train_json=os.path.join(folder, "t.json"), valid_json=os.path.join(folder, "v.json"),
                               progress=False)
        train = [json.loads(line) for line in open(os.path.join(folder, "t.json"))]
        valid = [json.loads(line) for line in open(os.path.join(folder, "v.json"))]
        name = "synthetic eSpeak NG corpus"
    train, valid = train[:limit], valid[:valid_limit]
    paths = os.path.join(folder, "train.json"), os.path.join(folder, "valid.json")
    write_corpus(paths[0], train)
    write_corpus(paths[1], valid)
    hours = sum(e["duration"] for e in train) / 3600
    return paths[0], paths[1], f"{name}: {len(train)} training utterances ({hours:.2f} h), {len(valid)} validation"


def worker(mode: str, model_name: str, train_json: str, valid_json: str, cache_dir: str, minibatch_size: int) -> dict:
    """One epoch of one model in this process; returns the measurements (None where it diverged)."""
    from vui import backend  # noqa: F401  (before Keras: the product's backend choice)
    import keras

    import sample_models
    from train_utils import train_model

    keras.utils.set_random_seed(0)
    model = getattr(sample_models, model_name)(**MODEL_CALLS[model_name], verbose=False)
    faithful = mode == "faithful"
    with tempfile.TemporaryDirectory() as results:
        history = train_model(model, "b.pickle", "b.weights.h5", train_json, valid_json, minibatch_size=minibatch_size,
                              epochs=1, verbose=0, results_dir=results, bucket_by_duration=not faithful,
                              cache_dir=None if faithful else cache_dir)
    if not history["loss"]:  # the loss became NaN: train_model stopped and said so
        return {"backend": keras.backend.backend(), "seconds": None, "loss": None, "val_loss": None}
    return {"backend": keras.backend.backend(), "seconds": history["epoch_seconds"][0],
            "loss": history["loss"][0], "val_loss": history["val_loss"][0]}


def _size(variable) -> int:
    return int(np.prod(variable.shape))


def forward_flops(model, frames: int) -> float:
    """FLOPs (2 per multiply-add) of `model`'s forward pass over one sequence of `frames` input frames,
    counted from its layers (a chain): convolutions, recurrent layers' input and recurrent products,
    dense layers. Element-wise work (gates, batch normalisation, softmax) is left out."""
    import keras

    flops, t = 0.0, frames
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer
        directions = 2 if isinstance(inner, keras.layers.Bidirectional) else 1
        inner = inner.forward_layer if directions == 2 else inner
        if isinstance(inner, keras.layers.Conv1D):  # kernel (span, dims, filters) per output frame
            span = inner.dilation_rate[0] * (inner.kernel_size[0] - 1) + 1
            t = conv_output_length(t, span, inner.padding, inner.strides[0])
            flops += 2 * _size(inner.kernel) * t
        elif isinstance(inner, keras.layers.MaxPooling1D):
            t = conv_output_length(t, inner.pool_size[0], inner.padding, inner.strides[0])
        elif isinstance(inner, keras.layers.RNN):  # input and recurrent kernels, every frame
            flops += directions * 2 * (_size(inner.cell.kernel) + _size(inner.cell.recurrent_kernel)) * t
        elif isinstance(inner, keras.layers.Dense):
            flops += 2 * _size(inner.kernel) * t
    return flops


def epoch_gflop(model, train_json: str, valid_json: str, max_duration: float = 10.0) -> float:
    """GFLOPs of one epoch: training 3x forward over the training utterances' frames, 1x over validation's."""
    total = 0.0
    for desc, passes in ((train_json, TRAINING_PASSES), (valid_json, 1.0)):
        for path in read_corpus(desc, max_duration).audio_paths:
            total += passes * forward_flops(model, audio_feature_frames(path))
    return total / 1e9


def sgemm_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """The best GFLOP/s of torch's float32 (m x k) by (k x n) product over about `seconds`."""
    import torch

    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        torch.mm(a, b)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        reps = max(1, int(2e8 / (2 * m * k * n)))
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * m * k * n / best / 1e9


def seed_worker(model_name: str, train_json: str, valid_json: str, cache_dir: str) -> dict:
    """One epoch of the notebook's `model_name` with the seed's settings, with the loop VUI_RNN_LOOP names."""
    from vui import backend  # noqa: F401
    import keras

    import sample_models
    from train_utils import train_model
    from vui import fast_rnn

    keras.utils.set_random_seed(0)
    builder, kwargs = sample_models.NOTEBOOK_MODELS[model_name]
    model = sample_models.BUILDERS[builder](**kwargs, verbose=False)
    with tempfile.TemporaryDirectory() as results:
        history = train_model(model, "s.pickle", "s.weights.h5", train_json, valid_json, epochs=1, verbose=0,
                              results_dir=results, bucket_by_duration=False, cache_dir=cache_dir)
    seconds = history["epoch_seconds"][0] if history["loss"] else None
    return {"backend": keras.backend.backend(), "loop": fast_rnn.RNN_LOOP, "seconds": seconds,
            "loss": history["loss"][0] if history["loss"] else None,
            "gflop": epoch_gflop(model, train_json, valid_json)}


def seed_speed(train_json: str, valid_json: str, cache: str, models: list[str]) -> tuple[list[tuple], dict]:
    """Each seed model before and after, alternating, each in a fresh process; and the sgemm peak."""
    peak = {"large": sgemm_gflops(2048, 2048, 2048), "step": sgemm_gflops(20, 200, 600)}
    print(f"sgemm peak: {peak['large']:.0f} GFLOP/s (2048^3), {peak['step']:.0f} GFLOP/s (a GRU step, "
          "20 x 200 by 200 x 600)", flush=True)
    rows = []
    for model in models:
        runs = {}
        for loop in (LOOP_BEFORE, LOOP_AFTER):
            os.environ["VUI_RNN_LOOP"] = loop
            try:
                runs[loop] = run_worker(["--seed-worker", model, train_json, valid_json, cache], None)
            finally:
                os.environ.pop("VUI_RNN_LOOP", None)
        before, after = runs[LOOP_BEFORE], runs[LOOP_AFTER]
        rows.append((model, before, after))
        print(f"{model}: {fmt(before['seconds'])} s before, {fmt(after['seconds'])} s after; "
              f"{after['gflop']:.0f} GFLOP; loss {fmt(before['loss'])} / {fmt(after['loss'])}", flush=True)
    return rows, peak


def seed_speed_table(rows: list[tuple], peak: dict, epochs: int = 20) -> str:
    """The Markdown table of --seed-speed, with a sum row and the whole capstone's estimated time."""
    def rate(gflop, seconds):
        return f"{gflop / seconds:.0f}" if seconds else "—"

    lines = ["| model | GFLOP/epoch | s/epoch before | s/epoch after | speed-up | GFLOP/s before | GFLOP/s after | "
             "first-epoch loss before / after |", "|---|---|---|---|---|---|---|---|"]
    for model, b, a in rows:
        speed_up = f"{b['seconds'] / a['seconds']:.2f}x" if b["seconds"] and a["seconds"] else "—"
        lines.append(f"| {model} | {a['gflop']:.0f} | {fmt(b['seconds'])} | {fmt(a['seconds'])} | {speed_up} | "
                     f"{rate(a['gflop'], b['seconds'])} | {rate(a['gflop'], a['seconds'])} | "
                     f"{fmt(b['loss'])} / {fmt(a['loss'])} |")
    if all(b["seconds"] and a["seconds"] for _, b, a in rows):
        tb, ta = sum(b["seconds"] for _, b, _ in rows), sum(a["seconds"] for _, _, a in rows)
        g = sum(a["gflop"] for _, _, a in rows)
        lines.append(f"| sum | {g:.0f} | {tb:.1f} | {ta:.1f} | **{tb / ta:.2f}x** | {g / tb:.0f} | {g / ta:.0f} | |")
        lines.append(f"\nsgemm peak in the same run: {peak['large']:.0f} GFLOP/s (2048 x 2048 by 2048 x 2048), "
                     f"{peak['step']:.0f} GFLOP/s (20 x 200 by 200 x 600, one GRU step's shape). "
                     f"{epochs} epochs of the six: {tb * epochs / 60:.1f} min before, {ta * epochs / 60:.1f} min "
                     "after, on this corpus.")
    return "\n".join(lines)


def fill_cache(train_json: str, valid_json: str, cache_dir: str) -> float:
    """Compute every utterance's features into the cache; returns the seconds it took."""

    gen = AudioGenerator(cache_dir=cache_dir)
    start = time.perf_counter()
    for desc in (train_json, valid_json):
        for path in read_corpus(desc).audio_paths:
            gen.featurize(path)
    return time.perf_counter() - start


def _time_transcription(transcriber: Transcriber, files: list[str], batch_size: int,
                        lm: LanguageModel | None = None) -> float:
    """Seconds to transcribe `files` (features included) in batches of similar length, as vui.transcribe
    does: greedy, or with `lm` (a fresh one, not tuned) beam search with the default settings."""
    options = DecodingOptions.for_lm(lm)
    start = time.perf_counter()
    for probs in transcriber.probabilities_by_length([transcriber.features(f) for f in files], batch_size):
        decode(probs, options, lm)
    return time.perf_counter() - start


def transcription_rtf(train_json: str, valid_json: str, cache_dir: str, n_files: int = 40) -> dict:
    """Real-time factor of transcription: the seed's final model (trained one epoch here) and the
    shipped model (results/vui_model.weights.h5, when present), greedy one file at a time and in batches
    of 16, and beam + LM one file at a time."""
    from vui import backend  # noqa: F401
    import keras

    import sample_models
    from vui.saved_model import SHIPPED_MODEL
    from vui.transcriber import Transcriber
    from train_utils import train_model

    keras.utils.set_random_seed(0)
    files = read_corpus(valid_json).audio_paths[:n_files]
    audio = sum(len(s) / r for s, r in (load_audio(f) for f in files))
    out = {"files": len(files), "audio_seconds": round(audio, 1), "backend": keras.backend.backend(), "models": {}}
    with tempfile.TemporaryDirectory() as results:
        model = sample_models.final_model(**MODEL_CALLS["final_model"], verbose=False)
        train_model(model, "t.pickle", "t.weights.h5", train_json, valid_json, epochs=1, verbose=0, results_dir=results, cache_dir=cache_dir)
        lm_path = os.path.join(results, "lm.arpa")
        build_lm_from_corpora([train_json], lm_path, exclude_jsons=[valid_json], drop_excluded=True)
        lm = LanguageModel(lm_path)
        weights = {"final_model": os.path.join(results, "t.weights.h5")}
        if os.path.exists(SHIPPED_MODEL):
            weights["shipped vui_model"] = SHIPPED_MODEL
        for name, path in weights.items():
            transcriber = Transcriber(path)
            _time_transcription(transcriber, files[:2], 1)  # warm-up
            row = {}
            for mode, batch, use_lm in (("greedy, 1 file at a time", 1, None), ("greedy, batches of 16", 16, None),
                                        (f"beam {DEFAULT_BEAM_WITH_LM} + LM, 1 file at a time", 1, lm)):
                seconds = _time_transcription(transcriber, files, batch, use_lm)
                row[mode] = {"seconds": round(seconds, 2), "x_real_time": round(audio / seconds, 1)}
            out["models"][name] = row
    return out


def scaled_corpus(train_json: str, folder: str, copies: int) -> str:
    """A corpus `copies` times the size of `train_json` with every utterance a distinct file (symbolic
    links under `folder`), so features are computed, cached and streamed `copies` times over."""
    with open(train_json, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    out = []
    for copy in range(copies):
        sub = os.path.join(folder, f"copy{copy}")
        os.makedirs(sub, exist_ok=True)
        for i, entry in enumerate(entries):
            link = os.path.join(sub, f"{i:06d}" + os.path.splitext(entry["key"])[1])
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(entry["key"]), link)
            out.append(dict(entry, key=link))
    path = os.path.join(folder, f"train_x{copies}.json")
    write_corpus(path, out)
    return path


def memory_worker(train_json: str, valid_json: str, cache_dir: str) -> dict:
    """One epoch of a small model over `train_json` through train_model (features computed into the
    on-disk cache as batches are drawn); returns the peak resident memory of this process."""
    import resource

    from vui import backend  # noqa: F401
    import keras

    import sample_models
    from train_utils import train_model

    keras.utils.set_random_seed(0)
    model = sample_models.conv_bigru_model(input_dim=161, filters=32, units=32, recur_layers=1, cell="lstm", verbose=False)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as results:
        train_model(model, "m.pickle", "m.weights.h5", train_json, valid_json, epochs=1, verbose=0, results_dir=results,
                    cache_dir=cache_dir, optimizer=keras.optimizers.Adam(1e-3))
    return {"utterances": len(read_corpus(train_json).audio_paths), "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "backend": keras.backend.backend()}


def memory_scaling(train_json: str, valid_json: str, folder: str, scales: tuple[int, ...] = (1, 4)) -> list[dict]:
    """Peak RSS of one training epoch on 1x and 4x the corpus (each in a fresh process, fresh cache)."""
    rows = []
    for copies in scales:
        scaled = scaled_corpus(train_json, os.path.join(folder, f"x{copies}"), copies)
        row = run_worker(["--memory-worker", scaled, valid_json, os.path.join(folder, f"cache{copies}")], None)
        row["copies"] = copies
        print(f"{copies}x corpus: {row['utterances']} utterances, one epoch in {row['seconds']} s, "
              f"peak RSS {row['peak_rss_mib']} MiB", flush=True)
        rows.append(row)
    return rows


def append_section(path: str, argv: list[str] | None, body: str) -> None:
    """Append a Markdown section headed by this command line, with the machine, to `path` (atomically)."""
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    command = " ".join(argv if argv is not None else sys.argv[1:])
    write_atomic(path, (old + f"\n## `python -m vui.bench {command}`\n\nMachine: {machine_description()}. {body}").encode("utf-8"))


def fmt(value: float | None) -> str:
    """A figure to one decimal, or 'NaN (stopped)' where training diverged."""
    return "NaN (stopped)" if value is None else f"{value:.1f}"


def run_worker(args: list[str], backend: str | None) -> dict:
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    else:
        env.pop("KERAS_BACKEND", None)
    out = subprocess.run([sys.executable, "-m", "vui.bench", *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_CALLS), choices=list(MODEL_CALLS))
    parser.add_argument("--limit", type=int, default=400, help="training utterances (the first N of the split)")
    parser.add_argument("--valid-limit", type=int, default=100, help="validation utterances")
    parser.add_argument("--minibatch-size", type=int, default=20)
    parser.add_argument("--write", help="append the results table to this Markdown file")
    parser.add_argument("--worker", nargs=6, metavar=("MODE", "MODEL", "TRAIN", "VALID", "CACHE", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--rtf-worker", nargs=3, metavar=("TRAIN", "VALID", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true",
                        help="instead: peak memory of one training epoch on 1x and 4x the corpus (streamed features)")
    parser.add_argument("--seed-speed", action="store_true",
                        help="instead: the six seed models' epochs with the recurrent loops before issue 43 and today's")
    parser.add_argument("--seed-worker", nargs=4, metavar=("MODEL", "TRAIN", "VALID", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", metavar="MODEL", choices=SEED_MODELS,
                        help="instead: torch.profiler over one epoch of this seed model (VUI_RNN_LOOP picks the loop)")
    parser.add_argument("--memory-worker", nargs=3, metavar=("TRAIN", "VALID", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.worker:
        mode, model, train, valid, cache, batch = args.worker
        print(json.dumps(worker(mode, model, train, valid, cache, int(batch))))
        return 0
    if args.rtf_worker:
        print(json.dumps(transcription_rtf(*args.rtf_worker)))
        return 0
    if args.memory_worker:
        print(json.dumps(memory_worker(*args.memory_worker)))
        return 0
    if args.seed_worker:
        print(json.dumps(seed_worker(*args.seed_worker)))
        return 0
    if args.seed_speed or args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            train_json, valid_json, corpus = prepare_corpus(tmp, args.limit, args.valid_limit)
            cache = os.path.join(tmp, "cache")
            print(f"Machine: {machine_description()}\nData: {corpus}", flush=True)
            fill_cache(train_json, valid_json, cache)
            if args.profile:
                from vui.bench_profile import profile_epoch

                body = profile_epoch(args.profile, train_json, valid_json, cache)
            else:
                body = seed_speed_table(*seed_speed(train_json, valid_json, cache, SEED_MODELS))
        print("\n" + body)
        if args.write:
            append_section(args.write, argv, f"Data: {corpus}.\n\n{body}\n")
        return 0
    if args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            train_json, valid_json, corpus = prepare_corpus(tmp, args.limit, args.valid_limit)
            print(f"Machine: {machine_description()}\nData: {corpus}", flush=True)
            rows = memory_scaling(train_json, valid_json, tmp)
        table = "\n".join(["| corpus | utterances | one epoch (s, features computed) | peak RSS (MiB) |", "|---|---|---|---|"] +
                           [f"| {r['copies']}x | {r['utterances']} | {r['seconds']} | {r['peak_rss_mib']} |" for r in rows])
        print("\n" + table)
        if args.write:
            append_section(args.write, argv, f"Data: {corpus}.\n\n{table}\n")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        train_json, valid_json, corpus = prepare_corpus(tmp, args.limit, args.valid_limit)
        cache = os.path.join(tmp, "cache")
        print(f"Machine: {machine_description()}\nData: {corpus}", flush=True)
        cache_seconds = fill_cache(train_json, valid_json, cache)
        print(f"Feature cache filled once in {cache_seconds:.1f} s (then shared by every model and epoch)", flush=True)
        rows = []
        for model in args.models:
            worker_args = [model, train_json, valid_json, cache, str(args.minibatch_size)]
            faithful = run_worker(["--worker", "faithful", *worker_args], "tensorflow")
            default = run_worker(["--worker", "default", *worker_args], None)
            rows.append((model, faithful, default))
            print(f"{model}: faithful {fmt(faithful['seconds'])} s ({faithful['backend']}), default "
                  f"{fmt(default['seconds'])} s ({default['backend']}); first-epoch loss {fmt(faithful['loss'])} "
                  f"vs {fmt(default['loss'])}", flush=True)
        rtf = run_worker(["--rtf-worker", train_json, valid_json, cache], None)
    n = args.limit
    lines = [
        "| model | faithful s/epoch | default s/epoch | faithful utt/s | default utt/s | speed-up | first-epoch loss faithful / default | val loss faithful / default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, f, d in rows:
        speed_up = f"{f['seconds'] / d['seconds']:.2f}x" if f["seconds"] and d["seconds"] else "—"
        rate_f = fmt(n / f["seconds"] if f["seconds"] else None)
        rate_d = fmt(n / d["seconds"] if d["seconds"] else None)
        lines.append(f"| {model} | {fmt(f['seconds'])} | {fmt(d['seconds'])} | {rate_f} | {rate_d} | {speed_up} | "
                     f"{fmt(f['loss'])} / {fmt(d['loss'])} | {fmt(f['val_loss'])} / {fmt(d['val_loss'])} |")
    table = "\n".join(lines)
    rtf_lines = [f"Transcription ({rtf['backend']}, {rtf['files']} validation files, {rtf['audio_seconds']} s of audio, "
                 "features included), times faster than real time:", "",
                 "| model | " + " | ".join(next(iter(rtf["models"].values()))) + " |",
                 "|---|" + "---|" * len(next(iter(rtf["models"].values())))]
    for name, row in rtf["models"].items():
        rtf_lines.append(f"| {name} | " + " | ".join(f"{v['x_real_time']}x" for v in row.values()) + " |")
    rtf_line = "\n".join(rtf_lines)
    print("\n" + table + "\n\n" + rtf_line)
    if args.write:
        append_section(args.write, argv, f"Data: {corpus}. Feature cache filled once in {cache_seconds:.1f} s.\n\n"
                                         f"{table}\n\n{rtf_line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
