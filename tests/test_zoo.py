"""The zoo: models from torchvision, timm and Hugging Face transformers, injected as a new user would.

For each: ``inject`` succeeds on the fresh model (in training mode); at σ = 0 the output is
bit-identical to the model without noise; σ > 0 at every site changes the output; the
forward and backward passes are finite. A fast sample runs by default, the full lists
with ``-m slow``. docs/sites.md reports the counts.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import noisewalk as nw

TORCHVISION_FAST = ["mobilenet_v3_small", "squeezenet1_1", "swin_t"]
TIMM_FAST = ["vit_tiny_patch16_224", "convnext_atto"]
TIMM = [
    # vision transformers and their relatives
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "deit3_small_patch16_224",
    "vit_small_patch16_rope_224",
    "eva02_tiny_patch14_224",
    "beit_base_patch16_224",
    "cait_xxs24_224",
    "xcit_nano_12_p16_224",
    "convit_tiny",
    "pit_ti_224",
    "levit_128s",
    "crossvit_tiny_240",
    "tiny_vit_5m_224",
    "efficientvit_b0",
    "swin_tiny_patch4_window7_224",
    "twins_pcpvt_small",
    "pvt_v2_b0",
    "coat_lite_tiny",
    "davit_tiny",
    "gcvit_xxtiny",
    "maxvit_nano_rw_256",
    "coatnet_nano_rw_224",
    "mvitv2_tiny",
    "hiera_tiny_224",
    "mobilevit_xxs",
    "edgenext_xx_small",
    "fastvit_t8",
    # MLPs and meta-formers
    "mixer_s16_224",
    "resmlp_12_224",
    "poolformer_s12",
    "caformer_s18",
    "convmixer_768_32",
    # convolutional networks
    "convnext_atto",
    "efficientnet_b0",
    "efficientnet_lite0",
    "tinynet_e",
    "mobilenetv3_small_050",
    "mobilenetv4_conv_small",
    "mobileone_s0",
    "repvit_m0_9",
    "ghostnet_050",
    "lcnet_050",
    "mnasnet_050",
    "rexnet_100",
    "regnetx_002",
    "resnet18",
    "resnest14d",
    "res2net50_14w_8s",
    "cspresnet50",
    "dla34",
    "densenet121",
    "dpn68",
    "hrnet_w18_small",
    "nfnet_f0",
    "inception_v3",
    "vgg11",
    "hgnetv2_b0",
    "starnet_s050",
    "inception_next_tiny",
    "mambaout_femto",
]
TINY_BERT = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=100,
    max_position_embeddings=64,
)
TINY_GPT2 = dict(n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=64)


def _logits(out):
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    return out[0]


def check_zoo_model(model: torch.nn.Module, args: tuple = (), kwargs: dict | None = None, **inject_kw) -> nw.NoisyModel:
    """The zoo's checks on one model; returns the injected model."""
    kwargs = kwargs or {}
    torch.manual_seed(0)
    assert model.training  # injected as built, in training mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an expected hooks fallback warns
        noisy = nw.inject(model, **inject_kw)
    assert len(noisy.sites) > 0
    model.eval()
    noisy.eval()
    with torch.no_grad():
        ref = _logits(model(*args, **kwargs))
        out = _logits(noisy(*args, **kwargs))
        assert torch.equal(out, ref), f"sigma 0 differs from the model by {(out - ref).abs().max()}"
        assert torch.equal(_logits(noisy(*args, **kwargs)), ref)  # and stays so: no dropout in eval mode
        noisy.set_sigma(0.1)
        noisy_out = _logits(noisy(*args, **kwargs))
        assert torch.isfinite(noisy_out).all()
        assert not torch.equal(noisy_out, ref)
    loss = _logits(noisy(*args, **kwargs)).float().square().mean()
    loss.backward()
    grads = [p.grad for p in noisy.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    return noisy


def _torchvision_case(name: str):
    kw: dict = {}
    size = 64
    if name.startswith("vit_"):
        kw["image_size"] = 56 if "_14" in name else 64
    if name.startswith(("maxvit", "swin")):
        size = 224 if name.startswith("maxvit") else 64
    if name in ("inception_v3",):
        size = 96
    model = nw.create_model(name, num_classes=10, input_shape=(3, size, size), **kw)
    return model, torch.randn(2, 3, size, size)


def _torchvision_names():
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


@pytest.mark.parametrize("name", TORCHVISION_FAST)
def test_torchvision_sample(name, one_thread):
    model, x = _torchvision_case(name)
    check_zoo_model(model, (x,))


@pytest.mark.slow
@pytest.mark.parametrize("name", _torchvision_names())
def test_torchvision_zoo(name):
    model, x = _torchvision_case(name)
    check_zoo_model(model, (x,))


def _timm_case(name: str):
    pytest.importorskip("timm")
    model = nw.create_model(f"timm:{name}", num_classes=10, input_shape=_timm_shape(name))
    return model, torch.randn(2, *_timm_shape(name))


def _timm_shape(name: str) -> tuple[int, int, int]:
    import timm

    return tuple(timm.get_pretrained_cfg(name).input_size) if timm.get_pretrained_cfg(name) else (3, 224, 224)


@pytest.mark.parametrize("name", TIMM_FAST)
def test_timm_sample(name, one_thread):
    model, x = _timm_case(name)
    noisy = check_zoo_model(model, (x,))
    if name.startswith("vit"):
        assert {"scores", "softmax", "attend"} <= {s.op for s in noisy.sites}


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMM)
def test_timm_zoo(name):
    model, x = _timm_case(name)
    check_zoo_model(model, (x,))


def test_hf_encoder_classifier(one_thread):
    pytest.importorskip("transformers")
    model = nw.create_model("hf:bert", num_classes=3, input_shape=(12,), config=TINY_BERT)
    tokens = torch.randint(0, 100, (2, 12))
    noisy = check_zoo_model(model, (tokens,))
    ops = {s.op for s in noisy.sites}
    assert {"embed", "linear", "scores", "softmax", "attend", "act"} <= ops and "input" not in ops


def test_hf_decoder_language_model(one_thread):
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model("gpt2", **TINY_GPT2)
    model = transformers.AutoModelForCausalLM.from_config(config)
    tokens = torch.randint(0, 100, (2, 10))
    noisy = check_zoo_model(model, (), {"input_ids": tokens}, example_inputs={"input_ids": tokens})
    names = [s.name for s in noisy.sites]
    assert "transformer.h.0.attn.c_attn" in names  # GPT-2's Conv1D is a linear layer
    assert "transformer.h.0.attn.scores" in names and "transformer.h.0.mlp.act" in names
