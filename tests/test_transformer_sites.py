"""Transformers: sites by type, attention decomposed into scores, softmax and weighted sum."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import noisewalk as nw
from noisewalk.sites.layers import NoisyAttention


class TokenTransformer(nn.Module):
    """A token classifier on ``nn.TransformerEncoder``: integer inputs, an embedding, MultiheadAttention."""

    def __init__(self, vocab=50, dim=16, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(1))


class HandAttention(nn.Module):
    """Attention written out with matmuls, a mask flag and a shape-derived scale."""

    def __init__(self, dim=16, heads=2, fused=False):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.heads, self.fused = heads, fused

    def forward(self, x, causal: bool = True):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            attn = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if causal:
                attn = attn.masked_fill(attn.new_ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
            out = F.dropout(attn.softmax(-1), 0.0, self.training) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


@pytest.mark.parametrize("fused", [False, True])
def test_attention_sites_written_out_or_fused_are_the_same(fused):
    model = HandAttention(fused=fused)
    noisy = nw.inject(model, example_inputs=torch.randn(2, 5, 16))
    assert [(s.name, s.op) for s in noisy.sites] == [
        ("input", "input"),
        ("qkv", "linear"),
        ("scores", "scores"),
        ("softmax", "softmax"),
        ("attend", "attend"),
        ("proj", "linear"),
    ]
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        assert torch.equal(noisy(x), model(x))
        for site in ("scores", "softmax", "attend"):
            noisy.set_sigma(0.3, site, others=0.0)
            assert not torch.equal(noisy(x), model(x))
    one = nw.inject(model, attention="fused", example_inputs=torch.randn(2, 5, 16))
    if fused:
        assert [s.op for s in one.sites] == ["input", "linear", "attention", "linear"]


def test_decomposed_attention_matches_the_fused_kernel():
    q, k, v = torch.randn(3, 2, 2, 6, 4).unbind(0)
    layer = NoisyAttention()
    layer.unrolled = True
    mask = torch.rand(6, 6) > 0.3
    mask.fill_diagonal_(True)
    for kwargs in ({}, {"is_causal": True}, {"attn_mask": mask}, {"attn_mask": torch.randn(6, 6), "scale": 0.3}):
        torch.testing.assert_close(layer(q, k, v, **kwargs), F.scaled_dot_product_attention(q, k, v, **kwargs))


def test_token_model_sites_start_at_the_embedding_and_see_inside_torch_layers():
    model = TokenTransformer()
    tokens = torch.randint(0, 50, (2, 7))
    noisy = nw.inject(model, example_inputs=tokens)
    names = [s.name for s in noisy.sites]
    assert "input" not in names  # token ids are never sites
    assert names[0] == "embed"
    layer0 = [s for s in noisy.sites if s.name.startswith("encoder.layers.0.")]
    assert [(s.name, s.op) for s in layer0] == [
        ("encoder.layers.0.self_attn.q_proj", "linear"),
        ("encoder.layers.0.self_attn.k_proj", "linear"),
        ("encoder.layers.0.self_attn.v_proj", "linear"),
        ("encoder.layers.0.self_attn.scores", "scores"),
        ("encoder.layers.0.self_attn.softmax", "softmax"),
        ("encoder.layers.0.self_attn.attend", "attend"),
        ("encoder.layers.0.self_attn.out_proj", "linear"),
        ("encoder.layers.0.add", "add"),
        ("encoder.layers.0.linear1", "linear"),
        ("encoder.layers.0.relu", "act"),
        ("encoder.layers.0.linear2", "linear"),
        ("encoder.layers.0.add@1", "add"),
    ]
    with_norms = nw.inject(model, example_inputs=tokens, batchnorm=True)
    assert sum(s.op == "norm" for s in with_norms.sites) == 4


def test_token_model_zero_sigma_identical_noise_changes_and_trains():
    model = TokenTransformer().train()
    noisy = nw.inject(model, example_inputs=torch.randint(0, 50, (2, 7)))
    tokens = torch.randint(0, 50, (4, 7))
    model.eval(), noisy.eval()
    with torch.no_grad():
        assert torch.equal(noisy(tokens), model(tokens))
    noisy.train()
    noisy.set_sigma(0.2)
    out = noisy(tokens)
    out.sum().backward()
    grads = [p.grad for p in noisy.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    noisy.eval()
    noisy.set_sigma(torch.tensor([0.0, 0.5, 0.0, 0.0]))  # per-sample levels
    with torch.no_grad():
        out, ref = noisy(tokens), model(tokens)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-5)  # attention computed step by step
    assert not torch.allclose(out[1], ref[1])


class FlagModel(nn.Module):
    """Passes a boolean flag and a shape through the graph, as attention layers do."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, mask=None):
        h = self.fc(x)
        if mask is not None:
            h = h.masked_fill(~mask.unsqueeze(-1), 0.0)
        return F.dropout(h, 0.1, self.training) * x.is_floating_point() * x.shape[-1]


def test_non_tensor_and_integer_values_are_never_sites():
    x = torch.randn(2, 3, 8)
    mask = torch.ones(2, 3, dtype=torch.bool)
    noisy = nw.inject(FlagModel(), sigma=0.1, example_inputs={"x": x, "mask": mask})
    assert [(s.name, s.op) for s in noisy.sites] == [("input", "input"), ("fc", "linear"), ("output", "output")]
    assert noisy(x=x, mask=mask).shape == (2, 3, 8)  # keyword inputs


def test_a_model_that_fails_on_the_example_says_why_and_what_to_do():
    model = HandAttention()
    with pytest.raises(nw.errors.InvalidParameterError, match=r"fails on example_inputs.*batch first"):
        nw.inject(model, example_inputs=torch.randn(2, 5, 7))  # wrong width
    with pytest.raises(nw.errors.InvalidParameterError, match=r"fails on example_inputs"):
        nw.inject(model, method="hooks", example_inputs=torch.randn(2, 5, 7))
