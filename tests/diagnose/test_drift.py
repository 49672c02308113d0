"""Fine-tuning drift: closed forms on synthetic data, invariances, a real calculator, the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.calculators.morse import MorsePotential

from platonic.compare import global_reconstruction_error
from platonic.diagnose.drift import (
    DriftInputError,
    atom_norms,
    checkpoint_calculator,
    dimer_atoms,
    dimer_curve,
    dimer_curves,
    dimer_minima,
    drift_tables,
    element_displacement,
    norm_quantiles,
    norm_ratios,
    pair_reconstruction,
    plot_dimer_curves,
)
from platonic.project.transform import PlatonicTransform
from platonic.study.writers import write_drift


def _elements(real_store) -> np.ndarray:
    return real_store.store.atom_table()["element"].to_numpy()


def _synthetic(n: int = 120, k: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    elements = rng.choice(["O", "Cu", "Au", "Si"], size=n)
    return rng.normal(size=(n, k)), rng.normal(size=(n, k)), elements


# --------------------------------------------------------------------------- displacement
def test_drift_of_a_model_with_itself_is_zero(real_store):
    z, raw, elements = real_store.z("chgnet-0.3.0"), real_store.raw("chgnet-0.3.0"), _elements(real_store)
    displacement = element_displacement(z, z, elements)
    assert set(displacement["element"]) == set(elements)
    assert displacement["n_atoms"].sum() == len(elements)
    for column in ("displacement", "excess_displacement", "mean_atom_displacement", "relative_to_global"):
        assert np.allclose(displacement[column], 0.0)
    ratios = norm_ratios(raw, raw, elements)
    assert np.allclose(ratios["norm_ratio"], 1.0) and np.allclose(ratios["median_atom_ratio"], 1.0)


def test_displacement_matches_an_independent_groupby():
    z_pre, z_ft, elements = _synthetic()
    table = element_displacement(z_pre, z_ft, elements).set_index("element")
    centres_pre = pd.DataFrame(z_pre).groupby(elements).mean()
    centres_ft = pd.DataFrame(z_ft).groupby(elements).mean()
    expected = np.sqrt(((centres_ft - centres_pre) ** 2).sum(axis=1))
    assert np.allclose(table.loc[expected.index, "displacement"], expected)
    spread = pd.DataFrame(z_pre).groupby(elements).apply(lambda g: np.sqrt(((g - g.mean()) ** 2).sum(axis=1).mean()))
    assert np.allclose(table.loc[spread.index, "spread_pre"], spread)
    # Atoms are matched one to one: the mean of per-atom shifts bounds the centroid shift.
    assert np.all(table["mean_atom_displacement"] >= table["displacement"] - 1e-12)
    assert list(table["Z"]) == sorted(table["Z"])


def test_displacement_invariant_to_row_permutation():
    z_pre, z_ft, elements = _synthetic(seed=1)
    order = np.random.default_rng(2).permutation(len(elements))
    before = element_displacement(z_pre, z_ft, elements)
    after = element_displacement(z_pre[order], z_ft[order], elements[order])
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-12, atol=1e-12)


def test_a_common_translation_moves_every_element_by_its_length():
    z_pre, _, elements = _synthetic(seed=3)
    shift = np.array([0.3, -0.4, 0.0, 0.0, 0.0, 0.0])
    table = element_displacement(z_pre, z_pre + shift, elements)
    assert np.allclose(table["displacement"], 0.5)
    assert np.allclose(table["mean_atom_displacement"], 0.5)
    assert np.allclose(table["excess_displacement"], 0.0)


def test_element_without_spread_has_no_relative_displacement():
    z_pre, z_ft, elements = _synthetic(seed=4)
    elements = elements.copy()
    elements[0] = "Fe"  # a single atom: no spread to measure the shift against
    table = element_displacement(z_pre, z_ft, elements).set_index("element")
    assert np.isnan(table.loc["Fe", "relative_displacement"])
    assert np.isfinite(table.drop(index="Fe")["relative_displacement"]).all()


def test_displacement_input_errors():
    z_pre, z_ft, elements = _synthetic()
    with pytest.raises(DriftInputError, match="rows"):
        element_displacement(z_pre, z_ft[:-1], elements)
    with pytest.raises(DriftInputError, match="widths"):
        element_displacement(z_pre, z_ft[:, :-1], elements)
    with pytest.raises(DriftInputError, match="unknown element"):
        element_displacement(z_pre, z_ft, np.where(elements == "O", "Xx", elements))
    z_nan = z_ft.copy()
    z_nan[5, 0] = np.nan
    with pytest.raises(DriftInputError, match="NaN"):
        element_displacement(z_pre, z_nan, elements)


# --------------------------------------------------------------------------- norms
def test_scaling_a_raw_space_gives_the_scale_as_norm_ratio_and_leaves_the_unified_space(real_store):
    raw, elements = real_store.raw("sevennet-0").astype(np.float64), _elements(real_store)
    c = 0.37
    ratios = norm_ratios(raw, c * raw, elements)
    assert np.allclose(ratios["norm_ratio"], c) and np.allclose(ratios["median_atom_ratio"], c)
    assert np.allclose(norm_quantiles(atom_norms(raw, c * raw, elements)).query("quantity == 'ratio'")["value"], c)
    anchors = real_store.anchors["row"].to_numpy()
    z = PlatonicTransform(anchor_rows="all").fit(raw[anchors]).transform(raw)
    z_scaled = PlatonicTransform(anchor_rows="all").fit(c * raw[anchors]).transform(c * raw)
    assert np.allclose(z, z_scaled, atol=1e-6)
    assert np.allclose(element_displacement(z, z_scaled, elements)["displacement"], 0.0, atol=1e-5)


def test_norm_ratio_is_a_ratio_of_mean_norms():
    raw_pre, raw_ft, elements = _synthetic(seed=5)
    table = norm_ratios(raw_pre, raw_ft, elements).set_index("element")
    norms_pre = pd.Series(np.linalg.norm(raw_pre, axis=1)).groupby(elements).mean()
    norms_ft = pd.Series(np.linalg.norm(raw_ft, axis=1)).groupby(elements).mean()
    assert np.allclose(table.loc[norms_pre.index, "norm_ratio"], norms_ft / norms_pre)
    with pytest.raises(DriftInputError, match="zero embedding"):
        atom_norms(np.zeros_like(raw_pre), raw_ft, elements)


# --------------------------------------------------------------------------- GFRE
def test_pair_reconstruction_reuses_gfre_and_sees_a_linear_relation():
    rng = np.random.default_rng(6)
    pre = rng.normal(size=(300, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    fine_tuned = pre @ rotation
    noise = rng.normal(size=(300, 5))
    embeddings = {"pre": pre, "ft": fine_tuned, "noise": noise}
    table = pair_reconstruction(embeddings, "pre", "ft", ["noise"]).set_index("role")
    assert table.loc["pre->ft", "gfre"] == pytest.approx(global_reconstruction_error(pre, fine_tuned))
    assert table.loc["ft->pre", "gfre"] < 1e-6
    assert table.loc["reference->ft", "gfre"] > 0.8 and table.loc["ft->reference", "gfre"] > 0.8
    for row in table.itertuples():  # the shared source factorisations give each pair's own GFRE
        assert row.gfre == pytest.approx(global_reconstruction_error(embeddings[row.source], embeddings[row.target]),
                                         rel=1e-12, abs=1e-14)
    sub = pair_reconstruction({"pre": pre, "ft": fine_tuned}, "pre", "ft", n_atoms=100, random_state=1)
    assert set(sub["n_atoms"]) == {100}
    with pytest.raises(DriftInputError, match="no embeddings"):
        pair_reconstruction({"pre": pre}, "pre", "ft")


# --------------------------------------------------------------------------- dimers
def test_dimer_geometry_and_box_check():
    atoms = dimer_atoms("Cu", 2.3, box_length=25.0)
    assert atoms.get_distance(0, 1) == pytest.approx(2.3)
    assert atoms.pbc.all() and np.allclose(atoms.cell.lengths(), 25.0)
    with pytest.raises(DriftInputError, match="box"):
        dimer_curve(MorsePotential(), "Cu", [1.0, 2.0, 8.0], box_length=15.0)
    with pytest.raises(DriftInputError, match="increasing"):
        dimer_curve(MorsePotential(), "Cu", [2.0, 1.0, 3.0])


def test_dimer_minimum_of_a_morse_potential_is_its_closed_form():
    r0, depth = 2.22, 2.0
    morse = MorsePotential(epsilon=depth, r0=r0, rho0=6.0)  # smooth cutoff from 1.9 to 2.7 r0
    curve = dimer_curve(morse, "Cu", np.arange(1.5, 6.5, 0.05))
    assert np.allclose(curve["isolated_energy"], 0.0)
    assert curve["binding_energy"].iloc[-1] == pytest.approx(0.0, abs=1e-12)  # beyond 2.7 r0
    curve.insert(0, "model", "morse")
    minimum = dimer_minima(curve).iloc[0]
    assert minimum["r_eq"] == pytest.approx(r0, abs=5e-3)
    assert minimum["well_depth"] == pytest.approx(depth, rel=1e-3)
    assert not minimum["min_at_grid_edge"]
    assert minimum["experimental_r_e"] == pytest.approx(2.2197)


def test_a_repulsive_curve_is_flagged_at_the_grid_edge():
    r = np.linspace(1.5, 6.0, 10)
    curve = pd.DataFrame({"model": "m", "dimer": "Au-Au", "distance": r, "binding_energy": np.exp(-r)})
    minimum = dimer_minima(curve).iloc[0]
    assert minimum["min_at_grid_edge"] and minimum["r_eq"] == pytest.approx(6.0)
    assert minimum["well_depth"] == pytest.approx(-np.exp(-6.0))


def test_dimer_curve_on_a_real_calculator_is_finite_and_flattens():
    calculator = checkpoint_calculator("chgnet-0.3.0")
    assert checkpoint_calculator("chgnet-0.3.0") is calculator  # built once per checkpoint
    distances = [1.8, 2.2, 2.6, 3.5, 6.5, 7.5]
    curves = dimer_curves(["chgnet-0.3.0"], ["Cu"], distances)
    assert np.isfinite(curves["energy"]).all() and np.isfinite(curves["isolated_energy"]).all()
    binding = curves.set_index("distance")["binding_energy"]
    # Beyond the model's cutoff the two atoms no longer see each other.
    assert binding[7.5] == pytest.approx(0.0, abs=1e-3) and binding[6.5] == pytest.approx(binding[7.5], abs=1e-3)
    assert binding[2.2] < -0.1  # Cu2 is bound
    fig = plot_dimer_curves(curves, dimer_minima(curves))
    assert len(fig.axes) == 1


# --------------------------------------------------------------------------- report
def test_drift_tables_written_every_table(real_store, tmp_path):
    unified = real_store.unified
    pairs = [("chgnet-0.3.0", "chgnet-r2scan"), ("sevennet-0", "sevennet-mf-0")]  # the ones in this store
    paths = write_drift(drift_tables(real_store.store, unified, pairs=pairs, references=["diep"], dimers=False), tmp_path)
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    assert not any("dimer" in name for name in paths)
    summary = pd.read_csv(paths["drift_summary"])
    assert list(summary["pair"]) == ["chgnet-0.3.0 -> chgnet-r2scan", "sevennet-0 -> sevennet-mf-0"]
    assert (summary["n_atoms"] + summary["rows_excluded"] == real_store.store.n_atoms).all()
    numeric = summary.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()).all()
    gfre = pd.read_csv(paths["drift_gfre"])
    assert set(gfre["space"]) == {"raw", "unified"} and set(gfre["role"]) == {
        "pre->ft", "ft->pre", "reference->ft", "ft->reference"}
    displacement = pd.read_csv(paths["drift_displacement"])
    assert (displacement.groupby("pair")["n_atoms"].sum() == summary.set_index("pair")["n_atoms"]).all()
    with pytest.raises(DriftInputError, match="lack raw or unified"):
        drift_tables(real_store.store, unified, pairs=[("chgnet-0.3.0", "no-such-model")], dimers=False)


@pytest.mark.slow
def test_drift_tables_written_with_dimers(real_store, tmp_path):
    tables = drift_tables(real_store.store, real_store.unified, references=["diep"],
                          pairs=[("chgnet-0.3.0", "chgnet-r2scan"), ("sevennet-0", "sevennet-mf-0")],
                          distances=np.arange(1.6, 6.01, 0.2))
    paths = write_drift(tables, tmp_path)
    minima = pd.read_csv(paths["drift_dimer_minima"])
    assert len(minima) == 8 and np.isfinite(minima["r_eq"]).all()
