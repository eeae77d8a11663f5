"""Who makes a call, in what role, for which clinic, and why."""

import attrs

from alliancekit.domain import inputs
from alliancekit.domain.checks import clinic_ref, record, ref
from alliancekit.domain.reprs import without_client_ids
from alliancekit.domain.vocab import Purpose, Role


@record
class Actor:
    """The person or system making a call. The host authenticates; alliancekit records and checks."""

    id: str = ref()
    role: Role = attrs.field(converter=inputs.role)
    clinic_id: str = clinic_ref()
    """Any id but the reserved ``(none)`` (:data:`~alliancekit.domain.checks.NO_CLINIC`)."""
    purpose: Purpose = attrs.field(default=Purpose.TREATMENT, converter=inputs.purpose)

    __repr__ = without_client_ids  # a client's id is their client reference
