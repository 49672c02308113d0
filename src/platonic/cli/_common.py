"""What every verb shares: the ``app``, the console, the one error boundary and exit codes, and the
capture of third-party output."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

#: Exit codes: 0 done; 1 a run that started failed (a stage, a model, the disk); 2 bad usage or input
#: (flags, config, files, stores; also verbs run in the wrong order).
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
state: dict = {"verbose": False, "out": None}  # out: the folder a verb writes, for OS errors without a path

# soft wrap: paths and messages are never broken at 80 columns when stderr is not a terminal
console = Console(stderr=True, soft_wrap=True)


def verbose() -> bool:
    import os

    return state["verbose"] or os.environ.get("PLATONIC_DEBUG", "") not in ("", "0")


def cli_advice(message: str) -> str:
    """The library's advice in command-line terms (``on_error='skip'`` is ``--skip-bad`` here)."""
    return (message
            .replace("pass on_error='skip' to drop them",
                     "`platonic extract --skip-bad` drops them and lists them in rejects_dataset.csv")
            .replace("(on_error='skip', or --skip-bad, keeps the others)",
                     "(`--skip-bad` keeps the others and lists these in rejects_dataset.csv)"))


def error_message(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-paragraph message for an exception that reached the command line."""
    import errno

    from platonic.errors import PlatonicError

    if getattr(exc, "exit_code", None) is not None:  # a study whose stage failed
        cause = exc.__cause__
        if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            return int(exc.exit_code), f"{exc} ({error_message(cause)[1]})"
        return int(exc.exit_code), str(exc)
    if isinstance(exc, (PlatonicError, FileNotFoundError)):
        return EXIT_BAD_INPUT, cli_advice(str(exc))
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else (f" in {state['out']}" if state["out"] else "")
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

        from platonic.allocator import reuse_freed_memory

        reuse_freed_memory()  # no number changes; large temporary arrays stop being faulted in afresh
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # click's own exits and usage errors
            raise
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            code, message = error_message(exc)
            if verbose():
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
    state["verbose"] = verbose
    state["out"] = None


def fail(message: str) -> None:
    """End the verb as bad input (exit 2) with ``message``."""
    console.print(f"[bold red]error:[/] {escape(cli_advice(message))}")
    raise typer.Exit(code=EXIT_BAD_INPUT)


@contextmanager
def bad_input(*errors: type[BaseException]) -> Iterator[None]:
    """An exception of one of ``errors`` raised inside ends the verb as bad input, with its message
    (any other reaches :class:`PlatonicGroup`)."""
    try:
        yield
    except errors as exc:
        fail(str(exc))


def writing_to(out: Path, verbose_flag: bool = False) -> None:
    """A verb that writes the folder ``out``: name it in OS errors; take the verb's own ``--verbose``."""
    state["verbose"] = state["verbose"] or verbose_flag
    state["out"] = out


@contextmanager
def console_to(stream) -> Iterator[None]:
    """platonic's console writes to ``stream`` inside (while third-party output is captured)."""
    console.file = stream
    try:
        yield
    finally:
        console.file = None  # back to whatever sys.stderr is


@contextmanager
def chatter_logged(log_path: Path):
    """Inside, third-party output goes to ``log_path`` (unless --verbose); yields the streams that
    still reach the user, which platonic's console writes to."""
    from platonic.console import captured_chatter

    with captured_chatter(log_path, enabled=not verbose()) as streams, console_to(streams.stderr):
        yield streams


def show_skipped(skipped: dict[str, str]) -> None:
    for analysis, reason in skipped.items():
        console.print(f"[yellow]{analysis} skipped[/], it does not apply to this data: {escape(reason)}")
