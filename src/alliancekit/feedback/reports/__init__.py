"""Reports clinicians look at: the caseload attention list, a client's progress chart, practice outcomes,
the quality measures services report (:mod:`.quality`), and the self-contained HTML report that holds them.

The attention list and practice outcomes read the store's caseload projection only (one row per episode,
never the events); a progress chart reads the events of its one episode, the quality reports every
episode's timeline.
"""

from alliancekit.feedback.reports.attention import AttentionItem, Reason, attention_list
from alliancekit.feedback.reports.chart import (
    ProgressChart,
    chart_alerts,
    chart_measures,
    chart_rows,
    chart_summary,
    chart_svg,
    chart_vega_lite,
    progress_chart,
)
from alliancekit.feedback.reports.html import render_report, write_report
from alliancekit.feedback.reports.outcomes import GroupOutcomes, PracticeOutcomes, Rate, practice_outcomes
from alliancekit.feedback.reports.quality import QualityReports, quality_reports

__all__ = [
    "AttentionItem",
    "GroupOutcomes",
    "PracticeOutcomes",
    "ProgressChart",
    "QualityReports",
    "Rate",
    "Reason",
    "attention_list",
    "chart_alerts",
    "chart_measures",
    "chart_rows",
    "chart_summary",
    "chart_svg",
    "chart_vega_lite",
    "practice_outcomes",
    "progress_chart",
    "quality_reports",
    "render_report",
    "write_report",
]
