"""Drawing never touches the user's matplotlib backend or pyplot's figure registry.

A notebook user who has chosen a backend (inline, widget, Qt) must keep it after importing the
package or calling any of its plotting functions; selecting Agg inside the package would switch
it. The figures are bare ``matplotlib.figure.Figure`` objects (:mod:`platonic.plotting`).
tests/conftest.py selects a stand-in user backend for the whole run and checks after every test
that it is still selected, so every test that draws (the plot functions, the stage writers, the
tiny study's report) is also a check of this; the tests here add the static rule and the imports.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import matplotlib

import platonic
from platonic.plotting import category_handles, colormap, save, subplots

SRC = Path(platonic.__file__).resolve().parent
#: Modules that need an optional model package to import (they draw nothing).
OPTIONAL = ("platonic.models.", "platonic.extract.ray_engine")


def test_no_module_selects_a_backend():
    """No source line calls ``matplotlib.use`` or ``pyplot.switch_backend``."""
    pattern = re.compile(r"^[^#\n]*\b(matplotlib\.use|switch_backend)\s*\(", re.MULTILINE)
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_importing_every_module_keeps_the_backend(user_backend):
    for module in pkgutil.walk_packages(platonic.__path__, "platonic."):
        if not module.name.startswith(OPTIONAL):
            importlib.import_module(module.name)
    assert matplotlib.get_backend() == user_backend


def test_figures_are_not_registered_with_pyplot(tmp_path, user_backend):
    fig, axes = subplots(1, 2, figsize=(4, 2), squeeze=False)
    cmap = colormap("tab20", 3)
    axes[0, 0].scatter([0, 1, 2], [0, 1, 2], c=[0, 1, 2], cmap=cmap)
    fig.legend(handles=category_handles(cmap, "abc"))
    path = save(fig, tmp_path / "sub" / "f.png")
    # pyplot gives each of its figures a manager (a window, or a notebook cell's output); ours have none.
    assert fig.canvas.manager is None and path.read_bytes().startswith(b"\x89PNG")
    assert cmap.N == 3 and [h.get_label() for h in fig.legends[0].legend_handles] == ["a", "b", "c"]
    assert matplotlib.get_backend() == user_backend
