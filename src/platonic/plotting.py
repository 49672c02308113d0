"""Figures without pyplot: the one place the package builds matplotlib figures from.

Every plotting function of the package takes data and returns a :class:`matplotlib.figure.Figure`
made here. A ``Figure`` built directly (not through ``pyplot``) is not registered with pyplot's
figure manager and needs no GUI backend: ``savefig`` renders it with Agg for PNG. So importing or
running any plotting path leaves ``matplotlib.get_backend()`` and a notebook user's open figures
as they were (selecting Agg inside the package would have switched the user's backend), and there is
nothing to ``close``: the figure is freed when the last reference to it goes. Only the stage and
writer code calls :func:`save`. matplotlib is imported on the first call, not on import, so the
package and its CLI start without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A new Figure and its grid of Axes (``Figure.subplots`` arguments: squeeze, sharex, gridspec_kw...)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def colormap(name: str, n: int | None = None) -> Colormap:
    """The registered colormap ``name``, resampled to ``n`` colours when given (pyplot's ``get_cmap(name, n)``)."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    return cmap if n is None else cmap.resampled(n)


def category_handles(cmap: Colormap, categories: Iterable[Any]) -> list[Line2D]:
    """Legend markers, one per category, coloured as ``cmap(i)`` for the i-th category."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], marker="o", ls="", color=cmap(i), label=str(c)) for i, c in enumerate(categories)]


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (parent directories created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
