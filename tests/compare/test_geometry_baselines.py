"""Offset/degeneracy measures (closed forms) and the null + control verdict (hand-built tables)."""

import numpy as np
import pandas as pd
import pytest

from platonic.compare.baselines import significance
from platonic.compare.geometry import effective_rank, geometry_table, unified_geometry


def test_effective_rank_closed_forms():
    rng = np.random.default_rng(0)
    # a centred cloud with r equal singular values has erank exactly r
    Q, _ = np.linalg.qr(rng.normal(size=(200, 5)))
    X = (Q - Q.mean(0)) @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    U, _, Vt = np.linalg.svd(X, full_matrices=False)
    equal = U[:, :3] @ Vt[:3]  # singular values 1, 1, 1
    assert effective_rank(np.hstack([equal, np.zeros((200, 4))]) + 7.0) == pytest.approx(3.0, abs=1e-9)
    line = np.outer(rng.normal(size=100), rng.normal(size=6))
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)


def test_offset_measures_and_degeneracy_flag():
    rng = np.random.default_rng(1)
    spread = 0.8 + 0.1 * rng.normal(size=(500, 20))
    row = unified_geometry(spread)
    assert row["mean_cosine"] == pytest.approx(spread.mean())
    assert row["offset_norm"] == pytest.approx(np.linalg.norm(spread.mean(0)))
    assert row["offset_share"] == pytest.approx(np.sum(spread.mean(0) ** 2) / np.mean(np.sum(spread**2, 1)))
    assert row["anchor_sd"] == pytest.approx(spread.std(0).mean())
    assert not row["degenerate"] and row["effective_rank"] > 15
    # a one-element-like cloud: every atom at nearly the same cosines (SD 0.005, as measured for CHGNet)
    collapsed = 0.99 + 0.005 * rng.normal(size=(500, 20))
    flagged = unified_geometry(collapsed)
    assert flagged["degenerate"] and "per-anchor SD" in flagged["reason"]
    table = geometry_table({"spread": spread, "collapsed": collapsed})
    assert table.set_index("model").loc["spread", "max_offset_distance"] == pytest.approx(
        np.linalg.norm(spread.mean(0) - collapsed.mean(0)))


def _table(rows):
    return pd.DataFrame(rows, columns=["model_a", "model_b", "metric", "value", "null_mean", "null_std", "space"])


def test_a_pair_is_meaningful_only_when_it_clears_null_and_control():
    rows = []
    def sym(a, b, metric, value, null=(np.nan, np.nan)):
        rows.append([a, b, metric, value, *null, "unified"])
        rows.append([b, a, metric, value, *null, "unified"])
    sym("x", "y", "cka", 0.60, (0.01, 0.01))   # clears both
    sym("x", "z", "cka", 0.18, (0.01, 0.01))   # clears the null, not the control (x-ctrl 0.20)
    sym("y", "z", "cka", 0.40, (0.38, 0.01))   # clears the control, not the null
    sym("x", "ctrl", "cka", 0.20, (0.01, 0.01))
    sym("y", "ctrl", "cka", 0.35, (0.01, 0.01))
    sym("z", "ctrl", "cka", 0.10, (0.01, 0.01))
    sym("x", "y", "ot", 0.10)                  # no null: the control decides (lower is closer)
    sym("x", "ctrl", "ot", 0.30)
    sym("y", "ctrl", "ot", 0.05)
    rows.append(["x", "y", "gfre", 0.4, np.nan, np.nan, "unified"])
    rows.append(["ctrl", "y", "gfre", 0.6, np.nan, np.nan, "unified"])
    out = significance(_table(rows), controls=["ctrl"]).set_index(["model_a", "model_b", "metric"])
    assert out.loc[("x", "y", "cka"), "control_baseline"] == pytest.approx(0.35)
    assert out.loc[("x", "y", "cka"), "meaningful"]
    assert out.loc[("x", "y", "cka"), "null_z"] == pytest.approx(59.0)
    assert not out.loc[("x", "z", "cka"), "meaningful"] and out.loc[("x", "z", "cka"), "clears_null"]
    assert not out.loc[("y", "z", "cka"), "meaningful"] and out.loc[("y", "z", "cka"), "clears_control"]
    assert out.loc[("x", "y", "ot"), "control_baseline"] == pytest.approx(0.05)
    assert not out.loc[("x", "y", "ot"), "meaningful"]  # y sits closer to the control than to x
    assert pd.isna(out.loc[("x", "y", "ot"), "clears_null"])
    assert out.loc[("x", "y", "gfre"), "control_baseline"] == pytest.approx(0.6)
    assert out.loc[("x", "y", "gfre"), "meaningful"]
    assert pd.isna(out.loc[("x", "ctrl", "cka"), "meaningful"])
    no_control = significance(_table(rows), controls=[])
    assert no_control["meaningful"].isna().all()
