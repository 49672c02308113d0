"""`platonic import`: embeddings computed elsewhere become a regular model of the store.

A closed-form model is extracted into one store, its embeddings exported to each supported format
and imported into a second store made from the same dataset; the imported model must then be the
extracted one (byte for byte from npy and parquet, to extxyz's 8 decimals otherwise) and anchors,
projection and comparison must give the same numbers on both stores. Every mismatch a file can
have is refused with its row named, and leaves nothing behind.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ase.io import write
from typer.testing import CliRunner

from generated import rattled_crystals
from platonic.datasets import from_structures
from platonic.extract import extract
from platonic.models.base import EmbeddingModel, ModelCard
from platonic.store import EmbeddingImportError, EmbeddingStore, StoreError, import_embeddings


class RadialModel(EmbeddingModel):
    """Embedding of atom i: [Z_i, sum_j exp(-r_ij / a), sum_j exp(-r_ij / b)] over neighbours within 4 Å."""

    def __init__(self, name, device="cpu"):
        super().__init__(device)
        self.lengths = (1.0, 2.0) if name == "radial" else (0.5, 3.0)
        self.card = ModelCard(
            name=name, family="test", variant="1", layer="closed form", dim=3, equivariant=False,
            conservative=False, training_data="none", weights_source="none", licence="MIT", trained=True,
        )

    def _embed_batch(self, structures):
        from ase.neighborlist import neighbor_list

        out = []
        for atoms in structures:
            i, d = neighbor_list("id", atoms, 4.0)
            emb = np.zeros((len(atoms), 3))
            emb[:, 0] = atoms.numbers
            for column, length in enumerate(self.lengths, start=1):
                np.add.at(emb[:, column], i, np.exp(-d / length))
            out.append(emb)
        return out


def dataset(n=17):
    return rattled_crystals(n, amount=0.05, layers=3, prefix="mp-", name="small")


@pytest.fixture
def stores(tmp_path):
    """(data, extracted store with radial + other, store with only other, exported radial)."""
    data = dataset()
    extract(data, ["radial", "other"], tmp_path / "extracted", shard_size=5, load_model=lambda n, device: RadialModel(n))
    extract(data, ["other"], tmp_path / "target", shard_size=5, load_model=lambda n, device: RadialModel(n))
    source = EmbeddingStore(tmp_path / "extracted")
    return data, source, EmbeddingStore(tmp_path / "target"), source.load("radial")


def write_extxyz(path, data, embedding, name="radial"):
    frames = []
    for k, atoms in enumerate(data.structures):
        a = atoms.copy()
        a.info = {"id": data.ids[k]}
        lo, hi = data.atom_offsets[k], data.atom_offsets[k + 1]
        a.arrays[f"{name}_emb"] = embedding[lo:hi].astype(np.float64)
        frames.append(a)
    write(path, frames, format="extxyz")


def write_parquet(path, table, embedding, layout="list"):
    columns = {"structure_id": table["structure_id"], "atom_index": table["atom_index"], "Z": table["Z"]}
    frame = pa.table(columns)
    if layout == "list":
        frame = frame.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(embedding.ravel()), embedding.shape[1]))
    else:
        for c in range(embedding.shape[1]):
            frame = frame.append_column(f"emb_{c}", pa.array(embedding[:, c]))
    pq.write_table(frame, path, row_group_size=7)  # row groups that straddle shards and structures


def write_npy(tmp_path, table, embedding):
    np.save(tmp_path / "radial.npy", embedding)
    table[["structure_id", "atom_index", "Z"]].to_csv(tmp_path / "radial_ids.csv", index=False)
    return tmp_path / "radial.npy", tmp_path / "radial_ids.csv"


def downstream(store, reference="radial"):
    from platonic.anchors.from_store import choose_anchors
    from platonic.compare.from_store import compare_store
    from platonic.project.from_store import project_store

    anchors = choose_anchors(store, reference, k=6, method="direct", random_state=0)
    unified = project_store(store, anchors["row"].to_numpy(), store.root / "unified")
    table = compare_store(store, unified, models=["radial", "other"], metrics=["procrustes", "cka", "mknn", "gfre"],
                          k=3, random_state=0)
    return anchors, {m: np.load(p) for m, p in unified.items()}, table


@pytest.mark.parametrize("fmt", ["npy", "parquet-list", "parquet-columns"])
def test_import_is_the_extracted_model_byte_for_byte(stores, tmp_path, fmt):
    data, source, target, embedding = stores
    table = target.atom_table()
    ids = None
    if fmt == "npy":
        path, ids = write_npy(tmp_path, table, embedding)
    else:
        path = tmp_path / "radial.parquet"
        write_parquet(path, table, embedding, layout=fmt.split("-")[1])
    result = import_embeddings(target, "radial", path, ids=ids)
    assert (result.rows, result.dim, result.shards_written, result.shards_skipped) == (data.n_atoms, 3, target.n_shards, 0)
    assert target.is_complete("radial")
    for s in range(target.n_shards):  # the same shard files as extraction wrote
        assert target._record("radial", s).sha256 == source._record("radial", s).sha256
    card = target.card("radial")["card"]
    assert card["family"] == "imported" and card["variant"] == "imported"
    assert card["weights_sha256"] == result.sha256 and result.sha256 in card["notes"]
    assert import_embeddings(target, "radial", path, ids=ids).shards_written == 0  # again: a no-op


def test_anchors_project_compare_treat_the_import_like_the_extraction(stores, tmp_path):
    data, source, target, embedding = stores
    write_extxyz(tmp_path / "radial.extxyz", data, embedding)
    import_embeddings(target, "radial", tmp_path / "radial.extxyz")
    imported = target.load("radial")
    np.testing.assert_allclose(imported, embedding, rtol=0, atol=1e-8)  # extxyz keeps 8 decimals
    anchors_a, unified_a, table_a = downstream(source)
    anchors_b, unified_b, table_b = downstream(target)
    np.testing.assert_array_equal(anchors_a["row"], anchors_b["row"])
    for model in ("radial", "other"):
        np.testing.assert_allclose(unified_b[model], unified_a[model], rtol=0, atol=1e-6)
    assert len(table_a) > 0 and set(table_a["metric"]) == {"procrustes", "cka", "mknn", "mknn_self", "gfre"}
    np.testing.assert_allclose(table_b["value"].to_numpy(), table_a["value"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_cli_import(stores, tmp_path):
    from platonic.cli import app

    data, source, target, embedding = stores
    path, ids = write_npy(tmp_path, target.atom_table(), embedding)
    result = CliRunner().invoke(app, ["import", "--store", str(target.root), "--name", "radial", str(path), "--ids", str(ids)])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output and str(data.n_atoms) in result.output
    np.testing.assert_array_equal(target.load("radial"), embedding)
    bad = CliRunner().invoke(app, ["import", "--store", str(target.root), "--name", "bad", str(path)])
    assert bad.exit_code == 2 and "ids file" in bad.output


def corrupt(embedding, table, how):
    """(embedding, table) with one deliberate fault and the message it must raise."""
    e, t = embedding.copy(), table.copy()
    t["structure_id"] = t["structure_id"].astype(str)
    if how == "Z":
        t.loc[12, "Z"] = 99
        return e, t, r"row 12\b.*Z 99, but store row 12"
    if how == "id":
        t.loc[3, "structure_id"] = "mp-999"
        return e, t, r"row 3\b.*structure id 'mp-999'"
    if how == "order":  # two atoms of one structure swapped
        t.loc[[5, 6]] = t.loc[[6, 5]].to_numpy()
        return e, t, r"row 5\b.*atom index"
    if how == "nan":
        e[20, 1] = np.nan
        return e, t, r"row 20\b.*column 1 is nan"
    if how == "inf":
        e[33, 2] = -np.inf
        return e, t, r"row 33\b.*column 2 is -inf"
    if how == "short":
        return e[:-4], t.iloc[:-4], r"ends after \d+ rows; the store has \d+ atoms"
    if how == "long":
        return np.vstack([e, e[:2]]), pd.concat([t, t.iloc[:2]]), r"past the store's last atom"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["Z", "id", "order", "nan", "inf", "short", "long"])
@pytest.mark.parametrize("fmt", ["npy", "parquet"])
def test_mismatches_are_refused_with_the_row_and_leave_nothing(stores, tmp_path, how, fmt):
    _, _, target, embedding = stores
    e, t, message = corrupt(embedding, target.atom_table(), how)
    t = t.reset_index(drop=True)
    if fmt == "npy":
        path, ids = write_npy(tmp_path, t, e)
    else:
        path, ids = tmp_path / "radial.parquet", None
        write_parquet(path, t, e)
    with pytest.raises(EmbeddingImportError, match=message):
        import_embeddings(target, "radial", path, ids=ids)
    assert "radial" not in target.models() and not target.model_dir("radial").exists()


def test_extxyz_names_frame_and_atom(stores, tmp_path):
    data, _, target, embedding = stores
    swapped = data.structures[1].copy()
    swapped.numbers[[0, 1]] = swapped.numbers[[1, 0]]  # NaCl: Na and Cl swapped in frame 1
    structures = list(data.structures)
    structures[1] = swapped
    bad = from_structures(structures, ids=data.ids, name="small")
    write_extxyz(tmp_path / "bad.extxyz", bad, embedding)
    row = data.atom_offsets[1]
    with pytest.raises(EmbeddingImportError, match=rf"row {row} \(frame 1, atom 0\): Z 17, but store row {row} is structure 'mp-1' atom 0 \(Z 11\)"):
        import_embeddings(target, "radial", tmp_path / "bad.extxyz")
    write_extxyz(tmp_path / "other_name.extxyz", data, embedding, name="mine")
    with pytest.raises(EmbeddingImportError, match=r"frame 0 \(mp-0\) has no per-atom array 'radial_emb'"):
        import_embeddings(target, "radial", tmp_path / "other_name.extxyz")


def test_bad_files_and_names(stores, tmp_path):
    _, source, target, embedding = stores
    table = target.atom_table()
    path, ids = write_npy(tmp_path, table, embedding)
    with pytest.raises(EmbeddingImportError, match="no structure ids"):
        import_embeddings(target, "radial", path)
    np.save(tmp_path / "ints.npy", embedding.astype(np.int32))
    with pytest.raises(EmbeddingImportError, match="dtype int32; expected floating-point"):
        import_embeddings(target, "radial", tmp_path / "ints.npy", ids=ids)
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(EmbeddingImportError, match="unknown format '.csv'"):
        import_embeddings(target, "radial", tmp_path / "x.csv")
    np.save(tmp_path / "wide.npy", np.full((len(table), 2), 1e39))  # float64 past float32's range
    with pytest.raises(EmbeddingImportError, match="row 0: column 0 is 1e\\+39 does not fit float32"):
        import_embeddings(target, "radial", tmp_path / "wide.npy", ids=ids)
    # An extracted model's name with another file is refused: the file's sha256 is in the fingerprint.
    with pytest.raises(StoreError, match="fingerprint"):
        import_embeddings(source, "radial", path, ids=ids)
    assert json.loads((source.model_dir("radial") / "card.json").read_text())["card"]["family"] == "test"
    assert source.is_complete("radial")


@pytest.mark.slow
def test_real_model_exported_to_extxyz_and_imported_is_the_same_model(tmp_path):
    from platonic.anchors.from_store import choose_anchors
    from platonic.compare.from_store import compare_store
    from platonic.datasets import load
    from platonic.project.from_store import project_store

    data = load("mp20", split="val", n=20, seed=5)
    extract(data, ["chgnet-0.3.0"], tmp_path / "s", shard_size=8)
    store = EmbeddingStore(tmp_path / "s")
    extracted = store.load("chgnet-0.3.0")
    write_extxyz(tmp_path / "chgnet.extxyz", data, extracted, name="chgnet_ext")
    import_embeddings(store, "chgnet_ext", tmp_path / "chgnet.extxyz", family="CHGNet", training_data="MPtrj")
    np.testing.assert_allclose(store.load("chgnet_ext"), extracted, rtol=0, atol=1e-8)
    a = choose_anchors(store, "chgnet-0.3.0", k=8, method="direct", random_state=0)
    b = choose_anchors(store, "chgnet_ext", k=8, method="direct", random_state=0)
    # the same anchor atoms up to ties: symmetry-equivalent atoms carry identical embeddings, and the
    # 1e-8 of the extxyz round trip may pick another member of such a set
    np.testing.assert_allclose(extracted[b["row"]], extracted[a["row"]], rtol=0, atol=1e-6)
    assert (a["row"] == b["row"]).sum() >= 6, (a["row"].tolist(), b["row"].tolist())
    unified = project_store(store, a["row"].to_numpy(), tmp_path / "unified")
    np.testing.assert_allclose(np.load(unified["chgnet_ext"]), np.load(unified["chgnet-0.3.0"]), rtol=0, atol=1e-6)
    table = compare_store(store, unified, metrics=["cka", "procrustes", "gfre"], k=3, random_state=0)
    pair = table[(table["model_a"] == "chgnet-0.3.0") & (table["model_b"] == "chgnet_ext")]
    assert set(pair["space"]) == {"raw", "unified"}
    for row in pair.itertuples():
        if row.metric == "gfre":  # reconstructing a model from itself: no error
            assert row.value < 1e-3, row
        else:  # a model against itself scores 1
            assert row.value == pytest.approx(1.0, abs=1e-5), row
