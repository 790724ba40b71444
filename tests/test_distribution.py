"""Data-parallel training (keras.distribution on JAX) equals single-device training.

Runs in a subprocess with the JAX backend and two virtual CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2), as on a machine with two GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = r"""
import json, os, sys
sys.path.insert(0, {root!r})
import numpy as np
import keras
from tests.conftest import make_tiny_corpus
import sample_models as sm
import train_utils as tu

train_json, valid_json = make_tiny_corpus({tmp!r}, n_train=8, n_valid=4, seed=5)
keras.utils.set_random_seed(0)
model = sm.deep_bidirectional_rnn_model(input_dim=161, units=8, recur_layers=2, verbose=False)
start = model.get_weights()
out = {{"devices": len(keras.distribution.list_devices()), "start": [w.tolist() for w in start]}}
for mode in (None, "data_parallel"):
    model.set_weights(start)
    history = tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, minibatch_size=8, epochs=1,
                             verbose=0, results_dir=os.path.join({tmp!r}, str(mode)), resume=False,
                             optimizer=keras.optimizers.SGD(0.05), distribution=mode)
    out[str(mode)] = {{"loss": history["loss"], "val_loss": history["val_loss"],
                      "weights": [w.tolist() for w in model.get_weights()]}}
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def jax_two_devices(tmp_path_factory):
    pytest.importorskip("jax")
    tmp = str(tmp_path_factory.mktemp("dp"))
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SCRIPT.format(root=ROOT, tmp=tmp)], capture_output=True, text=True,
                         env=env, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    line = next(l for l in run.stdout.splitlines() if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def test_one_data_parallel_step_equals_single_device_step(jax_two_devices):
    import numpy as np

    assert jax_two_devices["devices"] == 2
    single, parallel = jax_two_devices["None"], jax_two_devices["data_parallel"]
    np.testing.assert_allclose(parallel["loss"], single["loss"], rtol=1e-4)
    np.testing.assert_allclose(parallel["val_loss"], single["val_loss"], rtol=1e-4)
    assert len(single["weights"]) == len(parallel["weights"]) > 0
    for a, b in zip(single["weights"], parallel["weights"]):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5)
    moved = [np.abs(np.asarray(a) - np.asarray(s)).max() for a, s in zip(single["weights"], jax_two_devices["start"])]
    assert max(moved) > 1e-3  # the step did change the weights (so equal results are not trivially equal)


def test_data_parallel_needs_jax_and_an_even_split(tiny_corpus, tmp_path):
    import keras

    import sample_models as sm
    import train_utils as tu

    train_json, valid_json = tiny_corpus
    model = sm.simple_rnn_model(input_dim=161, verbose=False)
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
            tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, epochs=1, verbose=0,
                           results_dir=str(tmp_path), distribution="data_parallel")
    with pytest.raises(ValueError, match="distribution must be"):
        tu.train_model(model, "m.pickle", "m.h5", train_json, valid_json, epochs=1, verbose=0,
                       results_dir=str(tmp_path), distribution="model_parallel")
