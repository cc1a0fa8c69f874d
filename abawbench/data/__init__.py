"""Datasets: Aff-Wild2 and the external databases, in their native layouts.

Every reader here returns a *sample table*: a pandas DataFrame, one row per image, with
these columns (the contract the loaders and the mixing code rely on):

============  =========  =============================================================
column        dtype      meaning
============  =========  =============================================================
``source``    category   ``affwild2``, ``expw``, ``afew_va`` or ``affectnet``
``video``     category   Aff-Wild2 video / AFEW-VA clip / ExpW or AffectNet image id
``frame``     int32      1-based frame number inside the video (1 for still images)
``path``      str        image path relative to the table's root (``table.attrs["root"]``)
``expr``      int8       expression in Aff-Wild2's order (0 Neutral … 6 Surprise,
                         7 Other in ABAW3+); -1 = no valid label
``valence``   float32    in [-1, 1]; -5 = no valid label
``arousal``   float32    in [-1, 1]; -5 = no valid label
============  =========  =============================================================

Aff-Wild2 frame tables add ``has_crop`` (bool), ``split_expr``/``split_va``/``split_au``
(category: ``train``, ``validation`` or ``""`` when the video has no annotation of that
track), ``shared`` (bool: the video is annotated for both EXPR and VA) and one int8
column per AU (``AU1`` …, -1 = no valid label).
"""

import numpy as np

MISSING_EXPR = -1
MISSING_VA = -5.0


def valid_expr(expr) -> np.ndarray:
    """(N,) bool: the expression label is a class id (>= 0), not the -1 missing marker.

    The one "valid EXPR label" rule of abawbench: the index, the training parts, the
    datasets' masks and the losses all use it.
    """
    return np.asarray(expr) >= 0


def valid_va(valence, arousal) -> np.ndarray:
    """(N,) bool: valence *and* arousal are both in [-1, 1].

    The one "valid VA label" rule of abawbench: -5 (Aff-Wild2's marker), AffectNet's -2,
    NaN or any out-of-range value in either column makes the pair unusable, since the
    VA losses and the CCC need both values.
    """
    v = np.asarray(valence, dtype=np.float64)
    a = np.asarray(arousal, dtype=np.float64)
    return (v >= -1.0) & (v <= 1.0) & (a >= -1.0) & (a <= 1.0)
