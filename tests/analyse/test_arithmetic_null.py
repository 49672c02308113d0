"""The arithmetic nulls: closed-form cases, an independent loop, and the offset artefact they expose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from platonic.analyse.arithmetic import EmbeddingArithmeticError
from platonic.analyse.arithmetic_null import (
    NULL_COLUMNS,
    arithmetic_null,
    formula_units_per_structure,
    matched_vs_mismatched,
    stitched_random_product,
    structure_vectors,
)


def test_matched_vs_mismatched_closed_forms():
    perfect = matched_vs_mismatched(np.ones(4), np.zeros((4, 9)))
    assert perfect["mean_rank"] == 1 and perfect["top1"] == 1 and perfect["margin"] == 1
    assert perfect["chance_rank"] == 5.5 and perfect["chance_top1"] == pytest.approx(0.1)
    worst = matched_vs_mismatched(np.zeros(3), np.ones((3, 4)))
    assert worst["mean_rank"] == 5 and worst["top1"] == 0
    tied = matched_vs_mismatched(np.ones(2), np.ones((2, 3)))  # ties count half: rank 1 + 3/2
    assert tied["mean_rank"] == 2.5 and tied["top1"] == 0 and tied["margin"] == 0
    # matched and mismatched drawn from one distribution: rank at chance
    rng = np.random.default_rng(0)
    chance = matched_vs_mismatched(rng.normal(size=20000), rng.normal(size=(20000, 9)))
    assert chance["mean_rank"] == pytest.approx(5.5, abs=0.05)
    assert chance["top1"] == pytest.approx(0.1, abs=0.01)
    with pytest.raises(EmbeddingArithmeticError, match="finite"):
        matched_vs_mismatched(np.array([np.nan]), np.zeros((1, 2)))
    with pytest.raises(EmbeddingArithmeticError, match="shape|must be"):
        matched_vs_mismatched(np.ones(3), np.zeros((2, 2)))


def _synthetic(n_structures=60, k=12, seed=0):
    """Structures of 2-5 atoms with formulas, and a reference unified matrix."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 6, size=n_structures)
    formulas = {2: "NaCl", 3: "TiO2", 4: "Cu", 5: "BaTiO3"}
    table = pd.DataFrame({
        "row": np.arange(sizes.sum()),
        "structure_index": np.repeat(np.arange(n_structures), sizes),
        "formula": np.repeat([formulas[s] for s in sizes], sizes),
    })
    return table, rng.normal(size=(sizes.sum(), k)), rng


def test_formula_units_and_structure_vectors_against_a_loop():
    table, z, _ = _synthetic()
    units = formula_units_per_structure(table)
    atoms_per_unit = {"NaCl": 2, "TiO2": 3, "Cu": 1, "BaTiO3": 5}
    offsets = np.r_[np.flatnonzero(np.r_[True, np.diff(table["structure_index"]) != 0]), len(table)]
    centre = z.mean(axis=0)
    for basis in ("material", "formula_unit"):
        got = structure_vectors(z, offsets, units, basis, centre)
        for s in range(len(offsets) - 1):
            atoms = z[offsets[s]:offsets[s + 1]] - centre
            formula = table["formula"].iloc[offsets[s]]
            n_units = len(atoms) / atoms_per_unit[formula]
            assert units[s] == n_units
            expected = atoms.mean(axis=0) if basis == "material" else atoms.sum(axis=0) / n_units
            np.testing.assert_allclose(got[s], expected)


def test_identical_model_is_retrieved_and_an_unrelated_one_is_at_chance():
    table, z, rng = _synthetic()
    unified = {"ref": z, "same": z.copy(), "unrelated": rng.normal(size=z.shape)}
    null = arithmetic_null(unified, table, "ref", n_queries=300, n_candidates=10, random_state=1)
    assert list(null.columns) == NULL_COLUMNS
    assert len(null) == 4 * 2 * 2 * 3  # cases x bases x centrings x models
    same = null[null.model == "same"]
    assert (same["top1"] == 1).all() and (same["mean_rank"] == 1).all()
    np.testing.assert_allclose(same["matched"], 1.0)
    unrelated = null[(null.model == "unrelated") & (null.case != "stitched")]
    assert unrelated["mean_rank"].between(4.5, 6.5).all(), unrelated[["case", "mean_rank"]]
    assert unrelated["margin"].abs().max() < 0.1


def test_a_common_offset_hides_matching_until_centred():
    """The issue's artefact: a large shared component makes every c-sim ~1, matched or not."""
    table, z, _ = _synthetic()
    offset = 30.0 * np.ones(z.shape[1])
    unified = {"ref": z + offset, "shifted": z + offset + 0.3 * np.random.default_rng(5).normal(size=z.shape)}
    null = arithmetic_null(unified, table, "ref", n_queries=200, n_candidates=10, random_state=2).set_index(
        ["case", "basis", "centring", "model"])
    raw = null.loc[("material", "material", "none", "shifted")]
    centred = null.loc[("material", "material", "dataset", "shifted")]
    assert raw["matched"] > 0.99 and raw["mismatched"] > 0.99 and raw["margin"] < 0.01
    assert centred["margin"] > 0.5 and centred["top1"] > 0.9


def test_material_matched_mean_equals_an_independent_loop():
    table, z, rng = _synthetic(n_structures=30)
    other = z @ rng.normal(size=(z.shape[1], z.shape[1]))
    null = arithmetic_null({"ref": z, "m": other}, table, "ref", n_queries=500, n_candidates=5,
                           bases=["material"], centrings=["none"])
    row = null[(null.case == "material") & (null.model == "m")].iloc[0]
    cosines = []
    for _, atoms in table.groupby("structure_index"):
        a, b = other[atoms["row"]].mean(axis=0), z[atoms["row"]].mean(axis=0)
        cosines.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert row["matched"] == pytest.approx(np.mean(cosines), abs=1e-12)
    assert row["n_queries"] == 30


def test_rejected_structures_are_dropped_and_small_stores_refused():
    table, z, _ = _synthetic(n_structures=30)
    with_nan = z.copy()
    with_nan[:2] = np.nan  # structure 0 (at least 2 atoms)
    null = arithmetic_null({"ref": z, "m": with_nan}, table, "ref", n_candidates=5)
    assert (null["n_structures"] == 29).all()
    assert (arithmetic_null({"ref": z}, table, "ref", n_candidates=40)["n_candidates"] == 30).all()
    from platonic.errors import NotApplicableError

    small = table[table["structure_index"] < 3]
    with pytest.raises(NotApplicableError, match="at least 4 structures"):
        arithmetic_null({"ref": z[: len(small)]}, small, "ref")
    with pytest.raises(EmbeddingArithmeticError, match="no unified matrix"):
        arithmetic_null({"ref": z}, table, "ref", models=["x"])


def test_stitched_random_product_closed_form():
    reactants = [np.array([1.0, 0.0]), np.array([0.0, 1.0])]
    reference_product = np.array([2.0, 2.0])  # reaction vector (1, 1)
    # a product equal to the reference's: cosine 1, ranked first against worse products
    result = stitched_random_product(reactants, reference_product, reference_product,
                                     np.array([[1.0, 3.0], [4.0, 1.0], [2.0, 1.0]]))
    assert result["c_sim"] == pytest.approx(1.0)
    assert result["rank"] == 1 and result["n_random"] == 3
    # stitched vectors (0, 2), (3, 0), (1, 0) against (1, 1): all at 45 degrees
    assert result["null_mean"] == pytest.approx(np.cos(np.pi / 4))
    assert result["null_max"] == pytest.approx(np.cos(np.pi / 4))


def test_polymorph_differences_against_a_loop_centring_invariant_and_absent_pairs_stated():
    table, z, rng = _synthetic(n_structures=30)
    other = z @ rng.normal(size=(z.shape[1], z.shape[1]))
    null = arithmetic_null({"ref": z, "m": other, "same": z.copy()}, table, "ref", n_queries=500,
                           n_candidates=5)
    poly = null[null.case == "polymorph"].set_index(["basis", "centring", "model"])
    assert (poly.loc[(slice(None), slice(None), "same"), "mean_rank"] == 1).all()
    # composition cancels in a same-formula difference, and so does the centre
    for basis in ("material", "formula_unit"):
        for column in ("matched", "mismatched", "mean_rank"):
            assert poly.loc[(basis, "none", "m"), column] == pytest.approx(poly.loc[(basis, "dataset", "m"), column],
                                                                            abs=1e-9)
    # matched mean over every same-formula pair, by an independent loop over structures
    vectors = {s: (other[a["row"]].mean(axis=0), z[a["row"]].mean(axis=0), a["formula"].iloc[0])
               for s, a in table.groupby("structure_index")}
    cosines = []
    for s in vectors:
        for t in vectors:
            if s < t and vectors[s][2] == vectors[t][2]:
                d_m, d_ref = vectors[s][0] - vectors[t][0], vectors[s][1] - vectors[t][1]
                cosines.append(d_m @ d_ref / np.linalg.norm(d_m) / np.linalg.norm(d_ref))
    row = poly.loc[("material", "none", "m")]
    assert row["n_queries"] == len(cosines) and row["matched"] == pytest.approx(np.mean(cosines), abs=1e-12)

    unique = table.assign(formula="H" + (table["structure_index"] + 1).astype(str))  # no two share a formula
    absent = arithmetic_null({"ref": z, "m": other}, unique, "ref", n_candidates=5)
    absent = absent[absent.case == "polymorph"]
    assert len(absent) == 8 and (absent["n_queries"] == 0).all() and absent["matched"].isna().all()
