"""The reference method's networks, on timm backbones.

* :mod:`abawbench.models.multitask`: the multitask CNN (backbone, global pooling, one
  head per output; VA as 2×20 bin logits decoded by expectation);
* :mod:`abawbench.models.temporal`: the bidirectional GRU per head over the CNN's
  per-frame head features (the CNN+GRU stages);
* :mod:`abawbench.models.weights`: backbone weights from a local file, never a download.

The CNN → GRU seam is :meth:`MultitaskCNN.forward_features`: each head's 128-d feature
per frame.
"""

from abawbench.models.multitask import (EXPR_CLASSES, HEADS, VA_BIN_VALUE_KINDS, MultitaskCNN, TaskHead,
                                        va_bin_edges, va_bin_values, va_expectation)
from abawbench.models.temporal import GruHead, MultitaskGRU
from abawbench.models.weights import WeightsError, load_backbone_weights

__all__ = ["EXPR_CLASSES", "GruHead", "HEADS", "MultitaskGRU", "VA_BIN_VALUE_KINDS", "MultitaskCNN", "TaskHead", "va_bin_edges",
           "va_bin_values", "va_expectation", "WeightsError", "load_backbone_weights"]
