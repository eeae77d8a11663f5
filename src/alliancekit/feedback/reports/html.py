"""The self-contained HTML report: practice outcomes, the attention list, one progress chart per open
episode. One file, inline CSS and SVG, no scripts needed and no external assets; each chart's Vega-Lite
specification is embedded as JSON (``<script type="application/vnd.vegalite+json">``, inert in a browser)
for hosts that render charts themselves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from alliancekit import CaseloadRow, __version__
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_date, check_int
from alliancekit.domain.vocab import AlertSeverity
from alliancekit.feedback.reports import palette
from alliancekit.feedback.reports.attention import AttentionItem, attention_list
from alliancekit.feedback.reports.batched import batched_reads
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
from alliancekit.feedback.reports.markup import scroll_region
from alliancekit.feedback.reports.outcomes import GroupOutcomes, PracticeOutcomes, practice_outcomes
from alliancekit.feedback.reports.quality import quality_reports
from alliancekit.feedback.reports.quality.html import quality_section
from alliancekit.security import private_files

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.stored import StoredMeasures
    from alliancekit.practice import Practice

#: Progress charts in one report at most (each reads its episode's events); the rest are counted.
DEFAULT_MAX_CHARTS = 200


def _css() -> str:
    """The report's style sheet, from the palette. Narrow screens first: tables scroll inside their own
    region, charts fill the width and sit in columns of at least 22rem on wider screens."""
    p = palette
    badges = "".join(
        f".sev.{severity.value}{{background:{b.background};color:{b.text}}}"
        for severity, b in p.SEVERITY_BADGES.items()
    )
    return (
        f"body{{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:{p.TEXT};margin:0;"
        f"background:{p.PAGE}}}"
        "main{max-width:1200px;margin:0 auto;padding:12px}"
        "@media (min-width:700px){main{padding:24px}}"
        "h1{font-size:1.5rem;margin:0 0 4px}"
        f"h2{{font-size:1.25rem;margin:32px 0 8px;border-bottom:2px solid {p.BORDER}}}"
        "h3{font-size:1rem;margin:20px 0 6px}.chart h3{margin:0 0 6px}"
        f"a{{color:{p.LINK}}}.muted{{color:{p.MUTED}}}"
        f".empty{{padding:12px;background:{p.NOTICE}}}"
        ".scroll{overflow-x:auto;margin:6px 0 12px}.scroll table{min-width:40rem}td.why{min-width:16rem}"
        f"table{{border-collapse:collapse;background:{p.SURFACE};width:100%;font-size:0.9375rem}}"
        f"caption{{text-align:left;font-weight:600;padding:4px 0}}"
        f"th,td{{border:1px solid {p.BORDER};padding:4px 8px;text-align:left;vertical-align:top}}"
        f"th{{background:{p.TABLE_HEAD};font-weight:600}}td.n{{text-align:right;white-space:nowrap}}"
        ".sev{display:inline-block;min-width:4.5em;padding:1px 6px;border-radius:3px;font-size:0.875rem;"
        f"font-weight:600;text-align:center}}{badges}"
        "ul.r{margin:0;padding-left:18px}"
        ".charts{display:grid;gap:16px;grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr))}"
        f".chart{{background:{p.SURFACE};border:1px solid {p.BORDER};padding:8px;min-width:0}}"
        ".chart svg{display:block;width:100%;height:auto}"
        ".chart p{margin:6px 0;font-size:0.9375rem}"
    )


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
    return scroll_region(f"outcomes by {title}", f"<table>{head}{rows}</table>")


def _outcomes_section(outcomes: PracticeOutcomes) -> str:
    parts = ["<h2>Practice outcomes</h2>", f"<p>{escape(outcomes.summary)}</p>"]
    if outcomes.empty:
        parts[1] = f'<p class="empty">{escape(outcomes.summary)}</p>'
        return "".join(parts)
    parts.append(
        '<p class="muted">Closed episodes with an ending. Rates show the count and the denominator; recovery '
        "counts clients whose intake was in the clinical range. SAES (ACORN's severity-adjusted effect "
        "size): the practice's mean change plus each client's change beyond what their intake level "
        "predicts, in SDs of intake scores, over clinical-range intakes.</p>"
    )
    parts.extend(f'<p class="muted">{escape(note)}</p>' for note in (*outcomes.norms, *outcomes.notes))
    parts.append(_outcomes_table("practice", [outcomes.overall]))
    parts.append("<h3>By clinician</h3>" + _outcomes_table("clinician", outcomes.by_clinician))
    parts.append("<h3>By modality</h3>" + _outcomes_table("modality", outcomes.by_modality))
    parts.append("<h3>By period (closing quarter)</h3>" + _outcomes_table("period", outcomes.by_period))
    parts.append("<h3>By outcome measure</h3>" + _outcomes_table("measure", outcomes.by_measure))
    return "".join(parts)


def _badge(severity: AlertSeverity) -> str:
    return f'<span class="sev {severity.value}">{severity.value}</span>'


def _attention_section(items: Sequence[AttentionItem], today: date) -> str:
    """One table for the whole practice, most urgent first (the attention list's order), the clinician on
    every row: an urgent client never waits behind another clinician's list."""
    parts = [f"<h2>Needs attention today ({escape(today.isoformat())})</h2>"]
    if not items:
        parts.append('<p class="empty">No open episode needs attention today.</p>')
        return "".join(parts)
    rows = [
        (
            "<tr><th>urgency</th><th>client</th><th>clinician</th><th>why</th><th>stage</th>"
            "<th>sessions</th><th>last session</th></tr>"
        )
    ]
    for item in items:
        reasons = "".join(f"<li>{_badge(r.severity)} {escape(r.text)}</li>" for r in item.reasons)
        rows.append(
            f"<tr><td>{_badge(item.severity)}</td>"
            f'<td><a href="#ep-{escape(item.episode_id)}">{escape(item.client_ref)}</a></td>'
            f"<td>{escape(item.clinician_id)}</td><td class='why'><ul class=r>{reasons}</ul></td>"
            f'<td>{escape(item.stage)}</td><td class="n">{item.sessions_attended}</td>'
            f"<td>{escape(str(item.last_session_on or '-'))}</td></tr>"
        )
    caption = f"<caption>{len(items)} client(s), most urgent first, across the practice</caption>"
    parts.append(
        scroll_region("clients who need attention", f'<table id="attention">{caption}{"".join(rows)}</table>')
    )
    return "".join(parts)


def _scores_table(chart: ProgressChart) -> str:
    scores = {n: (outcome, alliance) for n, outcome, alliance in chart_rows(chart)}
    alerts: dict[int, list[str]] = {}
    for n, label in chart_alerts(chart):
        alerts.setdefault(n, []).append(label)
    if not scores and not alerts:
        return ""
    head = (
        "<tr><th>session</th><th>outcome and other measures</th><th>alliance</th><th>alerts raised</th></tr>"
    )
    cells = {
        n: (*scores.get(n, ("-", "-")), "; ".join(alerts.get(n, ["-"])))
        for n in sorted(scores.keys() | alerts.keys())
    }
    body = "".join(
        f'<tr><td class="n">{n}</td>' + "".join(f"<td>{escape(text)}</td>" for text in texts) + "</tr>"
        for n, texts in cells.items()
    )
    # four columns of words are wider than a phone: the table scrolls in its own region, never the page
    table = scroll_region(f"scores and alerts of {chart.client_ref}", f"<table>{head}{body}</table>")
    return f"<details><summary>Scores and alerts as a table</summary>{table}</details>"


def _script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` as JSON escapes. Escaping ``</`` alone
    is not enough: a host reference holding ``<!--<script>`` would make the browser read the element's end
    tag as data, and the rest of the report would vanish into the script."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _chart_section(practice: Practice, actor: Actor, row: CaseloadRow, definitions: StoredMeasures) -> str:
    chart = progress_chart(practice, actor, row.episode_id, definitions=definitions)
    spec = _script_json(chart_vega_lite(chart))
    anchor = f"ep-{escape(row.episode_id)}"
    return (
        f'<section class="chart" id="{anchor}" aria-labelledby="{anchor}-h">'
        f'<h3 id="{anchor}-h">{escape(row.client_ref)}</h3>'
        f'<p class="muted">{escape(row.clinician_id)} · {escape(row.stage)} · '
        f"{row.sessions_attended} sessions attended</p>{chart_svg(chart)}"
        f"<p>{escape(chart_summary(chart))}</p>{_scores_table(chart)}"
        f'<script type="application/vnd.vegalite+json">{spec}</script></section>'
    )


@batched_reads
def render_report(
    practice: Practice, actor: Actor, *, today: date | None = None, max_charts: int = DEFAULT_MAX_CHARTS
) -> str:
    """The report as one HTML document (see the module docstring)."""
    if today is not None:  # bad input is refused before the first read, which writes an audit entry
        today = check_date("today", today)
    max_charts = check_int("max_charts", max_charts, lo=0)  # a negative count would slice from the end
    # the stored definitions are read once, for the outcomes and every chart, and only when needed
    definitions = chart_measures(practice)
    # the guarded read first: it refuses a missing actor
    outcomes = practice_outcomes(practice, actor, definitions=definitions)
    today = today or practice.clinic_today(actor.clinic_id)
    items = attention_list(practice, actor, today=today)
    open_rows = [row for row in practice.caseload(actor) if row.sessions_attended > 0]
    # charts for the clients who need attention first, in the attention order, then the others
    order = {item.episode_id: i for i, item in enumerate(items)}
    open_rows.sort(key=lambda row: (order.get(row.episode_id, len(order)), row.clinician_id, row.client_ref))
    chart_part = ["<h2>Progress of open episodes</h2>"]
    if not open_rows:
        chart_part.append('<p class="empty">No open episode has a recorded session yet.</p>')
    else:
        charts = "".join(_chart_section(practice, actor, row, definitions) for row in open_rows[:max_charts])
        chart_part.append(f'<div class="charts">{charts}</div>')
    if len(open_rows) > max_charts:
        chart_part.append(f"<p class=muted>{len(open_rows) - max_charts} more open episodes not charted.</p>")
    clinic = escape(actor.clinic_id)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>alliancekit report: {clinic}</title><style>{_css()}</style></head><body><main>"
        f"<h1>Feedback report: {clinic}</h1>"
        f'<p class="muted">Generated {escape(today.isoformat())} by alliancekit {escape(__version__)}. '
        "This report holds client references: handle it as a clinical record.</p>"
        + _attention_section(items, today)
        + _outcomes_section(outcomes)
        + quality_section(quality_reports(practice, actor, today=today))
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
    """Write ``report.html`` into ``out_dir`` (created if missing; removed again if the write fails) and
    return its path."""
    page = render_report(practice, actor, today=today, max_charts=max_charts)  # refusals first: no empty dir
    out = Path(out_dir)
    path = out / "report.html"
    with private_files.directory_for(out):  # a write that fails leaves no empty directory behind
        private_files.write_text(path, page)
    return path
