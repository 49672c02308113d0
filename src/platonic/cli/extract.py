"""``platonic extract``, ``info`` and ``import``: building a store and reading what it holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from platonic.cli import _checks as checks
from platonic.cli._common import app, bad_input, chatter_logged, console, writing_to
from platonic.cli._defaults import from_schema


@app.command("extract", rich_help_panel="Pipeline")
@from_schema("extract", dataset="dataset.name", split="dataset.split", seed="dataset.seed", models="models.names",
             device="models.device")
def extract_cmd(
    out: Path = typer.Option(Path("store"), help="Store directory (created or resumed)."),
    n: Optional[int] = typer.Option(None, help="Reproducible subsample of N structures."),
    batch_atoms: Optional[int] = typer.Option(None, help="Atoms per forward pass (default: each model's own)."),
    shard_size: int = typer.Option(256, help="Structures per shard (unit of resumption)."),
    shard_index: int = typer.Option(0, help="This worker's index (job arrays)."),
    num_shards: int = typer.Option(1, help="Number of workers sharing the store."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Drop malformed structures (listed in a rejects report) instead of stopping."
    ),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (auto on a TTY)."),
    wait_for_lock: bool = typer.Option(
        False, "--wait-for-lock", help="If another extraction is writing into --out, wait for it instead of stopping."
    ),
    *, dataset: str, split: str, models: str, seed: int, device: str, engine: str, address: str, workers: int,
) -> None:
    """Embed every atom of a dataset with each model into a resumable store."""
    from platonic import datasets
    from platonic.extract import extract
    from platonic.extract.ray_engine import RayEngineError
    from platonic.models import DEFAULT_MODELS
    from platonic.progress import make_progress
    from platonic.store import StoreError

    names = list(DEFAULT_MODELS) if models == "default" else checks.split_models(models)
    writing_to(out)
    checks.model_names(names, "--models")
    checks.device(device, "--device")
    t0 = time.perf_counter()
    with bad_input(datasets.DatasetError):
        data = datasets.open(dataset, split=split, n=n, seed=seed, on_error="skip" if skip_bad else "raise")
    console.print(
        f"dataset [bold]{data.name}[/]: {len(data)} structures, {data.n_atoms} atoms "
        f"(loaded in {time.perf_counter() - t0:.1f} s)"
    )
    out.mkdir(parents=True, exist_ok=True)
    if data.rejects:
        _write_rejects(out / "rejects_dataset.csv", [r.__dict__ for r in data.rejects])
        console.print(f"[yellow]{len(data.rejects)} input structures rejected[/]: see {out / 'rejects_dataset.csv'}")
    with chatter_logged(out / "third-party.log") as streams:
        bar = make_progress(progress, stream=streams.stderr)
        try:
            with bad_input(StoreError, ValueError, RayEngineError):
                result = extract(
                    data, names, out, shard_size=shard_size, batch_atoms=batch_atoms, device=device,
                    shard_index=shard_index, num_shards=num_shards, progress=bar, atom_table=datasets.atom_table,
                    wait_for_lock=wait_for_lock, engine=engine, address=address,
                    workers=workers or None,  # 0, like the study's [extract].workers: one per CPU (or GPU)
                )
        finally:
            if hasattr(bar, "close"):
                bar.close()
    table = Table(title=f"store {out}")
    for col in ("model", "shards written", "shards already done", "atoms", "atoms/s", "rejected structures"):
        table.add_column(col)
    for name in names:
        rate = result.atoms_per_second(name)
        table.add_row(
            name,
            str(result.shards_written[name]),
            str(result.shards_skipped[name]),
            str(result.atoms_embedded[name]),
            "-" if rate != rate else f"{rate:.0f}",
            str(len(result.rejects[name])),
        )
        if result.rejects[name]:
            _write_rejects(out / f"rejects_{name.replace(':', '_').replace('/', '_')}.csv", result.rejects[name])
    Console().print(table)  # results: stdout
    if any(result.rejects.values()):
        console.print("[yellow]Some structures were not embedded by some models (NaN rows); see rejects_*.csv.[/]")


def _write_rejects(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)


@app.command("info", rich_help_panel="Pipeline")
def info_cmd(store: Path = typer.Argument(Path("store"), help="Store directory.")) -> None:
    """Show what a store holds: dataset, models, completeness, rejects."""
    from platonic.store import StoreError

    s = checks.open_store(store)
    console.print(
        f"dataset [bold]{s.meta['dataset_name']}[/] fingerprint {s.dataset_fingerprint}: "
        f"{s.meta['n_structures']} structures, {s.n_atoms} atoms, {s.n_shards} shards"
    )
    with bad_input(StoreError):
        summary = s.summary()
    invalid = summary.pop("invalid_shards") if len(summary) else []
    table = Table()
    for col in summary.columns:
        table.add_column(col)
    for row in summary.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    Console().print(table)  # results: stdout
    for model, problems in zip(summary.get("model", []), invalid):
        if problems:
            console.print(f"[red]{escape(model)}: invalid shards (re-run extract to redo them)[/]: {escape(problems)}")


@app.command("import", rich_help_panel="Pipeline")
def import_cmd(
    file: Path = typer.Argument(..., help="Per-atom embeddings: .npy (with --ids), .parquet or .extxyz."),
    store: Path = typer.Option(Path("store"), help="Store directory (from `platonic extract`)."),
    name: str = typer.Option(..., help="The model's name in the store (extxyz: the array <name>_emb)."),
    ids: Optional[Path] = typer.Option(None, help="For .npy: CSV or parquet of structure_id, atom_index, Z per row."),
    family: str = typer.Option("imported", help="The model family, for the card."),
    layer: Optional[str] = typer.Option(None, help="The layer the embeddings were read at, for the card."),
    training_data: str = typer.Option("unknown", help="What the model was trained on, for the card."),
    untrained: bool = typer.Option(False, "--untrained", help="A random-weight control (as the diagnostics treat it)."),
) -> None:
    """Bring your own embeddings: check a per-atom array against the store's atoms and add it as a model."""
    from platonic.store import StoreError, import_embeddings

    s = checks.open_store(store)
    with bad_input(StoreError):
        result = import_embeddings(s, name, file, ids=ids, family=family, layer=layer, training_data=training_data,
                                   trained=not untrained)
    console.print(
        f"imported [bold]{escape(name)}[/] from {escape(str(file))} ({result.format}, sha256 {result.sha256[:16]}...): "
        f"{result.rows} atoms x {result.dim}, {result.shards_written} shards written, {result.shards_skipped} already there"
    )
    console.print(f"checked: {escape(result.checked)}")
