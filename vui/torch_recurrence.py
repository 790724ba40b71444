"""The time loops of the seed's GRU (``reset_after=False``) and SimpleRNN in plain torch, with
hand-written backward passes: the torch backend's fast path of vui/fast_rnn.py.

Autograd over a Python loop of small ops records a graph node per op and time step and runs them back
one by one; here the forward loop runs without autograd, keeps what the backward needs in
preallocated buffers, and the backward is its own loop over the steps in reverse. Everything that
does not depend on the incoming gradient (gate and activation derivatives, the padding mask) is
computed once per sequence before the loop, and the recurrent kernels' gradients are one product
over all steps after it. Same arithmetic as Keras' GRU/SimpleRNN cells; the tests compare both.

Shapes (time-major, D directions run side by side: 1, or 2 for a fused Bidirectional):
  projected inputs (T, D, B, G) with G = 3 units (GRU: z, r, h) or units (SimpleRNN);
  initial state (D, B, units); recurrent kernels (D, units, ...);
  valid (T, D, B, 1) booleans (False on padding) or None;
  GRU recurrent-dropout masks (D, 3, B, units) or None;
  outputs (T, D, B, units): the state after each step (zeros on padding with zero_output).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def _gate_(t: torch.Tensor, hard: bool) -> torch.Tensor:
    """In place: Keras 2's hard sigmoid with its 0.2 and 0.5 folded into the inputs (clip to [0, 1]),
    or the logistic sigmoid."""
    return t.clamp_(0.0, 1.0) if hard else t.sigmoid_()


def _gate_grad(g: torch.Tensor, hard: bool) -> torch.Tensor:
    """d gate / d pre-activation, from the gate's value."""
    return ((g > 0) & (g < 1)).to(g.dtype) if hard else g * (1 - g)


def _act_(t: torch.Tensor, relu: bool) -> torch.Tensor:
    return t.relu_() if relu else t.tanh_()


def _act_grad(a: torch.Tensor, relu: bool) -> torch.Tensor:
    """d activation / d pre-activation, from the activation's value."""
    return (a > 0).to(a.dtype) if relu else 1 - a * a


def _masked_outputs(states: torch.Tensor, valid: torch.Tensor | None, zero_output: bool) -> torch.Tensor:
    if valid is None or not zero_output:
        return states
    return torch.where(valid, states, 0.0)


class GRURecurrence(torch.autograd.Function):
    """h' = z h + (1 - z) act(x_h + (r h) U_h), with [z, r] = gate(x_zr + h U_zr); a padded step keeps h.

    With recurrent dropout the state is multiplied by a mask per gate first, as Keras' cell does."""

    @staticmethod
    def forward(ctx, projected, h0, u_zr, u_h, valid, rec_masks, hard: bool, relu: bool, zero_output: bool):
        steps, dirs, batch, width = projected.shape
        units = width // 3
        states = projected.new_empty(steps + 1, dirs, batch, units)
        states[0] = h0
        gates = projected.new_empty(steps, dirs, batch, 2 * units)  # z, r after the gate
        cand = projected.new_empty(steps, dirs, batch, units)  # act(...) before the mix
        reset_state = projected.new_empty(steps, dirs, batch, units)  # r * (masked) h: U_h's input
        u_z, u_r = u_zr[..., :units], u_zr[..., units:]
        # every step's views made once (unbind), not by indexing inside the loop: a view is an op too
        s_ = states.unbind(0)
        x_zr, x_z, x_r, x_h = (projected[..., a:b].unbind(0) for a, b in
                               ((0, 2 * units), (0, units), (units, 2 * units), (2 * units, 3 * units)))
        g_, z_, r_ = gates.unbind(0), gates[..., :units].unbind(0), gates[..., units:].unbind(0)
        c_, rh_ = cand.unbind(0), reset_state.unbind(0)
        v_ = valid.unbind(0) if valid is not None else None
        m_z, m_r, m_h = (rec_masks[:, 0], rec_masks[:, 1], rec_masks[:, 2]) if rec_masks is not None else (None,) * 3
        for t in range(steps):
            h = s_[t]
            if rec_masks is None:
                _gate_(torch.baddbmm(x_zr[t], h, u_zr, out=g_[t]), hard)
                torch.mul(r_[t], h, out=rh_[t])
            else:
                z = torch.baddbmm(x_z[t], h * m_z, u_z)
                r = torch.baddbmm(x_r[t], h * m_r, u_r)
                _gate_(torch.cat([z, r], dim=-1, out=g_[t]), hard)
                torch.mul(r_[t], h * m_h, out=rh_[t])
            _act_(torch.baddbmm(x_h[t], rh_[t], u_h, out=c_[t]), relu)
            if v_ is None:  # hh + z (h - hh)
                torch.lerp(c_[t], h, z_[t], out=s_[t + 1])
            else:
                torch.where(v_[t], torch.lerp(c_[t], h, z_[t]), h, out=s_[t + 1])
        ctx.hard, ctx.relu, ctx.zero_output = hard, relu, zero_output
        ctx.save_for_backward(states, gates, cand, reset_state, u_zr, u_h, valid, rec_masks)
        return _masked_outputs(states[1:], valid, zero_output), states[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_last):
        states, gates, cand, reset_state, u_zr, u_h, valid, rec_masks = ctx.saved_tensors
        steps, dirs, batch, units = cand.shape
        h_prev = states[:-1]
        z, r = gates[..., :units], gates[..., units:]
        v = None if valid is None else valid.to(cand.dtype)
        # the step's coefficients of the incoming gradient g, for all steps at once
        coef_cand = (1 - z) * _act_grad(cand, ctx.relu)  # d h' / d cand pre-activation
        coef_z = (h_prev - cand) * _gate_grad(z, ctx.hard)  # d h' / d z pre-activation
        coef_keep = z  # d h' / d h, directly
        hm_h = h_prev if rec_masks is None else h_prev * rec_masks[:, 2]
        coef_r = hm_h * _gate_grad(r, ctx.hard)  # times d(r hm) to give d r pre-activation
        coef_rh = r if rec_masks is None else r * rec_masks[:, 2]  # times d(r hm) to give d h
        if v is not None:  # a padded step passes its gradient to the state before it unchanged
            coef_cand, coef_z = coef_cand * v, coef_z * v
            coef_keep = z * v + (1 - v)
        if ctx.zero_output and v is not None:
            grad_outputs = grad_outputs * v
        grad_outputs = grad_outputs.contiguous()
        d_gates = torch.empty_like(gates)
        d_cand = torch.empty_like(cand)
        u_h_t, u_zr_t = u_h.transpose(1, 2), u_zr.transpose(1, 2)
        u_z_t, u_r_t = u_zr_t[:, :units], u_zr_t[:, units:]
        dh = grad_last.clone() if grad_last is not None else cand.new_zeros(dirs, batch, units)
        go_, cc_, cz_, ck_, cr_, crh_ = (t.unbind(0) for t in (grad_outputs, coef_cand, coef_z, coef_keep, coef_r,
                                                                 coef_rh))
        dc_, dg_ = d_cand.unbind(0), d_gates.unbind(0)
        m_z, m_r = (rec_masks[:, 0], rec_masks[:, 1]) if rec_masks is not None else (None, None)
        dz_, dr_ = d_gates[..., :units].unbind(0), d_gates[..., units:].unbind(0)
        for t in range(steps - 1, -1, -1):
            g = dh.add_(go_[t])
            torch.mul(g, cc_[t], out=dc_[t])
            torch.mul(g, cz_[t], out=dz_[t])
            d_rh = torch.bmm(dc_[t], u_h_t)
            torch.mul(d_rh, cr_[t], out=dr_[t])
            dh = torch.addcmul(g * ck_[t], d_rh, crh_[t])
            if rec_masks is None:
                dh.baddbmm_(dg_[t], u_zr_t)
            else:
                dh.addcmul_(torch.bmm(dz_[t], u_z_t), m_z)
                dh.addcmul_(torch.bmm(dr_[t], u_r_t), m_r)
        # recurrent kernels: one product over all steps and the batch, per direction
        if rec_masks is None:
            d_u_zr = torch.einsum("tdbi,tdbj->dij", h_prev, d_gates)
        else:
            d_u_zr = torch.cat([torch.einsum("tdbi,tdbj->dij", h_prev * rec_masks[:, 0], d_gates[..., :units]),
                                torch.einsum("tdbi,tdbj->dij", h_prev * rec_masks[:, 1], d_gates[..., units:])], dim=-1)
        d_u_h = torch.einsum("tdbi,tdbj->dij", reset_state, d_cand)
        return torch.cat([d_gates, d_cand], dim=-1), dh, d_u_zr, d_u_h, None, None, None, None, None


class SimpleRNNRecurrence(torch.autograd.Function):
    """h' = act(x + h U); a padded step keeps h."""

    @staticmethod
    def forward(ctx, projected, h0, u, valid, relu: bool, zero_output: bool):
        steps, dirs, batch, units = projected.shape
        states = projected.new_empty(steps + 1, dirs, batch, units)
        states[0] = h0
        acts = projected.new_empty(steps, dirs, batch, units) if valid is not None else states[1:]
        s_, p_, a_ = states.unbind(0), projected.unbind(0), acts.unbind(0)
        v_ = valid.unbind(0) if valid is not None else None
        for t in range(steps):
            _act_(torch.baddbmm(p_[t], s_[t], u, out=a_[t]), relu)
            if v_ is not None:
                torch.where(v_[t], a_[t], s_[t], out=s_[t + 1])
        ctx.relu, ctx.zero_output = relu, zero_output
        ctx.save_for_backward(states, acts, u, valid)
        return _masked_outputs(states[1:], valid, zero_output), states[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_last):
        states, acts, u, valid, = ctx.saved_tensors
        steps, dirs, batch, units = acts.shape
        coef = _act_grad(acts, ctx.relu)
        keep = None
        if valid is not None:
            v = valid.to(acts.dtype)
            coef, keep = coef * v, 1 - v
            if ctx.zero_output:
                grad_outputs = grad_outputs * v
        grad_outputs = grad_outputs.contiguous()
        d_pre = torch.empty_like(acts)
        u_t = u.transpose(1, 2)
        dh = grad_last.clone() if grad_last is not None else acts.new_zeros(dirs, batch, units)
        go_, c_, d_ = grad_outputs.unbind(0), coef.unbind(0), d_pre.unbind(0)
        k_ = keep.unbind(0) if keep is not None else None
        for t in range(steps - 1, -1, -1):
            g = dh.add_(go_[t])
            torch.mul(g, c_[t], out=d_[t])
            dh = torch.bmm(d_[t], u_t) if k_ is None else torch.baddbmm(g * k_[t], d_[t], u_t)
        d_u = torch.einsum("tdbi,tdbj->dij", states[:-1], d_pre)
        return d_pre, dh, d_u, None, None, None
