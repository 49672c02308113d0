"""``platonic run`` (the whole study) and ``platonic export`` (a study to other tools)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from platonic.cli import _checks as checks
from platonic.cli._common import app, bad_input, chatter_logged, console, fail, writing_to


@app.command("run", rich_help_panel="Study")
def run_cmd(
    config: Optional[Path] = typer.Option(None, "--config", help="Study file (TOML); see `--print-config`."),
    n: Optional[str] = typer.Option(None, help="Structures to sample (overrides \\[dataset].n); 'all' for every one."),
    out: Path = typer.Option(Path("runs/default"), help="Study directory (store, results, manifest)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the effective config as TOML and exit."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (auto on a TTY)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or stage lines; errors only."),
    json_log: bool = typer.Option(False, "--json-log", help="One JSON object per stage event on stdout (nothing else there)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show third-party output (model banners, warnings) "
                                 "instead of logging it to <out>/third-party.log; tracebacks on errors."),
) -> None:
    """The whole study: extract -> anchors -> K sweep -> project -> compare -> analyse -> diagnose -> report.

    Tables of the study file: \\[dataset], \\[models], \\[anchors], \\[compare], \\[analyse], \\[diagnose].
    Stage lines go to stderr, the result (or --json-log events) to stdout. Exit code 0 done, 1 a stage
    failed (report.html and manifest.json still say what ran), 2 bad input.
    """
    from platonic.progress import make_progress
    from platonic.study.config import load_config
    from platonic.study.pipeline import model_names, run_study

    writing_to(out, verbose)
    overrides = {}
    if n is not None:
        overrides["dataset"] = {"n": n if n == "all" else checks.integer("--n", n)}
    study = load_config(config, overrides)
    if print_config:
        typer.echo(study.to_toml())
        return
    checks.out_folder(out)
    checks.device(study["models"]["device"], "[models].device")
    checks.model_names(study["models"]["names"], "[models].names")
    if len(model_names(study)) < 2:
        fail(f"[models].names = {study['models']['names']}: a study compares models; name two or more")
    out.mkdir(parents=True, exist_ok=True)
    with chatter_logged(out / "third-party.log") as streams:

        def log(message: str, **event) -> None:
            if json_log:
                print(json.dumps({"time": time.time(), "message": message, **event}, default=str),
                      file=streams.stdout, flush=True)
            elif not quiet:
                style = {"skipped": "yellow", "warning": "yellow", "failed": "bold red"}.get(event.get("status"))
                console.print(f"[{style}]{escape(message)}[/]" if style else escape(message))

        bar = make_progress(False if quiet or json_log else progress, stream=streams.stderr)
        try:
            result = run_study(study, out, progress=bar, log=log)
        finally:
            if hasattr(bar, "close"):
                bar.close()
    if not (quiet or json_log):
        skipped = result.skipped()
        if skipped:
            console.print(f"[yellow]{len(skipped)} analyses skipped as not applicable to this data[/] "
                          f"(reasons above, in the report and the manifest)")
        typer.echo(f"study in {out}: ran {', '.join(result.ran()) or 'nothing (all up to date)'}; "
                   f"report {out / 'report.html'}, manifest {out / 'manifest.json'}")


export_app = typer.Typer(help="Export a study to other tools.", no_args_is_help=True)
app.add_typer(export_app, name="export", rich_help_panel="Study")


@export_app.command("chemiscope")
def export_chemiscope_cmd(
    study: Path = typer.Option(Path("runs/default"), help="Study directory (from `platonic run`)."),
    out: Optional[Path] = typer.Option(None, help="Output file (default: <study>/chemiscope.json.gz)."),
    max_structures: Optional[int] = typer.Option(
        None, help="Seeded subsample of structures (the viewer slows past ~5,000); default: all."),
    seed: int = typer.Option(0, help="Seed of the subsample."),
) -> None:
    """Structures + per-atom unified-space maps of every model, for the chemiscope viewer."""
    from platonic.study.export import export_chemiscope

    with bad_input(FileNotFoundError, ValueError):
        path, written, total, n_atoms = export_chemiscope(study, out, max_structures, seed)
    if written < total:
        console.print(f"exported {written} of {total} structures (seeded subsample, seed {seed})")
    console.print(f"chemiscope file: {path} ({written} structures, {n_atoms} atoms)")
