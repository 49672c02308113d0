"""``platonic finetune-demo``: fine-tune CHGNet on Cu, naive vs replay, and measure the drift."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from platonic.cli import _checks as checks
from platonic.cli._common import app, chatter_logged, console, fail, writing_to


@app.command("finetune-demo", rich_help_panel="Study")
def finetune_demo_cmd(
    out: Path = typer.Option(Path("runs/finetune-demo"), help="Output folder (tables, figures, summary.json)."),
    n_cu: int = typer.Option(240, help="Cu cells in the fine-tuning set."),
    n_replay: int = typer.Option(240, help="MP-20 structures without Cu mixed in for the replay fine-tune."),
    epochs: int = typer.Option(4, help="Fine-tuning epochs (both fine-tunes)."),
    learning_rate: float = typer.Option(1e-3, help="Adam learning rate (cosine schedule; chgnet's default)."),
    batch_size: int = typer.Option(8, help="Fine-tuning batch size (structures)."),
    n_eval_per_element: int = typer.Option(25, help="MP-20 validation structures holding Au, and holding Cu, "
                                           "in the evaluation set."),
    n_eval_other: int = typer.Option(100, help="MP-20 validation structures without Au or Cu in the evaluation set."),
    k: int = typer.Option(50, help="DIRECT anchors on the parent's embeddings of the evaluation atoms."),
    dimers: bool = typer.Option(True, help="Cu-Cu and Au-Au dimer curves."),
    phonons: bool = typer.Option(True, help="fcc Cu and Au phonon dispersions (needs phonopy: the finetune extra)."),
    supercell: int = typer.Option(3, help="Phonon supercell: N x N x N primitive cells."),
    seed: int = typer.Option(0, help="Seed of the data, the training and the evaluation set."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show third-party output (model banners, training "
                                 "logs, warnings) instead of logging it to <out>/third-party.log."),
) -> None:
    """Fine-tune CHGNet 0.3.0 on Cu (labels from SevenNet-0 standing in for DFT, not DFT), naive vs replay; drift diagnostics.

    Step lines (wall and CPU seconds) go to stderr; third-party output to <out>/third-party.log.
    """
    from platonic.finetune.demo import DemoConfig, run_demo

    writing_to(out, verbose)
    checks.out_folder(out)
    for flag, value, least in (("--n-cu", n_cu, 4), ("--n-replay", n_replay, 0), ("--epochs", epochs, 1),
                               ("--batch-size", batch_size, 1), ("--n-eval-per-element", n_eval_per_element, 1),
                               ("--n-eval-other", n_eval_other, 0), ("--k", k, 2), ("--supercell", supercell, 1)):
        if value < least:
            fail(f"{flag} {value}: must be >= {least}")
    if learning_rate <= 0:
        fail(f"--learning-rate {learning_rate}: must be > 0")
    config = DemoConfig(n_cu=n_cu, n_replay=n_replay, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                        n_eval_per_element=n_eval_per_element, n_eval_other=n_eval_other, k=k, dimers=dimers,
                        phonons=phonons, supercell=supercell, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    with chatter_logged(out / "third-party.log"):
        summary = run_demo(out, config, log=lambda message: console.print(escape(message)))
    typer.echo(f"finetune-demo in {out}: outcome {out / 'outcome.csv'}, summary {out / 'summary.json'} "
               f"({summary['total_wall_s']:.0f} s wall); {summary['note']}")
