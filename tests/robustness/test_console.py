"""The console: third-party output captured, platonic's own output kept, honest progress rates."""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings

from typer.testing import CliRunner

from platonic.cli import app
from platonic.console import captured_chatter
from platonic.progress import PlainProgress, rate_text

CHATTER = ["py-stdout", "py-stderr", "fd-stdout", "fd-stderr", "a-warning", "a-log-record"]


def _chatter() -> None:
    print("py-stdout")
    print("py-stderr", file=sys.stderr)
    sys.stdout.flush()
    os.write(1, b"fd-stdout\n")  # what C++ code writes: below Python's sys.stdout
    os.write(2, b"fd-stderr\n")
    warnings.warn("a-warning", UserWarning)
    logging.getLogger("some.package").warning("a-log-record")


def test_captured_chatter_goes_to_the_log_and_ours_to_the_console(tmp_path, capfd):
    log = tmp_path / "third-party.log"
    with captured_chatter(log) as streams:
        _chatter()
        print("our result", file=streams.stdout)
        print("our stage line", file=streams.stderr)
    out, err = capfd.readouterr()
    assert "our result" in out and "our stage line" in err
    for line in CHATTER:
        assert line not in out + err, line
        assert line in log.read_text(), line
    assert streams.chatter_lines() == len(log.read_text().splitlines()) >= len(CHATTER)
    print("after")  # the streams are restored
    assert capfd.readouterr().out == "after\n"


def test_disabled_capture_changes_nothing(tmp_path, capfd):
    with captured_chatter(tmp_path / "log", enabled=False) as streams:
        assert streams.stdout is sys.stdout and streams.stderr is sys.stderr
        print("visible")
    assert capfd.readouterr().out == "visible\n" and not (tmp_path / "log").exists()


def test_rates_below_one_per_second_are_seconds_per_unit():
    assert rate_text(0, 5.0, "stages") == ""
    assert rate_text(1, 14.2, "stages") == "14.2 s/stage"
    assert rate_text(300, 2.0, "atoms") == "150 atoms/s"


def test_plain_progress_does_not_repeat_a_line():
    stream = io.StringIO()
    bar = PlainProgress(stream, every_seconds=0.0)
    bar.start("study stages", total=2, unit="stages")
    bar.advance(1)
    bar.advance(1)
    bar.finish()  # the periodic line already said 2/2
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["study stages: 1/2 stages", "study stages: 2/2 stages"]
    assert not any("(0 stages/s)" in line for line in lines)


def test_version_and_help_show_tables_literally():
    from platonic import __version__

    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"platonic {__version__}"
    help_text = runner.invoke(app, ["run", "--help"], terminal_width=200).stdout
    for table in ("[dataset]", "[models]", "[anchors]", "[compare]", "[analyse]", "[diagnose]"):
        assert table in help_text, table
    assert "[dataset].n" in help_text


def test_plain_progress_nests_a_stage_task_inside_the_study_and_says_the_time_left():
    from platonic.progress import eta_text

    assert eta_text(0, 10, 5.0) == "" and eta_text(10, 10, 5.0) == ""
    assert eta_text(2, 10, 30.0) == "ETA 2 min" and eta_text(1, 3, 10.0) == "ETA 20 s"
    stream = io.StringIO()
    bar = PlainProgress(stream, every_seconds=0.0)
    bar.start("study stages", total=2, unit="stages", estimate=False)
    bar.start("compare", total=4, unit="steps")
    bar.advance(1)
    bar.finish()  # the stage's task closes; its last line says where it stopped
    bar.advance(1)  # counts for the study again
    bar.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("compare: 1/4 steps (") and "ETA" in lines[0]
    assert [line.split(" (")[0] for line in lines] == ["compare: 1/4 steps", "study stages: 1/2 stages"]
    # the study's stages differ too much in cost for a mean rate: elapsed time only, no ETA
    assert lines[1].endswith("s elapsed)") and "ETA" not in lines[1] and "/stage" not in lines[1]


def test_rich_progress_leaves_the_time_left_blank_for_a_task_without_estimate():
    from rich.progress import Progress as RichBars

    from platonic.progress import RichProgress, _time_left_column

    bars = RichBars()
    column = _time_left_column()
    study = bars.add_task("study stages", total=6, estimate=False)
    stage = bars.add_task("compare", total=6, estimate=True)
    for task_id in (study, stage):
        bars.update(task_id, advance=2)
    tasks = {task.id: task for task in bars.tasks}
    assert column.render(tasks[study]).plain == ""
    assert column.render(tasks[stage]).plain != ""
    stream = io.StringIO()
    progress = RichProgress(stream)
    progress.start("study stages", total=2, unit="stages", estimate=False)
    progress.advance(1)
    progress.finish()
    progress._bars.stop()
    assert "study stages" in stream.getvalue()
