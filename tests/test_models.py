"""Tests for abawbench.models: the multitask CNN contract and local weights loading."""

from __future__ import annotations

import pytest
import torch

from abawbench.models import MultitaskCNN, WeightsError, load_backbone_weights, va_expectation
from abawbench.training.config import resolve

# (backbone, timm kwargs, input size): the presets' backbones and a few others
BACKBONES = [
    ("resnet50", {}, 32),  # paper and paper-code presets (112 px there; 32 keeps the test fast)
    ("resnet10t", {"channels": [16, 32, 64, 128], "stem_width": 8}, 64),  # tiny preset
    ("test_resnet", {}, 48),
    ("mobilenetv3_small_050", {}, 64),  # pooled width != num_features (a conv head after pooling)
    ("test_efficientnet", {}, 48),
]


def test_presets_use_the_backbones_under_test():
    listed = {(name, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items())))
              for name, kwargs, _ in BACKBONES}
    for preset in ("paper", "paper-code", "tiny"):
        model = resolve(preset)["model"]
        key = (model["backbone"], tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                               for k, v in model["backbone_args"].items())))
        assert key in listed, preset


@pytest.mark.parametrize("backbone, kwargs, size", BACKBONES, ids=[b[0] for b in BACKBONES])
def test_model_contract(backbone, kwargs, size):
    """Forward shapes, finite outputs, and a gradient on every parameter (timm's ResNets
    zero-initialise each block's last BN, so some gradients are exactly 0 at first: a
    gradient must exist and be finite)."""
    torch.manual_seed(0)
    model = MultitaskCNN(backbone, kwargs, head_hidden=32, va_bins=20)
    n = 3
    x = torch.randn(n, 3, size, size)
    logits, features = model.forward_all(x)
    assert logits["expr"].shape == (n, 7) and logits["va"].shape == (n, 40)
    assert features["expr"].shape == (n, 32) and features["va"].shape == (n, 32)
    assert all(torch.isfinite(t).all() for t in (*logits.values(), *features.values()))
    (logits["expr"].square().mean() + logits["va"].square().mean()).backward()
    without = [name for name, p in model.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not without, f"parameters without a gradient: {without[:5]}"
    assert model.heads["expr"].classifier.weight.grad.abs().sum() > 0
    decoded = model.eval().decode(model(x))
    assert decoded["expr"].shape == (n,) and decoded["va"].shape == (n, 2)
    assert decoded["va"].abs().max() <= 1.0


def test_va_decoding_is_the_softmax_expectation_over_the_bin_values():
    model = MultitaskCNN("test_resnet", va_bins=4).eval()
    va = torch.tensor([[0.0, 0.0, 0.0, 0.0, 10.0, -10.0, -10.0, -10.0]])
    out = model.decode({"expr": torch.tensor([[0.0, 3.0, 1, 0, 0, 0, 0]]), "va": va})
    assert out["expr"].item() == 1
    assert out["va"][0, 0].item() == pytest.approx(0.0, abs=1e-6)  # uniform over symmetric centres
    assert out["va"][0, 1].item() == pytest.approx(-0.75, abs=1e-3)  # all mass on the first centre
    values = torch.tensor([-1.0, 0.0, 2.0])
    logits = torch.log(torch.tensor([0.2, 0.3, 0.5]))
    assert va_expectation(logits, values).item() == pytest.approx(-0.2 + 1.0)


# -------------------------------------------------------------------- weights files


def test_a_timm_state_dict_loads_and_its_classifier_is_dropped(tmp_path):
    import timm

    torch.manual_seed(1)
    source = timm.create_model("test_resnet", pretrained=False)  # with its classifier
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    model = MultitaskCNN("test_resnet")
    report = load_backbone_weights(model.backbone, path)
    assert report["ignored"] == ["fc.bias", "fc.weight"]
    assert not report["missing"] and not report["unexpected"]
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name


def test_a_torchvision_resnet_and_a_wrapped_checkpoint_load(tmp_path):
    import torchvision

    torch.manual_seed(2)
    source = torchvision.models.resnet18()
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = MultitaskCNN("resnet18")
    report = load_backbone_weights(model.backbone, path)
    assert report["loaded"] == len(model.backbone.state_dict())
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)


def test_mismatched_weights_are_reported_by_name(tmp_path):
    import timm

    state = timm.create_model("test_resnet").state_dict()
    first = next(k for k in state if k.endswith("conv.weight") or k.endswith("conv1.weight"))
    del state[first]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    model = MultitaskCNN("test_resnet")
    with pytest.raises(WeightsError) as error:
        load_backbone_weights(model.backbone, path)
    assert first in str(error.value) and "extra.weight" in str(error.value)
    report = load_backbone_weights(model.backbone, path, strict=False)
    assert report["missing"] == [first] and report["unexpected"] == ["extra.weight"]


def test_shape_mismatch_and_unreadable_files_are_errors(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"conv1\.weight \(file \(1,\)"):
        load_backbone_weights(MultitaskCNN("resnet18").backbone, tmp_path / "shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable state dict"):
        load_backbone_weights(MultitaskCNN("test_resnet").backbone, tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="never downloads"):
        load_backbone_weights(MultitaskCNN("test_resnet").backbone, tmp_path / "absent.pth")
