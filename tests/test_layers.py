"""The package's layers: a computing stage does not reach into the study layer that runs it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "platonic"


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, with relative imports made absolute."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.add(".".join(part for part in (base, node.module or "") if part))
    return found


#: The computing packages: they return data; only the study layer (its stages, through
#: platonic.study.writers) writes an analysis's files, so none of them may import platonic.study.
COMPUTING_PACKAGES = ["analyse", "anchors", "compare", "datasets", "diagnose", "extract", "models", "project", "store"]


def test_every_computing_package_is_scanned():
    # a renamed or moved package would otherwise drop out of the scan below without a failure
    assert all((PACKAGE / name / "__init__.py").is_file() for name in COMPUTING_PACKAGES)


@pytest.mark.parametrize("stage", COMPUTING_PACKAGES)
def test_a_stage_package_does_not_import_the_study_layer(stage):
    offenders = {str(path.relative_to(PACKAGE)): sorted(m for m in _imported_modules(path) if m.startswith("platonic.study"))
                 for path in sorted((PACKAGE / stage).rglob("*.py"))}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_import_scan_sees_function_level_and_relative_imports():
    # the scan itself: one that saw nothing would pass the test above
    assert "platonic.compare.cka" in _imported_modules(PACKAGE / "compare" / "nulls.py")  # inside moment_null
    assert "platonic.compare.knn" in _imported_modules(PACKAGE / "compare" / "from_store.py")  # from .knn import ...
