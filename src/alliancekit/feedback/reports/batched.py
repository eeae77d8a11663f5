"""Reports read in a batch: their audit entries are written one transaction per 1,000 reads, durably
before the report is returned (see :meth:`alliancekit.Practice.batched_reads`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

P = ParamSpec("P")
R = TypeVar("R")


def batched_reads(report: Callable[Concatenate[Practice, P], R]) -> Callable[Concatenate[Practice, P], R]:
    """Run ``report(practice, ...)`` inside ``practice.batched_reads()``."""

    @functools.wraps(report)
    def run(practice: Practice, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with practice.batched_reads():
            return report(practice, *args, **kwargs)

    return run
