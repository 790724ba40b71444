"""The recurrent layers' fast torch loops (vui/torch_recurrence.py) against Keras' own layers and the
previous autograd loop: forward outputs and the gradients of weights and inputs, with the seed's
settings (Keras 2 gates, ReLU, padding masks, dropout, both directions). Other backends take Keras'
loops; there the forward comparison still runs."""

from __future__ import annotations

import numpy as np
import pytest

from vui import backend  # noqa: F401
import keras

from vui import fast_rnn
from vui.fast_rnn import FastGRU, FastSimpleRNN
from vui.layers import keras2_hard_sigmoid

TORCH = keras.backend.backend() == "torch"
X = np.random.default_rng(0).standard_normal((3, 19, 6)).astype("float32")
MASK = np.arange(19)[None, :] < np.array([[19], [11], [3]])


def run(layer, loop: str, monkeypatch, mask=None, training=False, dropout_masks=None):
    """(outputs, gradients of sum(outputs^2) w.r.t. the weights and the inputs) of `layer` run with `loop`;
    gradients only under torch."""
    monkeypatch.setattr(fast_rnn, "RNN_LOOP", loop)
    if dropout_masks is not None:  # as Keras caches them for one call
        layer.cell._dropout_mask, layer.cell._recurrent_dropout_mask = dropout_masks
    if not TORCH:
        return keras.ops.convert_to_numpy(layer(X, mask=mask, training=training)), []
    import torch

    x = torch.tensor(X, requires_grad=True)
    for w in layer.trainable_weights:
        w.value.grad = None
    y = layer(x, mask=None if mask is None else torch.tensor(mask), training=training)
    y.square().sum().backward()
    return y.detach().numpy(), [w.value.grad.numpy().copy() for w in layer.trainable_weights] + [x.grad.numpy()]


@pytest.fixture
def directions(monkeypatch):
    """The directions (D) of every call of the fused loops, to check that the fast path ran."""
    seen = []
    if TORCH:
        from vui import torch_recurrence

        for cls in (torch_recurrence.GRURecurrence, torch_recurrence.SimpleRNNRecurrence):
            apply = cls.apply
            monkeypatch.setattr(cls, "apply", lambda *a, _apply=apply: seen.append(a[0].shape[1]) or _apply(*a))
    return seen


def assert_same(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    assert len(got[1]) == len(want[1])
    for a, b in zip(got[1], want[1]):  # float32 sums of many terms: tolerance relative to the largest
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b).max()))


def dropout_masks(units: int, rate: float, recurrent: bool):
    rng = np.random.default_rng(2)

    def one(width):
        return keras.ops.convert_to_tensor((rng.random((3, width)) > rate).astype("float32") / (1 - rate))
    if recurrent:
        return [one(6) for _ in range(3)], [one(units) for _ in range(3)]
    return one(6), None


@pytest.mark.parametrize("gate", ["keras2_hard_sigmoid", "sigmoid"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked,zero_output", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("dropout", [None, "inputs", "inputs and state"])
def test_fused_gru_equals_keras_gru_and_the_autograd_loop(gate, activation, go_backwards, masked, zero_output,
                                                          dropout, monkeypatch, directions):
    kw = dict(units=5, activation=activation, return_sequences=True, reset_after=False, go_backwards=go_backwards,
              zero_output_for_mask=zero_output,
              recurrent_activation=keras2_hard_sigmoid if gate == "keras2_hard_sigmoid" else "sigmoid",
              dropout=0.4 if dropout else 0.0, recurrent_dropout=0.4 if dropout == "inputs and state" else 0.0)
    layer = FastGRU(**kw)
    layer(X)
    layer.set_weights([w * 2.5 for w in layer.get_weights()])  # gates reach the hard sigmoid's clip
    reference = keras.layers.GRU(**kw)
    reference(X)
    reference.set_weights(layer.get_weights())
    masks = dropout_masks(5, 0.4, dropout == "inputs and state") if dropout else None
    args = dict(mask=MASK if masked else None, training=bool(dropout), dropout_masks=masks)
    fused = run(layer, "fused", monkeypatch, **args)
    assert set(directions) == ({1} if TORCH else set())
    assert_same(fused, run(reference, "fused", monkeypatch, **args))
    assert_same(fused, run(layer, "autograd", monkeypatch, **args))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked,zero_output", [(False, False), (True, False), (True, True)])
def test_fused_simple_rnn_equals_keras_simple_rnn(activation, go_backwards, masked, zero_output, monkeypatch,
                                                  directions):
    kw = dict(units=5, activation=activation, return_sequences=True, go_backwards=go_backwards,
              zero_output_for_mask=zero_output)
    layer, reference = FastSimpleRNN(**kw), keras.layers.SimpleRNN(**kw)
    layer(X), reference(X)
    reference.set_weights(layer.get_weights())
    mask = MASK if masked else None
    fused = run(layer, "fused", monkeypatch, mask=mask)
    assert set(directions) == ({1} if TORCH else set())
    assert_same(fused, run(reference, "fused", monkeypatch, mask=mask))


@pytest.mark.parametrize("cls", [FastGRU, FastSimpleRNN])
def test_last_state_only_and_bidirectional(cls, monkeypatch):
    """return_sequences=False returns the last state; a Bidirectional layer of it, with the padding
    mask, computes as with Keras' loops."""
    kw = dict(units=4, activation="relu") | (dict(reset_after=False) if cls is FastGRU else {})
    layer = cls(**kw)
    layer(X)
    monkeypatch.setattr(fast_rnn, "RNN_LOOP", "keras")
    want = keras.ops.convert_to_numpy(layer(X, mask=MASK))
    monkeypatch.setattr(fast_rnn, "RNN_LOOP", "fused")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(X, mask=MASK)), want, rtol=1e-5, atol=1e-5)
    bidi = keras.layers.Bidirectional(cls(**kw, return_sequences=True))
    bidi(X)
    got = run(bidi, "fused", monkeypatch, mask=MASK)
    assert_same(got, run(bidi, "keras", monkeypatch, mask=MASK))


@pytest.mark.parametrize("dropout", [None, "inputs and state"])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_bidirectional_equals_keras_bidirectional(dropout, masked, monkeypatch, directions):
    """Both directions in one loop (FastBidirectional around FastGRUs, the seed's final model's layer)
    give Keras' Bidirectional outputs and gradients, with the same dropout masks."""
    kw = dict(units=5, activation="relu", recurrent_activation=keras2_hard_sigmoid, reset_after=False,
              return_sequences=True, dropout=0.4 if dropout else 0.0, recurrent_dropout=0.4 if dropout else 0.0)
    layer, reference = fast_rnn.FastBidirectional(FastGRU(**kw)), keras.layers.Bidirectional(keras.layers.GRU(**kw))
    layer(X), reference(X)
    reference.set_weights(layer.get_weights())
    masks = [dropout_masks(5, 0.4, True) for _ in range(2)] if dropout else None

    def run_bidi(bidi, loop):
        if masks:
            for sub, (inputs, state) in zip((bidi.forward_layer, bidi.backward_layer), masks):
                sub.cell._dropout_mask, sub.cell._recurrent_dropout_mask = inputs, state
        return run(bidi, loop, monkeypatch, mask=MASK if masked else None, training=bool(dropout))

    fused = run_bidi(layer, "fused")
    assert set(directions) == ({2} if TORCH else set())
    assert_same(fused, run_bidi(reference, "fused"))
    assert_same(fused, run_bidi(layer, "autograd"))
