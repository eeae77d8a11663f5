"""Feedback-informed care: alert rules, the expected treatment response, reviews due, and reports."""

from alliancekit.feedback.config import Comparison, FeedbackConfig
from alliancekit.feedback.expectation import Expectation, ExpectationModel, Zone
from alliancekit.feedback.rules import AlertRule, AlertRuleRegistrar, RuleContext, Target

__all__ = [
    "AlertRule",
    "AlertRuleRegistrar",
    "Comparison",
    "Expectation",
    "ExpectationModel",
    "FeedbackConfig",
    "RuleContext",
    "Target",
    "Zone",
]
