"""The report stage: a self-contained HTML file of the study, its figures and tables."""

from platonic.report.html import Section, render, write_report
from platonic.report.study_report import build_study_report

__all__ = ["Section", "build_study_report", "render", "write_report"]
