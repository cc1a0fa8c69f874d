"""The multitask CNN of the reference method (method.md, "Model").

A timm backbone with global average pooling feeds one head per output::

    BN(F) → Linear(F, 128) → ReLU → BN(128) → Dropout(p) → Linear(128, K)

K = 7 expression logits (Aff-Wild2's class order) for ``expr``; K = 2·B bin logits for
``va`` (B for valence, then B for arousal; B = 20 in the paper). The 128-d vector after
the second BN is the head's *feature* (the GRU stage's input). A VA value is the
expectation of the softmax over the B bins against the bins' values:
``"centres"`` (abawbench) are the true centres of B equal bins of [-1, 1];
``"paper-code"`` is the authors' ``linspace(-1, 1, B)``, which are not the centres of the
bins their classification targets use.
"""

from __future__ import annotations

import torch
from torch import nn

EXPR_CLASSES = 7
HEADS = ("expr", "va")
VA_BIN_VALUE_KINDS = ("centres", "paper-code")


def va_bin_edges(bins: int) -> torch.Tensor:
    """(bins + 1,) float64 edges of ``bins`` equal bins spanning [-1, 1]."""
    return torch.linspace(-1.0, 1.0, bins + 1, dtype=torch.float64)


def va_bin_values(bins: int, kind: str = "centres") -> torch.Tensor:
    """(bins,) float32 value of each bin used for the expectation.

    ``"centres"``: -1 + (2k + 1)/bins, the middle of bin k; ``"paper-code"``:
    ``linspace(-1, 1, bins)`` (endpoints included, spacing 2/(bins - 1)).
    """
    if kind == "centres":
        edges = va_bin_edges(bins)
        return ((edges[:-1] + edges[1:]) / 2).float()
    if kind == "paper-code":
        return torch.linspace(-1.0, 1.0, bins, dtype=torch.float32)
    raise ValueError(f"va_bin_values must be one of {', '.join(VA_BIN_VALUE_KINDS)}, not {kind!r}")


def va_expectation(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Expected value of softmax(``logits``) over ``values``.

    Args:
        logits: (..., B) bin logits of one dimension.
        values: (B,) bin values.
    Returns:
        (...) float32, in [min(values), max(values)].
    """
    return torch.softmax(logits.float(), dim=-1) @ values.to(device=logits.device, dtype=torch.float32)


class TaskHead(nn.Module):
    """``BN(F) → Linear(F, hidden) → ReLU → BN(hidden) → Dropout(p) → Linear(hidden, K)``.

    ``forward(x)`` with x (N, F) returns ``(logits (N, K), feature (N, hidden))``; the
    feature is taken before the dropout (what the authors' GRU stage reads).
    """

    def __init__(self, in_features: int, hidden: int, outputs: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.BatchNorm1d(in_features), nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                                   nn.BatchNorm1d(hidden))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.embed(x)
        return self.classifier(self.dropout(feature)), feature


def _pooled_width(backbone: nn.Module) -> int:
    # timm models with a pre-logits stage after pooling (MobileNetV3's conv_head) output
    # head_hidden_size features, not num_features.
    width = getattr(backbone, "head_hidden_size", None) or getattr(backbone, "num_features", None)
    if not width:
        raise ValueError(f"cannot tell the pooled feature width of {type(backbone).__name__}")
    return int(width)


class MultitaskCNN(nn.Module):
    """The multitask CNN: ``forward(x)`` → ``{"expr": (N, 7), "va": (N, 2·bins)}`` logits.

    Args:
        backbone: a timm model name (any; ``resnet50`` in the paper), created with random
            weights, no classifier and global average pooling; load weights afterwards
            with :func:`abawbench.models.load_backbone_weights`.
        backbone_args: extra keyword arguments for ``timm.create_model`` (e.g. a narrower
            ResNet: ``{"channels": [16, 32, 64, 128]}``).
        head_hidden: width of each head's feature (128).
        head_dropout: dropout before each head's last layer (0.5 in the authors' code).
        va_bins: bins per VA dimension (20).
        bin_values: ``"centres"`` or ``"paper-code"`` (see :func:`va_bin_values`).

    Input: (N, 3, H, W) float, normalised. ``va_bin_values`` is a buffer, so decoding
    follows the model's device.
    """

    def __init__(self, backbone: str = "resnet50", backbone_args: dict | None = None, head_hidden: int = 128,
                 head_dropout: float = 0.5, va_bins: int = 20, bin_values: str = "centres") -> None:
        super().__init__()
        import timm

        self.backbone_name = backbone
        self.backbone = timm.create_model(backbone, pretrained=False, num_classes=0, global_pool="avg",
                                          **dict(backbone_args or {}))
        self.feature_width = _pooled_width(self.backbone)
        self.va_bins = int(va_bins)
        self.heads = nn.ModuleDict({
            "expr": TaskHead(self.feature_width, head_hidden, EXPR_CLASSES, head_dropout),
            "va": TaskHead(self.feature_width, head_hidden, 2 * self.va_bins, head_dropout),
        })
        self.register_buffer("va_values", va_bin_values(self.va_bins, bin_values), persistent=False)

    def forward_all(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``(logits, features)``, each ``{head: tensor}``: logits (N, K), features (N, hidden)."""
        pooled = self.backbone(x)
        logits, features = {}, {}
        for name, head in self.heads.items():
            logits[name], features[name] = head(pooled)
        return logits, features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_all(x)[0]

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's (N, hidden) feature: the seam to the GRU stage."""
        return self.forward_all(x)[1]

    def decode(self, logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Predictions from logits: ``expr`` (N,) int64 class ids, ``va`` (N, 2) float32
        (valence, arousal) expectations over the bin values."""
        va = logits["va"]
        bins = self.va_bins
        return {
            "expr": logits["expr"].argmax(dim=-1),
            "va": torch.stack([va_expectation(va[..., :bins], self.va_values),
                               va_expectation(va[..., bins:], self.va_values)], dim=-1),
        }
