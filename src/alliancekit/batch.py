"""The batch path of the facade: :meth:`Practice.batch` yields a :class:`Batch`.

A :class:`Batch` has the command methods of :class:`~alliancekit.Practice` (the same functions, so the same
names, arguments and results), each run through the command table, the guard, the input checks,
idempotency, the lifecycle rules, the alert rules, the outbox and the audit exactly as on the facade; only
the commit differs (:mod:`alliancekit.core.batch`): one store transaction per ``size`` commands.

This module is where the batch path is documented and imported from; :class:`Batch` is defined beside the
facade in :mod:`alliancekit.practice`, since it is made of the facade's own methods and the facade makes it.
"""

from __future__ import annotations

from alliancekit.core.batch import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
from alliancekit.practice import FACADE_ONLY, Batch

__all__ = ["DEFAULT_BATCH_SIZE", "FACADE_ONLY", "MAX_BATCH_SIZE", "Batch"]
