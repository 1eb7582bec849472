"""LSTM and GRU: sites at gate pre-activations and hidden states of every time step."""

import pytest
import torch
from torch import nn

import noisewalk as nw
from noisewalk.sites.layers import NoisyRNN

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration")


class SequenceClassifier(nn.Module):
    def __init__(self, cell="lstm", layers=2, bidirectional=False, batch_first=True, features=5, classes=3):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(features, 8, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        self.head = nn.Linear(8 * (2 if bidirectional else 1), classes)
        self.batch_first = batch_first

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1] if self.batch_first else out[-1])


def test_lstm_classifier_sites():
    noisy = nw.inject(SequenceClassifier(), example_inputs=torch.randn(2, 7, 5))
    assert [(s.name, s.op) for s in noisy.sites] == [
        ("input", "input"),
        ("rnn.l0.gates", "gate"),
        ("rnn.l0.hidden", "state"),
        ("rnn.l1.gates", "gate"),
        ("rnn.l1.hidden", "state"),
        ("head", "linear"),
    ]
    coarse = nw.inject(SequenceClassifier(), rnn="output", example_inputs=torch.randn(2, 7, 5))
    assert [s.name for s in coarse.sites] == ["input", "rnn.output", "head"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(("bidirectional", "batch_first"), [(False, True), (True, False)])
def test_unrolled_layer_matches_the_builtin_bit_for_bit(cell, bidirectional, batch_first):
    model = SequenceClassifier(cell, bidirectional=bidirectional, batch_first=batch_first).eval()
    x = torch.randn(4, 7, 5) if batch_first else torch.randn(7, 4, 5)
    noisy = nw.inject(model, example_inputs=x).eval()
    layer = noisy.module.rnn
    assert isinstance(layer, NoisyRNN)
    with torch.no_grad():
        assert torch.equal(noisy(x), model(x))  # sigma 0: the built-in kernel itself
        layer.unrolled = True  # compute step by step although no site is noisy
        # the unrolled arithmetic is that of PyTorch's native kernel, operation for operation
        with torch.backends.mkldnn.flags(enabled=False):
            assert torch.equal(noisy(x), model(x))
            h0 = torch.randn(layer.layer.num_layers * (2 if bidirectional else 1), 4, 8)
            state = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
            out, last = layer(x, state)
            ref, ref_last = model.rnn(x, state)
            assert torch.equal(out, ref)
            pairs = zip(last, ref_last, strict=True) if cell == "lstm" else [(last, ref_last)]
            assert all(torch.equal(a, b) for a, b in pairs)
        # oneDNN's kernel (the CPU default) sums in another order: equal to float rounding
        torch.testing.assert_close(noisy(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_noise_at_one_gate_site_changes_the_output_and_trains(cell):
    model = SequenceClassifier(cell)
    noisy = nw.inject(model, example_inputs=torch.randn(2, 7, 5))
    x = torch.randn(4, 7, 5)
    noisy.set_sigma(0.5, "rnn.l1.gates")
    out = noisy(x)
    assert not torch.equal(out, model(x))
    out.sum().backward()
    assert torch.isfinite(noisy.module.rnn.layer.weight_hh_l0.grad).all()
    # per-sample levels along the batch
    noisy.eval()
    noisy.set_sigma(torch.tensor([0.0, 1.0, 0.0, 0.0]), "rnn.*")
    with torch.no_grad():
        out, ref = noisy(x), model.eval()(x)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-6)  # unrolled, noise-free
    assert (out[1] - ref[1]).abs().max() > 1e-3
