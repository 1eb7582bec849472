"""The graph noisewalk traces behaves like the model in both training and evaluation mode."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import stochastic_depth

import noisewalk as nw


class DepthAndDropout(nn.Module):
    """Stochastic depth and dropout written with ``self.training`` in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = h + stochastic_depth(self.fc2(h), 0.5, "row", self.training)
        h = F.dropout(h, 0.3, self.training)
        return self.head(h)


def _outputs(model, x, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("inject_in_train", [True, False])
def test_graph_follows_train_and_eval_mode(inject_in_train):
    model = DepthAndDropout().train(inject_in_train)
    noisy = nw.inject(model)
    x = torch.randn(8, 16)
    noisy.eval()
    model.eval()
    assert torch.equal(_outputs(noisy, x, 0), _outputs(model, x, 0))
    assert torch.equal(_outputs(noisy, x, 0), _outputs(noisy, x, 1))  # deterministic in eval mode
    noisy.train()
    model.train()
    assert torch.equal(_outputs(noisy, x, 3), _outputs(model, x, 3))  # same random drops as the model
    assert not torch.equal(_outputs(noisy, x, 3), _outputs(noisy, x, 4))  # stochastic in training


def test_torchvision_model_with_stochastic_depth_injected_in_train_mode():
    torch.manual_seed(0)
    model = nw.create_model("efficientnet_b0", num_classes=10, input_shape=(3, 32, 32))
    assert model.training  # a fresh model, as users inject it
    noisy = nw.inject(model).eval()
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(_outputs(noisy, x, 0), _outputs(model, x, 0))
    assert torch.equal(_outputs(noisy, x, 0), _outputs(noisy, x, 1))
    noisy.train()
    model.train()
    assert torch.equal(_outputs(noisy, x, 5), _outputs(model, x, 5))
