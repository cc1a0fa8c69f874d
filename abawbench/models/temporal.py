"""The temporal half of the reference method (method.md, "GRU stage").

The frozen CNN student gives each frame one 128-d feature per head (EXPR, VA); a window
of L consecutive frames goes, head by head, through its own bidirectional GRU::

    features (B, L, 128) → GRU(128 → 64 per direction, 1 layer) → (B, L, 128) → ReLU → Linear(128, K)

one output per time step (many-to-many): K = 7 expression logits, K = 2·B VA bin logits
(B for valence, then B for arousal), decoded exactly as the CNN's heads are (argmax; the
expectation of the softmax over the bin values). It computes in its weights' dtype
(float32) even inside an autocast region.
"""

from __future__ import annotations

import torch
from torch import nn

from abawbench.models.multitask import EXPR_CLASSES, HEADS, va_bin_values, va_expectation


class GruHead(nn.Module):
    """``GRU(in, hidden, bidirectional) → ReLU → Linear(2·hidden, outputs)`` per time step.

    ``forward(x)`` with x (B, L, in) returns (B, L, outputs).
    """

    def __init__(self, in_features: int = 128, hidden: int = 64, outputs: int = EXPR_CLASSES) -> None:
        super().__init__()
        self.gru = nn.GRU(in_features, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(2 * hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.gru(x)
        return self.classifier(torch.relu(sequence))


class MultitaskGRU(nn.Module):
    """One :class:`GruHead` per task head over the cached CNN features.

    Args:
        feature_width: width of each head's CNN feature (128 in the paper).
        hidden: GRU units per direction (64).
        va_bins: bins per VA dimension (20).
        bin_values: ``"centres"`` or ``"paper-code"`` (as the CNN's).

    ``forward(features)`` with features (B, L, 2, feature_width) — head 0 EXPR, head 1
    VA, the order of :data:`abawbench.models.HEADS` — returns ``{"expr": (B, L, 7),
    "va": (B, L, 2·bins)}``.
    """

    def __init__(self, feature_width: int = 128, hidden: int = 64, va_bins: int = 20,
                 bin_values: str = "centres") -> None:
        super().__init__()
        self.feature_width = int(feature_width)
        self.va_bins = int(va_bins)
        self.heads = nn.ModuleDict({
            "expr": GruHead(feature_width, hidden, EXPR_CLASSES),
            "va": GruHead(feature_width, hidden, 2 * self.va_bins),
        })
        self.register_buffer("va_values", va_bin_values(self.va_bins, bin_values), persistent=False)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        if features.ndim != 4 or features.shape[2] != len(HEADS) or features.shape[3] != self.feature_width:
            raise ValueError(f"expected features (B, L, {len(HEADS)}, {self.feature_width}), "
                             f"got {tuple(features.shape)}")
        features = features.to(self.heads["expr"].classifier.weight.dtype)  # the cache holds float16
        # float32 even under AMP: the GRU costs nothing next to the CNN, bf16 would lose
        # precision over the recurrent steps, and cuDNN's bf16 RNNs depend on its version
        with torch.autocast(features.device.type, enabled=False):
            return {name: self.heads[name](features[:, :, k]) for k, name in enumerate(HEADS)}

    def decode(self, logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``expr`` (...) int64 class ids and ``va`` (..., 2) float32 from (..., K) logits."""
        va = logits["va"]
        bins = self.va_bins
        return {"expr": logits["expr"].argmax(dim=-1),
                "va": torch.stack([va_expectation(va[..., :bins], self.va_values),
                                   va_expectation(va[..., bins:], self.va_values)], dim=-1)}
