"""The report embeds each chart's Vega-Lite specification in a ``<script>`` element. Host references in it
(a participant's) must not change how a browser parses the page: a reference holding ``<!--<script>`` once
made the element's end tag data, so the next chart and the rest of the report became script text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs

from alliancekit.domain import Actor, Consent, Participant, Role
from alliancekit.feedback.reports import chart_vega_lite, progress_chart, render_report

from .conftest import CLINIC, CLINICIAN, make_clinic, ors

SCRIPT = re.compile(r'<script type="application/vnd\.vegalite\+json">(.*?)</script>', re.S)
HOSTILE = ("<!--<script>", '"onload=alert(1) x="', "</script><b>&amp;")


def test_host_references_in_the_embedded_specification_cannot_open_markup(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    episodes = []
    for hostile in HOSTILE:
        ep = c.episode()
        consent = Consent(treatment=True, measures=True)
        c.p.add_participant(CLINICIAN, ep, Participant(hostile, "partner", consent), added_on=c.day)
        c.session(ep, ors(10), attrs.evolve(ors(15), about=hostile))
        c.session(ep, ors(12), attrs.evolve(ors(16), about=hostile))
        episodes.append(ep)
    supervisor = Actor("sup-1", Role.SUPERVISOR, CLINIC)

    page = render_report(c.p, supervisor, today=c.day)

    blocks = SCRIPT.findall(page)
    assert len(blocks) == len(HOSTILE)  # each chart's element ends where it should
    for block in blocks:
        assert not set(block) & set("<>&"), "markup characters inside the script element"
    # the JSON is unchanged by the escapes, and every hostile reference is in it as it was given
    specs = [json.loads(block) for block in blocks]
    expected = [chart_vega_lite(progress_chart(c.p, supervisor, ep)) for ep in episodes]
    assert sorted(json.dumps(s, sort_keys=True) for s in specs) == sorted(
        json.dumps(s, sort_keys=True) for s in expected
    )
    for hostile in HOSTILE:
        assert any(json.dumps(hostile)[1:-1] in json.dumps(s) for s in specs)
    assert page.endswith("</main></body></html>\n")
    c.p.close()
