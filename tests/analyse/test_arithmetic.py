"""Embedding arithmetic: closed-form vector identities, and real models through a UnifiedSpace.

The real tests use the shared ``real_store`` (48 MP-20 structures, K = 20 DIRECT anchors) and
three of its models: CHGNet 0.3.0 (invariant message passing), SevenNet-0 (equivariant) and
the random-weight MACE control.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from scipy.spatial.transform import Rotation

from platonic.analyse.arithmetic import (
    EmbeddingArithmeticError,
    Material,
    UnifiedSpace,
    arithmetic_frame,
    arithmetic_tables,
    cosine_similarity,
    difference,
    formula_unit_vector,
    material,
    material_vector,
    plot_arithmetic,
    reaction,
    reaction_vector,
    wide_table,
)
from platonic.analyse.reaction import CompositionMismatchError, UnbalancedReactionError, parse_reaction
from platonic.datasets import case_study
from platonic.study.writers import write_arithmetic

MODELS = ["chgnet-0.3.0", "sevennet-0", "mace-dummy"]
REFERENCE = "chgnet-0.3.0"


# ---------------------------------------------------------------- closed form


def test_material_and_formula_unit_vectors():
    z = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, -0.5]])
    np.testing.assert_allclose(material_vector(z), [0.5, 0.25])
    # 4 atoms holding 2 formula units: one unit is half the cell's sum = 2 x the mean.
    np.testing.assert_allclose(formula_unit_vector(z, 2), [1.0, 0.5])
    with pytest.raises(EmbeddingArithmeticError, match="positive"):
        formula_unit_vector(z, 0)
    with pytest.raises(EmbeddingArithmeticError, match="NaN"):
        material_vector(np.array([[np.nan, 1.0]]))
    with pytest.raises(EmbeddingArithmeticError, match="shape"):
        material_vector(np.zeros((0, 3)))


def test_cosine_similarity_closed_form():
    assert cosine_similarity([1, 0], [0, 3]) == pytest.approx(0.0)
    assert cosine_similarity([1, 2], [2, 4]) == pytest.approx(1.0)
    assert cosine_similarity([1, 2], [-3, -6]) == pytest.approx(-1.0)
    assert cosine_similarity([1, 1], [1, 0]) == pytest.approx(np.sqrt(0.5))
    assert np.isnan(cosine_similarity([0, 0], [1, 0]))
    with pytest.raises(EmbeddingArithmeticError, match="shapes"):
        cosine_similarity([1, 0], [1, 0, 0])


def test_reaction_vector_closed_form_and_stitching():
    water = parse_reaction("2 H2 + O2 -> 2 H2O")
    one = {"H2": np.array([1.0, 0.0]), "O2": np.array([0.0, 1.0]), "H2O": np.array([2.0, 3.0])}
    two = {"H2": np.array([5.0, 5.0]), "O2": np.array([7.0, 7.0]), "H2O": np.array([-1.0, 1.0])}
    np.testing.assert_allclose(reaction_vector(water, one, one), [2 * 2 - 2 * 1, 2 * 3 - 1])
    # Stitched: reactants of `one`, products of `two`.
    np.testing.assert_allclose(reaction_vector(water, one, two), [2 * -1 - 2 * 1, 2 * 1 - 1])
    same = parse_reaction("TiO2 -> TiO2")
    np.testing.assert_allclose(reaction_vector(same, {"TiO2": np.ones(3)}, {"TiO2": np.ones(3)}), np.zeros(3))
    with pytest.raises(EmbeddingArithmeticError, match="no vector for 'O2'"):
        reaction_vector(water, {"H2": np.ones(2)}, one)


def test_purely_compositional_embeddings_give_a_zero_reaction_per_formula_unit():
    """With one fixed vector per element, a balanced reaction conserves atoms, so z_React = 0."""
    rng = np.random.default_rng(1)
    element_vectors = {symbol: rng.normal(size=6) for symbol in ("Ba", "Ti", "O")}
    reaction_ = parse_reaction("BaO + TiO2 -> BaTiO3")
    cells = {"BaO": ["Ba", "O"] * 4, "TiO2": ["Ti", "O", "O"] * 2, "BaTiO3": ["Ba", "Ti", "O", "O", "O"]}
    units = {"BaO": 4, "TiO2": 2, "BaTiO3": 1}
    vectors = {formula: formula_unit_vector(np.array([element_vectors[s] for s in symbols]), units[formula])
               for formula, symbols in cells.items()}
    np.testing.assert_allclose(reaction_vector(reaction_, vectors, vectors), np.zeros(6), atol=1e-12)


# ---------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def space(real_store) -> UnifiedSpace:
    return UnifiedSpace.from_store(real_store.store, real_store.anchors, MODELS, catalogue=real_store.dataset)


def _independent_unified(real_store, model: str, raw: np.ndarray) -> np.ndarray:
    """Cosines to the anchors, computed here from the stored anchor embeddings."""
    anchors = real_store.raw(model)[real_store.anchors["row"].to_numpy()].astype(np.float64)
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    raw = raw.astype(np.float64)
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)) @ anchors.T


def test_space_reproduces_the_projected_store(space, real_store):
    """The space's transforms are those of `platonic project`, and a fresh embedding of a
    stored structure lands on its stored unified rows."""
    assert space.models == MODELS and space.n_anchors == 20
    offsets = real_store.dataset.atom_offsets
    for model in MODELS:
        z_store = real_store.z(model)
        np.testing.assert_allclose(space.transforms[model].transform(real_store.raw(model)), z_store, atol=1e-6)
        fresh = space.embed([real_store.dataset.structures[3]], model)[0]
        np.testing.assert_allclose(fresh, z_store[offsets[3] : offsets[4]], atol=1e-4)


def test_material_against_an_independent_computation(space, real_store):
    table = material(space, "mp-1221227", MODELS, reference=REFERENCE)
    atoms = case_study("mp-1221227")
    vectors = {}
    for model in MODELS:
        raw = space.model(model).embed([atoms])[0]
        vectors[model] = _independent_unified(real_store, model, raw).mean(axis=0)
    for row in table.itertuples():
        vector, reference = vectors[row.model], vectors[REFERENCE]
        assert row.l == pytest.approx(np.sqrt(vector @ vector), rel=1e-5)
        expected = vector @ reference / np.sqrt((vector @ vector) * (reference @ reference))
        assert row.c_sim == pytest.approx(expected, abs=1e-5)
    assert table.set_index("model").loc[REFERENCE, "c_sim"] == pytest.approx(1.0)
    assert set(table["structure"]) == {"mp-1221227"} and set(table["n_atoms"]) == {12}
    assert table["source"].iloc[0] == "MP-20 train_partial (case-study CIF)"


def test_reference_is_added_and_each_model_is_its_own_reference(space):
    for model in MODELS:
        table = material(space, "mp-2657", models=[m for m in MODELS if m != model], reference=model)
        assert table["model"].iloc[0] == model
        assert table.set_index("model").loc[model, "c_sim"] == pytest.approx(1.0)


def test_material_embedding_is_invariant_to_supercell_permutation_and_rotation(space):
    """Per-atom embeddings of these models depend only on the periodic environment, so the
    atom mean is unchanged by a supercell, a relabelling of atoms or a rigid rotation."""
    cell = case_study("mp-2998")  # cubic BaTiO3, 5 atoms
    supercell = cell.repeat((2, 1, 3))
    permuted = cell[np.random.default_rng(0).permutation(len(cell))]
    rotated = cell.copy()
    rotated.set_cell(cell.cell.array @ Rotation.random(random_state=3).as_matrix().T, scale_atoms=True)
    for model in MODELS:
        z_cell, z_super, z_permuted, z_rotated = space.embed([cell, supercell, permuted, rotated], model)
        expected = material_vector(z_cell)
        for other in (z_super, z_permuted, z_rotated):
            np.testing.assert_allclose(material_vector(other), expected, atol=2e-5, err_msg=model)
        # Per formula unit too: 6 units in the supercell against 1 in the cell.
        np.testing.assert_allclose(formula_unit_vector(z_super, 6), formula_unit_vector(z_cell, 1), atol=1e-4)


def test_difference_of_a_material_with_itself_is_zero(space):
    table = difference(space, "mp-2657", case_study("mp-2657").repeat((1, 2, 1)), MODELS, REFERENCE)
    np.testing.assert_allclose(table["l"], 0.0, atol=2e-5)
    np.testing.assert_allclose(table["l1"], table["l2"], rtol=1e-5)
    np.testing.assert_allclose(table["i_sim"], 1.0, atol=1e-6)


def test_polymorph_difference_against_material_vectors(space):
    table = difference(space, "mp-1439", "mp-2657", MODELS, REFERENCE).set_index("model")
    pbcn = {m: material_vector(z) for m, z in space.atom_vectors("mp-1439", MODELS).items()}
    rutile = {m: material_vector(z) for m, z in space.atom_vectors("mp-2657", MODELS).items()}
    for model in MODELS:
        delta, delta_reference = pbcn[model] - rutile[model], pbcn[REFERENCE] - rutile[REFERENCE]
        assert table.loc[model, "l1"] == pytest.approx(np.linalg.norm(pbcn[model]), rel=1e-6)
        assert table.loc[model, "l2"] == pytest.approx(np.linalg.norm(rutile[model]), rel=1e-6)
        assert table.loc[model, "l"] == pytest.approx(np.linalg.norm(delta), rel=1e-4)
        assert table.loc[model, "i_sim"] == pytest.approx(cosine_similarity(pbcn[model], rutile[model]), abs=1e-6)
        assert table.loc[model, "c_sim"] == pytest.approx(cosine_similarity(delta, delta_reference), abs=1e-4)
    assert table.loc[REFERENCE, "c_sim"] == pytest.approx(1.0)


def test_reaction_of_a_material_into_itself_is_zero(space):
    table = reaction(space, "2 TiO2 -> 2 TiO2", {"TiO2": "mp-2657"}, MODELS, REFERENCE)
    standard = table[table["kind"] == "standard"]
    np.testing.assert_allclose(standard["l"], 0.0, atol=1e-12)
    assert standard["c_sim"].isna().all()


@pytest.mark.parametrize("basis", ["formula_unit", "material"])
def test_reaction_against_an_independent_computation(space, basis):
    structures = {"BaO": "mp-1342", "TiO2": "mp-2657", "BaTiO3": "mp-2998"}
    atoms_per_unit = {"BaO": 2, "TiO2": 3, "BaTiO3": 5}
    table = reaction(space, "BaO + TiO2 → BaTiO3", structures, MODELS, REFERENCE, basis=basis)
    vectors = {}
    for model in MODELS:
        vectors[model] = {}
        for formula, material_id in structures.items():
            z = space.embed([case_study(material_id)], model)[0]
            n_units = len(z) / atoms_per_unit[formula]
            vectors[model][formula] = z.sum(axis=0) / n_units if basis == "formula_unit" else z.mean(axis=0)
    standard = {m: v["BaTiO3"] - v["BaO"] - v["TiO2"] for m, v in vectors.items()}
    ref = vectors[REFERENCE]
    for row in table.itertuples():
        if row.kind == "standard":
            expected = standard[row.model]
        else:
            expected = vectors[row.model]["BaTiO3"] - ref["BaO"] - ref["TiO2"]
            assert row.c_sim_own == pytest.approx(cosine_similarity(expected, standard[row.model]), abs=1e-4)
        assert row.l == pytest.approx(np.linalg.norm(expected), rel=1e-4)
        assert row.c_sim == pytest.approx(cosine_similarity(expected, standard[REFERENCE]), abs=1e-4)
    reference_rows = table[table["model"] == REFERENCE].set_index("kind")
    # Stitching the reference with itself is its standard reaction.
    assert reference_rows.loc["stitched", "l"] == pytest.approx(reference_rows.loc["standard", "l"])
    assert reference_rows.loc["stitched", "c_sim"] == pytest.approx(1.0)
    assert set(table["basis"]) == {basis}


def test_reaction_input_errors(space):
    structures = {"BaO": "mp-1342", "TiO2": "mp-2657", "BaTiO3": "mp-2998"}
    with pytest.raises(UnbalancedReactionError, match="Ti"):
        reaction(space, "BaO + TiO2 -> BaTi2O3", structures, MODELS)
    with pytest.raises(CompositionMismatchError, match="mp-1342"):
        reaction(space, "BaO + TiO2 -> BaTiO3", {**structures, "TiO2": "mp-1342"}, MODELS)
    with pytest.raises(EmbeddingArithmeticError, match="basis"):
        reaction(space, "BaO + TiO2 -> BaTiO3", structures, MODELS, basis="per_atom")


def test_unknown_models_and_structures_are_refused(space):
    with pytest.raises(EmbeddingArithmeticError, match="not in the unified space"):
        material(space, "mp-2657", models=["chgnet-0.2.0"])
    with pytest.raises(EmbeddingArithmeticError, match="not in the unified space"):
        material(space, "mp-2657", MODELS, reference="diep")
    with pytest.raises(EmbeddingArithmeticError, match="no structure 'mp-0'"):
        material(space, "mp-0", MODELS)
    with pytest.raises(EmbeddingArithmeticError, match="ase.Atoms"):
        material(space, 42, MODELS)


def test_resolve_sources(space, real_store):
    assert "not in recovered MP-20 rows" in space.resolve("mp-1439").source
    stored_id = real_store.dataset.ids[0]
    assert space.resolve(stored_id).atoms is real_store.dataset.structures[0]
    given = Atoms("Cu", cell=np.eye(3) * 2.5, pbc=True)
    assert space.resolve(given) == Material(given, "Cu", "given as ase.Atoms")


def test_a_model_with_other_weights_is_refused(space):
    other = UnifiedSpace({"chgnet-0.3.0": space.transforms["chgnet-0.3.0"]}, fingerprints={"chgnet-0.3.0": "0" * 16})
    with pytest.raises(EmbeddingArithmeticError, match="fingerprint"):
        other.model("chgnet-0.3.0")


def test_space_construction_errors(real_store):
    with pytest.raises(EmbeddingArithmeticError, match="empty"):
        UnifiedSpace({})
    with pytest.raises(EmbeddingArithmeticError, match="integer rows"):
        UnifiedSpace.from_store(real_store.store, np.array([0.5, 1.5]), MODELS)


def test_arithmetic_tables_written_as_table_1(space, tmp_path):
    paths = write_arithmetic(arithmetic_tables(space, REFERENCE, ["mace-dummy", "sevennet-0"]), tmp_path / "out")
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    table = pd.read_csv(paths["table"])
    models = [REFERENCE, "mace-dummy", "sevennet-0"]
    per_model = {"material": ["l", "c_sim"], "polymorph": ["l1", "l2", "l", "i_sim", "c_sim"],
                 "reaction": ["l", "c_sim"], "reaction_stitched": ["l", "c_sim", "c_sim_own"]}
    # Both centrings, since a space from a store has centroids; both reaction definitions.
    per_centring = sum(len(q) * (2 if case.startswith("reaction") else 1) for case, q in per_model.items())
    assert len(table) == 2 * len(models) * per_centring
    assert set(table.loc[table["case"].str.startswith("reaction"), "basis"]) == {"formula_unit", "material"}
    assert list(table["centring"].unique()) == ["none", "dataset"]
    for case, quantities in per_model.items():
        rows = table[(table["case"] == case) & (table["centring"] == "none")]
        assert list(rows["model"].unique()) == models
        basis = rows["basis"].fillna("")  # material and polymorph rows have no reaction basis
        assert list(rows[(rows["model"] == REFERENCE) & (basis == basis.iloc[0])]["quantity"]) == quantities
    assert (table["reference"] == REFERENCE).all() and (table["n_anchors"] == 20).all()
    similarity = table[table["quantity"].isin(["c_sim", "i_sim", "c_sim_own"])]
    assert similarity["value"].between(-1, 1).all()
    against_itself = similarity[(similarity["model"] == REFERENCE) & (similarity["quantity"] != "i_sim")]
    np.testing.assert_allclose(against_itself["value"], 1.0, atol=1e-6)

    # The long table holds what the per-case functions return.
    expected = material(space, "mp-1221227", ["mace-dummy"], REFERENCE).set_index("model")
    got = table[(table["case"] == "material") & (table["model"] == "mace-dummy") & (table["centring"] == "none")]
    got = got.set_index("quantity")["value"]
    assert got["l"] == pytest.approx(expected.loc["mace-dummy", "l"], rel=1e-6)
    assert got["c_sim"] == pytest.approx(expected.loc["mace-dummy", "c_sim"], abs=1e-6)

    structures = pd.read_csv(paths["structures"]).set_index("role")
    assert structures.loc["polymorph P1", "id"] == "mp-1439"
    assert "not in recovered MP-20 rows" in structures.loc["polymorph P1", "source"]
    assert structures.loc["reaction BaTiO3", "formula"] == "BaTiO3"
    wide = pd.read_csv(paths["wide"])
    assert list(wide["model"]) == models
    assert {"polymorph:i_sim", "polymorph:i_sim [dataset-centred]", "reaction:c_sim (mean material vectors)",
            "reaction_stitched:c_sim (per formula unit) [dataset-centred]"} <= set(wide.columns)


def test_stitch_null_on_the_real_store(space, real_store):
    """The Table 1 stitched c-sim equals the table's value; random products from the store form its null."""
    from platonic.analyse.arithmetic_null import STITCH_NULL_COLUMNS, reaction_stitch_null

    unified = {model: real_store.z(model) for model in MODELS}
    null = reaction_stitch_null(space, unified, real_store.store.atom_table(), REFERENCE, MODELS, n_random=30)
    assert list(null.columns) == STITCH_NULL_COLUMNS and len(null) == 2 * 2 * len(MODELS)
    table, _ = arithmetic_frame(space, REFERENCE, MODELS)
    stitched = table[(table["case"] == "reaction_stitched") & (table["quantity"] == "c_sim")]
    merged = null.merge(stitched, on=["model", "basis", "centring"])
    np.testing.assert_allclose(merged["c_sim"], merged["value"], atol=1e-6)
    assert (null["n_random"] == 30).all() and null["rank"].between(1, 31).all()
    # the reference stitched with itself is its own reaction: cosine 1, ranked first
    own = null[null["model"] == REFERENCE]
    np.testing.assert_allclose(own["c_sim"], 1.0, atol=1e-9)
    assert (own["rank"] == 1).all()


def test_custom_cases_and_wide_layout(space):
    table, structures = arithmetic_frame(
        space, "sevennet-0", models=["sevennet-0"], material_structure="mp-5663", polymorphs=("mp-390", "mp-2657"),
        equation="BaO + TiO2 -> BaTiO3", reaction_structures={"BaO": "mp-1342", "TiO2": "mp-390", "BaTiO3": "mp-5986"},
        basis="material", centrings=["none"],
    )
    assert list(structures["id"]) == ["mp-5663", "mp-390", "mp-2657", "mp-1342", "mp-390", "mp-5986"]
    assert set(table.loc[table["case"].str.startswith("reaction"), "basis"]) == {"material"}
    wide = wide_table(table)
    assert wide.shape == (1, 1 + len(table))
    figure = plot_arithmetic(table)
    assert len(figure.axes) == 3  # heatmap, its colour bar, norms
    with pytest.raises(EmbeddingArithmeticError, match="pair"):
        arithmetic_frame(space, "sevennet-0", polymorphs=("mp-390",))
    with pytest.raises(EmbeddingArithmeticError, match="columns"):
        wide_table(table.drop(columns="case"))
    with pytest.raises(EmbeddingArithmeticError, match="centring"):
        arithmetic_frame(space, "sevennet-0", centrings=["mean"])


def test_each_structure_is_embedded_once_per_model(space):
    rutile = case_study("mp-2657")
    first = space.embed([rutile], "mace-dummy")[0]
    assert space.embed([case_study("mp-2657")], "mace-dummy")[0] is first
    assert not first.flags.writeable
    moved = rutile.copy()
    moved.positions[0] += 0.05
    assert not np.array_equal(space.embed([moved], "mace-dummy")[0], first)


def test_centroids_are_the_mean_of_the_projected_store(space, real_store):
    for model in MODELS:
        z = real_store.z(model)
        expected = z[np.isfinite(z).all(axis=1)].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(space.centroids[model], expected, atol=1e-6)


def test_centring_moves_materials_but_not_differences_or_balanced_reactions(space):
    """z -> z - mu shifts material vectors by mu, cancels in differences and, per formula
    unit, in balanced reactions; a stitched reaction shifts by (atoms per side) x (mu_m - mu_ref)."""
    plain = material(space, "mp-1221227", MODELS, REFERENCE).set_index("model")
    centred = material(space, "mp-1221227", MODELS, REFERENCE, centring="dataset").set_index("model")
    for model in MODELS:
        vector = material_vector(space.atom_vectors("mp-1221227", [model])[model]) - space.centroids[model]
        assert centred.loc[model, "l"] == pytest.approx(np.linalg.norm(vector), rel=1e-5)
    assert not np.allclose(plain["l"], centred["l"])

    columns = ["l", "c_sim"]
    pd.testing.assert_frame_equal(
        difference(space, "mp-1439", "mp-2657", MODELS, REFERENCE)[columns],
        difference(space, "mp-1439", "mp-2657", MODELS, REFERENCE, centring="dataset")[columns], atol=1e-5,
    )
    structures = {"BaO": "mp-1342", "TiO2": "mp-2657", "BaTiO3": "mp-2998"}
    raw = reaction(space, "BaO + TiO2 -> BaTiO3", structures, MODELS, REFERENCE).set_index(["kind", "model"])
    moved = reaction(space, "BaO + TiO2 -> BaTiO3", structures, MODELS, REFERENCE, centring="dataset")
    moved = moved.set_index(["kind", "model"])
    np.testing.assert_allclose(moved.loc["standard", columns], raw.loc["standard", columns], atol=1e-5)
    # Closed form of the stitched shift: 5 atoms on each side of BaO + TiO2 -> BaTiO3.
    vectors = {m: {f: space.atom_vectors(i, [m])[m].sum(axis=0) / {"BaO": 1, "TiO2": 2, "BaTiO3": 1}[f]
                   for f, i in structures.items()} for m in MODELS}
    for model in MODELS:
        stitched = vectors[model]["BaTiO3"] - vectors[REFERENCE]["BaO"] - vectors[REFERENCE]["TiO2"]
        shifted = stitched - 5 * (space.centroids[model] - space.centroids[REFERENCE])
        assert moved.loc[("stitched", model), "l"] == pytest.approx(np.linalg.norm(shifted), rel=1e-4)


def test_centring_needs_centroids(space):
    bare = UnifiedSpace({"mace-dummy": space.transforms["mace-dummy"]})
    with pytest.raises(EmbeddingArithmeticError, match="no centroid"):
        material(bare, "mp-2657", centring="dataset")
    with pytest.raises(EmbeddingArithmeticError, match="centring must be one of"):
        material(space, "mp-2657", MODELS, centring="mean")
    with pytest.raises(EmbeddingArithmeticError, match="shape"):
        UnifiedSpace({"mace-dummy": space.transforms["mace-dummy"]}, centroids={"mace-dummy": np.zeros(3)})
