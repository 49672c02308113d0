"""One self-contained HTML file: every figure embedded as a PNG data URI, styles inline, no script.

A report is a list of :class:`Section`; each has a reading guide (one paragraph: what the numbers
mean and how to read the figure), figures (PNG files) and tables (shown up to ``max_rows`` rows,
with the path of the full table). Nothing is fetched when the file opens, so it works offline.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.7em}h2{font-size:1.3em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
nav ol{columns:2}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption,.path{font-size:.85em;color:#555}.guide{background:#f6f8fa;padding:.6em .9em;border-left:3px solid #58a}
table{border-collapse:collapse;font-size:.8em;margin:.5em 0}th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.missing{color:#a40}
"""


@dataclass
class Section:
    """One part of the report: a title, a reading guide, figures and tables.

    ``missing`` lists what this section should have shown but could not (with the reason), so a
    partial report says so instead of looking complete.
    """

    key: str
    title: str
    guide: str
    figures: list[tuple[str, Path]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame, Path | None]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _figure(caption: str, path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(caption: str, table: pd.DataFrame, path: Path | None, max_rows: int) -> str:
    shown = table.head(max_rows)
    note = f" (first {max_rows} of {len(table)} rows)" if len(table) > max_rows else ""
    where = f'<div class="path">full table: {html.escape(str(path))}</div>' if path else ""
    body = shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, escape=True)
    return f"<h3>{html.escape(caption)}{note}</h3>{body}{where}"


def render(title: str, sections: list[Section], header: str = "", max_rows: int = 30) -> str:
    """The report as one HTML string."""
    toc = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{header}<nav><ol>{toc}</ol></nav>"]
    for s in sections:
        parts.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2><p class="guide">{html.escape(s.guide)}</p>')
        parts += [_figure(caption, path) for caption, path in s.figures]
        parts += [_table(caption, table, path, max_rows) for caption, table, path in s.tables]
        parts += [f'<p class="missing">Not shown: {html.escape(m)}</p>' for m in s.missing]
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(path: str | Path, title: str, sections: list[Section], header: str = "", max_rows: int = 30) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(title, sections, header, max_rows), encoding="utf-8")
    tmp.replace(path)
    return path
