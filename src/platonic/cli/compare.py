"""``platonic compare``: model x model matrices of every metric."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from platonic.cli import _checks as checks
from platonic.cli._common import app, bad_input, console
from platonic.cli._defaults import from_schema


@app.command("compare", rich_help_panel="Pipeline")
@from_schema("compare", n_queries="compare.mknn_queries")
def compare_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    n_atoms: Optional[int] = typer.Option(None, help="Seeded subsample of atoms for every metric (default: all)."),
    mknn_score: str = typer.Option("jaccard", help="jaccard (the paper's) or overlap (Huh et al.)."),
    *, metrics: str, spaces: str, k: int, n_queries: int, ot_samples: int, ot_repeats: int, lfre_atoms: int,
    permutations: int, centred: bool, exclude_same_structure: bool, seed: int, twonn_atoms: int,
) -> None:
    """Model x model matrices of every metric, raw and unified space: tables and heatmaps."""
    from platonic.study.stages import compare_stage, results_dir

    s, names = checks.store_models(store, models)
    t0 = time.perf_counter()
    with bad_input(FileNotFoundError, ValueError):
        written = compare_stage(
            s, names, [m.strip() for m in metrics.split(",")], [x.strip() for x in spaces.split(",") if x.strip()],
            seed=seed, twonn_atoms=twonn_atoms, n_atoms=n_atoms, k=k, mknn_score=mknn_score, n_queries=n_queries or None,
            ot_n_samples=ot_samples, ot_repeats=ot_repeats, lfre_n_test=lfre_atoms, n_permutations=permutations,
            centred=centred, exclude_same_structure=exclude_same_structure,
        )
    table = written["metrics"]
    for warning in written.get("degenerate", []):
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {warning}")
    if "intrinsic_dimension" in written:
        typer.echo(written["intrinsic_dimension"][["model", "space", "dimension", "verdict"]]
                   .round(3).to_string(index=False))
    out = results_dir(s)
    console.print(
        f"{len(table)} metric values on {table['rows_used'].iloc[0]} atoms in {time.perf_counter() - t0:.1f} s: "
        f"{out / 'metrics.csv'}, {len(written['heatmaps'])} heatmaps in {out / 'figures'}"
    )
    summary = table[table.model_a != table.model_b].groupby(["space", "metric"])["value"].agg(["mean", "min", "max"])
    typer.echo(summary.round(3).to_string())
