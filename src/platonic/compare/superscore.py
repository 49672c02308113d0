r"""SuperScore: one number summarising global, local and distributional agreement.

.. math::

    \mathrm{SuperScore} = \tfrac12 \left(\mathrm{Score_{Procrustes}} + \mathrm{Score_{mKNN}}\right)
                          \cdot e^{-\mathrm{Score_{OT}}}

With the Procrustes and mKNN scores in [0, 1] and Score_OT >= 0 it lies in [0, 1];
1 means identical embeddings. Which mKNN score (Jaccard or overlap) went in must be
reported with it.
"""

from __future__ import annotations

import math

from ._validation import MetricInputError


def super_score(procrustes: float, mknn: float, score_ot: float) -> float:
    """Combine a Procrustes score, an mKNN score and a ScoreOT into the SuperScore."""
    for name, value in (("procrustes", procrustes), ("mknn", mknn)):
        if not 0.0 <= value <= 1.0:
            raise MetricInputError(f"{name} must be in [0, 1], got {value!r}")
    # A debiased Sinkhorn divergence is >= 0 up to rounding, so only rounding-sized negatives pass.
    if not (math.isfinite(score_ot) and score_ot > -1e-9):
        raise MetricInputError(f"score_ot must be a finite number >= 0, got {score_ot!r}")
    return 0.5 * (procrustes + mknn) * math.exp(-max(score_ot, 0.0))
