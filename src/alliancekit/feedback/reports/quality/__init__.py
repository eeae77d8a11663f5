"""Quality-measure and service reports to published specifications: CMS159, HEDIS DRR-E and DMS, NHS
Talking Therapies outcomes, and the measurement-based-care summary (Joint Commission CTS.03.01.09).

The computations are pure functions of plain records (:mod:`.records`); :func:`quality_reports` gathers
those records through the facade and runs them all. See docs/guides/quality-reports.md.
"""

from alliancekit.feedback.reports.quality.cms159 import Cms159Result, cms159
from alliancekit.feedback.reports.quality.collect import QualityReports, episode_records, quality_reports
from alliancekit.feedback.reports.quality.hedis import DmsResult, DrrResult, dms, drr_e
from alliancekit.feedback.reports.quality.mbc import MbcSummary, mbc_summary
from alliancekit.feedback.reports.quality.records import EpisodeRecord, ScoreRecord, Unavailable, whole_points
from alliancekit.feedback.reports.quality.talking_therapies import TalkingTherapiesResult, talking_therapies

__all__ = [
    "Cms159Result",
    "DmsResult",
    "DrrResult",
    "EpisodeRecord",
    "MbcSummary",
    "QualityReports",
    "ScoreRecord",
    "TalkingTherapiesResult",
    "Unavailable",
    "cms159",
    "dms",
    "drr_e",
    "episode_records",
    "mbc_summary",
    "quality_reports",
    "talking_therapies",
    "whole_points",
]
