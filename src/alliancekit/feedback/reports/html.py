"""The self-contained HTML report: practice outcomes, the attention list, one progress chart per open
episode. One file, inline CSS and SVG, no scripts needed and no external assets; each chart's Vega-Lite
specification is embedded as JSON (``<script type="application/vnd.vegalite+json">``, inert in a browser)
for hosts that render charts themselves."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from alliancekit import __version__
from alliancekit.domain.actors import Actor
from alliancekit.feedback.reports.attention import AttentionItem, attention_list
from alliancekit.feedback.reports.batched import batched_reads
from alliancekit.feedback.reports.chart import chart_svg, chart_vega_lite, progress_chart
from alliancekit.feedback.reports.outcomes import GroupOutcomes, PracticeOutcomes, practice_outcomes

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

#: Progress charts in one report at most (each reads its episode's events); the rest are counted.
DEFAULT_MAX_CHARTS = 200

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#212121;margin:0;background:#fafafa}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #e0e0e0}
h3{font-size:15px;margin:20px 0 6px}.muted{color:#616161}.empty{padding:12px;background:#fff3e0}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;width:100%}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}td.n{text-align:right;white-space:nowrap}
.sev{display:inline-block;min-width:56px;padding:1px 6px;border-radius:3px;color:#fff;font-size:12px;
text-align:center}.urgent{background:#6a1b9a}.red{background:#c62828}.amber{background:#ef8f00}
.info{background:#1565c0}ul.r{margin:0;padding-left:18px}
.chart{background:#fff;border:1px solid #e0e0e0;padding:8px 12px;margin:12px 0}
"""


def _rate_cells(g: GroupOutcomes) -> str:
    cells = [str(g.ended), str(g.measured)]
    cells += [str(r) for r in (g.reliable_improvement, g.recovery, g.deterioration, g.dropout)]
    cells.append("-" if g.saes is None else f"{round(g.saes, 2) or 0.0:+.2f} (n {g.saes_n}; {g.saes_bucket})")
    return "".join(f'<td class="n">{escape(c)}</td>' for c in cells)


def _outcomes_table(title: str, groups: Sequence[GroupOutcomes]) -> str:
    if not groups:
        return ""
    head = (
        f"<tr><th>{escape(title)}</th><th>ended</th><th>measured</th><th>reliable improvement</th>"
        "<th>recovery</th><th>deterioration</th><th>dropout</th><th>SAES</th></tr>"
    )
    rows = "".join(f"<tr><td>{escape(g.key)}</td>{_rate_cells(g)}</tr>" for g in groups)
    return f"<table>{head}{rows}</table>"


def _outcomes_section(outcomes: PracticeOutcomes) -> str:
    parts = ["<h2>Practice outcomes</h2>", f"<p>{escape(outcomes.summary)}</p>"]
    if outcomes.empty:
        parts[1] = f'<p class="empty">{escape(outcomes.summary)}</p>'
        return "".join(parts)
    parts.append(
        '<p class="muted">Closed episodes with an ending. Rates show the count and the denominator; recovery '
        "counts clients whose intake was in the clinical range. SAES: change beyond what the practice's "
        "clients with the same intake level achieved, in SDs of change (0 = the practice's average).</p>"
    )
    parts.append(_outcomes_table("practice", [outcomes.overall]))
    parts.append("<h3>By clinician</h3>" + _outcomes_table("clinician", outcomes.by_clinician))
    parts.append("<h3>By modality</h3>" + _outcomes_table("modality", outcomes.by_modality))
    parts.append("<h3>By period (closing quarter)</h3>" + _outcomes_table("period", outcomes.by_period))
    parts.append("<h3>By outcome measure</h3>" + _outcomes_table("measure", outcomes.by_measure))
    return "".join(parts)


def _attention_section(items: Sequence[AttentionItem], today: date) -> str:
    parts = [f"<h2>Needs attention today ({escape(today.isoformat())})</h2>"]
    if not items:
        parts.append('<p class="empty">No open episode needs attention today.</p>')
        return "".join(parts)
    by_clinician: dict[str, list[AttentionItem]] = defaultdict(list)
    for item in items:
        by_clinician[item.clinician_id].append(item)
    for clinician, group in sorted(by_clinician.items()):
        parts.append(f"<h3>{escape(clinician)}: {len(group)} client(s)</h3><table>")
        parts.append(
            "<tr><th>urgency</th><th>client</th><th>stage</th><th>sessions</th><th>last session</th>"
            "<th>why</th></tr>"
        )
        for item in group:
            reasons = "".join(
                f'<li><span class="sev {r.severity.value}">{r.severity.value}</span> {escape(r.text)}</li>'
                for r in item.reasons
            )
            parts.append(
                f'<tr><td><span class="sev {item.severity.value}">{item.severity.value}</span></td>'
                f'<td><a href="#ep-{escape(item.episode_id)}">{escape(item.client_ref)}</a></td>'
                f"<td>{escape(item.stage)}</td><td class=n>{item.sessions_attended}</td>"
                f"<td>{escape(str(item.last_session_on or '-'))}</td><td><ul class=r>{reasons}</ul></td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)


@batched_reads
def render_report(
    practice: Practice, actor: Actor, *, today: date | None = None, max_charts: int = DEFAULT_MAX_CHARTS
) -> str:
    """The report as one HTML document (see the module docstring)."""
    today = today or practice.today
    outcomes = practice_outcomes(practice, actor)
    items = attention_list(practice, actor, today=today)
    open_rows = [row for row in practice.caseload(actor) if row.sessions_attended > 0]
    # charts for the clients who need attention first, in the attention order, then the others
    order = {item.episode_id: i for i, item in enumerate(items)}
    open_rows.sort(key=lambda row: (order.get(row.episode_id, len(order)), row.clinician_id, row.client_ref))
    charts = []
    for row in open_rows[:max_charts]:
        chart = progress_chart(practice, actor, row.episode_id)
        spec = json.dumps(chart_vega_lite(chart), separators=(",", ":")).replace("</", "<\\/")
        charts.append(
            f'<section class="chart" id="ep-{escape(row.episode_id)}"><h3>{escape(row.client_ref)} '
            f'<span class="muted">{escape(row.clinician_id)} · {escape(row.stage)} · '
            f"{row.sessions_attended} sessions attended</span></h3>{chart_svg(chart)}"
            f'<script type="application/vnd.vegalite+json">{spec}</script></section>'
        )
    chart_part = ["<h2>Progress of open episodes</h2>"]
    if not charts:
        chart_part.append('<p class="empty">No open episode has a recorded session yet.</p>')
    chart_part += charts
    if len(open_rows) > max_charts:
        chart_part.append(f"<p class=muted>{len(open_rows) - max_charts} more open episodes not charted.</p>")
    clinic = escape(actor.clinic_id)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>alliancekit report: {clinic}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Feedback report: {clinic}</h1>"
        f'<p class="muted">Generated {escape(today.isoformat())} by alliancekit {escape(__version__)}. '
        "This report holds client references: handle it as a clinical record.</p>"
        + _attention_section(items, today)
        + _outcomes_section(outcomes)
        + "".join(chart_part)
        + "</main></body></html>\n"
    )


def write_report(
    practice: Practice,
    actor: Actor,
    out_dir: str | Path,
    *,
    today: date | None = None,
    max_charts: int = DEFAULT_MAX_CHARTS,
) -> Path:
    """Write ``report.html`` into ``out_dir`` (created if missing) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(render_report(practice, actor, today=today, max_charts=max_charts), encoding="utf-8")
    return path
