"""The fine-tuning demo's parts: Cu cells, labels, phonons (with ASE's EMT as a cheap calculator), and a
tiny end-to-end run on the real models (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT

from platonic.finetune.data import CU_KINDS, FinetuneDataError, cu_cells, label
from platonic.finetune.phonons import fcc_lattice_constant, fcc_phonons, imaginary_modes


def test_cu_cells_are_seeded_cu_only_and_of_every_kind():
    cells, kinds = cu_cells(40, seed=3)
    again, _ = cu_cells(40, seed=3)
    other, _ = cu_cells(40, seed=4)
    assert len(cells) == 40 and set(kinds) == set(CU_KINDS)
    assert all(set(a.get_chemical_symbols()) == {"Cu"} for a in cells)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(cells, again))
    assert not all(np.array_equal(a.positions, b.positions) for a, b in zip(cells, other))
    assert {len(a) for a, k in zip(cells, kinds) if k == "vacancy"} == {15}
    with pytest.raises(FinetuneDataError, match="n must be"):
        cu_cells(2)


def test_labels_are_energies_per_atom_and_forces_of_the_calculator():
    cells, kinds = cu_cells(8, seed=0)
    data = label(cells, kinds, EMT(), "emt")
    atoms = cells[5].copy()
    atoms.calc = EMT()
    assert data.energies_per_atom[5] == pytest.approx(atoms.get_potential_energy() / len(atoms))
    assert np.allclose(data.forces[5], atoms.get_forces())
    assert len(data + data) == 16


def test_emt_phonons_are_real_and_gold_is_softer_than_copper():
    calculator = EMT()
    summaries = {}
    for element in ("Cu", "Au"):
        a, inside = fcc_lattice_constant(calculator, element)
        assert inside
        bands = fcc_phonons(calculator, element, a, supercell=3, points_per_segment=11)
        at_gamma = bands[bands.q_norm == 0]["frequency"]
        assert np.abs(at_gamma).max() < 0.05  # acoustic sum rule
        summaries[element] = imaginary_modes(bands)
    assert not summaries["Cu"]["imaginary"] and not summaries["Au"]["imaginary"]
    assert 5.0 < summaries["Cu"]["max_frequency"] < 10.0  # experiment: 7.2 THz
    assert summaries["Au"]["max_frequency"] < summaries["Cu"]["max_frequency"]


def test_imaginary_modes_flags_negative_branches_away_from_gamma():
    rows = [{"segment": "G-X", "distance": d, "q": str(d), "q_norm": d, "band": b, "frequency": f}
            for d, fs in ((0.0, (-0.02, 0.0, 0.0)), (0.2, (-0.5, 2.0, 3.0)), (0.4, (1.0, 2.0, 3.0)))
            for b, f in enumerate(fs)]
    summary = imaginary_modes(pd.DataFrame(rows))
    assert summary["imaginary"] and summary["min_frequency"] == -0.5 and summary["imaginary_fraction"] == 0.5
    assert not imaginary_modes(pd.DataFrame(rows), imaginary_tolerance=1.0)["imaginary"]


@pytest.mark.slow
def test_tiny_demo_runs_end_to_end(tmp_path):
    from platonic.finetune.demo import DemoConfig, run_demo

    config = DemoConfig(n_cu=8, n_replay=4, epochs=1, batch_size=4, n_eval_per_element=3, n_eval_other=6, k=6,
                        supercell=2)
    summary = run_demo(tmp_path, config, log=lambda message: None)
    outcome = pd.read_csv(tmp_path / "outcome.csv")
    assert set(outcome["element"]) == {"Cu", "Au"} and len(outcome) == 6
    assert outcome["norm_ratio"].notna().sum() == 4  # the two fine-tunes, Cu and Au
    assert "not DFT" in summary["note"] and json.loads((tmp_path / "summary.json").read_text())["data"]["cu_cells"] == 8
    phonons = pd.read_csv(tmp_path / "phonons.csv")
    assert len(phonons) == 8 and phonons["imaginary"].dtype == bool


def test_outcome_table_collects_each_models_cu_and_au_numbers():
    from platonic.finetune.demo import outcome_table

    names = {"naive": "p-ft-naive", "replay": "p-ft-replay"}
    pairs = [f"p -> {m}" for m in names.values()]
    ratios = pd.DataFrame([{"pair": pair, "element": e, "norm_ratio": r} for pair, rs in zip(pairs, ((1.1, 0.4), (1.0, 0.98)))
                           for e, r in zip(("Cu", "Au"), rs)])
    displacement = ratios.rename(columns={"norm_ratio": "relative_to_global"})
    models = ["p", *names.values()]
    minima = pd.DataFrame([{"model": m, "dimer": f"{e}-{e}", "r_eq": 2.0 + i, "well_depth": 1.0} for i, m in enumerate(models)
                           for e in ("Cu", "Au")])
    phonons = pd.DataFrame([{"model": m, "element": e, "lattice_constant": 3.6, "min_frequency": -1.0 if m.endswith("naive") else 0.0,
                             "imaginary": m.endswith("naive")} for m in models for e in ("Cu", "Au")])
    table = outcome_table(displacement, ratios, minima, phonons, "p", names).set_index(["model", "element"])
    assert table.loc[("p-ft-naive", "Au"), "norm_ratio"] == 0.4 and np.isnan(table.loc[("p", "Au"), "norm_ratio"])
    assert table.loc[("p-ft-replay", "Cu"), "dimer_r_eq"] == 4.0
    assert table["phonon_imaginary"].tolist() == [False, False, True, True, False, False]
