"""Where an import got to: the last source row committed, kept in the practice's metadata per source."""

from __future__ import annotations

import json

import attrs

from alliancekit.errors import ValidationError


@attrs.frozen
class ImportCheckpoint:
    """The last source row of the last unit committed, and that unit's key (a re-run checks the row still
    holds the same record before it skips up to it; a file changed before the row is read again, which
    writes nothing twice)."""

    row: int
    key: str
    units: int = 0
    """Units committed so far (for the report)."""

    def to_json(self) -> str:
        """The checkpoint as the JSON text the store keeps."""
        return json.dumps({"row": self.row, "key": self.key, "units": self.units})

    @classmethod
    def from_json(cls, text: str) -> ImportCheckpoint:
        """The checkpoint :meth:`to_json` wrote (JSON of another shape is a
        :class:`~alliancekit.errors.ValidationError`)."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("row"), int):
            raise ValidationError("import-checkpoint", "type", "a stored checkpoint of another shape")
        return cls(data["row"], str(data.get("key", "")), int(data.get("units", 0)))


def meta_key(clinic_id: str, source: str) -> str:
    """The metadata key of a source's checkpoint (per clinic: a clinic-scoped store keeps its own)."""
    return f"import-checkpoint:{clinic_id}:{source}"
