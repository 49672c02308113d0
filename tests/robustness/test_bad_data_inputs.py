"""A generated corpus of bad and odd data inputs: structure files, dataset arguments, stores.

Every case states its exact outcome: either a clean error (a ``PlatonicError`` subclass) whose
message names the file, the row or frame (``file:row (id): reason``) or key, and the reason; or
a documented acceptance (what is accepted, and what it becomes). Where the input reaches the
command line, the CLI is run too: a non-zero exit, the same reason, no traceback. All files are
generated in ``tmp_path``; the model is a closed-form stand-in (``robust_fakes.TinyModel``).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from platonic import datasets
from platonic.cli import app
from platonic.datasets import DatasetError, RejectedStructuresWarning
from platonic.datasets.mp20 import _PACKAGE_MP20
from platonic.errors import PlatonicError
from platonic.extract import extract
from platonic.store import EmbeddingStore, StoreError
from robust_fakes import load_tiny, small_crystals, tiny_embedding, use_tiny

runner = CliRunner()


def squash(text: str) -> str:
    """Text without whitespace: the console wraps long lines (and paths) anywhere."""
    return "".join(text.split())


def run_cli(*args: str):
    result = runner.invoke(app, list(args))
    return result, squash(result.output)


def assert_clean_cli_failure(result, squashed: str, *expected: str) -> None:
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for text in expected:
        assert squash(text) in squashed, f"{text!r} not in {result.output!r}"


# ---------------------------------------------------------------- generated structure files

def xyz_frame(lines: list[str], lattice: str = "5 0 0 0 5 0 0 0 5", pbc: str = "T T T") -> str:
    header = f'Lattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="{pbc}"'
    return f"{len(lines)}\n{header}\n" + "".join(f"{line}\n" for line in lines)


GOOD = xyz_frame(["Cu 0 0 0", "Cu 1.8 1.8 0"], lattice="3.6 0 0 0 3.6 0 0 0 3.6")
NACL = xyz_frame(["Na 0 0 0", "Cl 2.8 2.8 2.8"], lattice="5.6 0 0 0 5.6 0 0 0 5.6")

CELL = "\n".join(
    f"_cell_{key} {value}"
    for key, value in zip(
        ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma"),
        ("{a}", "{b}", "{c}", "{alpha}", "{beta}", "{gamma}"),
    )
)
SITES = """loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
{first} {first}1 0 0 0
Cl Cl1 0.5 0.5 0.5
"""


def cif(name: str = "x", cell: dict | None = None, first: str = "Na") -> str:
    """A NaCl-like P1 CIF block; ``cell=None`` leaves out every cell parameter."""
    text = f"data_{name}\n_symmetry_space_group_name_H-M 'P 1'\n"
    if cell is not None:
        values = {"a": 5.6, "b": 5.6, "c": 5.6, "alpha": 90, "beta": 90, "gamma": 90, **cell}
        text += CELL.format(**values) + "\n"
    return text + SITES.format(first=first)


def cif_table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_csv(index=False)


def jsonl_lines() -> str:
    from pymatgen.core import Lattice, Structure

    good = Structure(Lattice.cubic(3.6), ["Cu"], [[0, 0, 0]]).as_dict()
    return json.dumps(good) + "\n" + '{"lattice": "broken"\n' + json.dumps(good) + "\n"


@dataclass
class FileCase:
    """One generated file and what reading it must give.

    ``error``: substrings the DatasetError must contain (besides the file path), or ``None``
    for an accepted file; ``kept``: structures kept (with ``on_error='skip'`` when ``error``);
    ``rows``: the rows (frames, lines) of the rejects.
    """

    name: str
    content: str | bytes | Callable[[], str | bytes]
    error: tuple[str, ...] | None
    kept: int = 0
    rows: tuple[int, ...] = ()
    check: Callable | None = None

    def write(self, directory: Path) -> Path:
        path = directory / self.name
        content = self.content() if callable(self.content) else self.content
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path


def _molecule_as_written(data):
    atoms = data.structures[0]
    assert not atoms.pbc.any()
    np.testing.assert_allclose(atoms.positions[1], [0.96, 0, 0])


def _huge_cell(data):
    assert data.structures[0].cell.lengths().tolist() == [10000.0, 10000.0, 10000.0]


MP20_ROW = pd.read_csv(_PACKAGE_MP20 / "val.csv.gz", nrows=2, dtype={"material_id": str})
MP20_CIF, MP20_ID = MP20_ROW["cif"].iloc[0], MP20_ROW["material_id"].iloc[0]
MP20_ATOMS = int(MP20_ROW["num_atoms"].iloc[0]) if "num_atoms" in MP20_ROW else None


FILE_CASES = [
    # xyz / extxyz: one bad frame is one reject, the others are kept
    FileCase("frame2_bad_number.extxyz", GOOD + xyz_frame(["Cu 0 zz 0"]) + NACL,
             (":2 (frame2_bad_number:1): unreadable frame: ValueError: could not convert string to float: 'zz'",),
             kept=2, rows=(2,)),
    FileCase("frame3_bad_count.extxyz", GOOD + NACL + "three\nLattice=\"5 0 0 0 5 0 0 0 5\"\nCu 0 0 0\n",
             (":3 (frame3_bad_count:2): line 9: 'three' is not an atom count; later frames cannot be located",),
             kept=2, rows=(3,)),
    FileCase("truncated.extxyz", GOOD + "3\nLattice=\"4 0 0 0 4 0 0 0 4\" pbc=\"T T T\"\nCu 0 0 0\n",
             (":2 (truncated:1): truncated: the frame declares 3 atoms, the file ends after 1",), kept=1, rows=(2,)),
    FileCase("unknown_element.extxyz", GOOD + xyz_frame(["Xx 0 0 0"]),
             (":2 (unknown_element:1): unreadable frame: unknown element symbol 'Xx'",), kept=1, rows=(2,)),
    FileCase("zero_atoms.extxyz", GOOD + xyz_frame([]) + NACL,
             (":2 (zero_atoms:1): empty structure (no atoms)",), kept=2, rows=(2,)),
    FileCase("overlap.extxyz", xyz_frame(["Cu 0 0 0", "Cu 0.1 0 0"]) + GOOD,
             (":1 (overlap:0): overlapping atoms: atoms 0 and 1 are 0.100 Å apart (min_distance=0.5)",),
             kept=1, rows=(1,)),
    FileCase("self_image.extxyz", xyz_frame(["H 0 0 0"], lattice="0.3 0 0 0 5 0 0 0 5"),
             (":1 (self_image:0): overlapping atoms: atom 0 and its own periodic image are 0.300 Å apart",)),
    FileCase("parallel_cell.extxyz", xyz_frame(["Cu 0 0 0"], lattice="3 0 0 6 0 0 0 0 3"),
             (":1 (parallel_cell:0): degenerate cell (periodic volume 0 < 1e-06)",)),
    FileCase("zero_cell.extxyz", xyz_frame(["Cu 0 0 0"], lattice="0 0 0 0 0 0 0 0 0"),
             (":1 (zero_cell:0): degenerate cell (periodic volume 0 < 1e-06)",)),
    FileCase("flat_cell.extxyz", xyz_frame(["Cu 0 0 0"], lattice="5 0 0 -2.5 4.330127 0 -2.5 -4.330127 0.000001"),
             (":1 (flat_cell:0): degenerate cell (periodic volume", "linearly dependent up to rounding)")),
    FileCase("skewed_basis.extxyz", xyz_frame(["Cu 0 0 0", "Cu 1.5 1.5 1.5"], lattice="3 0 0 300 3 0 0 0 3"),
             None, kept=1),
    FileCase("nan_position.extxyz", xyz_frame(["Cu nan 0 0"]), (":1 (nan_position:0): non-finite position for atom 0",)),
    FileCase("missing_column.extxyz", xyz_frame(["Cu 0 0"]),
             (":1 (missing_column:0): unreadable frame: ValueError",)),
    FileCase("empty.extxyz", "", ("empty.extxyz: no usable structure (0 rejected)",)),
    FileCase("binary.extxyz", bytes(range(256)) * 4, (":1 (binary:0): line 1:", "is not an atom count")),
    FileCase("one_atom_cell.extxyz", xyz_frame(["Fe 0 0 0"], lattice="2.5 0 0 0 2.5 0 0 0 2.5"), None, kept=1),
    FileCase("huge_cell.extxyz", xyz_frame(["Cu 0 0 0", "Cu 5000 5000 5000"], lattice="10000 0 0 0 10000 0 0 0 10000"),
             None, kept=1, check=_huge_cell),
    # CIF: a cell is required for fractional coordinates and must be a cell
    FileCase("no_cell.cif", cif(cell=None),
             (":1 (no_cell:0): no cell parameters (_cell_length_a/b/c, _cell_angle_alpha/beta/gamma) "
              "for fractional coordinates",)),
    FileCase("negative_length.cif", cif(cell={"a": -5.6}),
             (":1 (negative_length:0): cell lengths a, b, c = [-5.6, 5.6, 5.6] Å: each must be positive",)),
    FileCase("zero_length.cif", cif(cell={"c": 0}),
             (":1 (zero_length:0): cell lengths a, b, c = [5.6, 5.6, 0.0] Å: each must be positive",)),
    FileCase("flat_angle.cif", cif(cell={"gamma": 180}),
             (":1 (flat_angle:0): cell angles alpha, beta, gamma = [90.0, 90.0, 180.0]°: each must lie in (0, 180)",)),
    FileCase("no_volume.cif", cif(cell={"alpha": 120, "beta": 120, "gamma": 120}),
             (":1 (no_volume:0): cell parameters [5.6, 5.6, 5.6, 120.0, 120.0, 120.0] span no volume (degenerate cell)",)),
    FileCase("unknown_element.cif", cif(cell={}, first="Qq"), (":1 (unknown_element:0): unknown element symbol 'Qq'",)),
    FileCase("syntax.cif", "data_x\nloop_\n_atom_site_label\n_atom_site_fract_x\n\"unterminated\n",
             (":1 (syntax:0): unreadable CIF from this block on: ValueError: No closing quotation",)),
    FileCase("block2_no_cell.cif", cif("a", cell={}) + cif("b", cell=None) + cif("c", cell={"a": 6.0}),
             (":2 (block2_no_cell:1): no cell parameters",), kept=2, rows=(2,)),
    FileCase("cartesian_molecule.cif",
             "data_m\nloop_\n_atom_site_type_symbol\n_atom_site_label\n_atom_site_Cartn_x\n_atom_site_Cartn_y\n"
             "_atom_site_Cartn_z\nO O1 0 0 0\nH H1 0.96 0 0\nH H2 -0.24 0.93 0\n",
             None, kept=1, check=_molecule_as_written),
    # CIF tables (MP-20 / CDVAE format)
    FileCase("no_cif_column.csv", cif_table([{"material_id": "a", "structure": "x"}]),
             ("missing column(s) ['cif']; a CIF table needs ('material_id', 'cif')",)),
    FileCase("corrupt.csv.gz", b"\x1f\x8b\x08\x00" + bytes(range(200)), ("unreadable CSV",)),
    FileCase("empty_cif.csv", cif_table([{"material_id": MP20_ID, "cif": MP20_CIF}, {"material_id": "mp-b", "cif": ""}]),
             (":2 (mp-b): missing CIF text",), kept=1, rows=(2,)),
    FileCase("row_no_cell.csv", cif_table([{"material_id": "mp-a", "cif": cif(cell=None)}]),
             (":1 (mp-a): unreadable CIF: CifCellError: no cell parameters",)),
    FileCase("row_negative_cell.csv", cif_table([{"material_id": "mp-a", "cif": cif(cell={"b": -1})}]),
             (":1 (mp-a): unreadable CIF: CifCellError: cell lengths a, b, c = [5.6, -1.0, 5.6] Å",)),
    FileCase("num_atoms.csv", cif_table([{"material_id": "mp-a", "cif": cif(cell={}), "num_atoms": 3}]),
             (":1 (mp-a): CIF has 2 atoms but num_atoms says 3 (truncated?)",)),
    FileCase("duplicate_id.csv", cif_table([{"material_id": "x", "cif": cif(cell={})}] * 2),
             (":2 (x): duplicate id",), kept=1, rows=(2,)),
    # pymatgen JSON lines and other ASE formats
    FileCase("structures.jsonl", jsonl_lines, (":2 (structures:1): unreadable Structure JSON",), kept=2, rows=(2,)),
    FileCase("POSCAR", "garbage\nnot a poscar\n", (":1 (POSCAR:0): unreadable from this frame on",)),
]


@pytest.mark.parametrize("case", FILE_CASES, ids=[case.name for case in FILE_CASES])
def test_structure_file_through_open(case, tmp_path):
    path = case.write(tmp_path)
    if case.error is None:
        data = datasets.open(path)
        assert len(data) == case.kept and not data.rejects
        if case.check is not None:
            case.check(data)
        return
    with pytest.raises(DatasetError) as raised:
        datasets.open(path)
    assert isinstance(raised.value, PlatonicError)
    for text in (str(path), *case.error):
        assert text in str(raised.value)
    if case.kept:
        with pytest.warns(RejectedStructuresWarning):
            data = datasets.open(path, on_error="skip")
        assert len(data) == case.kept
        assert tuple(reject.row for reject in data.rejects) == case.rows
        assert all(reject.source == str(path) and reject.reason for reject in data.rejects)


CLI_FILE_CASES = [case for case in FILE_CASES if case.error is not None]


@pytest.mark.parametrize("case", CLI_FILE_CASES, ids=[case.name for case in CLI_FILE_CASES])
def test_structure_file_through_the_cli(case, tmp_path, monkeypatch):
    use_tiny(monkeypatch)
    path = case.write(tmp_path)
    result, squashed = run_cli("extract", "--dataset", str(path), "--models", "tiny", "--out", str(tmp_path / "s"),
                               "--no-progress")
    assert_clean_cli_failure(result, squashed, str(path), *case.error)


def test_skip_bad_keeps_the_good_frames_and_records_the_bad_one(tmp_path, monkeypatch):
    use_tiny(monkeypatch)
    path = FILE_CASES[0].write(tmp_path)
    out = tmp_path / "s"
    with pytest.warns(RejectedStructuresWarning, match="skipped 1 invalid item"):
        result, _ = run_cli("extract", "--dataset", str(path), "--models", "tiny", "--out", str(out), "--skip-bad",
                            "--no-progress")
    assert result.exit_code == 0, result.output
    assert EmbeddingStore(out).meta["n_structures"] == 2
    rejects = pd.read_csv(out / "rejects_dataset.csv")
    assert rejects[["row", "id"]].values.tolist() == [[2, "frame2_bad_number:1"]]
    assert "could not convert string to float: 'zz'" in rejects["reason"].iloc[0]


# ---------------------------------------------------------------- paths and dataset arguments

@dataclass
class ArgumentCase:
    name: str
    kwargs: dict
    error: str
    cli: tuple[str, ...] | None = None  # the same request on the command line
    file: bool = False  # name_or_path is a generated 3-structure extxyz


ARGUMENT_CASES = [
    ArgumentCase("missing_path", {"name_or_path": "{tmp}/nowhere.extxyz"},
                 "nowhere.extxyz: no such file (and not a dataset name; the names are mp20, mp20-full)",
                 cli=("--dataset", "{tmp}/nowhere.extxyz")),
    ArgumentCase("directory", {"name_or_path": "{tmp}"}, ": a directory, not a structure file",
                 cli=("--dataset", "{tmp}")),
    ArgumentCase("unknown_name", {"name_or_path": "mp21"},
                 "mp21: no such file (and not a dataset name; the names are mp20, mp20-full)", cli=("--dataset", "mp21")),
    ArgumentCase("split_validation", {"name_or_path": "mp20", "split": "validation"},
                 "split must be 'all', one of 'val', 'test', 'train' or a list of them, got 'validation'",
                 cli=("--split", "validation")),
    ArgumentCase("split_on_a_file", {"split": "val"}, "split='val': splits select parts of MP-20", file=True,
                 cli=("--split", "val")),
    ArgumentCase("n_zero", {"name_or_path": "mp20", "n": 0}, "n=0: a sample needs at least 1 structure", cli=("--n", "0")),
    ArgumentCase("n_negative", {"name_or_path": "mp20", "n": -5}, "n=-5: a sample needs at least 1 structure",
                 cli=("--n", "-5")),
    ArgumentCase("n_too_large_mp20", {"name_or_path": "mp20", "split": "val", "n": 99999},
                 "n=99999 is more than the 9,047 structures of mp20 split='val'", cli=("--split", "val", "--n", "99999")),
    ArgumentCase("n_too_large_file", {"n": 7}, "n=7 is more than the 3 structures of", file=True, cli=("--n", "7")),
    ArgumentCase("n_zero_file", {"n": 0}, "n=0: a sample needs at least 1 structure", file=True, cli=("--n", "0")),
    ArgumentCase("n_not_whole", {"name_or_path": "mp20", "n": 2.5}, "n must be a whole number of structures, got 2.5"),
    ArgumentCase("on_error_unknown", {"name_or_path": "mp20", "on_error": "ignore"},
                 "on_error must be one of ('raise', 'skip'), got 'ignore'"),
    ArgumentCase("cif_parser_unknown", {"name_or_path": "mp20", "cif_parser": "spglib"},
                 "cif_parser must be 'fast', 'ase' or 'pymatgen', got 'spglib'"),
]


def _three_frames(tmp_path: Path) -> Path:
    path = tmp_path / "three.extxyz"
    path.write_text(GOOD + NACL + xyz_frame(["Fe 0 0 0"], lattice="2.9 0 0 0 2.9 0 0 0 2.9"))
    return path


def _fill(value, tmp_path):
    return value.replace("{tmp}", str(tmp_path)) if isinstance(value, str) else value


@pytest.mark.parametrize("case", ARGUMENT_CASES, ids=[case.name for case in ARGUMENT_CASES])
def test_dataset_argument(case, tmp_path):
    kwargs = {key: _fill(value, tmp_path) for key, value in case.kwargs.items()}
    if case.file:
        kwargs["name_or_path"] = _three_frames(tmp_path)
    with pytest.raises(DatasetError, match=None) as raised:
        datasets.open(**kwargs)
    assert case.error in str(raised.value)


CLI_ARGUMENT_CASES = [case for case in ARGUMENT_CASES if case.cli is not None]


@pytest.mark.parametrize("case", CLI_ARGUMENT_CASES, ids=[case.name for case in CLI_ARGUMENT_CASES])
def test_dataset_argument_through_the_cli(case, tmp_path, monkeypatch):
    use_tiny(monkeypatch)
    args = [_fill(value, tmp_path) for value in case.cli]
    if case.file:
        args = ["--dataset", str(_three_frames(tmp_path)), *args]
    result, squashed = run_cli("extract", *args, "--models", "tiny", "--out", str(tmp_path / "s"), "--no-progress")
    assert_clean_cli_failure(result, squashed, case.error)


# ---------------------------------------------------------------- tampered stores

@pytest.fixture
def store_root(tmp_path) -> Path:
    """Six small crystals (16 atoms) embedded by the stand-in model, three shards of two structures."""
    root = tmp_path / "store"
    extract(small_crystals(6), ["tiny"], root, shard_size=2, load_model=load_tiny)
    return root


def _shard(root: Path, shard: int = 1) -> tuple[Path, Path]:
    directory = root / "models" / "tiny"
    return directory / f"shard-{shard:05d}.npy", directory / f"shard-{shard:05d}.json"


def _resign(root: Path, array: np.ndarray | bytes, shard: int = 1) -> None:
    """Replace a shard's array and update its sidecar's checksum, as a buggy writer would."""
    npy, side = _shard(root, shard)
    if isinstance(array, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, array)
        array = buffer.getvalue()
    npy.write_bytes(array)
    record = json.loads(side.read_text())
    record["sha256"] = hashlib.sha256(array).hexdigest()
    side.write_text(json.dumps(record))


def _edit_meta(root: Path, edit: Callable[[dict], None]) -> None:
    meta = json.loads((root / "dataset.json").read_text())
    edit(meta)
    (root / "dataset.json").write_text(json.dumps(meta))


def _edit_card(root: Path, **changes) -> None:
    path = root / "models" / "tiny" / "card.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _legacy_inconsistent(meta: dict) -> None:
    del meta["meta_sha256"]
    meta["n_atoms"] += 1


def _nan_rows(root: Path) -> None:
    npy, _ = _shard(root)
    array = np.load(npy)
    array[1] = np.nan
    _resign(root, array)


def _wrong_shape(root: Path) -> None:
    npy, _ = _shard(root)
    _resign(root, np.load(npy)[:, :1].copy())


def _flip_byte(root: Path) -> None:
    npy, _ = _shard(root)
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF
    npy.write_bytes(bytes(data))


@dataclass
class StoreCase:
    """A tamper and where it must be caught: at open (``EmbeddingStore(root)``) or on load."""

    name: str
    tamper: Callable[[Path], None]
    stage: str  # "open" | "load" | "atom_table"
    error: tuple[str, ...]
    info_fails: bool = False  # `platonic info` exits non-zero; else it reports the store incomplete
    extra: dict = field(default_factory=dict)


STORE_CASES = [
    StoreCase("edited_atom_count", lambda r: _edit_meta(r, lambda m: m.update(n_atoms=m["n_atoms"] + 1)), "open",
              ("dataset.json: checksum mismatch: the file was changed after the store was written",), info_fails=True),
    StoreCase("edited_name", lambda r: _edit_meta(r, lambda m: m.update(dataset_name="other")), "open",
              ("dataset.json: checksum mismatch",), info_fails=True),
    StoreCase("dataset_json_not_json", lambda r: (r / "dataset.json").write_text("{not json"), "open",
              ("dataset.json: unreadable (JSONDecodeError",), info_fails=True),
    StoreCase("dataset_json_missing_key", lambda r: _edit_meta(r, lambda m: m.pop("shard_rows")), "open",
              ("dataset.json: key 'shard_rows' is missing or not a list (got None)",), info_fails=True),
    StoreCase("dataset_json_deleted", lambda r: (r / "dataset.json").unlink(), "open",
              ("not an embedding store (no dataset.json)",), info_fails=True),
    StoreCase("legacy_inconsistent_counts", lambda r: _edit_meta(r, _legacy_inconsistent), "open",
              ("dataset.json: inconsistent: n_atoms is 17 but the shards end at atom row 16",), info_fails=True),
    StoreCase("future_format", lambda r: _edit_meta(r, lambda m: m.update(format_version=2)), "open",
              ("dataset.json: format_version 2, this platonic reads 1",), info_fails=True),
    StoreCase("truncated_shard", lambda r: _shard(r)[0].write_bytes(_shard(r)[0].read_bytes()[:100]), "load",
              ("shard-00001.npy: checksum does not match shard-00001.json",)),
    StoreCase("flipped_byte", _flip_byte, "load", ("shard-00001.npy: checksum does not match shard-00001.json",)),
    StoreCase("nan_rows_not_rejects", _nan_rows, "load",
              ("shard-00001.npy: model 'tiny', shard 1: row", "holds NaN/inf but is not listed as a reject"),),
    StoreCase("wrong_shape", _wrong_shape, "load", ("shard-00001.npy: shape (", ", 1), expected (",)),
    StoreCase("not_an_npy", lambda r: _resign(r, b"not a numpy file"), "load", ("shard-00001.npy: unreadable array",)),
    StoreCase("deleted_sidecar", lambda r: _shard(r)[1].unlink(), "load",
              ("model 'tiny' is incomplete: shard 1 missing (1 of 3 missing). Re-run extract to resume.",)),
    StoreCase("deleted_shard", lambda r: _shard(r)[0].unlink(), "load",
              ("model 'tiny' is incomplete: shard 1 missing (1 of 3 missing)",)),
    StoreCase("sidecar_not_json", lambda r: _shard(r)[1].write_text("]["), "load",
              ("shard-00001.json: unreadable shard sidecar (JSONDecodeError",)),
    StoreCase("card_not_json", lambda r: (r / "models" / "tiny" / "card.json").write_text("{"), "load",
              ("models/tiny/card.json: unreadable model card (JSONDecodeError",), info_fails=True),
    StoreCase("card_bad_dim", lambda r: _edit_card(r, dim=0), "load",
              ("models/tiny/card.json: model card with name 'tiny', dim 0",), info_fails=True),
    StoreCase("atom_table_edited", lambda r: (r / "atoms.parquet").write_bytes(b"PAR1 edited"), "atom_table",
              ("atoms.parquet: checksum", "does not match dataset.json")),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[case.name for case in STORE_CASES])
def test_tampered_store(case, store_root):
    case.tamper(store_root)
    with pytest.raises(StoreError) as raised:
        store = EmbeddingStore(store_root)
        if case.stage == "load":
            store.load("tiny")
        elif case.stage == "atom_table":
            store.atom_table()
    assert case.stage == "open" or "store" in locals()
    for text in case.error:
        assert text in str(raised.value)


INFO_CASES = [case for case in STORE_CASES if case.stage != "atom_table"]


@pytest.mark.parametrize("case", INFO_CASES, ids=[case.name for case in INFO_CASES])
def test_tampered_store_through_info(case, store_root):
    """``platonic info`` either refuses the store cleanly or reports it incomplete with the reason."""
    case.tamper(store_root)
    result, squashed = run_cli("info", str(store_root))
    if case.info_fails:
        assert_clean_cli_failure(result, squashed, *case.error)
        return
    assert result.exit_code == 0, result.output
    summary = EmbeddingStore(store_root).summary().iloc[0]
    assert not summary["complete"] and summary["shards_done"] == 2
    assert squash("False") in squashed
    if case.name not in ("deleted_sidecar", "deleted_shard"):
        assert summary["invalid_shards"].startswith("shard 1: ")
        assert squash(f"tiny: invalid shards (re-run extract to redo them): {summary['invalid_shards']}") in squashed


def test_unknown_model_in_a_store(store_root):
    with pytest.raises(StoreError, match=r"no model 'other'; has \['tiny'\]"):
        EmbeddingStore(store_root).load("other")


def test_resume_recomputes_a_shard_with_unlisted_nan_rows(store_root):
    _nan_rows(store_root)
    result = extract(small_crystals(6), ["tiny"], store_root, shard_size=2, load_model=load_tiny)
    assert result.shards_written["tiny"] == 1 and result.shards_skipped["tiny"] == 2
    expected = np.concatenate([tiny_embedding(atoms) for atoms in small_crystals(6).structures])
    np.testing.assert_array_equal(EmbeddingStore(store_root).load("tiny"), expected)


# ---------------------------------------------------------------- non-finite model output

def test_nan_model_output_is_a_reject_not_silent(tmp_path, monkeypatch):
    """Documented acceptance: a structure whose embedding holds NaN gets NaN rows and a reject
    record with the reason; the store is complete and says how many structures were rejected."""
    use_tiny(monkeypatch)
    out = tmp_path / "s"
    data = small_crystals(6)  # Cl (Z=17) only in the NaCl crystals c1 and c5
    path = tmp_path / "crystals.extxyz"
    import ase.io

    for atoms, structure_id in zip(data.structures, data.ids):
        atoms.info["id"] = structure_id
    ase.io.write(path, data.structures, format="extxyz")
    result, squashed = run_cli("extract", "--dataset", str(path), "--models", "tiny-nan-17", "--out", str(out),
                               "--no-progress")
    assert result.exit_code == 0, result.output
    store = EmbeddingStore(out)
    rejects = store.rejects("tiny-nan-17")
    assert [r["structure_id"] for r in rejects] == ["c1", "c5"]
    assert {r["reason"] for r in rejects} == {
        "non-finite embedding: the model output NaN/inf for 2 of 4 atoms (first: atom 1); the structure's rows are left NaN"
    }
    matrix = store.load("tiny-nan-17")
    offsets = datasets.open(path).atom_offsets
    for index in (1, 5):
        assert np.isnan(matrix[offsets[index] : offsets[index + 1]]).all()
    assert np.isfinite(np.delete(matrix, np.r_[offsets[1] : offsets[2], offsets[5] : offsets[6]], axis=0)).all()
    summary = store.summary().iloc[0]
    assert summary["complete"] and summary["rejected_structures"] == 2
    csv = pd.read_csv(out / "rejects_tiny-nan-17.csv")
    assert csv["structure_id"].tolist() == ["c1", "c5"] and csv["reason"].str.contains("non-finite").all()
