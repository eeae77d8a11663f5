"""Verification of the whole record: the stated schema version against the structure, event chains,
snapshots, projections, audit shards, references, seals, and the measure definitions kept with the data.

Pure: :func:`verify_record` reads nothing from a store. :func:`alliancekit.store.scan.scan_record` is the
one place that reads a store for it; the caller supplies ``fold`` (the state JSON folded from an episode's
stored events), ``project`` (the caseload row derived from a snapshot's JSON), ``administered`` (the
measure versions an episode's events scored) and ``installed`` (the SHA-256 of the host's installed
definition of a measure version), because they belong to the core and its plugins, not to this module.

What a check failing means, from the bottom up:

* **schema**: the structure disagrees with the schema version the store states (a table, column, index or
  routine a later version adds is there: the version was lowered by hand; or one that a version at or below
  it adds is missing: dropped, or the version raised). A read-only open reads the store as the newest
  version whose markers are all there, whatever it states (:mod:`alliancekit.store.structure`), so lowering
  it hides none of the checks below (a read of an older schema would skip the definitions, the backfill
  mark's entry, the commands and the requests); a migration that adds nothing to tell it by (SQLite's 11)
  cannot be told from the one before it;
* **events**: an episode's stream is not a consecutive, hash-linked chain from :data:`~.chain.GENESIS`
  whose hashes recompute, or its snapshot does not name the last event (version and head). An event whose
  free text was written in clear and later encrypted by a key rotation no longer hashes to its stored hash
  (hashes mask ciphertexts, and it was hashed over the text): it passes only with the rotation's
  attestation (:func:`~.chain.rehashed`), an entry of its clinic's audit log, in a chain sound up to it,
  naming the event and the digest it now recomputes to exactly; the stream goes on from its stored hash.
  Any other change to it fails, as to any event. What an attestation cannot stop is the limit the audit
  log has anyway: one forged and appended after the last seal (see below);
* **snapshots**: the snapshot is not what the events fold into;
* **projections**: the caseload row is not what the snapshot projects to;
* **audit**: a shard is not a consecutive, hash-linked chain whose hashes recompute;
* **references**: an audit entry names a stream head (``writes``) that the episode no longer has, or an
  episode's current head is named by no entry;
* **seals**: a checkpoint's MAC chain or Merkle root is wrong, or the entries differ from (or stop before)
  the heads a checkpoint sealed, or the host's ``expected_head`` is not among the checkpoints;
* **definitions**: a stored measure definition's text does not recompute to its stored SHA-256, or is not
  a valid definition of the measure and version it is stored under, or differs from the host's installed
  definition of that version; or a measure version an administration used has no stored definition; or
  the store carries the mark of a migration that found administrations from before it kept definitions
  but the audit log holds no entry of that migration recording it (the mark was written by hand);
* **commands**: an idempotency record (what a keyed command returns when repeated) names an episode the
  clinic's record does not hold, a version its stream does not reach, or an event written in another
  clinic, or its request is not bound by a SHA-256 digest; named by command and position, never by key;
* **requests**: an administration request (a link or a kiosk code) names an episode the clinic's record
  does not hold, expires before it was made, has a reminder outside its life, was used at or after its
  expiry, used without a token, or both used and revoked, or keeps a token or code other than as a
  SHA-256 digest; named by request id, never by token or code.

The installed plugin is the reference the host trusts: someone who can write the database can change a
definition's text and its SHA-256 together, and only the installed definition of the same version tells.
A stored definition with no installed counterpart (its plugin removed, or never installed on this host)
can only be checked for being consistent with itself. Completeness (every administered measure version has
its definition) is checked only for a store that has kept definitions since its first event
(:attr:`DefinitionsRecord.complete`): a store that held administrations before it kept definitions (its
migration marked it, see :mod:`alliancekit.core.definitions`) may lack the definitions of measures removed
before they were recorded, and which administrations are that old cannot be told; there the measure
versions without a definition are counted (``definitions_missing``), not a finding. The mark is believed only
with the audit entry its migration writes (:data:`~alliancekit.store.definitions.BACKFILL_ACTION`, in the
report's own entries), where the hash chain and the later seals cover it: a mark set by hand later has
none (unless forged with an entry appended after the last seal, the limit the seals have anyway), and is a
finding, after which a missing definition is one too. Definitions are
published instruments, never client data: a report on one clinic checks every stored definition.

The commands and requests checks run on a store that can list those rows (``command_records()`` and
``request_records()``, see :func:`alliancekit.store.scan.scan_store`); the report counts the clinic's rows
checked (``commands``, ``requests``). What they cannot tell: a row deleted, or one consistent with the record
(a repeat's result pointed at another of the same episode's versions), as these rows are not hash-chained.

Each check reports its first bad entry only: what comes after a break cannot be trusted either.

**One clinic's report** (``clinic=``, what :meth:`alliancekit.Practice.verify` asks for): a file may hold
several clinics. Their episodes are independent chains, so only the clinic's own episodes are checked, counted
and named (an episode is the clinic's when its caseload row or any of its events says so). The audit log is
chained per clinic too: each entry's ``chain`` (:attr:`~alliancekit.store.protocol.AuditRecord.chain`) is the
clinic whose shards hold it, and each clinic's checkpoints seal its own shards' heads, numbered and
MAC-chained on their own. The store gives a clinic's report its own chains, those of calls made without an
actor (which every clinic's auditor sees) and, in an SQLite file upgraded from before chains per clinic, the
chains its clinics shared until then (``chain`` empty), never another clinic's chains
(:func:`alliancekit.store.scan.scan_record`). Every chain is checked whole (a chain can only be trusted
whole), so a broken chain of one clinic breaks that clinic's report and no other, while a broken shared chain
breaks every clinic's report: none of them can trust it. Findings name a chain's shard and position, or a
checkpoint number, never an entry's record: ``audit shard 3 entry 17`` in the report's own chains, ``shared
audit shard 3 entry 17`` / ``shared checkpoint 2`` in the shared part (when the report also reads chains per
clinic), ``clinic <id> audit shard …`` in another chain (calls without an actor, or another clinic's in a
report on the whole record). ``audit_entries`` counts the clinic's own entries (and those of calls made
without an actor, as :meth:`~alliancekit.Practice.audit_entries` shows them), and ``shared_audit`` says that
the chains checked also hold other clinics' entries. The references check reads the entries the clinic filed
and those naming its episodes. An episode whose clinic cannot be read at all is a finding of every clinic's
report, without its id. A PostgreSQL store is scoped to one clinic, with its own shards and checkpoints: there
the report is the whole of what the store holds, and another clinic's report on it is empty
(:func:`alliancekit.store.scan.scan_record` gives that clinic nothing).

What stays possible for someone who can write the database, and what the host does about it: entries
appended after the last seal are covered by the hash chains only (anyone can extend a chain), so seal
often; cutting the log back to an earlier seal *together with* the later checkpoints is caught only when
the host keeps the latest checkpoint outside the database and passes it as ``expected_head``.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from alliancekit.domain.checks import NO_CLINIC
from alliancekit.errors import ValidationError
from alliancekit.integrity.chain import (
    GENESIS,
    REHASH_ACTION,
    REHASH_RECORD,
    entry_hash,
    event_hash,
    merkle_root,
    seal_mac,
)
from alliancekit.store.definitions import BACKFILL_ACTION, BACKFILL_KEY, load_stored
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    CommandRecord,
    RequestRecord,
    ShardHead,
    Snapshot,
    StoredDefinition,
    StoredEvent,
)
from alliancekit.store.rows import UNDECODABLE
from alliancekit.store.structure import SchemaFound

CHECKS = (
    "schema",
    "events",
    "snapshots",
    "projections",
    "audit",
    "references",
    "seals",
    "definitions",
    "commands",
    "requests",
)

#: Where a part the store could not read is reported: (check, where).
_UNREADABLE_PARTS = {
    "audit": ("audit", "audit log"),
    "checkpoints": ("seals", "checkpoints"),
    "caseload": ("projections", "caseload"),
    "definitions": ("definitions", "measure definitions"),
    "commands": ("commands", "idempotency records"),
    "requests": ("requests", "administration requests"),
}

#: What an unreadable row's rule (:class:`~alliancekit.errors.UnreadableRow`) means, as a finding says it.
_UNREADABLE_RULES = {
    "value": "a value in it is not what its column holds (a time, date, number or JSON that is not one)",
    "type": "a value in it is not of its column's type (or is NULL where one is needed)",
}

#: A SHA-256 digest as the stores keep one: 64 lowercase hexadecimal digits.
_SHA256 = re.compile(r"[0-9a-f]{64}")

#: Caseload columns that hold JSON text: compared as values (a backend may store them as JSON).
_JSON_COLUMNS = ("latest_scores_json", "open_alerts_json")


@attrs.frozen
class EpisodeRecord:
    """What a scan of the store yields per episode."""

    episode_id: str
    snapshot: Snapshot | None
    caseload: CaseloadRow | None
    events: Sequence[StoredEvent]
    readable: bool = True
    """False when the store could not decode its events or snapshot (changed outside alliancekit)."""
    clinics: frozenset[str] = frozenset()
    """The clinics its caseload row and its events name (empty when none of them could be read)."""


@attrs.frozen
class DefinitionsRecord:
    """What a scan of the store yields about the measure definitions kept with the data."""

    stored: Sequence[StoredDefinition] = ()
    """Every stored definition (``DefinitionStore.measure_definitions()``)."""
    complete: bool = False
    """Whether every administration's definition must be stored: true for a store that has kept
    definitions since its first event; false for one that keeps none, one whose schema predates them (a
    read-only open of an older file), and one its migration marked as holding administrations from before."""
    marked: bool = False
    """Whether the store carries that mark (:data:`~alliancekit.store.definitions.BACKFILL_KEY`)."""
    mark_audited: bool = False
    """Whether the mark must have its audit entry (:data:`~alliancekit.store.definitions.BACKFILL_ACTION`):
    true for a marked store whose schema records it there; false for one read as an older alliancekit left
    it (a read-only open of a file from before)."""


@attrs.frozen
class Finding:
    """The first bad entry one check found."""

    check: str
    """One of :data:`CHECKS`."""
    where: str
    """Which entry: ``episode <id> event 4``, ``audit shard 5 entry 17``, ``checkpoint 3``."""
    problem: str
    """Plain words, never record content."""


@attrs.frozen
class IntegrityReport:
    """What :func:`verify_record` found."""

    ok: bool
    episodes: int
    events: int
    audit_entries: int
    checkpoints: int
    seals_checked: bool
    """Whether the checkpoints' MACs were checked under the host's key: false without a key, and false
    with no checkpoint to check (nothing sealed yet)."""
    findings: tuple[Finding, ...] = ()
    """The first bad entry of each check that failed, in the order of :data:`CHECKS`."""
    clinic: str | None = None
    """The clinic reported on; ``None`` for a report on the whole record."""
    shared_audit: bool = False
    """Whether the audit chains checked also hold other clinics' entries (checked whole, never named)."""
    definitions: int = 0
    """The stored measure definitions checked (every one the store holds, shared by its clinics)."""
    definitions_missing: int = 0
    """Measure versions the reported episodes administered that have no stored definition: a finding of
    ``definitions`` where the store has kept them from the start, else only counted (see the module
    docstring)."""
    commands: int = 0
    """The clinic's idempotency records checked (keyed commands' results; 0 when the store cannot list
    them)."""
    requests: int = 0
    """The clinic's administration requests checked (links and kiosk codes; 0 when the store cannot list
    them)."""
    schema_version: int | None = None
    """The schema version the store states (``None``: a store that states none); a finding of ``schema``
    when its structure is another version's."""

    def finding(self, check: str) -> Finding | None:
        """The finding of ``check``, if it failed."""
        return next((f for f in self.findings if f.check == check), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the counts, whether the seals were checked, and each finding."""
        return attrs.asdict(self)

    def describe(self) -> str:
        """Human text; the first line starts ``record ok:`` or ``record broken:``."""
        counts = (
            f"{self.episodes} episodes, {self.events} events, {self.audit_entries} audit entries, "
            f"{self.definitions} measure definitions, {self.commands} idempotency records, "
            f"{self.requests} administration requests, {self.checkpoints} checkpoints"
        )
        if self.seals_checked:
            seals = "seals verified"
        elif self.checkpoints:
            seals = "seals not checked (no key)"
        else:
            seals = "no seals yet" if self.finding("seals") is None else "no seals found"
        if self.shared_audit:
            seals += "; audit chains shared with other clinics, checked whole"
        if self.definitions_missing and self.finding("definitions") is None:
            seals += (
                f"; {self.definitions_missing} measure versions administered without a stored definition"
                " (not a finding: the store did not keep definitions from its first administration)"
            )
        if self.schema_version is not None:
            seals += f"; schema version {self.schema_version}"
        if self.ok:
            return f"record ok: {counts}; {seals}"
        failed = ", ".join(f.check for f in self.findings)
        lines = [f"record broken: {failed} ({counts}; {seals})"]
        lines += [f"  {f.check}: {f.where}: {f.problem}" for f in self.findings]
        return "\n".join(lines)


class _First:
    """The first finding per check."""

    def __init__(self) -> None:
        self.found: dict[str, Finding] = {}

    def add(self, check: str, where: str, problem: str) -> None:
        self.found.setdefault(check, Finding(check, where, problem))

    def has(self, check: str) -> bool:
        return check in self.found


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except UNDECODABLE:  # not JSON, or nested deeper than the stack: a finding, never a crash
        return _Unparsable(text)


@attrs.frozen
class _Unparsable:
    text: str


def _row_value(row: CaseloadRow) -> dict[str, Any]:
    value = attrs.asdict(row)
    # The missed measures depend on the protocols the host configured (not on the record alone): a
    # verification run without that configuration (the CLI's) could not recompute them. Each command
    # rewrites them, and they carry no clinical content.
    value.pop("missed_measures_json", None)
    for column in _JSON_COLUMNS:
        value[column] = _json_value(value[column])
    return value


def _parse_writes(writes: str) -> tuple[int, str] | None:
    version, sep, head = writes.partition(":")
    if not sep or not version.isdigit() or len(head) != len(GENESIS):
        return None
    return int(version), head


def _check_events(episode: EpisodeRecord, first: _First, attested: _Attested) -> None:
    where = f"episode {episode.episode_id}"
    prev = GENESIS
    for index, event in enumerate(episode.events, start=1):
        at = f"{where} event {index}"
        if event.seq != index or event.episode_id != episode.episode_id:
            first.add("events", at, "event out of place (deleted, inserted or moved)")
            return
        if event.prev_hash != prev:
            first.add("events", at, "does not follow the event before it")
            return
        try:
            digest = event_hash(event, prev)
        except UNDECODABLE:  # a payload that is not JSON (or nested past the stack) has no hash to match
            digest = ""
        vouched = attested.get((event.clinic_id, event.event_id), ())
        if digest != event.hash and _compact(digest) not in vouched:
            first.add("events", at, "content does not match its hash")
            return
        prev = event.hash
    count = len(episode.events)
    snapshot = episode.snapshot
    if snapshot is None:
        if count:
            first.add("events", f"{where} snapshot", "the episode has events but no snapshot")
    elif snapshot.version != count:
        # a version that is no number (changed outside alliancekit) is not shown: it could be anything
        version = snapshot.version if type(snapshot.version) is int else "(not a number)"
        first.add("events", f"{where} snapshot", f"snapshot is at version {version}, stream at {count}")
    elif snapshot.head != prev:
        first.add("events", f"{where} snapshot", "snapshot head is not the last event's hash")


def _check_state(
    episode: EpisodeRecord,
    first: _First,
    fold: Callable[[Sequence[StoredEvent]], str],
    project: Callable[[str], CaseloadRow],
    upcast: Callable[[str, Sequence[StoredEvent]], str],
) -> None:
    where = f"episode {episode.episode_id}"
    snapshot = episode.snapshot
    if snapshot is not None and not first.has("snapshots"):
        try:
            folded: Any = json.loads(fold(episode.events)) if episode.events else None
        except Exception:  # noqa: BLE001 - any failure to fold is a finding, not a crash
            folded = _Unparsable("")
        try:
            stored = upcast(snapshot.state_json, episode.events)
        except Exception:  # noqa: BLE001 - a snapshot no upcaster reads is compared as it is stored
            stored = snapshot.state_json
        if folded != _json_value(stored):
            first.add(
                "snapshots", f"{where} snapshot", "snapshot differs from the state folded from the events"
            )
    if first.has("projections"):
        return
    if episode.caseload is None:
        if snapshot is not None:
            first.add("projections", f"{where} caseload row", "the caseload row is missing")
        return
    if snapshot is None:
        first.add("projections", f"{where} caseload row", "a caseload row without a snapshot")
        return
    try:
        expected: dict[str, Any] | None = _row_value(project(snapshot.state_json))
    except Exception:  # noqa: BLE001 - an unreadable snapshot projects to nothing
        expected = None
    if expected != _row_value(episode.caseload):
        first.add(
            "projections", f"{where} caseload row", "caseload row differs from the snapshot's projection"
        )


#: The digests the audit log attests events were rehashed to (a key rotation that encrypted text written in
#: clear, :func:`~alliancekit.integrity.chain.rehashed`), by the event's clinic and id.
_Attested = dict[tuple[str, str], set[str | bytes]]
#: One audit chain of a shard: (chain, shard) (:attr:`~alliancekit.store.protocol.AuditRecord.chain`).
_Key = tuple[str, int]
#: What an audit entry says a command wrote: (version, head, chain and shard, position, whether it is the
#: report's).
_Claim = tuple[int, str | bytes, _Key, int, bool]


def _compact(digest: str) -> str | bytes:
    """A lowercase hex digest as its bytes (half the memory of its text), any other text as it is: two
    texts compact to equal values exactly when they are equal (bytes never equal text)."""
    try:
        raw = bytes.fromhex(digest)
    except (TypeError, ValueError):
        return digest
    return raw if raw.hex() == digest else digest


class _AuditWalk:
    """One pass over the audit entries, keeping per chain and shard only what the checks need, not the
    entries: its length, its last hash, its first break, the hashes at the positions a checkpoint seals, and
    the write claims (compact tuples) for the references check."""

    def __init__(
        self, sealed: Iterable[tuple[str, ShardHead]], own: Callable[[AuditRecord], bool], clinic: str | None
    ) -> None:
        self.own = own
        self.clinic = clinic
        self.wanted: dict[_Key, set[int]] = {}
        for name, head in sealed:
            self.wanted.setdefault((name, head.shard), set()).add(head.position)
        self.length: dict[_Key, int] = {}
        self.prev: dict[_Key, str] = {}
        self.hashes: dict[tuple[str, int, int], str] = {}
        #: the first bad entry of each chain's shard: (index, problem); the lowest one's is reported
        self.broken: dict[_Key, tuple[int, str]] = {}
        self.named: dict[str, list[_Claim]] = {}
        self.bad_refs: list[tuple[tuple[_Key, int], str]] = []
        self.entries = 0
        self.shared = False
        #: the report's entries recording the backfill mark (a migration's, see DefinitionsRecord)
        self.marks = 0
        #: what the rotations' attestations vouch for, from entries whose chain is sound up to them
        self.attested: _Attested = {}
        self.chains: set[str] = set()

    def add(self, record: AuditRecord) -> None:
        key = (record.chain, record.shard)
        self.chains.add(record.chain)
        index = self.length.get(key, 0) + 1
        self.length[key] = index
        if index in self.wanted.get(key, ()):
            self.hashes[record.chain, record.shard, index] = record.hash
        if key not in self.broken:
            prev = self.prev.get(key, GENESIS)
            if record.chain and record.chain != record.clinic_id:  # a clinic's chains hold its entries only
                self.broken[key] = (index, "entry out of place (moved to another clinic's chain)")
            elif record.position != index:
                self.broken[key] = (index, "entry out of place (deleted, inserted or moved)")
            elif record.prev_hash != prev:
                self.broken[key] = (index, "does not follow the entry before it")
            elif entry_hash(record, index, prev) != record.hash:
                self.broken[key] = (index, "content does not match its hash")
            else:
                self.prev[key] = record.hash
                self._attest(record)
        mine = self.own(record)
        self.entries += mine
        self.shared = self.shared or not mine
        if mine and record.action == BACKFILL_ACTION and record.record_id == BACKFILL_KEY:
            self.marks += 1
        if not record.writes or record.record_type != "episode":
            return
        parsed = _parse_writes(record.writes)
        if parsed is None:
            if mine:
                self.bad_refs.append(((key, record.position), "its record of what it wrote is malformed"))
            return
        claim = (parsed[0], _compact(parsed[1]), key, record.position, mine)
        self.named.setdefault(record.record_id, []).append(claim)

    def _attest(self, record: AuditRecord) -> None:
        """Keep what ``record`` attests, if it is a rotation's attestation of an event's new hash."""
        if record.action == REHASH_ACTION and record.record_type == REHASH_RECORD and _digest(record.detail):
            self.attested.setdefault((record.clinic_id, record.record_id), set()).add(_compact(record.detail))

    def chain_name(self, chain: str) -> str:
        """How a finding names ``chain`` (before ``audit shard``, ``checkpoint``): nothing for the report's
        own clinic's chains, a store's one set of chains and the only chains read; ``shared`` for the part
        an SQLite file kept before chains per clinic, when the report also reads chains per clinic; else
        ``clinic <id>``."""
        if not chain:
            return "shared " if len(self.chains - {""}) else ""
        if chain == self.clinic or (self.clinic is None and self.chains == {chain}):
            return ""
        return f"clinic {chain} "

    def entry(self, key: _Key, index: int) -> str:
        return f"{self.chain_name(key[0])}audit shard {key[1]} entry {index}"

    def check(self, first: _First) -> None:
        if self.broken:
            key = min(self.broken)  # as the chains are read: chain by chain, shard by shard
            index, problem = self.broken[key]
            first.add("audit", self.entry(key, index), problem)


def _in_order(audit: Iterable[AuditRecord]) -> Iterable[AuditRecord]:
    """A list by chain, shard then position (a backend may list entries in the order written); an iterable
    as it comes: a store streaming the entries gives them in that order, and a chain out of it is a
    finding."""
    if isinstance(audit, Sequence):
        return sorted(audit, key=lambda r: (r.chain, r.shard, r.position))
    return audit


def _by_chain(checkpoints: Sequence[AuditCheckpoint]) -> dict[str, list[AuditCheckpoint]]:
    """The checkpoints of each chain, in the order given (each chain's are numbered on their own)."""
    groups: dict[str, list[AuditCheckpoint]] = {}
    for cp in checkpoints:
        groups.setdefault(cp.chain, []).append(cp)
    return dict(sorted(groups.items()))


def _expected_chain(checkpoints: Sequence[AuditCheckpoint], expected_head: AuditCheckpoint) -> str:
    """The chain ``expected_head`` seals: the chain of the stored checkpoint it is (its number and MAC),
    else the chain it names (a host may have kept a checkpoint without its chain)."""
    for cp in checkpoints:
        if cp.seq == expected_head.seq and hmac.compare_digest(cp.mac, expected_head.mac):
            return cp.chain
    return expected_head.chain


#: The first seal of a chain failing its MAC: the commonest cause is a key other than the practice's.
_WRONG_KEY_OR_CHANGED = (
    "seal is not valid: the key given is not the one the practice sealed with (check the key), or the"
    " checkpoint was changed"
)


def _check_seals(
    walk: _AuditWalk,
    checkpoints: Sequence[AuditCheckpoint],
    key: bytes | None,
    expected_head: AuditCheckpoint | None,
    first: _First,
) -> None:
    if key is not None:
        for name, group in _by_chain(checkpoints).items():
            previous_mac = ""
            for index, cp in enumerate(group, start=1):
                at = f"{walk.chain_name(name)}checkpoint {index}"
                if cp.seq != index:
                    first.add("seals", at, "checkpoint out of place (deleted, inserted or moved)")
                    return
                if cp.root != merkle_root(cp.heads):
                    first.add("seals", at, "its root does not match the heads it lists")
                    return
                if not hmac.compare_digest(cp.mac, seal_mac(key, cp.seq, cp.root, previous_mac)):
                    # a wrong key fails the first seal: say so, lest the operator restore a sound database
                    first.add("seals", at, _WRONG_KEY_OR_CHANGED if index == 1 else "seal is not valid")
                    return
                previous_mac = cp.mac
    for name, cp in _claimed(checkpoints, expected_head):
        for head in cp.heads:
            length = walk.length.get((name, head.shard), 0)
            if head.position > length:
                first.add(
                    "seals",
                    walk.entry((name, head.shard), length + 1),
                    f"entries after shard {head.shard} position {length} are missing"
                    f" ({walk.chain_name(name)}checkpoint {cp.seq} sealed {head.position})",
                )
                return
            if head.position < 1 or walk.hashes[name, head.shard, head.position] != head.hash:
                first.add(
                    "seals",
                    walk.entry((name, head.shard), head.position),
                    f"entries differ from what {walk.chain_name(name)}checkpoint {cp.seq} sealed",
                )
                return
    if expected_head is not None and not any(
        cp.seq == expected_head.seq and hmac.compare_digest(cp.mac, expected_head.mac) for cp in checkpoints
    ):
        name = walk.chain_name(_expected_chain(checkpoints, expected_head))
        first.add("seals", f"{name}checkpoint {expected_head.seq}", "the expected checkpoint is missing")


def _stored_problem(stored: StoredDefinition, installed: Callable[[str, str], str | None]) -> str | None:
    """What is wrong with one stored definition, in plain words (never its content); ``None``: nothing."""
    try:
        load_stored(stored)
    except ValidationError as exc:
        if exc.rule == "sha256":
            return "its text does not match its SHA-256 (changed outside alliancekit)"
        return "it is not a valid definition of the measure and version it is stored under"
    except Exception:  # noqa: BLE001 - text that is not JSON (or not a definition) is a finding, not a crash
        return "it is not a valid definition of the measure and version it is stored under"
    reference = installed(stored.measure_id, stored.version)
    if reference is not None and reference != stored.sha256:
        return "it differs from the installed plugin's definition of the same version"
    return None


def _check_definitions(
    record: DefinitionsRecord,
    used: dict[tuple[str, str], str],
    installed: Callable[[str, str], str | None],
    first: _First,
    marks: int | None,
) -> int:
    """Check each stored definition, the backfill mark against its audit entries (``marks``: how many the
    audit log holds; ``None``: the log could not be read), then that every measure version in ``used``
    (with the first episode using it) has one; the number of those without one."""
    for stored in sorted(record.stored, key=lambda d: (d.measure_id, d.version)):
        problem = _stored_problem(stored, installed)
        if problem is not None:
            first.add("definitions", f"measure {stored.measure_id} version {stored.version}", problem)
            break
    complete = record.complete
    if record.mark_audited and marks == 0:
        # a mark no migration recorded: written by hand, it excuses nothing
        first.add(
            "definitions",
            f"practice metadata {BACKFILL_KEY}",
            "the mark excusing administrations without a stored definition has no audit entry"
            " (set outside alliancekit)",
        )
        complete = True
    kept = {(d.measure_id, d.version) for d in record.stored}
    missing = sorted(key for key in used if key not in kept)
    if missing and complete:
        measure_id, version = missing[0]
        first.add(
            "definitions",
            f"measure {measure_id} version {version}",
            f"administered in episode {used[measure_id, version]} but no definition of it is stored",
        )
    return len(missing)


#: What verification keeps of each of the report's episodes for the commands and requests checks: its stream
#: length and the clinics its events name.
_Held = dict[str, tuple[int, frozenset[str]]]
#: The stream length kept for an episode whose events could not be read (nothing is compared with it).
_UNREAD = -1


def _within(version: object, length: int) -> bool:
    """Whether ``version`` (as a row holds it, whatever was put there) is a version from 1 to ``length``."""
    return type(version) is int and 1 <= version <= length


def _digest(value: object) -> bool:
    """Whether ``value`` is a SHA-256 digest as the stores keep one."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _check_commands(commands: Sequence[CommandRecord], held: _Held, first: _First) -> None:
    """Each idempotency record's result names an event the clinic's record holds: an episode of the
    report's, a version its stream reaches, written in the record's clinic; and its request is bound by a
    SHA-256. Named by command and position, never by key (a host may derive keys from what it has)."""
    for index, row in enumerate(commands, start=1):
        at = f"command {row.command} record {index}"
        found = held.get(row.episode_id)
        if found is None:
            problem = "names an episode the clinic's record does not hold"
        elif found[0] == _UNREAD:
            continue
        elif not _within(row.version, found[0]):
            problem = f"names a version the episode's stream does not reach (it holds {found[0]})"
        elif row.clinic_id not in found[1]:
            problem = "names an event written in another clinic"
        elif not _digest(row.request_hash):
            problem = "its request is not bound by a SHA-256 digest"
        else:
            continue
        first.add("commands", at, problem)
        return


def _request_problem(row: RequestRecord, held: _Held) -> str | None:
    if row.episode_id not in held:
        return "names an episode the clinic's record does not hold"
    if not row.created_at < row.expires_at:
        return "expires before it was made"
    # (a use or a revocation may read an earlier clock than the making did: only the reminder, computed
    # from the making, is held to it)
    if row.remind_at is not None and not row.created_at < row.remind_at < row.expires_at:
        return "its reminder is not between its making and its expiry"
    if row.used_at is not None and row.revoked_at is not None:
        return "it is both used and revoked"
    if row.used_at is not None and row.used_at >= row.expires_at:
        return "used at or after its expiry"
    for name in ("token_hash", "code_hash"):
        value = getattr(row, name)
        if value is not None and not _digest(value):
            return f"its {name} is not a SHA-256 digest (a secret stored as it is?)"
    if row.token_hash is None and row.code_hash is None:
        return "it has neither a token hash nor a code hash"
    if row.used_at is not None and row.token_hash is None:
        return "used without a token"
    return None


def _check_requests(requests: Sequence[RequestRecord], held: _Held, first: _First) -> None:
    """Each administration request names an episode of the clinic's record, its times are in order (made,
    then reminded, used or revoked; used before its expiry), and its secrets are kept as SHA-256 digests
    only. Named by request id (an opaque id, as an episode's), never by token, code or episode."""
    for row in requests:
        problem = _request_problem(row, held)
        if problem is not None:
            first.add("requests", f"request {row.request_id}", problem)
            return


def _claimed(
    checkpoints: Sequence[AuditCheckpoint], expected_head: AuditCheckpoint | None
) -> list[tuple[str, AuditCheckpoint]]:
    """The checkpoints whose heads the entries must match, each with the chain it seals."""
    claimed = [(cp.chain, cp) for cp in checkpoints]
    if expected_head is not None:
        claimed.append((_expected_chain(checkpoints, expected_head), expected_head))
    return claimed


def verify_record(
    episodes: Iterable[EpisodeRecord],
    audit: Iterable[AuditRecord],
    checkpoints: Sequence[AuditCheckpoint],
    *,
    key: bytes | None,
    expected_head: AuditCheckpoint | None = None,
    fold: Callable[[Sequence[StoredEvent]], str],
    project: Callable[[str], CaseloadRow],
    upcast: Callable[[str, Sequence[StoredEvent]], str] = lambda text, _events: text,
    unreadable: Sequence[str] = (),
    unreadable_rows: Mapping[str, tuple[str, str]] | None = None,
    clinic: str | None = None,
    definitions: DefinitionsRecord | None = None,
    administered: Callable[[Sequence[StoredEvent]], Iterable[tuple[str, str]]] = lambda _events: (),
    installed: Callable[[str, str], str | None] = lambda _measure, _version: None,
    commands: Sequence[CommandRecord] | None = None,
    requests: Sequence[RequestRecord] | None = None,
    schema: SchemaFound | None = None,
) -> IntegrityReport:
    """Check the whole record (see the module docstring); reads nothing but its arguments.

    :param audit: every audit entry (``Store.audit_records()``), walked once: a list is put in shard then
        position order first; any other iterable must come in that order (a store's
        ``iter_audit_records()``), and is not held: memory grows with the checkpoints' heads and the
        entries' write claims (a few compact values each), not with the entries.
    :param key: the host's seal key; without it the seals' MACs are not checked, only what the checkpoints
        claim about the entries. ``seals_checked`` is true only with a key and at least one checkpoint.
    :param expected_head: the latest checkpoint as the host kept it outside the database.
    :param upcast: a stored snapshot in the shape ``fold`` writes (a snapshot of an older shape is
        compared as its upcaster reads it).
    :param unreadable: the parts the store could not read (``"audit"``, ``"checkpoints"``, ``"caseload"``,
        ``"definitions"``, see :func:`alliancekit.store.scan.scan_record`), each a finding of its check;
        read after the audit entries (a store streaming them finds an unreadable one on the way).
    :param unreadable_rows: for such a part, the row the store named and the rule it breaks
        (``("<table> row <key>", rule)``, ``Scan.unreadable_rows``): its finding names them.
    :param clinic: report on this clinic only (see the module docstring); ``None``: the whole record.
    :param definitions: the measure definitions the store keeps (``scan_record``'s); ``None``: not checked
        (``definitions`` is then 0 and never a finding).
    :param administered: the (measure id, version) pairs an episode's stored events scored, for the
        completeness of ``definitions`` (called only with ``definitions`` given, on readable episodes).
    :param installed: the SHA-256 of the host's installed definition of a measure version (as
        :func:`alliancekit.store.definitions.stored_definition` makes it), ``None`` when it has none: the
        reference a stored definition of the same version must match.
    :param commands: the store's idempotency records (:func:`alliancekit.store.scan.scan_store`'s), the
        report's clinic's checked; ``None``: not checked.
    :param requests: the store's administration requests, likewise.
    :param schema: the schema version the store states and what its structure says of it
        (:func:`alliancekit.store.scan.scan_store`'s); a stated version the structure does not fit is a
        finding of ``schema``. ``None``: not checked.
    """
    if key is not None and not isinstance(key, bytes):
        raise ValidationError("key", "type", "bytes expected")
    if expected_head is not None and not isinstance(expected_head, AuditCheckpoint):
        raise ValidationError("expected_head", "type", "an AuditCheckpoint expected")
    first = _First()
    if schema is not None and schema.problem is not None:
        first.add("schema", "the store's schema", schema.problem)
    own = _own_entries(clinic)
    # One pass over the entries (a store may stream them): the checkpoints, read first, say which hashes
    # to keep. The chains are checked whole: a shared chain is only trusted when all of it checks out.
    sealed = [(name, head) for name, cp in _claimed(checkpoints, expected_head) for head in cp.heads]
    walk = _AuditWalk(sealed, own, clinic)
    for record in _in_order(audit):
        walk.add(record)
    if "audit" in unreadable:  # known once the entries are read: what was read of them counts for nothing
        walk = _AuditWalk(sealed, own, clinic)
    for name in unreadable:  # first: what reads as missing there is not what is wrong
        check, where = _UNREADABLE_PARTS[name]
        problem = "a row cannot be read (changed outside alliancekit)"
        if name in (unreadable_rows or {}):
            where, rule = (unreadable_rows or {})[name]
            problem = f"{_UNREADABLE_RULES.get(rule, rule)} (changed outside alliancekit)"
        first.add(check, where, problem)
    walk.check(first)
    named, bad_refs = walk.named, walk.bad_refs
    episode_count = event_count = 0
    unreferenced: str | None = None
    used: dict[tuple[str, str], str] = {}  # measure version -> the first episode administering it
    held: _Held = {}  # the report's episodes, for the commands and requests checks
    for episode in episodes:
        if clinic is not None and clinic not in episode.clinics:
            if not episode.clinics:  # whose it is cannot be read: every clinic is told, none by its id
                first.add("events", "an episode of unknown clinic", "its clinic cannot be read")
                named.pop(episode.episode_id, None)  # nor can what the audit log says it wrote be compared
            continue
        episode_count += 1
        event_count += len(episode.events)
        held[episode.episode_id] = (len(episode.events), frozenset(e.clinic_id for e in episode.events))
        if not episode.readable:  # its events' finding says it: what names it is not compared
            held[episode.episode_id] = (_UNREAD, frozenset())
        if not episode.readable:
            first.add(
                "events",
                f"episode {episode.episode_id}",
                "its events cannot be read (changed outside alliancekit)",
            )
            named.pop(episode.episode_id, None)  # what the audit log says it wrote cannot be compared
            continue
        _check_events(episode, first, walk.attested)
        _check_state(episode, first, fold, project, upcast)
        if definitions is not None and episode.events:
            try:
                pairs = list(administered(episode.events))
            except Exception:  # noqa: BLE001 - events that do not decode are the other checks' findings
                pairs = []
            for pair in pairs:
                used.setdefault(pair, episode.episode_id)
        hashes = {e.seq: _compact(e.hash) for e in episode.events}
        claims = named.pop(episode.episode_id, [])
        for version, head, chain_key, position, _mine in claims:
            if hashes.get(version) != head:
                problem = (
                    f"names version {version} of episode {episode.episode_id}, which the stream does"
                    " not hold as written (cut, changed or replaced)"
                )
                bad_refs.append(((chain_key, position), problem))
        latest = len(episode.events)
        if (
            episode.events
            and unreferenced is None
            and (latest, _compact(episode.events[-1].hash)) not in {(v, h) for v, h, *_ in claims}
        ):
            unreferenced = episode.episode_id
    for episode_id, claims in named.items():
        bad_refs.extend(
            ((chain_key, position), f"names episode {episode_id}, which the record does not hold")
            for _, _, chain_key, position, mine in claims
            if mine  # another clinic's entry naming another clinic's episode is not this report's
        )
    if "audit" in unreadable:
        pass  # no entries were read: every episode would look unreferenced
    elif bad_refs:
        (chain_key, position), problem = min(bad_refs)
        first.add("references", walk.entry(chain_key, position), problem)
    elif unreferenced is not None:
        first.add("references", f"episode {unreferenced}", "its latest write is named by no audit entry")
    _check_seals(walk, checkpoints, key, expected_head, first)
    missing = 0
    if definitions is not None:
        marks = None if "audit" in unreadable else walk.marks
        missing = _check_definitions(definitions, used, installed, first, marks)
    mine_commands = [c for c in commands or () if clinic is None or c.clinic_id == clinic]
    mine_requests = [r for r in requests or () if clinic is None or r.clinic_id == clinic]
    _check_commands(mine_commands, held, first)
    _check_requests(mine_requests, held, first)
    findings = tuple(first.found[c] for c in CHECKS if c in first.found)
    return IntegrityReport(
        ok=not findings,
        episodes=episode_count,
        events=event_count,
        audit_entries=walk.entries,
        checkpoints=len(checkpoints),
        seals_checked=key is not None and bool(checkpoints),
        findings=findings,
        clinic=clinic,
        shared_audit=walk.shared,
        definitions=0 if definitions is None else len(definitions.stored),
        definitions_missing=missing,
        commands=len(mine_commands),
        requests=len(mine_requests),
        schema_version=None if schema is None else schema.stated,
    )


def _own_entries(clinic: str | None) -> Callable[[AuditRecord], bool]:
    """Whether an entry is ``clinic``'s: filed in it, or a call made without an actor (which names no
    client, and every clinic's auditor sees); every entry for the whole record."""
    if clinic is None:
        return lambda _record: True
    return lambda record: record.clinic_id in (clinic, NO_CLINIC)
