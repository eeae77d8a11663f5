"""Feedback-informed care: alert rules, the expected treatment response, reviews due, and reports."""

from alliancekit.feedback.config import Comparison, FeedbackConfig
from alliancekit.feedback.expectation import BandFit, Expectation, ExpectationFit, ExpectationModel, Zone
from alliancekit.feedback.rules import (
    SCORED_EVENTS,
    SESSION_EVENTS,
    AlertRule,
    AlertRuleRegistrar,
    RuleContext,
    Target,
)

__all__ = [
    "SCORED_EVENTS",
    "SESSION_EVENTS",
    "AlertRule",
    "AlertRuleRegistrar",
    "BandFit",
    "Comparison",
    "Expectation",
    "ExpectationFit",
    "ExpectationModel",
    "FeedbackConfig",
    "RuleContext",
    "Target",
    "Zone",
]
