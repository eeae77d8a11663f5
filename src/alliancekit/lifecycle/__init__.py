"""Lifecycle rules: commands, the pure decide function, and the state they fold into."""

from alliancekit.lifecycle.rules import TRANSITIONS, decide
from alliancekit.lifecycle.state import EpisodeState

__all__ = ["TRANSITIONS", "EpisodeState", "decide"]
