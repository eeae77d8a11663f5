"""The schema version a store states, against the one its structure shows: shared by the SQLite and
PostgreSQL stores.

A store states its schema version in one place (SQLite's ``PRAGMA user_version``, PostgreSQL's
``schema_migrations``), and a read-only open reads the tables that version has. Someone who can write the
database can lower that statement alone: read as an older schema, the later tables would not be read, and
verification would skip the checks they carry (stored measure definitions, the backfill mark's audit entry,
idempotency records, administration requests). So each store names what each migration adds that an older
schema lacks (a table, ``table.column``, an index or ``routine()``: its *marker*), lists which of those are
there, and :func:`found` compares them with the stated version.

A read-only open reads the store as the newest version whose own marker and every earlier version's are
present (:attr:`SchemaFound.read_as`): every table that version has is there, so a store whose later
structure was half removed still reads. Verification reports the stated version whenever the markers
disagree with it (:attr:`SchemaFound.problem`): a later version's marker present (the version was lowered),
or the marker of a version at or below it missing (a table dropped, or the version raised). Dropping a
table to make a lowered version look consistent therefore still leaves a finding, unless every later
version's marker goes with it, and then the checks they carried have nothing left to read.

A migration that adds nothing to tell it by (SQLite's 11) cannot be told from the one before it: either
stated version is believed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import attrs


@attrs.frozen
class SchemaFound:
    """The schema version a store states, the version to read it as, and how the two disagree."""

    stated: int
    read_as: int
    """The stated version when the structure fits it; else the newest version whose own and earlier
    versions' markers are all present (its tables are all there), at least the oldest version marked."""
    problem: str | None = None
    """Plain words when the structure disagrees with the stated version (names of tables and columns, no
    client data); ``None`` when it fits."""


def found(stated: int, markers: Mapping[int, str], present: Collection[str], latest: int) -> SchemaFound:
    """What the structure ``present`` says of a store stating version ``stated``, given each version's marker
    up to ``latest`` (``markers``; a version without one is not told apart from the version before)."""
    missing = sorted(version for version, name in markers.items() if name not in present)
    there = sorted(version for version, name in markers.items() if name in present)
    complete = max((missing[0] if missing else latest + 1) - 1, min(markers))
    problems = []
    later = [version for version in there if version > stated]
    if later:
        problems.append(
            f"version {stated} is lower than its structure (version {later[-1]}'s {markers[later[-1]]} is"
            " present; changed outside alliancekit)"
        )
    dropped = [version for version in missing if version <= stated]
    if dropped:
        problems.append(
            f"version {stated} is higher than its structure (version {dropped[0]}'s {markers[dropped[0]]} is"
            " missing; changed outside alliancekit)"
        )
    if not problems:
        return SchemaFound(stated, stated)
    return SchemaFound(stated, complete, "; ".join(problems))
