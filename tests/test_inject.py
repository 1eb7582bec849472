import pytest
import torch
import torch.nn.functional as F
from torch import nn

import noisewalk as nw
from noisewalk.errors import InvalidParameterError, TraceError, UnknownNameError


def _model(name, shape=(3, 32, 32), **kw):
    return nw.create_model(name, num_classes=10, input_shape=shape, **kw)


# Site counts pinned here are reported in docs/sites.md.
@pytest.mark.parametrize(
    ("name", "shape", "batchnorm", "count"),
    [
        ("lenet5", (3, 32, 32), False, 12),
        ("lenet5", (1, 28, 28), True, 16),
        ("mlp", (1, 8, 8), False, 8),
        ("mlp", (1, 8, 8), True, 11),
        ("resnet18", (3, 64, 64), False, 49),
        ("resnet18", (3, 64, 64), True, 69),
        ("vgg11", (3, 64, 64), False, 28),
    ],
)
def test_site_counts(name, shape, batchnorm, count):
    noisy = nw.inject(_model(name, shape, batchnorm=batchnorm or None), batchnorm=batchnorm)
    assert len(noisy.sites) == count
    assert [s.index for s in noisy.sites] == list(range(count))
    assert len({s.name for s in noisy.sites}) == count  # names are unique


def test_lenet_sites_in_execution_order():
    noisy = nw.inject(_model("lenet5"))
    assert [s.op for s in noisy.sites] == [
        "input",
        "conv",
        "act",
        "pool",
        "conv",
        "act",
        "pool",
        "linear",
        "act",
        "linear",
        "act",
        "linear",
    ]
    assert noisy.sites[1].name == "features.conv1"
    assert noisy.sites[-1].name == "classifier.fc3"


def test_resnet_sites_have_readable_names_and_residual_adds():
    noisy = nw.inject(_model("resnet18", (3, 64, 64)))
    names = [s.name for s in noisy.sites]
    assert "layer1.0.conv1" in names and "layer1.0.add" in names
    assert "layer1.0.relu@1" in names  # the block's ReLU module is called twice
    assert sum(s.op == "add" for s in noisy.sites) == 8
    assert not any(s.op == "norm" for s in noisy.sites)


def test_zero_sigma_is_bit_identical_to_the_original():
    torch.manual_seed(0)
    model = _model("resnet18", (3, 32, 32)).eval()
    noisy = nw.inject(model).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), noisy(x))


def test_inject_copies_unless_inplace():
    model = _model("mlp", (1, 8, 8))
    noisy = nw.inject(model, sigma=0.1)
    assert noisy.module.fc1.weight is not model.fc1.weight
    shared = nw.inject(model, inplace=True)
    assert shared.module.fc1.weight is model.fc1.weight


def _which_sites_changed(noisy, x):
    """Indices of the noise modules whose output differs from their input (noise may be
    added in place, so the input is copied before the module runs)."""
    changed, before = [], {}
    handles = []
    for i, n in enumerate(noisy.noises):
        handles.append(n.register_forward_pre_hook(lambda m, inp, i=i: before.__setitem__(i, inp[0].clone())))
        handles.append(
            n.register_forward_hook(
                lambda m, inp, out, i=i: changed.append(i) if not torch.equal(before[i], out) else None
            )
        )
    with torch.no_grad():
        noisy(x)
    for h in handles:
        h.remove()
    return changed


def test_walking_noise_touches_exactly_one_site():
    noisy = nw.inject(_model("lenet5")).eval()
    x = torch.randn(2, 3, 32, 32)
    seen = []
    for site in noisy.walk(0.5):
        assert _which_sites_changed(noisy, x) == [site.index]
        seen.append(site.index)
    assert seen == list(range(len(noisy.sites)))
    assert all(s == 0.0 for s in noisy.sigmas.values())  # walk leaves every site clean


def test_select_by_index_name_op_and_glob():
    noisy = nw.inject(_model("lenet5"))
    assert noisy.select(3) == [3]
    assert noisy.select(-1) == [11]
    assert noisy.select("features.conv2") == [4]
    assert noisy.select("conv") == [1, 4]
    assert noisy.select("classifier.*") == [7, 8, 9, 10, 11]
    assert noisy.select(["input", "pool", 11]) == [0, 3, 6, 11]


def test_set_sigma_subset_and_others():
    noisy = nw.inject(_model("lenet5"), sigma=0.2, sites="act")
    levels = list(noisy.sigmas.values())
    assert [i for i, s in enumerate(levels) if s == 0.2] == noisy.select("act")
    noisy.set_sigma(1.0, "linear", others=0.0)
    assert [i for i, s in enumerate(noisy.sigmas.values()) if s] == noisy.select("linear")


@pytest.mark.parametrize("bad", ["conv9", 99, "nothing.*"])
def test_unknown_site_lists_valid_names(bad):
    noisy = nw.inject(_model("lenet5"))
    with pytest.raises((UnknownNameError, InvalidParameterError)) as err:
        noisy.set_sigma(0.1, bad)
    assert "features.conv1" in str(err.value) or "out of range" in str(err.value)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_sigma_in_inject_and_set_sigma(bad):
    with pytest.raises(InvalidParameterError, match="sigma"):
        nw.inject(_model("mlp", (1, 8, 8)), sigma=bad)
    noisy = nw.inject(_model("mlp", (1, 8, 8)))
    with pytest.raises(InvalidParameterError, match="sigma"):
        noisy.set_sigma(bad)


def test_exclude_removes_sites():
    noisy = nw.inject(_model("lenet5"), exclude=["input", "pool"])
    assert len(noisy.sites) == 9
    assert not any(s.op in ("input", "pool") for s in noisy.sites)
    assert [s.index for s in noisy.sites] == list(range(9))


class Functional(nn.Module):
    """Functional calls, a residual add, shape arithmetic and non-sites."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        h = F.relu(self.fc1(x))
        h = h + x  # residual
        h = h * 2.0  # scaling by a constant: not a site
        h = torch.cat([h[:, :4], h[:, 4:]], dim=1)
        return self.fc2(self.drop(h))


def test_functional_model_sites():
    noisy = nw.inject(Functional())
    assert [(s.name, s.op) for s in noisy.sites] == [
        ("input", "input"),
        ("fc1", "linear"),
        ("relu", "act"),
        ("add", "add"),
        ("fc2", "linear"),
    ]


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: not traceable
            return x
        return -x


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gate = Gate()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.gate(self.fc(x)))


def test_untraceable_model_names_the_failing_module_and_hooks_fallback_works():
    with pytest.raises(TraceError) as err:
        nw.inject(Untraceable(), method="fx")
    msg = str(err.value)
    assert "'gate' (Gate)" in msg and "method='hooks'" in msg
    with pytest.warns(UserWarning, match=r"'gate' \(Gate\).*forward hooks instead") as caught:
        auto = nw.inject(Untraceable())
    assert len(caught) == 1  # one clear warning
    assert auto.method == "hooks"
    noisy = nw.inject(Untraceable(), method="hooks")
    assert [(s.name, s.op) for s in noisy.sites] == [("input", "input"), ("fc", "linear"), ("act", "act")]
    x = torch.randn(3, 4)
    noisy.eval()
    assert _which_sites_changed(noisy, x) == []
    noisy.set_sigma(0.5, "fc", others=0.0)
    assert _which_sites_changed(noisy, x) == [1]


def test_leaf_modules_keep_untraceable_module_whole():
    noisy = nw.inject(Untraceable(), leaf_modules=(Gate,))
    assert [s.name for s in noisy.sites] == ["input", "fc", "act"]


def test_per_sample_sigma_through_a_model():
    model = _model("lenet5").eval()
    noisy = nw.inject(model).eval()
    x = torch.randn(3, 3, 32, 32)
    noisy.set_sigma(torch.tensor([0.0, 0.3, 0.0]))
    with torch.no_grad():
        out, ref = noisy(x), model(x)
    assert torch.equal(out[0], ref[0]) and torch.equal(out[2], ref[2])
    assert not torch.equal(out[1], ref[1])


def test_inject_rejects_bad_arguments():
    with pytest.raises(InvalidParameterError, match="method"):
        nw.inject(_model("mlp", (1, 8, 8)), method="magic")
    with pytest.raises(UnknownNameError, match="additive"):
        nw.inject(_model("mlp", (1, 8, 8)), noise="gaussian")
    with pytest.raises(InvalidParameterError, match="already has noise"):
        nw.inject(nw.inject(_model("mlp", (1, 8, 8))))


def test_state_dict_round_trip():
    a = nw.inject(_model("lenet5"))
    b = nw.inject(_model("lenet5"))
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


# A representative set of torchvision families runs by default; every model that
# torch.fx can trace runs in the slow suite.
FAST_TORCHVISION = [
    "alexnet",
    "squeezenet1_1",
    "mobilenet_v3_small",
    "shufflenet_v2_x0_5",
    "mnasnet0_5",
    "efficientnet_b0",
    "regnet_x_400mf",
    "densenet121",
    "googlenet",
]


def _check_torchvision(name):
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    size = 299 if name == "inception_v3" else 224
    model = nw.create_model(name, num_classes=10, input_shape=(3, size, size)).eval()
    noisy = nw.inject(model).eval()
    assert len(noisy.sites) > 5
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(noisy(x), ref)
        noisy.set_sigma(torch.tensor([0.0, 0.5]))
        out = noisy(x)
    assert torch.equal(out[0], ref[0]) and not torch.equal(out[1], ref[1])


@pytest.mark.parametrize("name", FAST_TORCHVISION)
def test_torchvision_families(name):
    _check_torchvision(name)


def _all_torchvision():
    return [n for n in nw.list_models() if n not in nw.list_models(own=True)]


@pytest.mark.slow
@pytest.mark.parametrize("name", _all_torchvision())
def test_every_torchvision_classifier(name):
    _check_torchvision(name)
