"""The random-weight control, quantified against the trained models.

A model with random weights (same architecture, no training) must show no chemical organisation and
must agree with trained models no more than chance. Two measures, from tables other stages wrote:

* **group coherence** (:mod:`platonic.analyse.elements`): the silhouette of element means labelled by
  periodic group, as a z-score against its label-permutation null and the permutation p-value. A
  trained model should be far above the null; the control near it (|z| small, p large).
* **agreement** (:mod:`platonic.compare`): for each similarity metric (higher = more alike: Procrustes,
  CKA, mKNN, SuperScore), the mean over trained models of control-vs-trained, against the mean over
  pairs of distinct trained models. ``ratio`` = control / trained; near 1 would mean the control
  is as close to the trained models as they are to each other.

``verdict`` states, per control, whether its coherence is at chance (p > ``alpha``) and how its
agreement compares, so the reading does not depend on eyeballing a heatmap. Controls are the
models whose card says ``trained = false`` (any number of them). Either measure may be
unavailable (no chemistry analysis, a one-element dataset, too few trained models): the other
is still reported and the verdict names what was skipped and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from platonic.errors import PlatonicError

SIMILARITIES = ("procrustes", "cka", "mknn", "superscore")


class ControlInputError(PlatonicError, ValueError):
    """The tables lack what the control comparison needs."""


def coherence_summary(coherence: pd.DataFrame, controls: Sequence[str], space: str = "unified") -> pd.DataFrame:
    """One row per model: silhouette, z-score and p-value of its group coherence, control flagged."""
    needed = {"model", "space", "silhouette", "z_score", "p_value"}
    if not needed <= set(coherence.columns):
        raise ControlInputError(f"the coherence table lacks {sorted(needed - set(coherence.columns))}")
    part = coherence[coherence.space == space][["model", "silhouette", "null_mean", "z_score", "p_value"]].copy()
    missing = sorted(set(controls) - set(part["model"]))
    if missing:
        raise ControlInputError(f"no {space}-space coherence for the control(s) {missing}")
    part.insert(1, "control", part["model"].isin(controls))
    return part.reset_index(drop=True)


def agreement_summary(metrics: pd.DataFrame, controls: Sequence[str], space: str = "unified") -> pd.DataFrame:
    """Per control and similarity metric: mean similarity to trained models vs among trained models."""
    table = metrics[(metrics.space == space) & (metrics.model_a != metrics.model_b)
                    & metrics.metric.isin(SIMILARITIES)]
    models = set(table["model_a"]) | set(table["model_b"])
    trained = sorted(models - set(controls))
    if len(trained) < 2:
        raise ControlInputError(f"need two trained models in the {space}-space metrics, have {trained}")
    rows = []
    for control in controls:
        for metric, part in table.groupby("metric"):
            to_control = part[(part.model_a == control) & part.model_b.isin(trained)]["value"]
            among = part[part.model_a.isin(trained) & part.model_b.isin(trained)]["value"]
            if to_control.empty or among.empty:
                continue
            rows.append({"control": control, "metric": metric, "space": space,
                         "control_vs_trained": float(to_control.mean()), "trained_vs_trained": float(among.mean()),
                         "ratio": float(to_control.mean() / among.mean()) if among.mean() else np.nan,
                         "n_trained": len(trained)})
    if not rows:
        raise ControlInputError(f"no {space}-space similarity between the control(s) {list(controls)} and trained models")
    return pd.DataFrame(rows)


def control_verdict(coherence: pd.DataFrame | None, agreement: pd.DataFrame | None, alpha: float = 0.05,
                    controls: Sequence[str] | None = None, skipped: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One line per control: is its chemistry at chance, and how far is it from the trained models.

    Either table may be None (not computable on this data): ``skipped`` maps ``"coherence"`` /
    ``"agreement"`` to the reason, which the verdict states. ``controls`` default: the controls
    flagged in ``coherence``, else those of ``agreement``.
    """
    skipped = dict(skipped or {})
    if controls is None:
        source = coherence[coherence.control]["model"] if coherence is not None else agreement["control"]
        controls = list(dict.fromkeys(source))
    rows = []
    for control in controls:
        row: dict[str, object] = {"control": control, "coherence_z": np.nan, "coherence_p": np.nan,
                                  "coherence_at_chance": None, "mean_similarity_ratio": np.nan}
        parts = []
        if coherence is not None and control in set(coherence["model"]):
            own = coherence[coherence.model == control].iloc[0]
            trained = coherence[~coherence.control]
            if np.isfinite(own["p_value"]):
                at_chance = bool(own["p_value"] > alpha)
                row.update(coherence_z=own["z_score"], coherence_p=own["p_value"],
                           trained_coherence_z_min=trained["z_score"].min(),
                           trained_coherence_p_max=trained["p_value"].max(), coherence_at_chance=at_chance)
                parts.append(f"group coherence {'at' if at_chance else 'ABOVE'} chance (z = {own['z_score']:.2f}, "
                             f"p = {own['p_value']:.3f}; trained z >= {trained['z_score'].min():.2f})")
            else:
                parts.append("group coherence not computable on this sample")
        else:
            parts.append(f"group coherence skipped: {skipped.get('coherence', 'no coherence row for this control')}")
        if agreement is not None and control in set(agreement["control"]):
            ratio = float(agreement[agreement.control == control]["ratio"].mean())
            row["mean_similarity_ratio"] = ratio
            parts.append(f"similarity to trained models {ratio:.2f}x their similarity to each other")
        else:
            parts.append(f"agreement skipped: {skipped.get('agreement', 'no similarity row for this control')}")
        rows.append({**row, "verdict": "; ".join(parts)})
    return pd.DataFrame(rows)


def plot_control(coherence: pd.DataFrame | None, agreement: pd.DataFrame | None):
    """Coherence z-score per model (control grey) and control-vs-trained similarity per metric;
    a panel whose table is None says it was skipped."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6))
    left, right = figure.subplots(1, 2)
    if coherence is not None:
        colours = ["#bbbbbb" if c else "#1f77b4" for c in coherence["control"]]
        left.bar(coherence["model"], coherence["z_score"], color=colours)
        left.axhline(0, color="k", lw=0.8)
        left.set_ylabel("group coherence z vs permutation null")
        left.tick_params(axis="x", rotation=45, labelsize=8)
    else:
        left.text(0.5, 0.5, "group coherence skipped", ha="center", va="center", transform=left.transAxes)
        left.set_axis_off()
    if agreement is not None:
        metrics = list(dict.fromkeys(agreement["metric"]))
        x = np.arange(len(metrics))
        controls = list(dict.fromkeys(agreement["control"]))
        width = 0.8 / (1 + len(controls))
        among = agreement.groupby("metric")["trained_vs_trained"].first().reindex(metrics)
        right.bar(x - 0.4 + width / 2, among, width, label="trained vs trained", color="#1f77b4")
        for index, (control, part) in enumerate(agreement.groupby("control", sort=False)):
            right.bar(x - 0.4 + width * (index + 1.5), part.set_index("metric")["control_vs_trained"].reindex(metrics),
                      width, label=f"{control} vs trained", color=f"{0.55 + 0.15 * index:.2f}")
        right.set_xticks(x, metrics)
        right.set_ylabel("mean similarity (unified space)")
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "agreement skipped", ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
    figure.tight_layout()
    return figure
