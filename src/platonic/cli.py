"""The ``platonic`` command line: one verb per pipeline stage."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from platonic.study.schema import DEFAULTS as STUDY_DEFAULTS


def _study(table: str, key: str):
    """The study schema's default of ``[table].key``, spelled as a CLI option (a list comma-joined):
    a verb run by hand starts from the same settings as ``platonic run``."""
    value = STUDY_DEFAULTS[table][key]
    return ",".join(value) if isinstance(value, list) else value


#: (verb function, option) -> the study key whose default it takes (tests/study/test_cli_defaults.py).
#: Not mirrored, on purpose: ``extract --n`` (a store built by hand holds the whole dataset unless
#: told otherwise; the study's 500 is a quick default sample) and the options no study table has.
STUDY_OPTIONS: dict[tuple[str, str], tuple[str, str]] = {
    **{("extract_cmd", option): key for option, key in (
        ("dataset", ("dataset", "name")), ("split", ("dataset", "split")), ("seed", ("dataset", "seed")),
        ("models", ("models", "names")), ("device", ("models", "device")), ("engine", ("extract", "engine")),
        ("address", ("extract", "address")), ("workers", ("extract", "workers")))},
    **{("anchors_cmd", key): ("anchors", key) for key in ("reference", "k", "method", "seed", "diversity", "sweep")},
    **{("compare_cmd", key): ("compare", key) for key in (
        "metrics", "spaces", "k", "ot_samples", "ot_repeats", "lfre_atoms", "permutations", "centred",
        "exclude_same_structure", "seed", "twonn_atoms")},
    ("compare_cmd", "n_queries"): ("compare", "mknn_queries"),
    **{("analyse_cmd", key): ("analyse", key) for key in ("reference", "chemistry", "arithmetic", "maps", "norms", "seed")},
    ("analyse_cmd", "device"): ("models", "device"),
    **{("diagnose_cmd", key): ("diagnose", key) for key in (
        "control", "equivariance", "rotation", "rotations", "drift", "dimers", "atypical", "top", "seed")},
    ("diagnose_cmd", "device"): ("models", "device"),
}

#: Exit codes: 0 done; 1 a run that started failed (a stage, a model, the disk); 2 bad usage or input
#: (flags, config, files, stores; also verbs run in the wrong order).
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
_state: dict = {"verbose": False, "out": None}  # out: the folder a verb writes, for OS errors without a path


def _verbose() -> bool:
    import os

    return _state["verbose"] or os.environ.get("PLATONIC_DEBUG", "") not in ("", "0")


def _cli_advice(message: str) -> str:
    """The library's advice in command-line terms (``on_error='skip'`` is ``--skip-bad`` here)."""
    return (message
            .replace("pass on_error='skip' to drop them",
                     "`platonic extract --skip-bad` drops them and lists them in rejects_dataset.csv")
            .replace("(on_error='skip', or --skip-bad, keeps the others)",
                     "(`--skip-bad` keeps the others and lists these in rejects_dataset.csv)"))


def _error_message(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-paragraph message for an exception that reached the command line."""
    import errno

    from platonic.errors import PlatonicError

    if getattr(exc, "exit_code", None) is not None:  # a study whose stage failed
        cause = exc.__cause__
        if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            return int(exc.exit_code), f"{exc} ({_error_message(cause)[1]})"
        return int(exc.exit_code), str(exc)
    if isinstance(exc, (PlatonicError, FileNotFoundError)):
        return EXIT_BAD_INPUT, _cli_advice(str(exc))
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else (f" in {_state['out']}" if _state["out"] else "")
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            advice = "free some space or choose another output folder (--out)"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            advice = "the output folder is not writable; choose another (--out)"
        else:
            advice = "check the path and the disk"
        code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
        return EXIT_FAILED, f"cannot write or read{where}: {reason}{f' [{code}]' if code else ''}; {advice}"
    return EXIT_FAILED, (f"unexpected {type(exc).__name__}: {exc} (platonic --verbose VERB ..., or "
                         "PLATONIC_DEBUG=1, shows the traceback)")


class PlatonicGroup(TyperGroup):
    """The one error boundary of the command line: every verb's exceptions end here as one message
    and an exit code (see ``EXIT_*``); the traceback only with ``--verbose`` or ``PLATONIC_DEBUG=1``."""

    def invoke(self, ctx):
        from typer.exceptions import TyperException

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # click's own exits and usage errors
            raise
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            code, message = _error_message(exc)
            if _verbose():
                import traceback

                traceback.print_exc(file=sys.stderr)
            console.print(f"[bold red]error:[/] {escape(message)}")
            raise typer.Exit(code=code) from None


app = typer.Typer(
    name="platonic",
    help="Put the latent spaces of foundation MLIPs side by side.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    cls=PlatonicGroup,
)
# soft wrap: paths and messages are never broken at 80 columns when stderr is not a terminal
console = Console(stderr=True, soft_wrap=True)


@contextmanager
def _console_to(stream):
    """platonic's console writes to ``stream`` inside (while third-party output is captured)."""
    console.file = stream
    try:
        yield
    finally:
        console.file = None  # back to whatever sys.stderr is


def _capture_chatter(log_path: Path):
    """Start capturing third-party output into ``log_path`` (unless --verbose); returns an ExitStack
    whose ``streams`` reach the user and whose ``close()`` ends the capture."""
    from contextlib import ExitStack

    from platonic.console import captured_chatter

    stack = ExitStack()
    stack.streams = stack.enter_context(captured_chatter(log_path, enabled=not _verbose()))
    stack.enter_context(_console_to(stack.streams.stderr))
    return stack


def _version_callback(value: bool) -> None:
    if value:
        from platonic import __version__

        typer.echo(f"platonic {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show third-party output (model banners, warnings) and tracebacks."),
) -> None:
    """Put the latent spaces of foundation MLIPs side by side."""
    _state["verbose"] = verbose
    _state["out"] = None


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(_cli_advice(message))}")
    raise typer.Exit(code=EXIT_BAD_INPUT)


def _split_models(models: str) -> list[str]:
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        _fail("--models is empty")
    return names


def _load_dataset(dataset: str, split: str, n: Optional[int], seed: int, skip_bad: bool):
    from platonic import datasets

    return datasets.open(dataset, split=split, n=n, seed=seed, on_error="skip" if skip_bad else "raise")


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
        found = "[green]found[/]" if r["weights_found"] else f"[red]missing[/] ({r.get('reason', '')})"
        table.add_row(
            r["name"], r["family"], str(r["dim"]), r["layer"], str(r["equivariant"]), r["mirror"], r["training_data"],
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


@app.command("extract", rich_help_panel="Pipeline")
def extract_cmd(
    dataset: str = typer.Option(_study("dataset", "name"), help="Dataset name (mp20, mp20-full) or a structure file."),
    split: str = typer.Option(_study("dataset", "split"), help="MP-20 split: all, train, val, test."),
    models: str = typer.Option(
        _study("models", "names"), help="Comma-separated model names or family:/path files, or 'default' for every offline model and the controls."
    ),
    out: Path = typer.Option(Path("store"), help="Store directory (created or resumed)."),
    n: Optional[int] = typer.Option(None, help="Reproducible subsample of N structures."),
    seed: int = typer.Option(_study("dataset", "seed"), help="Seed of the subsample."),
    device: str = typer.Option(_study("models", "device"), help="cpu or cuda."),
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
    engine: str = typer.Option(_study("extract", "engine"), help="inprocess, or ray: shards as tasks of Ray actors (the ray extra)."),
    address: str = typer.Option(_study("extract", "address"), help="Ray cluster to join ('auto', 'ray://host:10001'); 'local': start one here."),
    workers: int = typer.Option(_study("extract", "workers"), help="Ray actors per model, one loaded model each (0: one per CPU, or GPU)."),
) -> None:
    """Embed every atom of a dataset with each model into a resumable store."""
    from platonic.datasets import DatasetError, atom_table
    from platonic.extract import extract
    from platonic.extract.ray_engine import RayEngineError
    from platonic.models import DEFAULT_MODELS
    from platonic.progress import make_progress
    from platonic.store import StoreError

    names = list(DEFAULT_MODELS) if models == "default" else _split_models(models)
    _state["out"] = out
    _check_model_names(names, "--models")
    _check_device(device, "--device")
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
    chatter = _capture_chatter(out / "third-party.log")
    bar = make_progress(progress, stream=chatter.streams.stderr)
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
            wait_for_lock=wait_for_lock,
            engine=engine,
            address=address,
            workers=workers or None,  # 0, like the study's [extract].workers: one per CPU (or GPU)
        )
    except (StoreError, ValueError, RayEngineError) as exc:
        _fail(str(exc))
    finally:
        if hasattr(bar, "close"):
            bar.close()
        chatter.close()
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

    s = _open_store(store)
    console.print(
        f"dataset [bold]{s.meta['dataset_name']}[/] fingerprint {s.dataset_fingerprint}: "
        f"{s.meta['n_structures']} structures, {s.n_atoms} atoms, {s.n_shards} shards"
    )
    try:
        summary = s.summary()
    except StoreError as exc:
        _fail(str(exc))
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

    s = _open_store(store)
    try:
        result = import_embeddings(s, name, file, ids=ids, family=family, layer=layer, training_data=training_data,
                                   trained=not untrained)
    except StoreError as exc:
        _fail(str(exc))
    console.print(
        f"imported [bold]{escape(name)}[/] from {escape(str(file))} ({result.format}, sha256 {result.sha256[:16]}...): "
        f"{result.rows} atoms x {result.dim}, {result.shards_written} shards written, {result.shards_skipped} already there"
    )
    console.print(f"checked: {escape(result.checked)}")


def _open_store(store: Path):
    from platonic.store import EmbeddingStore, StoreError

    try:
        return EmbeddingStore(store)
    except StoreError as exc:
        _fail(str(exc))
    except (ValueError, KeyError, TypeError) as exc:  # a dataset.json that is not the store's
        _fail(f"{store}: not a readable embedding store ({store / 'dataset.json'}: {type(exc).__name__}: {exc})")


@app.command("anchors", rich_help_panel="Pipeline")
def anchors_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (from `platonic extract`)."),
    reference: str = typer.Option(_study("anchors", "reference"), help="Model whose embeddings pick the anchors."),
    k: int = typer.Option(_study("anchors", "k"), help="Number of anchors K."),
    method: str = typer.Option(_study("anchors", "method"), help="direct, random or fps."),
    seed: int = typer.Option(_study("anchors", "seed"), help="Seed."),
    diversity: bool = typer.Option(_study("anchors", "diversity"), help="Also tabulate anchor diversity, DIRECT vs random, seeds 0/42/12345."),
    sweep: bool = typer.Option(_study("anchors", "sweep"), help="Also run the K sweep 3..400 (convergence of the unified space)."),
) -> None:
    """Pick K anchor atoms (the same atoms for every model) on a reference model."""
    from platonic.anchors import AnchorError
    from platonic.study.stages import anchor_stage, k_sweep_convergence, results_dir, sweep_stage

    s = _open_store(store)
    t0 = time.perf_counter()
    try:
        tables = anchor_stage(s, reference, k, method, seed, diversity=diversity)
    except (AnchorError, ValueError) as exc:
        _fail(str(exc))
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

    s = _open_store(store)
    names = s.models() if models == "all" else _split_models(models)
    t0 = time.perf_counter()
    try:
        written = project_stage(s, names)
    except (AnchorError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"projected {len(written)} models in {time.perf_counter() - t0:.1f} s")


@app.command("compare", rich_help_panel="Pipeline")
def compare_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    metrics: str = typer.Option(_study("compare", "metrics"), help="Comma-separated metrics."),
    spaces: str = typer.Option(_study("compare", "spaces"), help="raw, unified or both."),
    n_atoms: Optional[int] = typer.Option(None, help="Seeded subsample of atoms for every metric (default: all)."),
    k: int = typer.Option(_study("compare", "k"), help="Neighbours for mutual kNN."),
    mknn_score: str = typer.Option("jaccard", help="jaccard (the paper's) or overlap (Huh et al.)."),
    n_queries: int = typer.Option(_study("compare", "mknn_queries"),
                                  help="Query atoms for mKNN, seeded (neighbours searched among all); 0: every atom."),
    ot_samples: int = typer.Option(_study("compare", "ot_samples"), help="Atoms in each OT subsample (stratified by element)."),
    ot_repeats: int = typer.Option(_study("compare", "ot_repeats"),
                                   help="OT subsamples (seeds seed, seed+1, ...): mean and std reported."),
    lfre_atoms: int = typer.Option(_study("compare", "lfre_atoms"),
                                   help="LFRE test atoms, element-stratified draw from the test half (the paper's 1,000)."),
    permutations: int = typer.Option(_study("compare", "permutations"),
                                     help="Permutation-null draws for Procrustes, CKA, mKNN, SuperScore (0: none)."),
    centred: bool = typer.Option(_study("compare", "centred"), help="Also compare the unified clouds centred on their own means."),
    exclude_same_structure: bool = typer.Option(_study("compare", "exclude_same_structure"),
                                                help="mKNN ignores neighbours from the query's own structure."),
    seed: int = typer.Option(_study("compare", "seed"), help="Seed of every subsample."),
    twonn_atoms: int = typer.Option(_study("compare", "twonn_atoms"), help="Atoms (seeded subsample) for the TwoNN intrinsic dimension; 0 skips."),
) -> None:
    """Model x model matrices of every metric, raw and unified space: tables and heatmaps."""
    from platonic.study.stages import compare_stage, results_dir

    s = _open_store(store)
    names = s.models() if models == "all" else _split_models(models)
    t0 = time.perf_counter()
    try:
        written = compare_stage(
            s, names, [m.strip() for m in metrics.split(",")], [x.strip() for x in spaces.split(",") if x.strip()],
            seed=seed, twonn_atoms=twonn_atoms, n_atoms=n_atoms, k=k, mknn_score=mknn_score, n_queries=n_queries or None,
            ot_n_samples=ot_samples, ot_repeats=ot_repeats, lfre_n_test=lfre_atoms, n_permutations=permutations,
            centred=centred, exclude_same_structure=exclude_same_structure,
        )
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
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


@app.command("analyse", rich_help_panel="Pipeline")
def analyse_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (after `platonic project`)."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    reference: str = typer.Option(_study("analyse", "reference"), help="Model that c-sim and stitched reactions refer to."),
    chemistry: bool = typer.Option(_study("analyse", "chemistry"), help="Element maps, group coherence, trajectories, cumulant gains."),
    arithmetic: bool = typer.Option(_study("analyse", "arithmetic"), help="Material, polymorph and reaction embeddings (Table 1)."),
    maps: bool = typer.Option(_study("analyse", "maps"), help="Anchors on the reference map, unified maps vs K, DIRECT vs random (Fig 2b, 3; Table S2)."),
    norms: bool = typer.Option(_study("analyse", "norms"), help="Embedding-norm scaling across materials (Table S3)."),
    seed: int = typer.Option(_study("analyse", "seed"), help="Seed of the permutation null and of the atoms drawn on the maps."),
    device: str = typer.Option(_study("models", "device"), help="cpu or cuda (arithmetic embeds the case-study structures)."),
) -> None:
    """Chemistry and embedding arithmetic in the unified space: tables and figures in results/analyse/."""
    from platonic.study.stages import analyse_stage, results_dir

    s = _open_store(store)
    names = s.models() if models == "all" else _split_models(models)
    _check_device(device, "--device")
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    chatter = _capture_chatter(store / "third-party.log")
    try:
        written = analyse_stage(s, names, reference, chemistry, arithmetic, seed=seed, device=device, skipped=skipped,
                                maps=maps, norms=norms)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    finally:
        chatter.close()
    _show_skipped(skipped)
    out = results_dir(s) / "analyse"
    if chemistry and "chemistry" not in skipped:
        import pandas as pd

        from platonic.results import Analyse

        coherence = pd.read_csv(out / Analyse.GROUP_COHERENCE)
        typer.echo(coherence[["model", "space", "silhouette", "z_score", "p_value"]].round(3).to_string(index=False))
    console.print(f"{len(written)} tables and figures in {out} ({time.perf_counter() - t0:.1f} s)")


@app.command("diagnose", rich_help_panel="Pipeline")
def diagnose_cmd(
    store: Path = typer.Option(Path("store"), help="Store directory (after `platonic analyse` and `compare`)."),
    models: str = typer.Option("all", help="Comma-separated models, or all in the store."),
    control: bool = typer.Option(_study("diagnose", "control"), help="The random-weight control against the trained models."),
    equivariance: bool = typer.Option(_study("diagnose", "equivariance"), help="Two-NN equivalence vs spglib's equivalent atoms."),
    rotation: bool = typer.Option(_study("diagnose", "rotation"), help="Embedding change under random rotations of BaCeO3."),
    rotations: int = typer.Option(_study("diagnose", "rotations"), help="Random rotations."),
    drift: bool = typer.Option(_study("diagnose", "drift"), help="Fine-tuning drift: CHGNet 0.3.0 -> r2SCAN, SevenNet-0 -> MF-0."),
    dimers: bool = typer.Option(_study("diagnose", "dimers"), help="Cu-Cu and Au-Au dimer curves per checkpoint (with --drift)."),
    atypical: bool = typer.Option(_study("diagnose", "atypical"), help="Structures far from the cross-model consensus."),
    top: int = typer.Option(_study("diagnose", "top"), help="Atypical structures listed."),
    seed: int = typer.Option(_study("diagnose", "seed"), help="Seed of the rotations."),
    device: str = typer.Option(_study("models", "device"), help="cpu or cuda."),
) -> None:
    """Diagnostics: control, equivariance, rotation, fine-tuning drift, atypical structures (results/diagnose/)."""
    from platonic.study.stages import diagnose_stage, results_dir

    s = _open_store(store)
    names = s.models() if models == "all" else _split_models(models)
    _check_device(device, "--device")
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    chatter = _capture_chatter(store / "third-party.log")
    try:
        written = diagnose_stage(s, names, control=control, equivariance=equivariance, rotation=rotation,
                                 rotations=rotations, drift=drift, dimers=dimers, atypical=atypical, top=top,
                                 seed=seed, device=device, skipped=skipped)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    finally:
        chatter.close()
    _show_skipped(skipped)
    out = results_dir(s) / "diagnose"
    if control and "control" not in skipped:
        import pandas as pd

        from platonic.results import Diagnose

        for line in pd.read_csv(out / Diagnose.CONTROL_VERDICT).itertuples():
            console.print(f"control {line.control}: {escape(line.verdict)}")
    console.print(f"{len(written)} tables and figures in {out} ({time.perf_counter() - t0:.1f} s)")


def _show_skipped(skipped: dict[str, str]) -> None:
    for analysis, reason in skipped.items():
        console.print(f"[yellow]{analysis} skipped[/], it does not apply to this data: {escape(reason)}")


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
    from platonic.console import captured_chatter
    from platonic.progress import make_progress
    from platonic.study.config import load_config
    from platonic.study.pipeline import run_study

    _state["verbose"] = _state["verbose"] or verbose
    _state["out"] = out
    overrides = {}
    if n is not None:
        overrides["dataset"] = {"n": n if n == "all" else _int_option("--n", n)}
    study = load_config(config, overrides)
    if print_config:
        typer.echo(study.to_toml())
        return
    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: exists and is not a folder")
    _check_device(study["models"]["device"], "[models].device")
    _check_model_names(study["models"]["names"], "[models].names")
    from platonic.study.pipeline import model_names

    if len(model_names(study)) < 2:
        _fail(f"[models].names = {study['models']['names']}: a study compares models; name two or more")
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "third-party.log"
    with captured_chatter(log_file, enabled=not _verbose()) as streams, _console_to(streams.stderr):

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


def _check_device(device: str, flag: str) -> None:
    """``cuda`` only where torch sees a GPU (else the models fail deep inside with a CUDA error)."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _fail(f"{flag} cuda: torch sees no CUDA GPU on this machine (torch {torch.__version__}, "
                  f"built for CUDA {torch.version.cuda or 'none'}); use cpu")
    elif device != "cpu":
        _fail(f"{flag} {device!r}: choose cpu or cuda")


def _check_model_names(names: list[str], flag: str) -> None:
    """Every name is a registry model whose package and weights are found, or ``mace:<existing
    file>``, before any work starts."""
    from platonic.models import DEFAULT_MODELS, MODEL_NAMES, available_models

    cards = None
    for name in [m for n in names for m in (DEFAULT_MODELS if n == "default" else [n])]:
        if name in MODEL_NAMES:
            cards = cards or {row["name"]: row for row in available_models()}
            if not cards[name]["weights_found"]:
                _fail(f"{flag} {name!r}: {cards[name].get('reason', 'weights not found')} "
                      "(`platonic models` lists what is found)")
            continue
        if name.startswith("mace:"):
            path = Path(name[len("mace:"):])
            if not path.is_file():
                _fail(f"{flag} {name!r}: no MACE model file {path}")
            _check_environment(name, flag)
            continue
        _fail(f"{flag} {name!r}: unknown model; choose from {', '.join(MODEL_NAMES)} or mace:/path/to/file.model "
              "(`platonic models` lists them)")


def _check_environment(name: str, flag: str) -> None:
    """A model that runs in an isolated environment needs it installed (the error names the command)."""
    from platonic.envs import IsolatedEnvironmentError
    from platonic.models import _isolated_environment, family_of

    env = _isolated_environment(family_of(name), name)
    if env is not None:
        try:
            env.require()
        except IsolatedEnvironmentError as exc:
            _fail(f"{flag} {name!r}: {exc}")


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

    _state["verbose"] = _state["verbose"] or verbose
    _state["out"] = out
    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: exists and is not a folder")
    for flag, value, least in (("--n-cu", n_cu, 4), ("--n-replay", n_replay, 0), ("--epochs", epochs, 1),
                               ("--batch-size", batch_size, 1), ("--n-eval-per-element", n_eval_per_element, 1),
                               ("--n-eval-other", n_eval_other, 0), ("--k", k, 2), ("--supercell", supercell, 1)):
        if value < least:
            _fail(f"{flag} {value}: must be >= {least}")
    if learning_rate <= 0:
        _fail(f"--learning-rate {learning_rate}: must be > 0")
    config = DemoConfig(n_cu=n_cu, n_replay=n_replay, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                        n_eval_per_element=n_eval_per_element, n_eval_other=n_eval_other, k=k, dimers=dimers,
                        phonons=phonons, supercell=supercell, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    chatter = _capture_chatter(out / "third-party.log")
    try:
        summary = run_demo(out, config, log=lambda message: console.print(escape(message)))
    finally:
        chatter.close()
    typer.echo(f"finetune-demo in {out}: outcome {out / 'outcome.csv'}, summary {out / 'summary.json'} "
               f"({summary['total_wall_s']:.0f} s wall); {summary['note']}")


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

    try:
        path, written, total, n_atoms = export_chemiscope(study, out, max_structures, seed)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    if written < total:
        console.print(f"exported {written} of {total} structures (seeded subsample, seed {seed})")
    console.print(f"chemiscope file: {path} ({written} structures, {n_atoms} atoms)")


def _int_option(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        _fail(f"{flag} {value!r}: expected an integer or 'all'")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
