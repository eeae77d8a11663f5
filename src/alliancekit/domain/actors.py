"""Who makes a call, in what role, for which clinic, and why."""

from alliancekit.domain.checks import record, ref
from alliancekit.domain.vocab import Purpose, Role


@record
class Actor:
    """The person or system making a call. The host authenticates; alliancekit records and checks."""

    id: str = ref()
    role: Role
    clinic_id: str = ref()
    purpose: Purpose = Purpose.TREATMENT
