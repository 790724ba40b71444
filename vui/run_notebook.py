"""Run vui_notebook.ipynb headless and export it to HTML: the project's main command.

    python -m vui.run_notebook                 # quick run on the offline synthetic corpus (built if missing)
    python -m vui.run_notebook --full          # the capstone's run: 20 epochs per model, every section
    python -m vui.run_notebook --epochs 5 --train-json train_corpus.json --valid-json valid_corpus.json

With no corpus files present, the offline corpus is synthesised first (vui/synth_corpus.py) and the
corpus files are written for it. The executed notebook goes to ``vui_notebook.executed.ipynb`` and
the HTML, plots embedded, to ``vui_notebook.html`` (``--output`` changes the stem). Progress is
shown per cell; each training's own progress is in the notebook's outputs.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time

import nbformat
import papermill
from nbconvert import HTMLExporter

from utils import write_atomic
from vui.synth_corpus import build_synthetic_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project folder
NOTEBOOK = os.path.join(ROOT, "vui_notebook.ipynb")
ALL_SECTIONS = ["model_0", "model_1", "model_2", "model_3", "model_4", "model_5", "model_6", "model_7", "model_end", "model_vui"]
# Quick run: chosen so the whole notebook takes under 15 minutes on a 2-core CPU (see BENCHMARKS.md).
QUICK = dict(EPOCHS=4, TRAIN=[s for s in ALL_SECTIONS if s != "model_6"])
FULL = dict(EPOCHS=20, TRAIN=ALL_SECTIONS)


def build_parameters(args: argparse.Namespace) -> dict:
    """The notebook's parameters for this run (see the notebook's `parameters` cell)."""
    params = dict(FULL if args.full else QUICK)
    params.update(TRAIN_JSON=args.train_json, VALID_JSON=args.valid_json, SPECTROGRAM=not args.mfcc,
                  MINIBATCH_SIZE=args.minibatch_size, RESULTS_DIR=args.results_dir, VERBOSE=2)
    if args.epochs is not None:
        params["EPOCHS"] = args.epochs
    if args.train is not None:
        unknown = set(args.train) - set(ALL_SECTIONS)
        if unknown:
            raise SystemExit(f"error: unknown sections {sorted(unknown)}; choose from {ALL_SECTIONS}")
        params["TRAIN"] = args.train
    return params


def ensure_corpus(train_json: str, valid_json: str, utterances: int) -> None:
    """Synthesise the offline corpus when neither corpus file exists; refuse a half-present pair."""
    have = [os.path.exists(p) for p in (train_json, valid_json)]
    if all(have):
        return
    if any(have):
        missing = valid_json if have[0] else train_json
        raise SystemExit(f"error: {missing} is missing (its partner exists); write both corpus files")
    print(f"No corpus files: synthesising the offline corpus ({utterances} utterances) ...", flush=True)
    n_train, n_valid = build_synthetic_corpus(
        out_dir=os.path.join("data", "synth"), n_utterances=utterances, train_json=train_json, valid_json=valid_json
    )
    print(f"Wrote {train_json} ({n_train}) and {valid_json} ({n_valid}).", flush=True)


# The kernel runs on this machine for this one command: its notice that local TCP is unencrypted is
# not something a user can act on, so only its errors reach the terminal.
KERNEL_ARGUMENTS: list[str] = ["--IPKernelApp.log_level=ERROR"]
MACHINE_PATH = re.compile(r"""(['"])((?:/|[A-Za-z]:[\\/])[^'"]*)\1""")  # a quoted absolute path


def shown_path(path: str) -> str:
    """How the HTML shows a path passed as a parameter: relative to the project when inside it,
    else its file name (a grader's copy should not show this machine's folders)."""
    inside = os.path.relpath(path, ROOT)
    return inside if not inside.startswith("..") else os.path.basename(path.rstrip("/\\"))


def export_html(executed: str, html_path: str) -> None:
    """The executed notebook as one self-contained HTML page: plots and the markdown cells' diagrams
    embedded (nothing links to images/), parameters shown without this machine's folders."""
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = MACHINE_PATH.sub(lambda m: m.group(1) + shown_path(m.group(2)) + m.group(1), cell.source)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources={"metadata": {"path": ROOT}})
    write_atomic(html_path, body.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the capstone's settings: 20 epochs, every section")
    parser.add_argument("--epochs", type=int, help="epochs per model (quick: %d, full: 20)" % QUICK["EPOCHS"])
    parser.add_argument("--train", nargs="*", help=f"sections that train, from {ALL_SECTIONS}")
    parser.add_argument("--train-json", default="train_corpus.json")
    parser.add_argument("--valid-json", default="valid_corpus.json")
    parser.add_argument("--mfcc", action="store_true", help="13-dim MFCC features instead of spectrograms")
    parser.add_argument("--minibatch-size", type=int, default=20)
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--utterances", type=int, default=300, help="size of the synthesised corpus, if built")
    parser.add_argument("--output", default="vui_notebook", help="stem of the .executed.ipynb and .html written")
    parser.add_argument("--log-output", action="store_true", help="also print the cells' output here (for logs)")
    parser.add_argument("--timeout", type=int, default=-1, help="seconds per cell before giving up (-1: none)")
    args = parser.parse_args(argv)
    params = build_parameters(args)
    os.chdir(ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ensure_corpus(args.train_json, args.valid_json, args.utterances)

    if args.log_output:  # papermill logs cell output through `logging`, silent unless configured
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    executed, html = f"{args.output}.executed.ipynb", f"{args.output}.html"
    print(f"Running {os.path.basename(NOTEBOOK)} with {params}", flush=True)
    start = time.time()
    try:
        papermill.execute_notebook(NOTEBOOK, executed, parameters=params, progress_bar=True, cwd=ROOT,
                                   kernel_name="python3", execution_timeout=None if args.timeout < 0 else args.timeout,
                                   log_output=args.log_output, extra_arguments=KERNEL_ARGUMENTS)
    except papermill.PapermillExecutionError as exc:
        export_html(executed, html)
        print(f"error: the notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
              f"See {executed} / {html}.", file=sys.stderr)
        return 1
    export_html(executed, html)
    print(f"Wrote {executed} and {html} in {(time.time() - start) / 60:.1f} min.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
