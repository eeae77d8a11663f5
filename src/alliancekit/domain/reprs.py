"""What a repr prints of client data that is not free text.

Free text is left out of reprs with ``repr=False``; what marks it for encryption at rest is its own metadata
(:data:`~alliancekit.domain.checks.FREE_TEXT`), never the repr flag. A client's reference (an episode's, a
participant's, a client actor's id) and clinical facts (which alert rule fired and how severe, how an
episode ended, a score's classification) stay in clear at rest, so the caseload and the rules work without
the key; their fields print ``<hidden>`` through :func:`hidden` instead, so a repr still shows which fields
are set."""

from collections.abc import Sized
from typing import Any

import attrs

HIDDEN = "<hidden>"

#: (role field, id field) pairs: the id of an actor in the client role is that client's reference.
_ACTOR_FIELDS = (("role", "id"), ("actor_role", "actor_id"))


def hidden(value: object) -> str:
    """The repr of a field holding a client reference or a clinical fact: ``<hidden>``, unless it is unset
    (``None``, an empty text or collection: that tells nothing)."""
    unset = value is None or (isinstance(value, Sized) and len(value) == 0)
    return repr(value) if unset else HIDDEN


def without_client_ids(self: Any) -> str:
    """An attrs class's repr, with the actor's id hidden when the actor is a client (a shared ``__repr__``:
    a field's own repr cannot see the role beside it)."""
    client_ids = {name for role, name in _ACTOR_FIELDS if getattr(self, role, None) == "client"}
    shown = []
    for field in attrs.fields(type(self)):
        if field.repr is False:
            continue
        show = hidden if field.name in client_ids else field.repr if callable(field.repr) else repr
        shown.append(f"{field.name}={show(getattr(self, field.name))}")
    return f"{type(self).__qualname__}({', '.join(shown)})"
