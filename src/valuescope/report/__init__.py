"""The self-contained HTML report of a run directory: ``valuescope report RUN_DIR``."""

from valuescope.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
