"""The writers: data and Figures in, files under the results names out; computing writes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from platonic.compare import metric_matrix
from platonic.compare.from_store import heatmap_figures
from platonic.plotting import subplots
from platonic.results import Results, heatmap_name
from platonic.study.writers import write_files, write_heatmaps


def test_write_files_writes_csv_parquet_and_png_and_returns_their_paths(tmp_path):
    table = pd.DataFrame({"model": ["a", "b"], "value": [0.25, np.nan]})
    figure, ax = subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    paths = write_files(tmp_path / "new", {"t": ("t.csv", table), "p": ("p.parquet", table)}, {"f": ("f.png", figure)})
    assert list(paths) == ["t", "p", "f"] and all(p.parent == tmp_path / "new" for p in paths.values())
    pd.testing.assert_frame_equal(pd.read_csv(paths["t"]), table)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["p"]), table)
    assert paths["f"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmaps_are_figures_until_the_writer_names_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    table = metric_matrix({m: rng.normal(size=(60, 4)) for m in "abc"}, ("procrustes", "cka"), space="raw")
    figures = heatmap_figures(table)
    assert sorted(figures) == [("cka", "raw"), ("procrustes", "raw")]
    assert all(isinstance(f, Figure) for f in figures.values()) and list(tmp_path.iterdir()) == []
    out = Results.of(tmp_path).figures
    written = write_heatmaps(figures, out)
    assert sorted(p.name for p in written) == sorted(heatmap_name(m, s) for m, s in figures)
    assert written[0].parent == out
