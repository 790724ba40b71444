"""The notebook end to end (quick mode on a tiny generated corpus), and one section after a break."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT, make_tiny_corpus
from vui.run_notebook import ALL_SECTIONS, QUICK

SECTIONS = QUICK["TRAIN"]  # the quick run's sections: every model but model_6


def outputs(cell, kind):
    return [o for o in cell.get("outputs", []) if o.output_type == kind]


def text_of(nb):
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebook")
    train_json, valid_json = make_tiny_corpus(str(tmp / "corpus"), n_train=16, n_valid=6)
    stem = str(tmp / "vui")
    cmd = [sys.executable, "-m", "vui.run_notebook", "--epochs", "1", "--minibatch-size", "8",
           "--train-json", train_json, "--valid-json", valid_json, "--results-dir", str(tmp / "results"),
           "--output", stem, "--train", *SECTIONS]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    (tmp / "terminal.txt").write_text(run.stdout + run.stderr)
    return tmp, stem, nbformat.read(stem + ".executed.ipynb", as_version=4)


def test_no_errors_and_every_section_ran(executed):
    _, _, nb = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell did not run"
    assert not [o for c in code for o in outputs(c, "error")]


def test_terminal_shows_no_alarming_lines(executed):
    """A healthy run prints its progress and the files it wrote: no kernel, TensorFlow, absl, oneDNN
    or KenLM loading lines."""
    tmp, _, _ = executed
    terminal = (tmp / "terminal.txt").read_text()
    assert "Running vui_notebook.ipynb" in terminal and "Wrote " in terminal
    for noise in ("WARNING", "oneDNN", "absl", "I0000", "Loading the LM", "Reading ", "----5---10"):
        assert noise not in terminal, noise


def test_plots_are_images(executed):
    _, _, nb = executed
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 4  # raw audio, spectrogram, MFCC, loss comparison


def test_results_per_trained_model(executed):
    tmp, _, nb = executed
    for name in SECTIONS:
        for ext in (".pickle", ".h5", ".json"):
            assert (tmp / "results" / (name + ext)).exists(), name + ext
    text = text_of(nb)
    assert "There are 16 total training examples." in text
    assert text.count("Predicted transcription:") == 2 and text.count("True transcription:") == 2
    assert "Models ranked by their best validation loss" in text
    # The last section decodes the four shipped LibriSpeech clips with the shipped model and LM.
    assert text.count("Greedy:") == 4 and text.count("Beam + LM:") == 4
    assert "True:        stuff it into you his belly counselled him" in text


def test_html_export(executed):
    _, stem, _ = executed
    with open(stem + ".html", encoding="utf-8") as f:
        html = f.read()
    assert "Speech Recognition with Neural Networks" in html and "data:image/png;base64" in html


def test_try_your_voice_shows_a_shipped_clip_without_waiting_for_a_microphone(executed):
    """Headless, the recorder cell shows the result of a shipped clip in plain outputs (player,
    picture, transcripts of the student's model and the shipped one), which the HTML export keeps."""
    _, stem, nb = executed
    cell = next(c for c in nb.cells if c.cell_type == "code" and "try_your_voice(" in c.source)
    shown = "".join(o.get("data", {}).get("text/html", "") for o in outputs(cell, "display_data"))
    assert "data:audio/wav;base64," in shown and "data:image/png;base64," in shown
    for row in ("Your model (model_end.h5), greedy", "Shipped model, greedy", "Shipped model, beam search + LM"):
        assert row in shown, row
    with open(stem + ".html", encoding="utf-8") as f:
        html = f.read()
    assert "Shipped model, beam search + LM" in html and "data:audio/wav;base64," in html


def test_html_is_a_clean_self_contained_submission(executed):
    """Every image embedded (none linked), no TensorFlow/absl/oneDNN or KenLM loading lines, and no
    temporary folders in the parameters papermill injected."""
    tmp, stem, _ = executed
    with open(stem + ".html", encoding="utf-8") as f:
        html = f.read()
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert len(sources) >= 14  # 10 diagrams + raw audio, spectrogram, MFCC, loss comparison
    assert all(src.startswith("data:image/") for src in sources), [s for s in sources if not s.startswith("data:")]
    for noise in ("oneDNN", "absl::InitializeLog", "cpu_feature_guard", "TF_ENABLE_ONEDNN_OPTS",
                  "Loading the LM will be faster", "----5---10---15"):
        assert noise not in html, noise
    injected = html[html.index("# Parameters"):][:3000]
    assert str(tmp) not in injected and "/tmp/" not in injected
    assert "train_corpus.json" in injected


def test_shipped_librispeech_submission_is_complete_and_clean():
    """results/vui_notebook_librispeech.html, the 20-epoch run handed in: every model reached epoch 20
    without an undefined loss, every image is embedded, and no log noise or machine path shows."""
    with open(os.path.join(ROOT, "results", "vui_notebook_librispeech.html"), encoding="utf-8") as f:
        html = f.read()
    for model in ALL_SECTIONS:
        assert f"{model}.h5 already holds this model trained for 20 epochs" in html, model
    assert html.count("Epoch 20/20") == len(ALL_SECTIONS) == 10
    assert not re.search(r"loss: (nan|inf)", html, re.IGNORECASE)
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert len(sources) >= 14 and all(src.startswith("data:image/") for src in sources)
    for noise in ("oneDNN", "absl::InitializeLog", "Loading the LM will be faster", "Traceback", "/work/",
                  "/root/", "/home/", "/tmp/"):
        assert noise not in html, noise


def run_after_a_break(nb, marker: str):
    """As after a break: the parameters cell, the resume cell, then only the cell containing `marker`."""
    from nbclient import NotebookClient

    cells = [c for c in nb.cells if c.cell_type == "code"]
    params = next(c for c in cells if "injected-parameters" in c.metadata.get("tags", []))
    resume = next(c for c in cells if "configure_gpu_memory_growth" in c.source)
    section = next(c for c in cells if marker in c.source)
    small = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in (params, resume, section)])
    small.metadata = nb.metadata
    NotebookClient(small, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
    assert not [o for c in small.cells for o in outputs(c, "error")], marker
    return small


def test_a_section_runs_on_its_own_after_the_resume_cell(executed):
    _, _, nb = executed
    assert "already holds this model trained for 1 epochs" in text_of(run_after_a_break(nb, "model_2 = cnn_rnn_model"))


@pytest.mark.parametrize("marker", ["plot_loss_comparison(", "model_vui = recipe_model", "models=['model_end', 'model_vui']",
                                    "partition='validation'", "try_your_voice(", "show_transcriptions("])
def test_every_later_section_runs_on_its_own(executed, marker):
    """Each section after the models needs only the parameters and resume cells (no names from earlier cells)."""
    _, _, nb = executed
    run_after_a_break(nb, marker)
