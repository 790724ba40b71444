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

from create_desc_json import scan_corpus, split_by_speaker, write_corpus
from data_generator import AudioGenerator, read_corpus
from utils import load_audio, write_atomic
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
