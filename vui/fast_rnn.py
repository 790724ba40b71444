"""Faster time loops for the models' recurrent layers under the torch backend: same weights, same
maths, same outputs as keras.layers.GRU/LSTM/SimpleRNN, which they fall back to elsewhere.

``VUI_RNN_LOOP`` picks the GRU's and SimpleRNN's torch loop (read at import; ``RNN_LOOP``): ``fused``
(default: vui/torch_recurrence.py, hand-written backward), ``autograd`` (the GRU's previous loop,
differentiated by autograd; SimpleRNN takes Keras' loop) or ``keras`` (Keras' own loops). The last two
exist so that ``python -m vui.bench --seed-speed`` can time them beside the default in one run.

Shapes: inputs (batch, frames, dims); outputs (batch, frames, units) or (batch, units).
"""

from __future__ import annotations

import importlib
import os

from vui import backend  # noqa: F401  (picks KERAS_BACKEND before Keras loads)
import keras
from keras import layers

from vui.layers import keras2_hard_sigmoid

RNN_LOOP: str = os.environ.get("VUI_RNN_LOOP", "fused")
RNN_LOOPS: tuple[str, ...] = ("fused", "autograd", "keras")
if RNN_LOOP not in RNN_LOOPS:
    raise ValueError(f"VUI_RNN_LOOP={RNN_LOOP!r}: expected one of {', '.join(RNN_LOOPS)}")


def _tensor(value, dtype):
    """A backend tensor of `value` in `dtype` (torch backend only)."""
    return keras.ops.convert_to_tensor(value).to(dtype)


@keras.saving.register_keras_serializable(package="vui")
class FastGRU(layers.GRU):
    """keras.layers.GRU with a faster time loop for the seed's GRUs under the torch backend.

    By default the loop is vui.torch_recurrence.GRURecurrence: input projections of all steps in one
    product, a forward loop without autograd and a hand-written backward loop (module docstring there).
    The description below is of the previous loop, still run with ``VUI_RNN_LOOP=autograd``.

    Keras runs a ``reset_after=False`` GRU (the seed's variant; no fused kernel implements it) step by
    step through its generic RNN loop, recomputing the input projection and dispatching a dozen
    backend ops per time step. Here the input projections of all T steps are one matrix product
    (batch, T, 3 units), split into steps with ``unbind`` (whose gradient is one ``stack``; indexing
    ``x[:, t]`` instead builds a full-size zero gradient per step: O(T^2) memory traffic), and each
    step does only the recurrent part in plain torch. Same weights, same maths, same dropout masks
    as Keras. Padding masks (vui/keras2.py) are honoured as Keras does; other backends and configurations take
    Keras' path. Used by every GRU builder, so the seed's parameter counts are unchanged.
    """

    def _gates(self) -> tuple[str, str] | None:
        """(activation, gate) names where vui's torch loops compute this GRU, else None (Keras' loop)."""
        cell = self.cell
        activation = {keras.activations.tanh: "tanh", keras.activations.relu: "relu"}.get(cell.activation)
        gate_name = {keras.activations.sigmoid: "sigmoid", keras2_hard_sigmoid: "keras2_hard_sigmoid"}.get(
            cell.recurrent_activation)
        if (keras.backend.backend() != "torch" or cell.reset_after or self.unroll or RNN_LOOP == "keras"
                or not cell.use_bias or activation is None or gate_name is None):
            return None
        return activation, gate_name

    def inner_loop(self, sequences, initial_state, mask, training=False):
        gates = self._gates()
        if gates is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if RNN_LOOP == "autograd":
            return self._autograd_loop(sequences, initial_state, mask, training, *gates)
        from vui.torch_recurrence import GRURecurrence  # torch only

        outputs, h = GRURecurrence.apply(*self._fused_args(sequences, initial_state, mask, training, *gates))
        h = h[0]
        stacked = outputs[:, 0].transpose(0, 1) if self.return_sequences else h[:, None]
        return h, stacked, [h]

    def _fused_args(self, sequences, initial_state, mask, training, activation, gate_name) -> tuple:
        """GRURecurrence's arguments for this layer, one direction (D = 1): inputs projected for all
        steps at once (reversed with go_backwards), the initial state, the recurrent kernels with Keras
        2's gate slope folded in, the padding mask, Keras' dropout masks, the flags."""
        import torch  # only under the torch backend

        cell = self.cell
        hard = gate_name == "keras2_hard_sigmoid"
        state = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        kernel, recurrent, bias = cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value
        units = cell.units
        x = _tensor(sequences, kernel.dtype).transpose(0, 1)  # (T, batch, dims)
        h0 = _tensor(state, kernel.dtype)
        if hard:  # clip(0.2 t + 0.5, 0, 1): the 0.2 and 0.5 folded into the weights, one clamp per step
            scale = torch.cat([kernel.new_full((2 * units,), 0.2), kernel.new_ones(units)])
            kernel, bias = kernel * scale, bias * scale + torch.cat([kernel.new_full((2 * units,), 0.5),
                                                                     kernel.new_zeros(units)])
            recurrent = recurrent * scale
        # Keras' dropout masks, fixed over the sequence: with recurrent dropout one per gate (z, r, h)
        # for the inputs and for the state; with input dropout only, one for all gates.
        in_masks = cell.get_dropout_mask(sequences[:, 0, :]) if training and 0 < cell.dropout < 1 else None
        rec_masks = (torch.stack([_tensor(m, kernel.dtype) for m in cell.get_recurrent_dropout_mask(state)])[None]
                     if training and 0 < cell.recurrent_dropout < 1 else None)
        if isinstance(in_masks, (list, tuple)):
            projected = torch.cat([torch.matmul(x * _tensor(m, kernel.dtype), k) for m, k in
                                   zip(in_masks, kernel.split(units, dim=1))], dim=-1) + bias
        else:  # (T, batch, 3 units): z, r, h
            projected = torch.matmul(x if in_masks is None else x * _tensor(in_masks, kernel.dtype), kernel) + bias
        valid = None if mask is None else _tensor(mask, torch.bool).transpose(0, 1)[:, None, :, None]
        projected = projected[:, None]
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            projected, valid = projected.flip(0), None if valid is None else valid.flip(0)
        return (projected.contiguous(), h0[None], recurrent[None, :, : 2 * units].contiguous(),
                recurrent[None, :, 2 * units:].contiguous(), valid, rec_masks, hard, activation == "relu",
                bool(self.zero_output_for_mask))

    def _autograd_loop(self, sequences, initial_state, mask, training, activation, gate_name):
        """The previous fast path (VUI_RNN_LOOP=autograd): a Python loop of torch ops, differentiated by autograd."""
        import torch  # only under the torch backend
        cell = self.cell

        # Keras 2's hard sigmoid clip(0.2 t + 0.5, 0, 1): the 0.2 and 0.5 are folded into the gates'
        # input projections and recurrent kernel once per sequence, leaving one clamp per step
        hard = gate_name == "keras2_hard_sigmoid"
        gate = (lambda t: t.clamp(0.0, 1.0)) if hard else torch.sigmoid

        state = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        kernel, recurrent, bias = cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value
        units = cell.units

        def tensor(m):
            return keras.ops.convert_to_tensor(m).to(kernel.dtype)

        x, h = tensor(sequences), tensor(state)
        # Keras' dropout masks, fixed over the sequence: with recurrent dropout one per gate (z, r, h)
        # for the inputs and for the state; with input dropout only, one for all gates.
        in_masks = cell.get_dropout_mask(sequences[:, 0, :]) if training and 0 < cell.dropout < 1 else None
        rec_masks = ([tensor(m) for m in cell.get_recurrent_dropout_mask(state)]
                     if training and 0 < cell.recurrent_dropout < 1 else None)
        if isinstance(in_masks, (list, tuple)):
            projected = torch.cat([torch.matmul(x * tensor(m)[:, None, :], k)
                                   for m, k in zip(in_masks, kernel.split(units, dim=1))], dim=-1) + bias
        else:  # (batch, T, 3 units): z, r, h
            projected = torch.matmul(x if in_masks is None else x * tensor(in_masks)[:, None, :], kernel) + bias
        if hard:
            projected = torch.cat([projected[..., : 2 * units] * 0.2 + 0.5, projected[..., 2 * units:]], dim=-1)
        # per gate, then per step: unbind's gradient is one stack, where x[:, t] would build a
        # full-size zero gradient for every step
        gates = projected.split([2 * units, units] if rec_masks is None else [units] * 3, dim=-1)
        steps = list(zip(*(g.unbind(1) for g in gates)))
        # a masked step keeps the state; its output is the state, or zeros with zero_output_for_mask
        keep = [None] * len(steps) if mask is None else list(
            keras.ops.convert_to_tensor(mask).to(torch.bool)[:, :, None].unbind(1))
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            steps, keep = steps[::-1], keep[::-1]
        act = torch.relu if activation == "relu" else torch.tanh
        u_zr, u_h = recurrent[:, : 2 * units], recurrent[:, 2 * units:]
        if hard:
            u_zr = u_zr * 0.2
        u_z, u_r = u_zr.split(units, dim=-1)
        outputs = []
        for step, valid in zip(steps, keep):
            h_before = h
            if rec_masks is None:
                x_zr, x_h = step
                z, r = gate(torch.addmm(x_zr, h, u_zr)).chunk(2, dim=-1)
                hh = act(torch.addmm(x_h, r * h, u_h))
            else:
                x_z, x_r, x_h = step
                z = gate(torch.addmm(x_z, h * rec_masks[0], u_z))
                r = gate(torch.addmm(x_r, h * rec_masks[1], u_r))
                hh = act(torch.addmm(x_h, r * (h * rec_masks[2]), u_h))
            h = hh + z * (h - hh)  # = z * h + (1 - z) * hh
            if valid is not None:
                h = torch.where(valid, h, h_before)
            if self.return_sequences:
                outputs.append(h if valid is None or not self.zero_output_for_mask else torch.where(valid, h, 0.0))
        stacked = torch.stack(outputs, dim=1) if self.return_sequences else h[:, None]
        return h, stacked, [h]


@keras.saving.register_keras_serializable(package="vui")
class FastBidirectional(layers.Bidirectional):
    """keras.layers.Bidirectional that, around two FastGRUs under the torch backend, runs both
    directions in one loop (vui.torch_recurrence.GRURecurrence with D = 2): one batched product per
    step for the two, half the steps' dispatches. Same weights and layout, same dropout masks (drawn
    as each direction's own call draws them), same outputs; anything else takes Keras' call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward, backward = self.forward_layer, self.backward_layer
        gates = forward._gates() if isinstance(forward, FastGRU) and isinstance(backward, FastGRU) else None
        if (gates is None or RNN_LOOP != "fused" or backward._gates() != gates or initial_state is not None
                or self.return_state or not self.return_sequences or self.merge_mode != "concat"
                or forward.stateful or backward.stateful):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        import torch  # only under the torch backend
        from vui.torch_recurrence import GRURecurrence

        batch = keras.ops.shape(sequences)[0]
        args = []
        for layer in (forward, backward):  # as RNN.call: initial state, dropout masks drawn, loop's inputs
            state = [keras.ops.convert_to_tensor(s, dtype=layer.cell.compute_dtype)
                     for s in layer.get_initial_state(batch_size=batch)]
            layer._maybe_config_dropout_masks(layer.cell, sequences[:, 0, :], state)
            args.append(layer._fused_args(sequences, state, mask, bool(training), *gates))
        for layer in (forward, backward):
            layer._maybe_reset_dropout_masks(layer.cell)
        (pf, hf, zf, uf, vf, mf, *flags), (pb, hb, zb, ub, vb, mb, _, _, _) = args
        if (mf is None) != (mb is None):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        outputs, _ = GRURecurrence.apply(
            torch.cat([pf, pb], dim=1), torch.cat([hf, hb]), torch.cat([zf, zb]), torch.cat([uf, ub]),
            None if vf is None else torch.cat([vf, vb], dim=1), None if mf is None else torch.cat([mf, mb]),
            *flags[:2], True)  # Keras' Bidirectional zeroes both directions' outputs on padding
        # the backward direction's outputs in reading order, flipped back to time order
        y = torch.cat([outputs[:, 0], outputs[:, 1].flip(0)], dim=-1).transpose(0, 1)
        return keras.ops.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="vui")
class FastSimpleRNN(layers.SimpleRNN):
    """keras.layers.SimpleRNN whose time loop under the torch backend is
    vui.torch_recurrence.SimpleRNNRecurrence: the input projection of all steps in one product, then
    ``h = act(x_t + h U)`` per step with a hand-written backward. Same weights and maths; dropout, other
    activations, other backends and ``VUI_RNN_LOOP`` other than ``fused`` take Keras' loop."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        activation = {keras.activations.tanh: "tanh", keras.activations.relu: "relu"}.get(cell.activation)
        if (keras.backend.backend() != "torch" or RNN_LOOP != "fused" or self.unroll or activation is None
                or (training and (cell.dropout or cell.recurrent_dropout))):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch  # only under the torch backend
        from vui.torch_recurrence import SimpleRNNRecurrence

        state = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        kernel = cell.kernel.value
        projected = torch.matmul(_tensor(sequences, kernel.dtype).transpose(0, 1), kernel)  # (T, batch, units)
        if cell.bias is not None:
            projected = projected + cell.bias.value
        valid = None if mask is None else _tensor(mask, torch.bool).transpose(0, 1)[:, None, :, None]
        projected = projected[:, None]
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            projected, valid = projected.flip(0), None if valid is None else valid.flip(0)
        outputs, h = SimpleRNNRecurrence.apply(projected.contiguous(), _tensor(state, kernel.dtype)[None],
                                               cell.recurrent_kernel.value[None], valid, activation == "relu",
                                               bool(self.zero_output_for_mask))
        h = h[0]
        stacked = outputs[:, 0].transpose(0, 1) if self.return_sequences else h[:, None]
        return h, stacked, [h]


@keras.saving.register_keras_serializable(package="vui")
class FastLSTM(layers.LSTM):
    """keras.layers.LSTM that runs PyTorch's fused LSTM kernel on every device under the torch backend.

    Keras 3 hands the torch backend's LSTM to ``torch._VF.lstm`` only on CUDA (cuDNN); on the CPU
    it loops over time steps in Python, markedly slower (BENCHMARKS.md). Same weights, same maths
    (gate order i, f, c, o in both), same outputs: any other backend, a mask or dropout takes Keras'
    own path.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if (keras.backend.backend() != "torch" or mask is not None or self.dropout or self.recurrent_dropout
                or self.unroll or not self.use_bias or self.activation is not keras.activations.tanh
                or self.recurrent_activation is not keras.activations.sigmoid):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import torch  # only under the torch backend

        # No public API runs torch's fused LSTM for Keras' weights; Keras' own torch RNN module does.
        torch_rnn = importlib.import_module("keras.src.backend.torch.rnn")

        kernel = self.cell.kernel.value
        inputs = keras.ops.convert_to_tensor(sequences).to(kernel.dtype)
        if self.go_backwards:  # Keras' convention: read the sequence backwards, outputs in reading order
            inputs = torch.flip(inputs, dims=[1])
        h, c = (keras.ops.convert_to_tensor(s).to(kernel.dtype) for s in initial_state)
        return torch_rnn._cudnn_lstm(inputs, h, c, kernel, self.cell.recurrent_kernel.value, self.cell.bias.value,
                                     return_sequences=self.return_sequences, device=inputs.device)
