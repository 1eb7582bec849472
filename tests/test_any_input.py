"""Training and evaluation take any tensor inputs: token ids, float sequences, features."""

import pytest
import torch
from torch import nn

import noisewalk as nw
from noisewalk.data import DataSplits, TensorData, TensorLoader, create_dataset
from noisewalk.train import TrainConfig, evaluate, train


class TokenClassifier(nn.Module):
    def __init__(self, vocab=32, dim=16, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.block = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        return self.head(self.block(self.embed(tokens)).mean(1))


class SequenceLSTM(nn.Module):
    def __init__(self, features=3, classes=2):
        super().__init__()
        self.rnn = nn.LSTM(features, 12, batch_first=True)
        self.head = nn.Linear(12, classes)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def test_token_dataset_is_integer_deterministic_and_learnable_by_counting():
    a = create_dataset("tokens", train_size=300, test_size=100)
    b = create_dataset("tokens", train_size=300, test_size=100)
    assert a.train.x.dtype == torch.int64 and a.input_shape == (16,) and a.num_classes == 4
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    counts = torch.stack([(a.test.x == 1 + c).sum(1) for c in range(4)], 1)
    assert torch.equal(counts.argmax(1), a.test.y)
    xb, _ = next(iter(TensorLoader(a.test, 10)))
    assert xb.dtype == torch.int64  # token ids are not normalized to floats


def test_train_and_evaluate_a_token_transformer(one_thread):
    data = create_dataset("tokens", train_size=512, test_size=256)
    torch.manual_seed(0)
    model = nw.inject(TokenClassifier(), example_inputs=data.train.x[:2])
    assert model.sites[0].op == "embed"
    result = train(model, data, TrainConfig(epochs=3, lr=3e-3, batch_size=64, sigma=0.05, last_epochs=1), device="cpu")
    assert result.accuracy > 0.4  # chance is 0.25
    curve = evaluate(model, data.test, [0.0, 0.1, 100.0], repeats=2, device="cpu", seed=0)
    assert curve.mean[0] == pytest.approx(result.history[-1]["test_acc"], abs=0.05)
    assert curve.mean[2] < curve.mean[0]
    one_by_one = evaluate(model, data.test, [0.0], device="cpu", batched=False)
    assert one_by_one.mean[0] == curve.mean[0]  # noise-free: the batched and the plain pass agree


def test_train_and_evaluate_an_lstm_on_float_sequences(one_thread):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(384, 10, 3, generator=g)
    y = (x[:, :, 0].sum(1) > 0).long()  # the sign of a running sum
    data = DataSplits(
        "running-sum",
        TensorData(x[:256], y[:256], ["neg", "pos"], (), (), scale=1.0),
        TensorData(x[256:], y[256:], ["neg", "pos"], (), (), scale=1.0),
    )
    model = nw.inject(SequenceLSTM(), example_inputs=x[:2])
    assert [s.op for s in model.sites] == ["input", "gate", "state", "linear"]
    result = train(model, data, TrainConfig(epochs=4, lr=1e-2, batch_size=32, last_epochs=1), device="cpu")
    assert result.accuracy > 0.7
    curve = evaluate(model, data.test, [0.0, 0.3, 3.0], sites="rnn.*", repeats=2, device="cpu")
    assert curve.mean[0] == pytest.approx(result.accuracy)
    assert curve.mean[2] < curve.mean[0]
