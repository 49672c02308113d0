"""The control diagnostic: its summaries on hand-made tables, several controls, and parts that do not apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from platonic.diagnose.control import (
    ControlInputError,
    agreement_summary,
    coherence_summary,
    control_verdict,
    plot_control,
)


def _metrics() -> pd.DataFrame:
    values = {("a", "b"): 0.8, ("a", "c"): 0.6, ("b", "c"): 0.7,
              ("a", "ctl"): 0.2, ("b", "ctl"): 0.3, ("c", "ctl"): 0.1,
              ("a", "ctl2"): 0.35, ("b", "ctl2"): 0.35, ("c", "ctl2"): 0.35}
    rows = []
    for (x, y), value in values.items():
        for first, second in ((x, y), (y, x)):
            rows.append({"space": "unified", "metric": "cka", "model_a": first, "model_b": second, "value": value})
    return pd.DataFrame(rows)


def _coherence() -> pd.DataFrame:
    return pd.DataFrame({"model": ["a", "b", "c", "ctl", "ctl2"], "space": "unified",
                         "silhouette": [0.3, 0.25, 0.2, 0.0, 0.01], "null_mean": 0.0,
                         "z_score": [5.0, 4.0, 3.0, 0.5, np.nan], "p_value": [0.005, 0.005, 0.01, 0.4, np.nan]})


def test_agreement_is_the_mean_over_trained_models_for_each_control():
    agreement = agreement_summary(_metrics(), ["ctl", "ctl2"]).set_index("control")
    assert agreement.loc["ctl", "control_vs_trained"] == pytest.approx(0.2)
    assert agreement.loc["ctl", "trained_vs_trained"] == pytest.approx(0.7)
    assert agreement.loc["ctl", "ratio"] == pytest.approx(0.2 / 0.7)
    assert agreement.loc["ctl2", "ratio"] == pytest.approx(0.35 / 0.7)
    assert (agreement["n_trained"] == 3).all()


def test_verdict_for_two_controls():
    coherence = coherence_summary(_coherence(), ["ctl", "ctl2"])
    assert coherence.set_index("model")["control"].to_dict() == {"a": False, "b": False, "c": False, "ctl": True,
                                                                  "ctl2": True}
    verdict = control_verdict(coherence, agreement_summary(_metrics(), ["ctl", "ctl2"])).set_index("control")
    assert bool(verdict.loc["ctl", "coherence_at_chance"])
    assert "at chance (z = 0.50, p = 0.400; trained z >= 3.00)" in verdict.loc["ctl", "verdict"]
    assert "0.29x" in verdict.loc["ctl", "verdict"]
    assert "not computable" in verdict.loc["ctl2", "verdict"] and "0.50x" in verdict.loc["ctl2", "verdict"]


def test_verdict_without_coherence_states_the_reason():
    metrics = _metrics()
    agreement = agreement_summary(metrics[(metrics.model_a != "ctl2") & (metrics.model_b != "ctl2")], ["ctl"])
    verdict = control_verdict(None, agreement, skipped={"coherence": "one element in the dataset"})
    assert verdict["control"].tolist() == ["ctl"]
    assert np.isnan(verdict["coherence_z"].iloc[0])
    assert "group coherence skipped: one element in the dataset" in verdict["verdict"].iloc[0]
    assert verdict["mean_similarity_ratio"].iloc[0] == pytest.approx(0.2 / 0.7)
    figure = plot_control(None, agreement)
    assert len(figure.axes) == 2


def test_missing_inputs_are_errors_naming_what_lacks():
    with pytest.raises(ControlInputError, match="need two trained models"):
        agreement_summary(_metrics()[lambda t: t.model_a.isin(["a", "ctl"]) & t.model_b.isin(["a", "ctl"])], ["ctl"])
    with pytest.raises(ControlInputError, match="no unified-space coherence for the control"):
        coherence_summary(_coherence(), ["other"])
