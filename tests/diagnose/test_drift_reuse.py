"""Drift's GFREs: given rows, known values taken from the compare stage, everything else refitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from platonic.compare.from_store import compare_store, stored_gfre
from platonic.diagnose.drift import DriftInputError, drift_tables, pair_reconstruction

PAIRS = [("chgnet-0.3.0", "chgnet-r2scan"), ("sevennet-0", "sevennet-mf-0")]


def _embeddings(n: int = 240, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pre = rng.normal(size=(n, 6))
    return {"pre": pre, "ft": pre @ rng.normal(size=(6, 6)) + 0.1 * rng.normal(size=(n, 6)),
            "ref": rng.normal(size=(n, 4))}


def test_rows_select_the_same_atoms_as_slicing_first():
    embeddings = _embeddings()
    rows = np.flatnonzero(np.arange(240) % 3 != 1)
    sliced = pair_reconstruction({m: a[rows] for m, a in embeddings.items()}, "pre", "ft", ["ref"])
    by_rows = pair_reconstruction(embeddings, "pre", "ft", ["ref"], rows=rows)
    pd.testing.assert_frame_equal(sliced, by_rows)
    sub_sliced = pair_reconstruction({m: a[rows] for m, a in embeddings.items()}, "pre", "ft", n_atoms=50,
                                     random_state=4)
    sub_rows = pair_reconstruction(embeddings, "pre", "ft", rows=rows, n_atoms=50, random_state=4)
    pd.testing.assert_frame_equal(sub_sliced, sub_rows)


def test_known_values_are_taken_and_only_the_others_fitted():
    embeddings = _embeddings()
    full = pair_reconstruction(embeddings, "pre", "ft", ["ref"]).set_index(["source", "target"])["gfre"]
    # a sentinel no fit can give (GFRE >= 0) shows which values were taken, not refitted
    known = {("ft", "pre"): -1.0, ("ft", "ref"): -2.0}
    mixed = pair_reconstruction(embeddings, "pre", "ft", ["ref"], known=known).set_index(["source", "target"])["gfre"]
    for pair, value in mixed.items():
        assert value == (known[pair] if pair in known else full[pair])
    # a value for a direction the call does not have is ignored
    extra = pair_reconstruction(embeddings, "pre", "ft", known={("ref", "pre"): -3.0})
    assert (extra["gfre"] >= 0).all()
    with pytest.raises(DriftInputError, match="subsample"):
        pair_reconstruction(embeddings, "pre", "ft", n_atoms=50, known=known)
    with pytest.raises(DriftInputError, match="rows must be"):
        pair_reconstruction(embeddings, "pre", "ft", rows=np.array([0, 240]))


def test_a_non_finite_row_is_refused_only_if_it_is_used():
    embeddings = _embeddings()
    embeddings["ref"] = embeddings["ref"].copy()
    embeddings["ref"][5] = np.nan
    with pytest.raises(DriftInputError, match="ref"):
        pair_reconstruction(embeddings, "pre", "ft", ["ref"])
    kept = np.setdiff1d(np.arange(240), [5])
    assert np.isfinite(pair_reconstruction(embeddings, "pre", "ft", ["ref"], rows=kept)["gfre"]).all()


def test_drift_takes_the_compare_stages_gfres_when_the_rows_are_the_same(real_store):
    store = real_store.store
    models = store.models()
    table = compare_store(store, real_store.unified, models, metrics=["gfre"], spaces=["raw", "unified"])
    known = stored_gfre(store, table)
    assert known is not None and known.rows.size == int(table["rows_used"].iloc[0])
    fitted = drift_tables(store, real_store.unified, pairs=PAIRS, dimers=False).gfre
    reused = drift_tables(store, real_store.unified, pairs=PAIRS, dimers=False, known_gfre=known).gfre
    assert len(fitted) == len(reused) == 2 * 2 * 2 * (1 + 3)  # pairs x spaces x directions x (pair + references)
    pd.testing.assert_frame_equal(fitted.drop(columns="gfre"), reused.drop(columns="gfre"))
    # the same fit on the same rows: the two routes agree to rounding, and the reused ones are compare's own numbers
    assert np.allclose(fitted["gfre"], reused["gfre"], rtol=1e-9, atol=1e-12)
    for row in reused.itertuples():
        assert row.gfre == known.values[row.space, row.source, row.target]
    # values on other rows (here: one atom fewer) are not taken
    other = type(known)(known.rows[1:], {key: -1.0 for key in known.values})
    refitted = drift_tables(store, real_store.unified, pairs=PAIRS[:1], dimers=False, known_gfre=other).gfre
    assert (refitted["gfre"] >= 0).all()


def test_a_subsampled_or_gfre_free_table_gives_nothing_to_reuse(real_store):
    store = real_store.store
    models = ["chgnet-0.3.0", "diep"]
    sub = compare_store(store, real_store.unified, models, metrics=["gfre"], spaces=["raw"], n_atoms=100)
    assert stored_gfre(store, sub) is None
    cka = compare_store(store, real_store.unified, models, metrics=["cka"], spaces=["raw"])
    assert stored_gfre(store, cka) is None
