"""``platonic analyse`` and ``diagnose``: the stages that write tables and figures under results/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import typer
from rich.markup import escape

from platonic.cli import _checks as checks
from platonic.cli._common import app, bad_input, chatter_logged, console, show_skipped
from platonic.cli._defaults import from_schema


def _results_stage(store: Path, models: str, device: str, stage: Callable[..., dict], folder: str, **options):
    """Run ``stage`` (analyse or diagnose) on the store's models with third-party output logged and
    the analyses that do not apply listed; returns its folder under results/, what it wrote, what it
    skipped (name -> reason) and its start time."""
    from platonic.study.stages import results_dir

    s, names = checks.store_models(store, models)
    checks.device(device, "--device")
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    with chatter_logged(store / "third-party.log"), bad_input(FileNotFoundError, ValueError):
        written = stage(s, names, device=device, skipped=skipped, **options)
    show_skipped(skipped)
    return results_dir(s) / folder, written, skipped, t0


@app.command("analyse", rich_help_panel="Pipeline")
@from_schema("analyse", device="models.device", help={"device": "cpu or cuda (arithmetic embeds the case-study structures)."})
def analyse_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (after `platonic project`)."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    *, reference: str, chemistry: bool, arithmetic: bool, maps: bool, norms: bool, seed: int, device: str,
) -> None:
    """Chemistry and embedding arithmetic in the unified space: tables and figures in results/analyse/."""
    from platonic.study.stages import analyse_stage

    out, written, skipped, t0 = _results_stage(store, models, device, analyse_stage, "analyse", reference=reference,
                                               chemistry=chemistry, arithmetic=arithmetic, seed=seed, maps=maps,
                                               norms=norms)
    if chemistry and "chemistry" not in skipped:
        import pandas as pd

        from platonic.results import Analyse

        coherence = pd.read_csv(out / Analyse.GROUP_COHERENCE)
        typer.echo(coherence[["model", "space", "silhouette", "z_score", "p_value"]].round(3).to_string(index=False))
    console.print(f"{len(written)} tables and figures in {out} ({time.perf_counter() - t0:.1f} s)")


@app.command("diagnose", rich_help_panel="Pipeline")
@from_schema("diagnose", device="models.device")
def diagnose_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (after `platonic analyse` and `compare`)."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    *, control: bool, equivariance: bool, rotation: bool, rotations: int, drift: bool, dimers: bool, atypical: bool,
    top: int, seed: int, device: str,
) -> None:
    """Diagnostics: control, equivariance, rotation, fine-tuning drift, atypical structures (results/diagnose/)."""
    from platonic.study.stages import diagnose_stage

    out, written, skipped, t0 = _results_stage(store, models, device, diagnose_stage, "diagnose", control=control,
                                               equivariance=equivariance, rotation=rotation, rotations=rotations,
                                               drift=drift, dimers=dimers, atypical=atypical, top=top, seed=seed)
    if control and "control" not in skipped:
        import pandas as pd

        from platonic.results import Diagnose

        for line in pd.read_csv(out / Diagnose.CONTROL_VERDICT).itertuples():
            console.print(f"control {line.control}: {escape(line.verdict)}")
    console.print(f"{len(written)} tables and figures in {out} ({time.perf_counter() - t0:.1f} s)")
