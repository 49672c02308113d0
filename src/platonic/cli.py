"""The ``platonic`` command line: one verb per pipeline stage."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="platonic",
    help="Put the latent spaces of foundation MLIPs side by side.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


def _split_models(models: str) -> list[str]:
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        _fail("--models is empty")
    return names


def _load_dataset(dataset: str, split: str, n: Optional[int], seed: int, skip_bad: bool):
    from platonic import datasets

    on_error = "skip" if skip_bad else "raise"
    path = Path(dataset)
    if path.exists():
        data = datasets.read([path], on_error=on_error)
        if n is not None:
            rng_rows = datasets.subsample_indices(len(data), n, seed)
            data = data[rng_rows]
        return data
    return datasets.load(dataset, split=split, n=n, seed=seed, on_error=on_error)


@app.command("models", rich_help_panel="Models")
def models_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON."),
) -> None:
    """List the model adapters, whether their weights are found, and their cards."""
    from platonic.models import available_models

    rows = available_models()
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    table = Table(title="platonic model adapters")
    for col in ("name", "family", "dim", "layer", "equivariant", "trained on", "weights"):
        table.add_column(col)
    for r in rows:
        found = "[green]found[/]" if r["weights_found"] else f"[red]missing[/] ({r.get('reason', '')})"
        table.add_row(
            r["name"], r["family"], str(r["dim"]), r["layer"], str(r["equivariant"]), r["training_data"], found
        )
    Console().print(table)


@app.command("extract", rich_help_panel="Pipeline")
def extract_cmd(
    dataset: str = typer.Option("mp20", help="Dataset name (mp20, mp20-full) or a structure file."),
    split: str = typer.Option("all", help="MP-20 split: all, train, val, test."),
    models: str = typer.Option(
        "default", help="Comma-separated model names, or 'default' for every offline model and the dummy."
    ),
    out: Path = typer.Option(Path("store"), help="Store directory (created or resumed)."),
    n: Optional[int] = typer.Option(None, help="Reproducible subsample of N structures."),
    seed: int = typer.Option(0, help="Seed of the subsample."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    batch_atoms: int = typer.Option(2048, help="Atoms per forward pass."),
    shard_size: int = typer.Option(256, help="Structures per shard (unit of resumption)."),
    shard_index: int = typer.Option(0, help="This worker's index (job arrays)."),
    num_shards: int = typer.Option(1, help="Number of workers sharing the store."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Drop malformed structures (listed in a rejects report) instead of stopping."
    ),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (auto on a TTY)."),
) -> None:
    """Embed every atom of a dataset with each model into a resumable store."""
    from platonic.datasets import DatasetError, atom_table
    from platonic.extract import extract
    from platonic.models import DEFAULT_MODELS
    from platonic.progress import make_progress
    from platonic.store import StoreError

    names = list(DEFAULT_MODELS) if models == "default" else _split_models(models)
    t0 = time.perf_counter()
    try:
        data = _load_dataset(dataset, split, n, seed, skip_bad)
    except DatasetError as exc:
        _fail(str(exc))
    console.print(
        f"dataset [bold]{data.name}[/]: {len(data)} structures, {data.n_atoms} atoms "
        f"(loaded in {time.perf_counter() - t0:.1f} s)"
    )
    out.mkdir(parents=True, exist_ok=True)
    if data.rejects:
        _write_rejects(out / "rejects_dataset.csv", [r.__dict__ for r in data.rejects])
        console.print(f"[yellow]{len(data.rejects)} input structures rejected[/]: see {out / 'rejects_dataset.csv'}")
    bar = make_progress(progress)
    try:
        result = extract(
            data,
            names,
            out,
            shard_size=shard_size,
            batch_atoms=batch_atoms,
            device=device,
            shard_index=shard_index,
            num_shards=num_shards,
            progress=bar,
            atom_table=atom_table,
        )
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
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
    Console(stderr=True).print(table)
    if any(result.rejects.values()):
        console.print("[yellow]Some structures were not embedded by some models (NaN rows); see rejects_*.csv.[/]")


def _write_rejects(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(path, index=False)


@app.command("info", rich_help_panel="Pipeline")
def info_cmd(store: Path = typer.Argument(Path("store"), help="Store directory.")) -> None:
    """Show what a store holds: dataset, models, completeness, rejects."""
    from platonic.store import EmbeddingStore, StoreError

    try:
        s = EmbeddingStore(store)
    except StoreError as exc:
        _fail(str(exc))
    console.print(
        f"dataset [bold]{s.meta['dataset_name']}[/] fingerprint {s.dataset_fingerprint}: "
        f"{s.meta['n_structures']} structures, {s.n_atoms} atoms, {s.n_shards} shards"
    )
    summary = s.summary()
    table = Table()
    for col in summary.columns:
        table.add_column(col)
    for row in summary.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    Console(stderr=True).print(table)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
