"""Where one seed model's training epoch spends its time (``python -m vui.bench --profile MODEL``).

Two epochs of the notebook's model with the seed's settings (SGD, minibatch 20, random batches):

1. timed by phase: every layer's forward pass (its ``call``) and backward pass (between the gradient
   reaching its output and reaching its input; the seed's models are chains, so nothing else runs
   there), the optimizer's update, validation, and the rest of the epoch (Keras ``fit``'s own work,
   callbacks, waits for data);
2. under ``torch.profiler``: operator self time by kind (matrix products, element-wise, masking's
   ``where``, copies, the autograd engine's bookkeeping).

Layers are instrumented on the instance (``layer.call`` wrapped), never in the product's code.
"""

from __future__ import annotations

import collections
import functools
import tempfile
import time

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
import torch
from torch.profiler import ProfilerActivity, profile

import sample_models
from train_utils import train_model
from vui import fast_rnn

OP_KINDS: dict[str, tuple[str, ...]] = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::einsum",
                        "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution", "aten::conv1d"),
    "masking (where)": ("aten::where",),
    "element-wise (gates, activations, sums)": ("aten::mul", "aten::add", "aten::sub", "aten::clamp", "aten::clamp_",
                                                "aten::sigmoid", "aten::tanh", "aten::relu", "aten::relu_", "aten::lerp",
                                                "aten::addcmul", "aten::add_", "aten::mul_", "aten::div", "aten::rsub",
                                                "aten::tanh_", "aten::sigmoid_", "aten::threshold_backward",
                                                "aten::tanh_backward", "aten::sigmoid_backward", "aten::neg",
                                                "aten::ge", "aten::le", "aten::gt", "aten::lt", "aten::logical_and",
                                                "aten::mean", "aten::sum", "aten::square", "aten::sqrt",
                                                "aten::rsqrt", "aten::pow", "aten::var"),
    "copies, stacking, views": ("aten::copy_", "aten::cat", "aten::stack", "aten::clone", "aten::contiguous",
                                "aten::empty", "aten::zeros", "aten::fill_", "aten::zero_", "aten::to",
                                "aten::_to_copy", "aten::empty_strided", "aten::flip", "aten::select",
                                "aten::slice", "aten::unbind", "aten::split", "aten::as_strided", "aten::view",
                                "aten::transpose", "aten::expand", "aten::reshape", "aten::unsqueeze"),
    "CTC loss": ("aten::ctc_loss", "aten::_ctc_loss", "aten::_ctc_loss_backward"),
}


END = "<end of backward>"


class _Mark(torch.autograd.Function):
    """Identity; its backward notes the time the gradient reached this tensor."""

    @staticmethod
    def forward(ctx, x, log, name):
        ctx.log, ctx.name = log, name
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.log.append((time.perf_counter(), ctx.name))
        return grad, None, None


def _instrument(layer, forward: collections.Counter, validation: collections.Counter, marks: list) -> None:
    """Time `layer`'s forward calls; mark its output for the backward timing."""
    call = layer.call

    @functools.wraps(call)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = call(*args, **kwargs)
        (forward if torch.is_grad_enabled() else validation)[layer.name] += time.perf_counter() - start
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out = _Mark.apply(out, marks, layer.name)
        return out

    layer.call = timed


class _TimeOptimizer(keras.callbacks.Callback):
    """Times the optimizer's updates; each update's start (the end of backward) is marked too."""

    def __init__(self, seconds: list, marks: list, counters: tuple):
        super().__init__()
        self.seconds, self.marks, self.counters = seconds, marks, counters

    def on_train_begin(self, logs=None):
        for counter in self.counters:  # forget the calls before training (building, checking the model)
            counter.clear()
        self.marks.clear()
        apply = self.model.optimizer.apply

        def timed(*args, **kwargs):
            start = time.perf_counter()
            self.marks.append((start, END))
            try:
                return apply(*args, **kwargs)
            finally:
                self.seconds.append(time.perf_counter() - start)

        self.model.optimizer.apply = timed


def _build(model_name: str):
    keras.utils.set_random_seed(0)
    builder, kwargs = sample_models.NOTEBOOK_MODELS[model_name]
    return sample_models.BUILDERS[builder](**kwargs, verbose=False)


def _backward_by_layer(marks: list, order: list[str]) -> collections.Counter:
    """Seconds of each layer's backward: from the mark of its output to the next mark (its input's)."""
    out = collections.Counter()
    for (t0, name), (t1, after) in zip(marks, marks[1:]):
        if name != END and (after == END or order.index(after) < order.index(name)):
            out[name] += t1 - t0
    return out


def profile_epoch(model_name: str, train_json: str, valid_json: str, cache_dir: str) -> str:
    """A Markdown report: one epoch timed by phase, then one epoch's operator time by kind."""
    model = _build(model_name)
    forward, validation, marks, optimizer = collections.Counter(), collections.Counter(), [], []
    for layer in model.layers:
        _instrument(layer, forward, validation, marks)
    with tempfile.TemporaryDirectory() as results:
        history = train_model(model, "p.pickle", "p.weights.h5", train_json, valid_json, epochs=1, verbose=0,
                              results_dir=results, bucket_by_duration=False, cache_dir=cache_dir,
                              callbacks=[_TimeOptimizer(optimizer, marks, (forward, validation))])
    wall = history["epoch_seconds"][0]
    backward = _backward_by_layer(marks, [layer.name for layer in model.layers])
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    rows = []
    for name in [layer.name for layer in model.layers]:
        if forward[name] + backward[name] > 0.005 * wall:
            rows.append((f"`{name}` ({kinds[name]}) forward / backward", forward[name], backward[name]))
    small = sum(forward[n] + backward[n] for n in forward if forward[n] + backward[n] <= 0.005 * wall)
    # the CTC loss's backward runs before the first layer mark of each step
    accounted = sum(forward.values()) + sum(backward.values()) + sum(optimizer) + sum(validation.values())
    lines = [f"Loop: `VUI_RNN_LOOP={fast_rnn.RNN_LOOP}`. One epoch of {model_name}: {wall:.1f} s.", "",
             "| phase | seconds | share of the epoch |", "|---|---|---|"]
    for label, f, b in rows:
        lines.append(f"| {label} | {f:.2f} / {b:.2f} | {100 * (f + b) / wall:.0f} % |")
    lines.append(f"| other layers, forward + backward | {small:.2f} | {100 * small / wall:.0f} % |")
    lines.append(f"| optimizer (SGD update) | {sum(optimizer):.2f} | {100 * sum(optimizer) / wall:.0f} % |")
    lines.append(f"| validation pass (forward) | {sum(validation.values()):.2f} | "
                 f"{100 * sum(validation.values()) / wall:.0f} % |")
    lines.append(f"| rest: CTC loss, Keras `fit`, callbacks, data waits | {wall - accounted:.2f} | "
                 f"{100 * (wall - accounted) / wall:.0f} % |")

    model = _build(model_name)
    with tempfile.TemporaryDirectory() as results, profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        train_model(model, "q.pickle", "q.weights.h5", train_json, valid_json, epochs=1, verbose=0,
                    results_dir=results, bucket_by_duration=False, cache_dir=cache_dir)
        profiled = time.perf_counter() - start
    by_kind, others, calls = collections.Counter(), collections.Counter(), 0
    for event in prof.key_averages():
        kind = next((k for k, names in OP_KINDS.items() if event.key in names), None)
        if kind is None:
            kind = ("autograd engine and Function nodes" if event.key.startswith(("autograd::", "torch::autograd"))
                    or "Backward" in event.key else "other operators")
        by_kind[kind] += event.self_cpu_time_total / 1e6
        if kind == "other operators":
            others[event.key] += event.self_cpu_time_total / 1e6
        calls += event.count
    total = sum(by_kind.values())
    lines += ["", f"Under torch.profiler (a second epoch, {profiled:.1f} s with the profiler's overhead; "
              f"{calls:,} operator calls), operator self time by kind:", "",
              "| kind | seconds | share |", "|---|---|---|"]
    for kind, seconds in by_kind.most_common():
        lines.append(f"| {kind} | {seconds:.2f} | {100 * seconds / total:.0f} % |")
    lines += ["", "Largest of the other operators: " + ", ".join(f"`{name}` {seconds:.2f} s"
                                                               for name, seconds in others.most_common(6)) + "."]
    return "\n".join(lines)
