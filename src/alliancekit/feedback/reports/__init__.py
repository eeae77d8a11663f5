"""Reports clinicians look at: the caseload attention list, a client's progress chart, practice outcomes,
and the self-contained HTML report that holds them.

The attention list and practice outcomes read the store's caseload projection only (one row per episode,
never the events); a progress chart reads the events of its one episode.
"""

from alliancekit.feedback.reports.attention import AttentionItem, Reason, attention_list
from alliancekit.feedback.reports.chart import (
    ProgressChart,
    chart_rows,
    chart_summary,
    chart_svg,
    chart_vega_lite,
    progress_chart,
)
from alliancekit.feedback.reports.html import render_report, write_report
from alliancekit.feedback.reports.outcomes import GroupOutcomes, PracticeOutcomes, Rate, practice_outcomes

__all__ = [
    "AttentionItem",
    "GroupOutcomes",
    "PracticeOutcomes",
    "ProgressChart",
    "Rate",
    "Reason",
    "attention_list",
    "chart_rows",
    "chart_summary",
    "chart_svg",
    "chart_vega_lite",
    "practice_outcomes",
    "progress_chart",
    "render_report",
    "write_report",
]
