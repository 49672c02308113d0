"""The ``platonic`` command line: one verb per pipeline stage.

``app`` (the console script ``platonic``) is built in :mod:`platonic.cli._common` with the one error
boundary; each module here registers its verbs on it (``models``/``env``, ``extract``/``info``/
``import``, ``anchors``/``project``, ``compare``, ``analyse``/``diagnose``, ``run``/``export``,
``finetune-demo``), in the order ``platonic --help`` lists them. Input checks are in
:mod:`platonic.cli._checks`; the options that are study keys are generated from the study schema by
:func:`platonic.cli._defaults.from_schema`.
"""

from __future__ import annotations

from platonic.cli._common import EXIT_BAD_INPUT, EXIT_FAILED, app
from platonic.cli._defaults import STUDY_OPTIONS
from platonic.cli.models import env_create_cmd, env_list_cmd, models_cmd
from platonic.cli.extract import extract_cmd, import_cmd, info_cmd
from platonic.cli.anchors import anchors_cmd, project_cmd
from platonic.cli.compare import compare_cmd
from platonic.cli.analyse import analyse_cmd, diagnose_cmd
from platonic.cli.run import export_chemiscope_cmd, run_cmd
from platonic.cli.finetune import finetune_demo_cmd

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "STUDY_OPTIONS", "analyse_cmd", "anchors_cmd", "app", "compare_cmd",
           "diagnose_cmd", "env_create_cmd", "env_list_cmd", "export_chemiscope_cmd", "extract_cmd",
           "finetune_demo_cmd", "import_cmd", "info_cmd", "main", "models_cmd", "project_cmd", "run_cmd"]


def main() -> None:  # pragma: no cover - console entry point
    app()

