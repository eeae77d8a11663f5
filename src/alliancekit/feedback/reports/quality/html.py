"""The quality reports as one section of the HTML report (plain tables; what could not be computed is
stated where the number would be)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from alliancekit.feedback.reports.markup import scroll_region
from alliancekit.feedback.reports.outcomes import Rate
from alliancekit.feedback.reports.quality.collect import QualityReports
from alliancekit.feedback.reports.quality.records import Unavailable

#: Episodes listed in the measurement-based-care table at most; the rest are counted (all are in --json).
MAX_EPISODE_ROWS = 200


def _rows(rows: Sequence[tuple[str, Rate]]) -> str:
    body = "".join(
        f'<tr><td>{escape(label)}</td><td class="n">{escape(str(rate))}</td></tr>' for label, rate in rows
    )
    return f"<table><tr><th>rate</th><th>value</th></tr>{body}</table>"


def _unavailable(items: Sequence[Unavailable]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{escape(u.subject)}: {escape(u.reason)}</li>" for u in items)
    return f'<div class="empty"><p>Not computed:</p><ul class="r">{lis}</ul></div>'


def _source(text: str) -> str:
    return (
        f'<p class="muted">Specification: {escape(text)}. Formulas, and what a therapy record cannot '
        "express: docs/guides/quality-reports.md.</p>"
    )


def quality_section(q: QualityReports) -> str:
    """The ``Quality measures`` section of the report."""
    c, d, m, t, b = q.cms159, q.drr_e, q.dms, q.talking_therapies, q.mbc
    parts = ["<h2>Quality measures</h2>"]
    if q.unreadable:
        parts.append(_unavailable(q.unreadable))

    parts.append("<h3>CMS159: depression remission at twelve months</h3>" + _source(c.specification))
    parts.append(
        f"<p>Measurement year {c.year}; index PHQ-9 above 9 on the day of, or up to 7 days before, a "
        f"session between {c.identification_start} and {c.identification_end}; remission: the most recent "
        f"PHQ-9 12 months (+/- 60 days) later below 5. "
        f"{c.excluded} excluded by the host; {c.pending} with the window still open"
        f"{' (provisional)' if c.pending else ''}.</p>"
    )
    parts.append(_rows([("remission", c.remission)]) + _unavailable(c.unavailable))

    parts.append("<h3>HEDIS DRR-E: depression remission or response</h3>" + _source(d.specification))
    parts.append(
        f"<p>Elevated PHQ-9 (above 9) between {d.intake_start} and {d.intake_end}; follow-up 120 to 240 days "
        f"later; {d.pending} with the follow-up period still open.</p>"
    )
    parts.append(
        _rows([("follow-up PHQ-9", d.follow_up), ("remission", d.remission), ("response", d.response)])
        + _unavailable(d.unavailable)
    )

    parts.append("<h3>HEDIS DMS: PHQ-9 utilisation</h3>" + _source(m.specification))
    parts.append(
        _rows([(f"{p.start} to {p.end}", p.utilisation) for p in m.periods] + [(f"{m.year} total", m.total)])
        + _unavailable(m.unavailable)
    )

    parts.append("<h3>NHS Talking Therapies outcomes</h3>" + _source(t.specification))
    parts.append(
        f"<p>{t.finished} finished courses of treatment, {t.paired} with paired PHQ-9 and GAD-7 scores, "
        f"{t.caseness} at caseness at the start.</p>"
    )
    parts.append(
        _rows(
            [
                ("recovery", t.recovery),
                ("reliable improvement", t.reliable_improvement),
                ("reliable recovery", t.reliable_recovery),
                ("reliable deterioration", t.reliable_deterioration),
            ]
        )
        + _unavailable(t.unavailable)
    )

    parts.append("<h3>Measurement-based care (Joint Commission CTS.03.01.09)</h3>" + _source(b.specification))
    parts.append(
        _rows(
            [
                ("episodes with a standardized measure", b.measured),
                ("measured more than once", b.monitored),
                ("with a progress review", b.reviewed),
                ("alerts acknowledged or resolved", b.alerts_acknowledged),
            ]
        )
    )
    if b.episodes:
        head = (
            "<tr><th>client</th><th>clinician</th><th>sessions</th>"
            "<th>measures given (times, first, last)</th><th>reviews (with scores)</th>"
            "<th>alerts raised / acknowledged</th><th>plan changes</th></tr>"
        )
        body = "".join(
            f"<tr><td>{escape(e.client_ref)}</td><td>{escape(e.clinician_id)}</td>"
            f"<td class=n>{e.sessions}</td><td>"
            + escape(
                "; ".join(f"{u.measure_id} x{u.times} {u.first_on}..{u.last_on}" for u in e.measures)
                or "none"
            )
            + f"</td><td class=n>{e.reviews} ({e.reviews_with_scores})</td>"
            f"<td class=n>{e.alerts_raised} / {e.alerts_acknowledged}</td>"
            f"<td>{escape('; '.join(e.plan_changes) or '-')}</td></tr>"
            for e in b.episodes[:MAX_EPISODE_ROWS]
        )
        parts.append(scroll_region("measurement-based care by episode", f"<table>{head}{body}</table>"))
        if len(b.episodes) > MAX_EPISODE_ROWS:
            more = len(b.episodes) - MAX_EPISODE_ROWS
            parts.append(
                f"<p class=muted>{more} more episodes: see <code>alliancekit quality --json</code>.</p>"
            )
    parts.append(_unavailable(b.unavailable))
    return "".join(parts)
