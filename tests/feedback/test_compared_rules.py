"""Every built-in rule declares what it read besides its command's new scores, an earlier score or a span
of earlier events (what a share withholds its alerts with: :mod:`alliancekit.feedback.compared`), so a new
rule cannot be shared by default."""

from __future__ import annotations

from alliancekit.feedback.builtin import BUILTIN_RULES
from alliancekit.feedback.compared import COMPARED, SCORE_KINDS, Compared

#: The kinds that read a span of earlier events rather than a score.
SPANS = {"open-ruptures", "since-attended", "since-review", "schedule"}


def test_every_builtin_rule_says_what_it_compares() -> None:
    assert set(COMPARED) == {rule.id for rule in BUILTIN_RULES}


def test_the_rules_comparing_an_earlier_score_are_those_that_read_one() -> None:
    # the rules reading ScoredMeasure.intake (change class, expected zone) or RuleContext.previous
    assert {rule for rule, compared in COMPARED.items() if compared in SCORE_KINDS} == {
        "reliable-deterioration",
        "outcome-far-below-expected",
        "outcome-below-expected",
        "no-reliable-change",
        "alliance-dropped",
    }


def test_the_rules_counting_earlier_events_say_which_span() -> None:
    # the rules reading the state's open ruptures, no-shows in a row and last session's date, sessions
    # attended since the last review, and the measurement protocol's schedule
    assert {rule: compared for rule, compared in COMPARED.items() if compared.value in SPANS} == {
        "rupture-unresolved": Compared.OPEN_RUPTURES,
        "missed-sessions": Compared.SINCE_ATTENDED,
        "review-due": Compared.SINCE_REVIEW,
        "measure-missed": Compared.SCHEDULE,
    }
    # every kind is a score, a span or nothing
    assert {kind.value for kind in Compared} == {"nothing"} | {k.value for k in SCORE_KINDS} | SPANS
