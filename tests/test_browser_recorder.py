"""The notebook's "Try your own voice" in a real browser: Jupyter Notebook 7 on 127.0.0.1, headless
Chromium whose microphone is a LibriSpeech clip, the recorder's Record and Stop buttons pressed.

Needs Debian's chromium and chromium-driver (.ci/run installs them) and selenium; skips, saying
which is missing, where they are not.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import soundfile

from data_generator import read_corpus
from tests.conftest import ROOT
from utils import SAMPLE_RATE, load_audio
from vui.saved_model import SHIPPED_CLIPS, SHIPPED_MODEL

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="no chromedriver here (apt-get install chromium-driver)"),
    pytest.mark.skipif(webdriver is None, reason="selenium is not installed (requirements-dev.txt)"),
]
PAD_S = 0.5  # seconds of silence around the clip that plays as the microphone
CELL = """import os, sys
sys.path.insert(0, {root!r}); os.chdir({root!r})
from sample_models import final_model
from vui.display import try_your_voice
recorder = try_your_voice(final_model(input_dim=161, filters=200, kernel_size=11, conv_stride=2,
                                      conv_border_mode='valid', units=200, recur_layers=2, verbose=False),
                          model_path='not_trained_here.h5')"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def notebook_server(tmp_path):
    """A Jupyter server on 127.0.0.1 serving a one-cell notebook that calls try_your_voice."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": CELL.format(root=ROOT)}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (folder / "voice.ipynb").write_text(json.dumps(notebook))
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "notebook", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={folder}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"), env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/api", timeout=2)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the Jupyter server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
            time.sleep(0.5)
    yield f"{url}/notebooks/voice.ipynb"
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def microphone_clip(tmp_path):
    """A shipped LibriSpeech clip padded with silence, as a 16-bit WAV: (path, true transcript)."""
    corpus = read_corpus(SHIPPED_CLIPS)
    samples, rate = load_audio(corpus.audio_paths[0])
    assert rate == SAMPLE_RATE
    pad = np.zeros(int(PAD_S * rate), np.float32)
    path = str(tmp_path / "microphone.wav")
    soundfile.write(path, np.concatenate([pad, samples, pad]), rate, subtype="PCM_16")
    return path, corpus.texts[0], len(samples) / rate + 2 * PAD_S


def _shipped_greedy_row(text: str) -> str:
    """The shipped model's greedy transcript from the result's text (a row "label<TAB>transcript")."""
    for line in text.splitlines():
        if line.startswith("Shipped model, greedy"):
            return line[len("Shipped model, greedy"):].strip()
    raise AssertionError(f"no shipped-model row in {text!r}")


def test_a_recording_in_the_browser_transcribes_as_well_as_the_file(notebook_server, microphone_clip, tmp_path):
    from vui.evaluate import error_rates
    from vui.transcriber import Transcriber

    wav, truth, seconds = microphone_clip
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path / 'chromium'}", "--use-fake-ui-for-media-stream",
                     "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}%noloop",
                     "--window-size=1300,1700"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(notebook_server)
        wait = WebDriverWait(driver, 180, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator, .jp-Cell .cm-content"))
        time.sleep(3)  # the page settles and the kernel connects

        def run_cell(d) -> bool:
            editor = d.find_element(By.CSS_SELECTOR, ".jp-Cell .cm-content")
            editor.click()
            editor.send_keys(Keys.SHIFT, Keys.ENTER)
            return True

        wait.until(run_cell)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".vui-voice"))  # the example clip's result
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vui-record").click() or True)
        wait.until(lambda d: "Recording" in d.find_element(By.CSS_SELECTOR, ".vui-status").text)
        time.sleep(seconds + 1.0)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vui-stop").click() or True)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vui-status").text.startswith(("Done", "Could not")))
        status = driver.find_element(By.CSS_SELECTOR, ".vui-status").text
        assert status.startswith("Done"), status
        result = driver.find_element(By.CSS_SELECTOR, ".vui-voice")
        header = result.find_element(By.TAG_NAME, "p").text
        assert header.startswith("your recording") and "heard at 16000 Hz" in header, header
        assert result.find_elements(By.TAG_NAME, "audio") and result.find_elements(By.TAG_NAME, "img")
        rows = "\n".join("\t".join(cell.text for cell in row.find_elements(By.XPATH, "./*"))
                         for row in result.find_elements(By.TAG_NAME, "tr"))
        driver.save_screenshot(str(tmp_path / "recorder.png"))
    finally:
        driver.quit()
    recorded = _shipped_greedy_row(rows)
    from_file = Transcriber(SHIPPED_MODEL).transcribe(wav)
    recorded_cer, file_cer = error_rates([truth], [recorded])[0], error_rates([truth], [from_file])[0]
    assert recorded_cer <= file_cer + 0.05, (recorded, from_file, truth)
