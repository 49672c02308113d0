r"""Which pairs in a metric table mean something: each score against its null and the control baseline.

A score of two trained models is read against two references:

* its **permutation null** (``null_mean``, ``null_std``: rows of B shuffled, see
  :mod:`platonic.compare.nulls`): it clears the null when
  :math:`z = (v - \mu_0)/\sigma_0 > z_{\min}` (default 3) in the better direction. OT and the
  reconstruction errors have no permutation null in the table; for them this test is "not
  applicable" and only the control decides;
* the **control baseline**: the best score either model reaches against any random-weight control
  model (cards with ``trained = false``). For a symmetric metric and pair (a, b) it is
  :math:`\max_c \max(v(a, c), v(b, c))` (for OT, where lower is closer, the min); for an
  asymmetric error X -> Y (GFRE, GFRD, LFRE) it is :math:`\min_c v(c \to Y)`, how well a random
  network already reconstructs Y. The pair clears the control when it is strictly better.

``meaningful`` is true only when both tests pass (the null where it applies). Pairs with a
control in them, the diagonal, and tables without a control model get ``<NA>``: nothing to
compare against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: metrics where a larger value means more alike
HIGHER_IS_CLOSER = ("procrustes", "cka", "mknn", "superscore")
#: metrics where a smaller value means more alike (a distance or an error)
LOWER_IS_CLOSER = ("ot", "gfre", "gfrd", "lfre")
ASYMMETRIC = ("gfre", "gfrd", "lfre")


def significance(table: pd.DataFrame, controls: Sequence[str], z_min: float = 3.0) -> pd.DataFrame:
    """``table`` (from :func:`platonic.compare.metric_matrix`) with the columns ``null_z``,
    ``clears_null``, ``control_baseline``, ``clears_control`` and ``meaningful`` added."""
    out = table.copy()
    controls = [c for c in controls if c in set(out["model_a"]) | set(out["model_b"])]
    sign = np.where(out["metric"].isin(LOWER_IS_CLOSER), -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = sign * (out["value"] - out["null_mean"]) / out["null_std"]
    z = np.where(out["null_std"].to_numpy() == 0.0, np.sign(sign * (out["value"] - out["null_mean"])) * np.inf, z)
    out["null_z"] = z
    has_null = out["null_mean"].notna().to_numpy()
    clears_null = pd.array(np.where(has_null, out["null_z"] > z_min, False), dtype="boolean")
    clears_null[~has_null] = pd.NA
    out["clears_null"] = clears_null

    values = out.set_index(["space", "metric", "model_a", "model_b"])["value"]
    values = values[~values.index.duplicated()]
    baseline = np.full(len(out), np.nan)
    if controls:
        for i, (space, metric, a, b) in enumerate(zip(out["space"], out["metric"], out["model_a"], out["model_b"])):
            if a == b or a in controls or b in controls:
                continue
            if metric in ASYMMETRIC:
                keys = [(space, metric, c, b) for c in controls]
            else:
                keys = [(space, metric, x, c) for x in (a, b) for c in controls]
            found = [values[key] for key in keys if key in values.index]
            if found:
                baseline[i] = min(found) if metric in LOWER_IS_CLOSER else max(found)
    out["control_baseline"] = baseline
    has_baseline = np.isfinite(baseline)
    clears_control = pd.array(sign * (out["value"].to_numpy() - baseline) > 0, dtype="boolean")
    clears_control[~has_baseline] = pd.NA
    out["clears_control"] = clears_control
    null_ok = out["clears_null"].fillna(True).to_numpy(dtype=bool)  # no null: the control decides
    meaningful = pd.array(clears_control.fillna(False).to_numpy(dtype=bool) & null_ok, dtype="boolean")
    meaningful[~has_baseline] = pd.NA
    out["meaningful"] = meaningful
    return out
