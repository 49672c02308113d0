"""``platonic anchors`` and ``project``: the anchor atoms and the unified space they span."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from platonic.cli import _checks as checks
from platonic.cli._common import app, bad_input, console
from platonic.cli._defaults import from_schema


@app.command("anchors", rich_help_panel="Pipeline")
@from_schema("anchors")
def anchors_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (from `platonic extract`)."),
    *, reference: str, k: int, method: str, seed: int, diversity: bool, sweep: bool,
) -> None:
    """Pick K anchor atoms (the same atoms for every model) on a reference model."""
    from platonic.anchors import AnchorError
    from platonic.study.stages import anchor_stage, k_sweep_convergence, results_dir, sweep_stage

    s = checks.open_store(store)
    t0 = time.perf_counter()
    with bad_input(AnchorError, ValueError):
        tables = anchor_stage(s, reference, k, method, seed, diversity=diversity)
    anchors = tables["anchors"]
    console.print(
        f"{k} {method} anchors on {reference} among {anchors.attrs['candidates']} atoms "
        f"({time.perf_counter() - t0:.1f} s): {results_dir(s) / 'anchors.csv'}"
    )
    counts = anchors["element"].value_counts()
    console.print("anchor elements: " + ", ".join(f"{e} {c}" for e, c in counts.head(15).items()))
    if diversity:
        typer.echo(tables["anchor_diversity"].to_string(index=False))
    if sweep:
        convergence = k_sweep_convergence(sweep_stage(s, reference, method, seed))
        console.print("K sweep, mean Procrustes vs previous K: "
                      + ", ".join(f"K={kk}: {v:.3f}" for kk, v in convergence.items()))


@app.command("project", rich_help_panel="Pipeline")
def project_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
) -> None:
    """Map every model into the unified space: cosines to the anchors' embeddings."""
    from platonic.anchors import AnchorError
    from platonic.study.stages import project_stage

    s, names = checks.store_models(store, models)
    t0 = time.perf_counter()
    with bad_input(AnchorError, ValueError):
        written = project_stage(s, names)
    console.print(f"projected {len(written)} models in {time.perf_counter() - t0:.1f} s")
