"""Where an import got to: the last source row committed, kept in the practice's metadata per source."""

from __future__ import annotations

import json

import attrs

from alliancekit.errors import ValidationError


@attrs.frozen
class ImportCheckpoint:
    """The last source row of the last unit committed, that unit's key, and a digest of every unit the
    source held up to it (:func:`~alliancekit.imports.units.chained`). A re-run skips up to the row only
    when the source's units up to it give the same digest; any other source (shorter, with rows changed,
    added or moved before the row) is read again whole, its idempotency keys recognising what is stored."""

    row: int
    key: str
    units: int = 0
    """Units committed so far (for the report)."""
    prefix: str = ""
    """The digest of the source's units up to :attr:`row`, in order (empty in a checkpoint saved before
    there was one: its source is read again whole once)."""

    def to_json(self) -> str:
        """The checkpoint as the JSON text the store keeps."""
        return json.dumps({"row": self.row, "key": self.key, "units": self.units, "prefix": self.prefix})

    @classmethod
    def from_json(cls, text: str) -> ImportCheckpoint:
        """The checkpoint :meth:`to_json` wrote (JSON of another shape is a
        :class:`~alliancekit.errors.ValidationError`)."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("row"), int):
            raise ValidationError("import-checkpoint", "type", "a stored checkpoint of another shape")
        return cls(
            data["row"], str(data.get("key", "")), int(data.get("units", 0)), str(data.get("prefix", ""))
        )


def meta_key(clinic_id: str, source: str) -> str:
    """The metadata key of a source's checkpoint (per clinic: a clinic-scoped store keeps its own)."""
    return f"import-checkpoint:{clinic_id}:{source}"
