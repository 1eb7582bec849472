"""Composite ``torch.nn`` layers that tracing goes into.

``torch.fx`` keeps ``torch.nn`` layers whole; the transformer layers are traced through
instead, with a forward written for tracing (the same computation as their general path,
without the inference fast paths), so that their attention and feed-forward parts get sites.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def _encoder_layer_forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
    """``nn.TransformerEncoderLayer.forward`` without its inference fast path."""
    x = src
    if self.norm_first:
        x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal=is_causal)
        return x + self._ff_block(self.norm2(x))
    x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal=is_causal))
    return self.norm2(x + self._ff_block(x))


def _decoder_layer_forward(
    self,
    tgt,
    memory,
    tgt_mask=None,
    memory_mask=None,
    tgt_key_padding_mask=None,
    memory_key_padding_mask=None,
    tgt_is_causal=False,
    memory_is_causal=False,
):
    """``nn.TransformerDecoderLayer.forward``, written out for tracing."""
    x = tgt
    if self.norm_first:
        x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
        return x + self._ff_block(self.norm3(x))
    x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
    x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
    return self.norm3(x + self._ff_block(x))


def _encoder_forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
    """``nn.TransformerEncoder.forward`` without its nested-tensor fast path."""
    x = src
    for layer in self.layers:
        x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
    return self.norm(x) if self.norm is not None else x


def _decoder_forward(
    self,
    tgt,
    memory,
    tgt_mask=None,
    memory_mask=None,
    tgt_key_padding_mask=None,
    memory_key_padding_mask=None,
    tgt_is_causal=None,
    memory_is_causal=False,
):
    x = tgt
    for layer in self.layers:
        x = layer(
            x,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=bool(tgt_is_causal),
            memory_is_causal=memory_is_causal,
        )
    return self.norm(x) if self.norm is not None else x


def _transformer_forward(
    self,
    src,
    tgt,
    src_mask=None,
    tgt_mask=None,
    memory_mask=None,
    src_key_padding_mask=None,
    tgt_key_padding_mask=None,
    memory_key_padding_mask=None,
    src_is_causal=None,
    tgt_is_causal=None,
    memory_is_causal=False,
):
    memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
    return self.decoder(
        tgt,
        memory,
        tgt_mask=tgt_mask,
        memory_mask=memory_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
        tgt_is_causal=tgt_is_causal,
        memory_is_causal=memory_is_causal,
    )


TRACED_THROUGH: dict[type[nn.Module], Any] = {
    nn.TransformerEncoderLayer: _encoder_layer_forward,
    nn.TransformerDecoderLayer: _decoder_layer_forward,
    nn.TransformerEncoder: _encoder_forward,
    nn.TransformerDecoder: _decoder_forward,
    nn.Transformer: _transformer_forward,
}
"""``torch.nn`` layers that tracing goes into (fx keeps ``torch.nn`` layers whole), with a
forward written for tracing: the same computation as their general path."""
