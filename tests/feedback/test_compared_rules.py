"""Every built-in rule declares the earlier score it compares a new one with (what a share withholds its
alerts with: :mod:`alliancekit.feedback.compared`), so a new rule cannot be shared by default."""

from __future__ import annotations

from alliancekit.feedback.builtin import BUILTIN_RULES
from alliancekit.feedback.compared import COMPARED, Compared


def test_every_builtin_rule_says_what_it_compares() -> None:
    assert set(COMPARED) == {rule.id for rule in BUILTIN_RULES}


def test_the_rules_comparing_an_earlier_score_are_those_that_read_one() -> None:
    # the rules reading ScoredMeasure.intake (change class, expected zone) or RuleContext.previous
    assert {rule for rule, compared in COMPARED.items() if compared is not Compared.NOTHING} == {
        "reliable-deterioration",
        "outcome-far-below-expected",
        "outcome-below-expected",
        "no-reliable-change",
        "alliance-dropped",
    }
