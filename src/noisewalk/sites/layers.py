"""Layers whose sites are inside them: attention and recurrent networks.

``torch.fx`` keeps ``torch.nn`` layers whole, and the fused kernels of attention and of
LSTM/GRU layers compute their inside in one call, so nothing inside them could be a
site. The layers here hold the original computation and an equivalent one written out
step by step with a noise module at each inner site:

* :class:`NoisyAttention` replaces a call of ``F.scaled_dot_product_attention``: the
  attention scores ``QKᵀ·scale`` (+ mask), their softmax and the attention-weighted sum.
* :class:`NoisyMultiheadAttention` wraps ``nn.MultiheadAttention``: the q/k/v
  projections, scores, softmax, weighted sum and output projection.
* :class:`NoisyRNN` wraps ``nn.LSTM`` and ``nn.GRU``: per layer and direction, the gate
  pre-activations and the hidden state at every time step (one fresh noise draw per
  step), or only the layer's output sequence.

While none of its sites is noisy, each layer runs the original computation (the fused
kernel), so at σ = 0 the model is bit-identical to the one without noise. As soon as one
inner site is noisy it computes step by step. The unrolled LSTM and GRU repeat the
arithmetic of PyTorch's native CPU kernel operation for operation, so they match it bit
for bit (``tests/test_recurrent.py``); oneDNN and cuDNN kernels accumulate in another order
and agree with it to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from noisewalk.noise import Noise


class SiteLayer(nn.Module):
    """A layer with noise sites inside: ``inner_sites`` lists them as ``(name, op)``;
    ``attach`` hands it one noise module per site (owned by the model's noise list)."""

    inner_sites: tuple[tuple[str, str], ...] = ()
    unrolled: bool = False
    """Compute step by step even when no site is noisy (for tests of the equivalence)."""

    def attach(self, noises: Sequence[Noise | None]) -> None:
        object.__setattr__(self, "_site_noises", tuple(noises))  # not submodules: no second copy

    def site_noises(self) -> tuple[Noise, ...]:
        return getattr(self, "_site_noises", ())

    def noisy(self) -> bool:
        return self.unrolled or any(n is not None and n.is_active() for n in self.site_noises())

    def site(self, i: int, x: Tensor) -> Tensor:
        noises = self.site_noises()
        noise = noises[i] if noises else None
        return noise(x) if noise is not None else x


# --- scaled dot-product attention --------------------------------------------------------


def attention_bias(
    attn_mask: Tensor | None, is_causal: bool, q_len: int, k_len: int, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """The additive bias equivalent to ``F.scaled_dot_product_attention``'s mask arguments."""
    bias = None
    if is_causal:
        keep = torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(diagonal=0)
        bias = torch.zeros(q_len, k_len, dtype=dtype, device=device).masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            mask = torch.zeros(attn_mask.shape, dtype=dtype, device=device).masked_fill(~attn_mask, float("-inf"))
        else:
            mask = attn_mask.to(dtype)
        bias = mask if bias is None else bias + mask
    return bias


class NoisyAttention(SiteLayer):
    """``F.scaled_dot_product_attention`` with sites at the scores, the softmax and the
    weighted sum (``fused=False``), or one site at its output (``fused=True``)."""

    def __init__(self, fused: bool = False) -> None:
        super().__init__()
        self.fused = fused
        self.inner_sites = (
            (("attention", "attention"),)
            if fused
            else (
                ("scores", "scores"),
                ("softmax", "softmax"),
                ("attend", "attend"),
            )
        )

    def forward(self, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kwargs):
        if self.fused or not self.noisy():
            out = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, **kwargs
            )
            return self.site(0, out) if self.fused else out
        if kwargs.get("enable_gqa") and key.shape[-3] != query.shape[-3]:
            groups = query.shape[-3] // key.shape[-3]
            key, value = key.repeat_interleave(groups, -3), value.repeat_interleave(groups, -3)
        scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
        scores = query @ key.transpose(-2, -1) * scale
        bias = attention_bias(attn_mask, is_causal, query.shape[-2], key.shape[-2], scores.dtype, scores.device)
        if bias is not None:
            scores = scores + bias
        probs = self.site(1, self.site(0, scores).softmax(dim=-1))
        if dropout_p > 0:
            probs = F.dropout(probs, dropout_p, training=True)
        return self.site(2, probs @ value)


class NoisyMultiheadAttention(SiteLayer):
    """``nn.MultiheadAttention`` with sites at the q/k/v projections, the scores, the
    softmax, the weighted sum and the output projection."""

    def __init__(self, layer: nn.MultiheadAttention) -> None:
        super().__init__()
        self.layer = layer
        self.inner_sites = (
            ("q_proj", "linear"),
            ("k_proj", "linear"),
            ("v_proj", "linear"),
            ("scores", "scores"),
            ("softmax", "softmax"),
            ("attend", "attend"),
            ("out_proj", "linear"),
        )

    @staticmethod
    def supported(layer: nn.MultiheadAttention) -> bool:
        return layer.bias_k is None and layer.bias_v is None and not layer.add_zero_attn

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights=True,
        attn_mask=None,
        average_attn_weights=True,
        is_causal=False,
    ):
        m = self.layer
        if not self.noisy():
            return m(
                query,
                key,
                value,
                key_padding_mask=key_padding_mask,
                need_weights=need_weights,
                attn_mask=attn_mask,
                average_attn_weights=average_attn_weights,
                is_causal=is_causal,
            )
        batched = query.dim() == 3
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            key_padding_mask = key_padding_mask.unsqueeze(0) if key_padding_mask is not None else None
        elif not m.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, q_len, e = query.shape
        k_len, heads = key.shape[1], m.num_heads
        hd = e // heads
        if m._qkv_same_embed_dim:
            w_q, w_k, w_v = m.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
        b_q, b_k, b_v = m.in_proj_bias.chunk(3) if m.in_proj_bias is not None else (None, None, None)
        q = self.site(0, F.linear(query, w_q, b_q)).view(n, q_len, heads, hd).transpose(1, 2)
        k = self.site(1, F.linear(key, w_k, b_k)).view(n, k_len, heads, hd).transpose(1, 2)
        v = self.site(2, F.linear(value, w_v, b_v)).view(n, k_len, heads, hd).transpose(1, 2)
        scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
        mask = attn_mask
        if mask is not None and mask.dim() == 3:
            mask = mask.view(n, heads, q_len, k_len)
        bias = attention_bias(mask, is_causal and mask is None, q_len, k_len, scores.dtype, scores.device)
        if key_padding_mask is not None:
            pad = attention_bias(
                ~key_padding_mask if key_padding_mask.dtype == torch.bool else key_padding_mask,
                False,
                q_len,
                k_len,
                scores.dtype,
                scores.device,
            ).view(n, 1, 1, k_len)
            bias = pad if bias is None else bias + pad
        if bias is not None:
            scores = scores + bias
        probs = self.site(4, self.site(3, scores).softmax(dim=-1))
        dropped = F.dropout(probs, m.dropout, training=self.training) if m.dropout > 0 else probs
        out = self.site(5, dropped @ v).transpose(1, 2).reshape(n, q_len, e)
        out = self.site(6, F.linear(out, m.out_proj.weight, m.out_proj.bias))
        if not batched:
            out, probs = out.squeeze(0), probs.squeeze(0)
        elif not m.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, probs.mean(dim=-3) if average_attn_weights else probs


# --- recurrent layers ---------------------------------------------------------------------


class NoisyRNN(SiteLayer):
    """``nn.LSTM`` or ``nn.GRU`` with sites at every layer's (and direction's) gate
    pre-activations and hidden state, at every time step; or, with ``per_step=False``,
    one site at the output sequence."""

    def __init__(self, layer: nn.LSTM | nn.GRU, per_step: bool = True) -> None:
        super().__init__()
        self.layer = layer
        self.per_step = per_step
        self.kind = "lstm" if isinstance(layer, nn.LSTM) else "gru"
        if not per_step:
            self.inner_sites = (("output", "state"),)
            return
        sites = []
        for k in range(layer.num_layers):
            for direction in self._directions():
                sites += [(f"l{k}{direction}.gates", "gate"), (f"l{k}{direction}.hidden", "state")]
        self.inner_sites = tuple(sites)

    @staticmethod
    def supported(layer: nn.Module) -> bool:
        return isinstance(layer, (nn.LSTM, nn.GRU)) and getattr(layer, "proj_size", 0) == 0

    def attach(self, noises: Sequence[Noise | None]) -> None:
        super().attach(noises)
        if not self.per_step and not self.layer.batch_first and noises[0] is not None:
            noises[0].batch_dim = 1  # the output sequence is (time, batch, features)

    def _directions(self) -> list[str]:
        return ["", "_reverse"] if self.layer.bidirectional else [""]

    def forward(self, x, hx=None):
        if not self.per_step:
            out, state = self.layer(x, hx)
            return (self.site(0, out) if isinstance(out, Tensor) else out), state
        if not self.noisy() or not isinstance(x, Tensor):  # PackedSequence: the built-in layer
            return self.layer(x, hx)
        m = self.layer
        batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(1)
        elif m.batch_first:
            x = x.transpose(0, 1)
        steps, n = x.shape[0], x.shape[1]
        dirs = len(self._directions())
        if hx is None:
            zeros = torch.zeros(m.num_layers * dirs, n, m.hidden_size, dtype=x.dtype, device=x.device)
            hx = (zeros, zeros) if self.kind == "lstm" else zeros
        elif not batched:
            hx = tuple(h.unsqueeze(1) for h in hx) if self.kind == "lstm" else hx.unsqueeze(1)
        h0, c0 = hx if self.kind == "lstm" else (hx, None)
        hn, cn, inputs, site = [], [], x, 0
        for k in range(m.num_layers):
            outputs = []
            for d, suffix in enumerate(self._directions()):
                w_ih, w_hh = getattr(m, f"weight_ih_l{k}{suffix}"), getattr(m, f"weight_hh_l{k}{suffix}")
                b_ih = getattr(m, f"bias_ih_l{k}{suffix}") if m.bias else None
                b_hh = getattr(m, f"bias_hh_l{k}{suffix}") if m.bias else None
                projected = F.linear(inputs, w_ih, b_ih)  # the native kernel projects the whole sequence first
                h = h0[k * dirs + d]
                c = c0[k * dirs + d] if c0 is not None else None
                out: list[Tensor] = [None] * steps  # type: ignore[list-item]
                for t in reversed(range(steps)) if d else range(steps):
                    if self.kind == "lstm":
                        gates = self.site(site, F.linear(h, w_hh, b_hh) + projected[t])
                        i, f, g, o = gates.chunk(4, 1)
                        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                        h = o.sigmoid() * c.tanh()
                    else:
                        # in place on unsafe chunks, as the native kernel: same values, bit for bit
                        ig_r, ig_z, ig_n = projected[t].unsafe_chunk(3, 1)
                        hg_r, hg_z, hg_n = F.linear(h, w_hh, b_hh).unsafe_chunk(3, 1)
                        r = self.site(site, hg_r.add_(ig_r)).sigmoid_()
                        z = self.site(site, hg_z.add_(ig_z)).sigmoid_()
                        new = self.site(site, ig_n.add(hg_n.mul_(r))).tanh_()
                        h = (h - new).mul_(z).add_(new)
                    h = self.site(site + 1, h)
                    out[t] = h
                site += 2
                outputs.append(torch.stack(out, 0))
                hn.append(h)
                cn.append(c)
            inputs = outputs[0] if dirs == 1 else torch.cat(outputs, -1)
            if m.dropout > 0 and self.training and k < m.num_layers - 1:
                inputs = F.dropout(inputs, m.dropout, training=True)
        out_seq, h_n = inputs, torch.stack(hn, 0)
        state = (h_n, torch.stack(cn, 0)) if self.kind == "lstm" else h_n
        if not batched:
            out_seq = out_seq.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if self.kind == "lstm" else state.squeeze(1)
        elif m.batch_first:
            out_seq = out_seq.transpose(0, 1)
        return out_seq, state


def wrap_layers(model: nn.Module, per_step_rnn: bool) -> list[str]:
    """Replace, in place, every ``nn.MultiheadAttention``, ``nn.LSTM`` and ``nn.GRU`` of
    ``model`` by its :class:`SiteLayer`; returns the names of those left whole (features
    the step-by-step computation does not cover)."""
    left: list[str] = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.MultiheadAttention):
                if NoisyMultiheadAttention.supported(child):
                    setattr(module, child_name, NoisyMultiheadAttention(child))
                else:
                    left.append(f"{full} (MultiheadAttention with bias_k/bias_v/add_zero_attn)")
            elif isinstance(child, (nn.LSTM, nn.GRU)):
                if NoisyRNN.supported(child):
                    setattr(module, child_name, NoisyRNN(child, per_step_rnn))
                else:
                    left.append(f"{full} (LSTM with proj_size)")
    return left
