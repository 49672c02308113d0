"""MP-20 loading on real data: subsamples, splits, properties, the full-train download path."""

from __future__ import annotations

import gzip
import io
import time
import urllib.error
import warnings

import numpy as np
import pandas as pd
import pytest

import platonic.datasets as datasets
from platonic.datasets import DatasetError, RejectedStructuresWarning, mp20
from platonic.datasets.mp20 import _PACKAGE_MP20


def test_subsample_is_reproducible_and_in_file_order(mp20_sample):
    again = datasets.load("mp20", n=50, seed=0)
    assert again.ids == mp20_sample.ids
    assert datasets.load("mp20", n=50, seed=1).ids != mp20_sample.ids
    order = {"val": 0, "test": 1, "train": 2}
    keys = [(order[s], int(src_row)) for s, src_row in zip(mp20_sample.splits, _rows(mp20_sample))]
    assert keys == sorted(keys)


def _rows(dataset):
    """Each structure's 1-based data row in its file, recovered from the file itself."""
    rows = []
    for source, structure_id in zip(dataset.sources, dataset.ids):
        table = _table(source)
        rows.append(int(np.flatnonzero(table["material_id"].to_numpy() == structure_id)[0]) + 1)
    return rows


_TABLES: dict[str, pd.DataFrame] = {}


def _table(source: str) -> pd.DataFrame:
    if source not in _TABLES:
        _TABLES[source] = pd.read_csv(source, usecols=["material_id", "cif", "formation_energy_per_atom", "num_atoms"])
    return _TABLES[source]


def test_structures_properties_and_sources_match_the_files(mp20_sample):
    for k in (0, 17, 49):
        table = _table(mp20_sample.sources[k])
        record = table[table["material_id"] == mp20_sample.ids[k]].iloc[0]
        assert len(mp20_sample.structures[k]) == record["num_atoms"]
        expected = record["formation_energy_per_atom"]
        got = mp20_sample.properties["formation_energy_per_atom"].iloc[k]
        assert (np.isnan(expected) and np.isnan(got)) or expected == got
    assert "cif" not in mp20_sample.properties and "upstream_source" in mp20_sample.properties


def test_single_split_and_split_lists():
    val = datasets.load("mp20", split="val", n=20)
    assert set(val.splits) == {"val"} and all(s.endswith("val.csv.gz") for s in val.sources)
    both = datasets.load("mp20", split=["test", "val"], n=30, seed=3)
    assert set(both.splits) <= {"test", "val"}
    assert both.splits == sorted(both.splits)  # test rows come before val rows, as asked


def test_small_load_is_fast():
    start = time.perf_counter()
    datasets.load("mp20", n=200, seed=5)
    assert time.perf_counter() - start < 10.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "mp21"}, "mp21: no such file .and not a dataset name; the names are mp20, mp20-full"),
        ({"split": "training"}, "split must be 'all', one of 'val', 'test', 'train' or a list of them, got 'training'"),
        ({"split": "val", "n": 9048}, "n=9048 is more than the 9,047 structures of mp20 split='val'"),
        ({"n": 0}, "n=0: a sample needs at least 1 structure"),
        ({"n": -3}, "n=-3: a sample needs at least 1 structure"),
        ({"n": 2.5}, "n must be a whole number of structures, got 2.5"),
        ({"cif_parser": "spglib"}, "cif_parser"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(datasets.DatasetError, match=message):
        datasets.load(**kwargs)


def test_general_parsers_give_the_same_structures():
    fast = datasets.load("mp20", split="test", n=8, seed=2)
    for parser in ("ase", "pymatgen"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's CIF warnings
            general = datasets.load("mp20", split="test", n=8, seed=2, cif_parser=parser)
        assert general.ids == fast.ids
        for ours, theirs in zip(fast.structures, general.structures):
            assert sorted(ours.numbers) == sorted(theirs.numbers)
            np.testing.assert_allclose(ours.get_volume(), theirs.get_volume(), rtol=1e-8)


def test_full_train_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="download_mp20"):
        datasets.load("mp20-full", split="train")


def test_full_train_read_from_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_DATA", str(tmp_path))
    (tmp_path / "mp20").mkdir()
    # CDVAE's train.csv has a leading unnamed index column; mimic it.
    pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=5).to_csv(tmp_path / "mp20" / "train.csv")
    full = datasets.load("mp20-full", split="train")
    assert len(full) == 5 and set(full.splits) == {"train"}
    assert not any(c.startswith("Unnamed") for c in full.properties.columns)


def test_download_failure_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(mp20.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match="could not download .*name resolution"):
        datasets.download_mp20(tmp_path / "train.csv")
    assert list(tmp_path.iterdir()) == []


def test_download_checks_the_content(tmp_path, monkeypatch):
    payload = pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=4).to_csv().encode()
    monkeypatch.setattr(mp20.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    with pytest.raises(DatasetError, match="has 4 rows, expected 27136"):
        datasets.download_mp20(tmp_path / "train.csv")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(mp20, "MP20_TRAIN_SIZE", 4)
    written = datasets.download_mp20(tmp_path / "train.csv")
    assert written.read_bytes() == payload


def _write_csv_gz(path, table: pd.DataFrame) -> None:
    with gzip.open(path, "wt") as handle:
        table.to_csv(handle, index=False)


def test_truncated_cif_row_is_reported_with_file_row_and_id(tmp_path):
    table = pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=3)
    cif = table.loc[1, "cif"]
    table.loc[1, "cif"] = cif[: len(cif) - 40]  # cut inside the last site line
    path = tmp_path / "broken.csv.gz"
    _write_csv_gz(path, table)
    bad_id = table.loc[1, "material_id"]
    with pytest.raises(DatasetError, match=rf"broken.csv.gz:2 \({bad_id}\): unreadable CIF"):
        datasets.read(path, cif_parser="fast")
    with pytest.warns(RejectedStructuresWarning, match="skipped 1"):
        kept = datasets.read(path, on_error="skip", cif_parser="fast")
    assert kept.ids == [table.loc[0, "material_id"], table.loc[2, "material_id"]]
    assert [(r.row, r.id) for r in kept.rejects] == [(2, bad_id)]


def test_cif_cut_at_a_line_boundary_is_caught_by_num_atoms(tmp_path):
    table = pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=2)
    lines = table.loc[0, "cif"].rstrip("\n").splitlines()
    table.loc[0, "cif"] = "\n".join(lines[:-1]) + "\n"
    path = tmp_path / "short.csv.gz"
    _write_csv_gz(path, table)
    with pytest.raises(DatasetError, match="num_atoms says"):
        datasets.read(path, cif_parser="ase")


def test_error_message_lists_twenty_and_counts_the_rest(tmp_path):
    table = pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=25)
    table["cif"] = "not a cif"
    path = tmp_path / "all_bad.csv.gz"
    _write_csv_gz(path, table)
    with pytest.raises(DatasetError) as raised:
        datasets.read(path, cif_parser="fast")
    message = str(raised.value)
    assert "25 invalid item(s)" in message and "... and 5 more" in message
    assert message.count("all_bad.csv.gz:") == 20


def test_case_studies():
    cases = datasets.case_studies()
    assert len(cases) == 15 and "mp-2657" in cases.ids and "Au-fcc-a4.08" in cases.ids
    gold = datasets.case_study("Au-fcc-a4.08")
    assert gold.get_volume() == pytest.approx(4.08**3 / 4, rel=1e-6)
    assert datasets.case_study("mp-3187").info["description"].startswith("BaCeO3")
    with pytest.raises(KeyError, match="available"):
        datasets.case_study("mp-0")


@pytest.mark.slow
def test_full_mp20_counts():
    start = time.perf_counter()
    everything = datasets.load("mp20")
    elapsed = time.perf_counter() - start
    counts = pd.Series(everything.splits).value_counts().to_dict()
    assert counts == {"val": 9047, "test": 9046, "train": 15837}
    assert len(everything) == 33_930 and everything.n_atoms == 347_703
    assert everything.rejects == []
    assert elapsed < 60.0
    start = time.perf_counter()
    everything.fingerprint()
    assert time.perf_counter() - start < 2.0
