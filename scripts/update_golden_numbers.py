"""Regenerate the reference numbers of the tiny study (``tests/study/golden/tiny_study_numbers.csv``).

    PYTHONPATH=src python scripts/update_golden_numbers.py

Runs the ``TINY_STUDY`` config of ``tests/study/conftest.py`` (the one the ``tiny_study`` fixture
runs) with :func:`platonic.study.pipeline.run_study` into a temporary folder, flattens every CSV of
its results as ``tests/study/test_golden_numbers.py`` does and writes the reference there. torch
runs on one thread, so that the arithmetic tables, whose last digits depend on the thread count,
come out the same whoever runs it (the test allows for the difference). Run it only when a change
of the study's numbers is intended, and say so (which numbers, why) in the commit message;
``git diff --stat`` on the reference shows how many lines changed.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

STUDY_TESTS = Path(__file__).resolve().parents[1] / "tests" / "study"


def _module(name: str, path: Path):
    """A test-folder module by its path: the tests are not a package (pytest's importlib mode)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def main() -> int:
    import torch

    from platonic.results import Results
    from platonic.study.config import make_config
    from platonic.study.pipeline import run_study

    config = _module("study_conftest", STUDY_TESTS / "conftest.py").TINY_STUDY
    golden = _module("test_golden_numbers", STUDY_TESTS / "test_golden_numbers.py")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        result = run_study(make_config(config), folder, log=lambda message, **event: print(message))
        tables = golden.flatten_results(Results.of(result.store).root)
    golden.REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    golden.write_reference(tables, golden.REFERENCE)
    import json

    golden.PLATFORM.write_text(json.dumps(golden.platform_facts(), indent=1) + "\n")
    n_values = sum(len(cells) for table in tables.values() for cells in table.rows.values())
    print(f"wrote {golden.REFERENCE}: {len(tables)} tables, {n_values} values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
