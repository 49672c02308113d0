"""Rotation sensitivity: closed forms on synthetic models, and real models at their float tolerance."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from platonic.datasets import case_study
from platonic.diagnose.rotation import (
    RotationInputError,
    plot_rotation,
    random_rotations,
    relative_change,
    rotate,
    rotation_sensitivity,
    rotation_tables,
    summarise_rotation,
)
from platonic.models import DEFAULT_MODELS, load_model
from platonic.models.base import EmbeddingModel, ModelCard
from platonic.study.writers import write_rotation


def _adapter_tolerances() -> dict[str, float]:
    """The per-model float32 tolerances measured in tests/models/test_adapters.py (one source of truth)."""
    path = Path(__file__).parents[1] / "models" / "test_adapters.py"
    spec = importlib.util.spec_from_file_location("_adapter_tolerances", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RELATIVE_TOL


RELATIVE_TOL = _adapter_tolerances()


class SyntheticModel(EmbeddingModel):
    """A toy adapter: ``features(atoms) -> (n_atoms, d)``."""

    def __init__(self, name, features, dim, weights_sha256=None):
        super().__init__()
        self.features = features
        self.card = ModelCard(name=name, family="toy", variant="0", layer="none", dim=dim, equivariant=False,
                              conservative=False, training_data="none", weights_source="none", licence="none",
                              weights_sha256=weights_sha256)

    def _embed_batch(self, structures):
        return [self.features(atoms) for atoms in structures]


OFFSET = np.array([1.0, 2.0, 3.0])


def cartesian(atoms):
    """Not invariant: the Cartesian positions (shifted, so that no atom at the origin has a zero row)."""
    return atoms.positions + OFFSET


def distances(atoms):
    """Invariant: Z and the sorted distances to every other atom of the cell (no periodic images)."""
    table = np.sort(atoms.get_all_distances(), axis=1)
    return np.column_stack([atoms.numbers, table])


@pytest.fixture(scope="module")
def perovskite():
    return case_study("mp-3187")


def test_random_rotations_are_proper_and_seeded():
    rotations = random_rotations(5, random_state=3)
    assert rotations.shape == (5, 3, 3)
    identities = np.broadcast_to(np.eye(3), (5, 3, 3))
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identities, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0)
    np.testing.assert_array_equal(rotations, random_rotations(5, random_state=3))
    assert not np.allclose(rotations, random_rotations(5, random_state=4))
    assert random_rotations(1, random_state=0).shape == (1, 3, 3)
    with pytest.raises(RotationInputError, match="n_rotations"):
        random_rotations(0, random_state=0)
    with pytest.raises(RotationInputError, match="seed"):
        random_rotations(2, random_state=None)


def test_rotate_keeps_the_crystal(perovskite):
    rotation = random_rotations(1, random_state=1)[0]
    turned = rotate(perovskite, rotation)
    fractional = perovskite.get_scaled_positions(wrap=False)
    np.testing.assert_allclose(turned.get_scaled_positions(wrap=False), fractional, atol=1e-12)
    np.testing.assert_allclose(turned.get_all_distances(mic=True), perovskite.get_all_distances(mic=True), atol=1e-10)
    np.testing.assert_allclose(turned.positions, perovskite.positions @ rotation.T)
    with pytest.raises(RotationInputError, match="orthogonal"):
        rotate(perovskite, np.diag([1.0, 1.0, 2.0]))


def test_improper_rotations_are_the_inverted_rotations(perovskite):
    proper, improper = random_rotations(3, random_state=1), random_rotations(3, random_state=1, improper=True)
    np.testing.assert_array_equal(improper, -proper)
    np.testing.assert_allclose(np.linalg.det(improper), -1.0)
    mirrored = rotate(perovskite, improper[0])
    np.testing.assert_allclose(mirrored.get_all_distances(mic=True), perovskite.get_all_distances(mic=True), atol=1e-10)
    changes = rotation_sensitivity(SyntheticModel("distances", distances, len(perovskite) + 1), perovskite, improper)
    assert summarise_rotation(changes)[1]["invariant"].item()


def test_relative_change_closed_form():
    reference = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(relative_change(reference, np.array([[3.0, 5.0], [1.0, 0.0]])), [0.2, 0.0])
    with pytest.raises(RotationInputError, match="zero"):
        relative_change(np.zeros((1, 2)), np.ones((1, 2)))


def test_cartesian_model_is_flagged_with_its_closed_form_change(perovskite):
    rotations = random_rotations(4, random_state=0)
    changes = rotation_sensitivity(SyntheticModel("cartesian", cartesian, 3), perovskite, rotations)
    assert len(changes) == 4 * len(perovskite) and set(changes["space"]) == {"raw"}
    for index, rotation in enumerate(rotations):
        expected = np.linalg.norm(perovskite.positions @ rotation.T - perovskite.positions, axis=1)
        expected /= np.linalg.norm(perovskite.positions + OFFSET, axis=1)
        got = changes.loc[changes["rotation"] == index, "relative_change"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # embed() returns float32
    _, per_model = summarise_rotation(changes)
    assert not per_model["invariant"].item() and per_model["max_relative_change"].item() > 0.1


def test_invariant_toy_model_passes_and_summaries_agree(perovskite):
    rotations = random_rotations(3, random_state=0)
    changes = rotation_sensitivity(SyntheticModel("distances", distances, len(perovskite) + 1), perovskite, rotations)
    per_atom, per_model = summarise_rotation(changes)
    assert per_model["invariant"].item() and per_model["max_relative_change"].item() < 1e-6  # a float32 ulp
    assert len(per_atom) == len(perovskite) and (per_atom["n_rotations"] == 3).all()
    for row in per_atom.itertuples():
        values = changes.loc[changes["atom_index"] == row.atom_index, "relative_change"]
        assert row.max_relative_change == values.max() and row.median_relative_change == values.median()
    assert per_atom["element"].tolist() == perovskite.get_chemical_symbols()


def test_tables_written_with_figure(perovskite, tmp_path):
    models = [SyntheticModel("cartesian", cartesian, 3), SyntheticModel("distances", distances, len(perovskite) + 1)]
    paths = write_rotation(rotation_tables(models, structure=perovskite, n_rotations=2, random_state=5), tmp_path)
    assert all(path.is_file() for path in paths.values())
    per_model = pd.read_csv(paths["models"]).set_index("model")
    assert per_model.loc["cartesian", "invariant"] == False  # noqa: E712 (numpy bool from CSV)
    assert per_model.loc["distances", "invariant"] == True  # noqa: E712
    assert (per_model["seed"] == 5).all() and (per_model["structure"] == "mp-3187").all()
    assert len(pd.read_csv(paths["changes"])) == 2 * 2 * len(perovskite)
    with pytest.raises(RotationInputError, match="both store and anchors"):
        rotation_tables(models, anchors=np.arange(3))


def test_plot_draws_one_panel_per_space(perovskite):
    changes = rotation_sensitivity(SyntheticModel("cartesian", cartesian, 3), perovskite, random_rotations(2, random_state=0))
    assert isinstance(plot_rotation(changes), Figure) and len(plot_rotation(changes).axes) == 1


def test_store_anchors_must_come_from_the_same_checkpoint(real_store):
    impostor = SyntheticModel("chgnet-0.3.0", cartesian, 3, weights_sha256="0" * 64)
    with pytest.raises(RotationInputError, match="fingerprint"):
        rotation_tables([impostor], n_rotations=1, store=real_store.store, anchors=real_store.anchors)


def check_real_model(name, atoms, rotations, real_store=None):
    """Raw (and, with a store, unified) changes of a real model stay within its float32 tolerance."""
    model = load_model(name)
    transform = None
    if real_store is not None:
        from platonic.project import PlatonicTransform

        transform = PlatonicTransform(anchor_rows="all").fit(real_store.raw(name)[real_store.anchors["row"].to_numpy()])
    changes = rotation_sensitivity(model, atoms, rotations, transform)
    _, per_model = summarise_rotation(changes)
    per_model = per_model.set_index("space")
    # The adapter tests' measure and tolerance: largest entry change over the largest |entry|.
    assert per_model.loc["raw", "scaled_max_abs_change"] <= RELATIVE_TOL[name]
    assert per_model["invariant"].all(), per_model
    return per_model


@pytest.mark.parametrize("name", ["chgnet-0.3.0", "sevennet-0"])
def test_real_models_are_invariant_at_float_tolerance(name, real_store, perovskite):
    per_model = check_real_model(name, perovskite, random_rotations(2, random_state=0), real_store)
    assert set(per_model.index) == {"raw", "unified"}


def test_chgnet_is_invariant_under_improper_rotations(perovskite):
    """CHGNet reads only distances and angles: O(3)-invariant, mirrors and inversion included."""
    check_real_model("chgnet-0.3.0", perovskite, random_rotations(2, random_state=0, improper=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_every_offline_model_is_invariant_at_float_tolerance(name, perovskite):
    check_real_model(name, perovskite, random_rotations(10, random_state=0))

