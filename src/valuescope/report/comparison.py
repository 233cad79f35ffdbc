"""The cross-model comparison section: per study, a forest plot of every model's estimates with their
intervals, and the metrics computed across models.
"""

from __future__ import annotations

from valuescope.report.figures import figure_html
from valuescope.report.formatting import as_dict, esc
from valuescope.report.plots import figure_data_uri, forest_plot, plottable_metrics
from valuescope.report.run_folder import RunFolder
from valuescope.report.tables import metric_table
from valuescope.stats.metrics import ALL_MODELS


def comparison_section(run: RunFolder) -> str:
    """The cross-model comparison: a forest plot per study and its across-model metrics."""
    parts = [
        '<section id="comparison"><h2>Cross-model comparison</h2><p class="lead">Each panel is one metric: '
        "every model's estimate with its confidence interval.</p>"
    ]
    for study in run.studies:
        summary = run.study_summary(study)
        models = [m for m in run.models if m in summary]
        anchor = run.ids.make("cmp", study)
        parts.append(f'<h3 id="{anchor}">{esc(run.title(study))}</h3>')
        if len(models) >= 2 and plottable_metrics(summary, models):
            fig = forest_plot(summary, models)
            title = f"{run.title(study)}: estimates by model"
            caption = "Points are estimates, whiskers their confidence intervals; ↑/↓ in a title marks the "
            parts.append(figure_html(figure_data_uri(fig), title, caption + "better direction."))
        else:
            parts.append('<p class="notice">Fewer than two models have estimates for this study.</p>')
        across = metric_table(summary, [ALL_MODELS], as_dict(run.study_info(study).get("metrics")))
        if across:
            parts.append("<h4>Across-model metrics</h4>" + across)
    return "".join(parts) + "</section>"
