r"""Where each model's unified cloud sits (its offset) and whether it has collapsed (degeneracy).

For a model's unified matrix :math:`Z \in \mathbb{R}^{N \times K}` (row i = the cosines of atom i
to the K anchors), with mean row :math:`m = \frac1N \sum_i z_i`:

* **mean cosine** :math:`\bar z = \frac{1}{NK}\sum_{ik} Z_{ik}`, the average cosine to an anchor;
* **offset norm** :math:`\|m\|`, and **offset share** :math:`\|m\|^2 / \frac1N\sum_i \|z_i\|^2`,
  the fraction of the cloud's second moment that is its offset (1 = every atom at the same point).
  Un-centred OT between two models grows with :math:`\|m_a - m_b\|^2` whatever their shapes
  (:func:`platonic.compare.matrix.uncentred_from_centred`): the offset is reported so that this
  can be read off, and OT/SuperScore are headlined on the centred clouds;
* **per-anchor spread** :math:`s_k = \mathrm{std}_i(Z_{ik})` (population std over atoms of cosine
  column k); ``anchor_sd`` is its mean over anchors, ``anchor_sd_min`` its minimum;
* **effective rank** of the centred cloud :math:`Z_c = Z - \mathbf 1 m^\top` (Roy & Vetterli 2007):
  with singular values :math:`\sigma_j` of :math:`Z_c` and :math:`p_j = \sigma_j / \sum_l \sigma_l`,
  :math:`\mathrm{erank} = \exp(-\sum_j p_j \log p_j)`, between 1 (one direction) and K.

**Degenerate** when ``anchor_sd < 0.02`` or ``erank < 2``. The 0.02 threshold sits between what was
measured for CHGNet 0.3.0 with K = 100 DIRECT anchors: 0.083 on MP-20 (mean cosine 0.836) and 0.005
on a one-element dataset (mean cosine 0.991), where every atom has nearly the same cosines to
every anchor and mKNN, OT, arithmetic and intrinsic dimension measure noise. An erank below 2 means
the centred cloud is essentially a line. Both thresholds are parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._validation import check_matrix

ANCHOR_SD_THRESHOLD = 0.02
ERANK_THRESHOLD = 2.0


def effective_rank(X: np.ndarray) -> float:
    """Roy & Vetterli's effective rank of the column-centred ``X`` (see module docstring)."""
    X = check_matrix(X, "X", dtypes=(np.float64, np.float32))
    singular = np.linalg.svd(np.asarray(X, dtype=np.float64) - X.mean(axis=0, dtype=np.float64), compute_uv=False)
    total = singular.sum()
    if total <= 0.0:
        return 1.0
    p = singular[singular > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def unified_geometry(Z: np.ndarray, anchor_sd_threshold: float = ANCHOR_SD_THRESHOLD,
                     erank_threshold: float = ERANK_THRESHOLD) -> dict[str, float | bool | str]:
    """Offset and degeneracy measures of one unified cloud (see module docstring)."""
    Z = np.asarray(check_matrix(Z, "Z", dtypes=(np.float64, np.float32)), dtype=np.float64)
    mean_row = Z.mean(axis=0)
    second_moment = float((Z**2).sum(axis=1).mean())
    column_sd = Z.std(axis=0)
    erank = effective_rank(Z)
    reasons = []
    if column_sd.mean() < anchor_sd_threshold:
        reasons.append(f"mean per-anchor SD {column_sd.mean():.3g} < {anchor_sd_threshold}")
    if erank < erank_threshold:
        reasons.append(f"effective rank {erank:.3g} < {erank_threshold}")
    return {
        "n_atoms": int(Z.shape[0]),
        "k": int(Z.shape[1]),
        "mean_cosine": float(Z.mean()),
        "offset_norm": float(np.linalg.norm(mean_row)),
        "offset_share": float(mean_row @ mean_row / second_moment) if second_moment > 0 else float("nan"),
        "anchor_sd": float(column_sd.mean()),
        "anchor_sd_min": float(column_sd.min()),
        "effective_rank": erank,
        "degenerate": bool(reasons),
        "reason": "; ".join(reasons),
    }


def geometry_table(unified: Mapping[str, np.ndarray], **thresholds: float) -> pd.DataFrame:
    """:func:`unified_geometry` for every model, one row each, plus the offset distance to the
    farthest other model (``max_offset_distance``), what un-centred OT grows with."""
    rows = [{"model": name} | unified_geometry(Z, **thresholds) for name, Z in unified.items()]
    means = {name: np.asarray(Z, dtype=np.float64).mean(axis=0) for name, Z in unified.items()}
    for row in rows:
        row["max_offset_distance"] = max((float(np.linalg.norm(means[row["model"]] - m))
                                          for name, m in means.items() if name != row["model"]), default=float("nan"))
    return pd.DataFrame(rows)
