"""The results layout: one place for every path a stage writes and the report reads."""

from __future__ import annotations

from pathlib import Path

from platonic.results import Analyse, Diagnose, Results


class _Store:
    root = Path("/data/study/store-x")


def test_layout_from_a_store_or_its_folder():
    from_store, from_folder = Results.of(_Store()), Results.of("/data/study/store-x")
    assert from_store == from_folder and from_store.root == Path("/data/study/store-x/results")
    assert from_store.metrics == from_store.root / "metrics.csv"
    assert from_store.analyse / Analyse.GROUP_COHERENCE == from_store.root / "analyse" / "group_coherence.csv"
    assert from_store.diagnose / Diagnose.drift("norm_ratio", ".png") == from_store.root / "diagnose" / "drift_norm_ratio.png"
    # a model name that is a path (mace:/models/x.model) gives one file name, not folders
    assert from_store.unified_matrix("mace:/models/x.model").parent == from_store.unified
    assert from_store.heatmap("cka", "raw").name == "heatmap_cka_raw.png"


def test_names_are_unique_within_a_folder():
    for group in (Analyse, Diagnose):
        names = [v for k, v in vars(group).items() if k.isupper()]
        assert len(names) == len(set(names))
