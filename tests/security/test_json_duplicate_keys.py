"""JSON from outside that names a key twice in one object is refused (rule ``duplicate-key``), never read.

JSON leaves a repeated key's meaning open; Python's ``json`` keeps the last value, while a proxy, another
parser or a reviewer may read the first. A client's answers ``{"q9": 2, "q9": 0}`` were recorded as a risk
item not endorsed, raising no alert. Every reader of JSON from outside refuses it now, naming neither key nor
value, and writes nothing; a test walks the package so that a new reader cannot use ``json`` bare.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import alliancekit
from alliancekit import Actor, Consent, Consultation, FitDecision, GoalDraft, Practice
from alliancekit.errors import ValidationError
from alliancekit.measures.validation import DEFINITION_LIMITS, RESPONSE_LIMITS, load_json
from alliancekit.security import bounded_json
from alliancekit.store.sqlite import SQLiteStore

ME = Actor("clin-1", "clinician", "north")
DAY = date(2026, 6, 1)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)}
#: q9 (the risk item) endorsed, then not: the last value is what json keeps
TWICE = json.dumps(ANSWERS)[:-1] + ', "q9": 2, "q9": 0}'


@pytest.mark.parametrize(
    "document",
    [
        '{"a": 1, "a": 1}',
        '{"a": 1, "b": {"c": "x", "c": "y"}}',
        '[{"ok": 1}, {"k": 1, "k": 2}]',
        '{"CANARY-key": 1, "CANARY-key": 2}',
    ],
)
def test_bounded_json_refuses_a_key_named_twice(document: str) -> None:
    with pytest.raises(ValidationError) as caught:
        bounded_json.loads(document)
    assert (caught.value.field, caught.value.rule) == ("json", "duplicate-key")
    assert "CANARY" not in str(caught.value)
    with pytest.raises(ValidationError) as again:
        bounded_json.loads(document.encode())
    assert again.value.rule == "duplicate-key"


def test_keys_named_once_or_in_separate_objects_are_read() -> None:
    assert bounded_json.loads('[{"k": 1}, {"k": 2, "K": 3}]') == [{"k": 1}, {"k": 2, "K": 3}]
    assert bounded_json.loads("{}") == {}


@pytest.mark.parametrize("limits", [RESPONSE_LIMITS, DEFINITION_LIMITS])
def test_a_measure_document_naming_a_key_twice_is_refused(limits: object) -> None:
    with pytest.raises(ValidationError) as caught:
        load_json('{"id": "CANARY", "items": [], "id": "other"}', limits)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("$", "duplicate-key")
    assert "CANARY" not in str(caught.value)


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[tuple[Practice, str]]:
    with Practice(SQLiteStore(tmp_path / "p.sqlite"), clock=lambda: datetime(2026, 6, 1, 8, tzinfo=UTC)) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
        p.record_consultation(
            ME, ep, Consultation(held_on=DAY, modality="video", consent=Consent(True, True))
        )
        p.decide_fit(ME, ep, FitDecision("proceed", DAY))
        p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=DAY)
        yield p, ep


def _response(text: str) -> str:
    return (
        '{"resourceType": "QuestionnaireResponse", "status": "completed", "item": ['
        + ", ".join(f'{{"linkId": "q{i}", "answer": [{{"valueInteger": 1}}]}}' for i in range(1, 10))
        + "]"
        + text
        + "}"
    )


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("answers", TWICE),
        ("questionnaire_response", _response(', "status": "amended"')),
    ],
)
def test_a_submission_naming_a_key_twice_is_refused_and_writes_nothing(
    practice: tuple[Practice, str], field: str, body: str
) -> None:
    p, ep = practice
    token = p.request_administration(ME, ep, measure="phq-9").token
    assert token is not None
    before = (len(p.store.load_events(ep)), len(p.store.audit_records()), len(p.store.outbox_records()))
    with pytest.raises(ValidationError) as caught:
        p.submit_response(token, **{field: body})
    assert (caught.value.field, caught.value.rule) == (field, "duplicate-key")
    assert (
        len(p.store.load_events(ep)),
        len(p.store.audit_records()),
        len(p.store.outbox_records()),
    ) == before
    # the same form with each key once is taken (the token was not used up by the refusal)
    assert p.submit_response(
        token, **{field: body.replace(', "q9": 2', "").replace(', "status": "amended"', "")}
    )


#: Modules that read JSON only the library wrote or shipped (stored rows, packaged schemas and measures, the
#: library's own outbox bodies): bare ``json`` is theirs to use. Every other reader takes JSON from outside
#: and must read it with ``bounded_json`` (or ``measures.validation.load_json``), refusing a key named twice.
OWN_DATA = {
    "cli/caseload.py": "caseload rows' JSON columns",
    "cli/outbox.py": "outbox rows' bodies",
    "events/codec.py": "stored payloads and snapshots",
    "events/schemas.py": "packaged event schemas",
    "feedback/expectation.py": "a stored expectation fit",
    "feedback/reports/attention.py": "caseload rows' open alerts",
    "fhir/validate.py": "the packaged (or host-named) FHIR schema",
    "imports/checkpoint.py": "a stored import checkpoint",
    "imports/fhir_files.py": "a source's bytes read again, equal (keyed digest) to those bounded_json took",
    "integrity/chain.py": "stored payloads, for hashing",
    "integrity/verify.py": "stored rows, for verifying",
    "measures/builtin.py": "packaged measure definitions",
    "measures/definition.py": "a definition's own copy (dumped just before)",
    "measures/validation.py": "the packaged meta-schema (load_json refuses duplicates)",
    "notify/outbox.py": "outbox rows' bodies",
    "security/bounded_json.py": "the bounded reader itself",
    "security/encryption.py": "stored payloads, for decrypting",
    "security/lockbox.py": "stored lockbox directives",
}


def _json_readers() -> Iterator[str]:
    root = Path(alliancekit.__file__).parent
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("store/", "testing/")):  # the stores' own rows; the contract suites
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("load", "loads")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "json"
            ):
                yield relative


def test_only_readers_of_the_librarys_own_json_use_json_bare() -> None:
    readers = set(_json_readers())
    assert readers, "the walk found no reader: it is looking in the wrong place"
    assert readers <= set(OWN_DATA), sorted(readers - set(OWN_DATA))
