"""No plain value may begin with the ciphertext mark ``ak:enc:v1:``.

The event hash reads every payload string that begins with the mark as a ciphertext (its prefix only, so that
rotating keys keeps the hashes; AES-GCM protects the ciphertext itself). A plain text or id so marked was
therefore outside the hash: it could be changed in the database and ``verify`` still said "record ok", and it
read back as ``[encrypted]``. Every string a record or a facade argument takes is refused so marked (rule
``encrypted-prefix``), and the codec refuses any payload string so marked that reached it another way.
"""

from __future__ import annotations

import inspect
import sqlite3
import types
import typing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import domain, open_practice
from alliancekit.domain import Actor, Consent, Consultation, Role, checks
from alliancekit.errors import ValidationError
from alliancekit.events.codec import Codec
from alliancekit.events.types import ConsultationRecorded
from alliancekit.integrity import chain
from alliancekit.security import encryption

from .helpers import Clock

MARKED = "ak:enc:v1:client words"
ME = Actor("clin-a", Role.CLINICIAN, "c1")


def test_the_mark_is_the_ciphers_and_the_hashs() -> None:
    assert checks.ENCRYPTED_PREFIX == encryption.PREFIX == chain._CIPHERTEXT


def _string_checks() -> Iterator[Any]:
    """Every ``check_*`` of the domain's checks that takes a field and a text and returns it."""
    for name, function in inspect.getmembers(checks, inspect.isfunction):
        if name.startswith("check_") and function.__module__ == checks.__name__:
            try:
                if function("f", "plain-text") == "plain-text":
                    yield function
            except (ValidationError, TypeError):
                continue


def test_every_check_of_text_refuses_the_mark() -> None:
    found = list(_string_checks())
    assert {f.__name__ for f in found} >= {"check_text", "check_ref", "check_clinic", "check_optional_text"}
    for function in found:
        with pytest.raises(ValidationError) as caught:
            function("f", MARKED)
        assert (caught.value.field, caught.value.rule) == ("f", "encrypted-prefix"), function.__name__
        assert "client words" not in str(caught.value)
    # only at the start: the mark quoted inside text is text
    assert checks.check_text("f", f"said {MARKED}") == f"said {MARKED}"


def _string_fields(cls: type, seen: set[type]) -> Iterator[tuple[type, attrs.Attribute[Any], Any]]:
    """(record class, field, hint) for every string field of ``cls`` and the records nested in it."""
    if cls in seen:
        return
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
            hint = args[0]
        if hint is str or (typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,)):
            yield cls, field, hint
        for arg in (hint, *typing.get_args(hint)):
            if isinstance(arg, type) and attrs.has(arg):
                yield from _string_fields(arg, seen)


def test_every_string_field_of_every_domain_record_refuses_the_mark() -> None:
    """Enumerated from the records ``alliancekit.domain`` exports (and those nested in them): a new record or
    field cannot be left out. (Events are made from these; the codec refuses the rest, tested below.)"""
    seen: set[type] = set()
    records = [getattr(domain, name) for name in domain.__all__]
    fields = [
        f for cls in records if isinstance(cls, type) and attrs.has(cls) for f in _string_fields(cls, seen)
    ]
    assert len(fields) > 30
    for cls, field, hint in fields:
        assert (field.converter, field.validator) != (None, None), (cls.__name__, field.name)
        with pytest.raises(ValidationError) as caught:
            _set(field, (MARKED,) if hint is not str else MARKED)
        assert caught.value.rule == "encrypted-prefix", (cls.__name__, field.name)


def _set(field: attrs.Attribute[Any], value: Any) -> None:
    """What a record's ``__init__`` does with ``value`` for ``field``: its converter, then its validator."""
    if field.converter is not None:
        value = field.converter(value)  # type: ignore[operator]
    if field.validator is not None:
        field.validator(None, field, value)


def test_a_marked_text_or_reference_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite"
    with open_practice(db, clock=Clock()) as practice:
        with pytest.raises(ValidationError) as caught:
            practice.start_episode(ME, client_ref=MARKED, clinician_id="clin-a", opened_on=date(2026, 1, 5))
        assert (caught.value.field, caught.value.rule) == ("client_ref", "encrypted-prefix")
        ep = practice.start_episode(
            ME, client_ref="client-1", clinician_id="clin-a", opened_on=date(2026, 1, 5)
        )
        with pytest.raises(ValidationError) as caught:
            practice.record_consultation(
                ME,
                ep,
                Consultation(
                    held_on=date(2026, 1, 5),
                    modality="video",
                    consent=Consent(treatment=True, measures=True),
                    presenting_concerns=(MARKED,),
                ),
            )
        assert caught.value.rule == "encrypted-prefix"
        assert "client words" not in str(caught.value)
        with pytest.raises(ValidationError):
            practice.record_process_note(ME, ep, written_on=date(2026, 1, 5), text=MARKED)
    with sqlite3.connect(db) as db_conn:
        payloads = [p for (p,) in db_conn.execute("SELECT payload FROM events")]
    assert len(payloads) == 1
    assert "client words" not in payloads[0]


def test_the_codec_refuses_a_marked_string_that_got_past_the_checks() -> None:
    event = ConsultationRecorded(
        Consultation(
            held_on=date(2026, 1, 5),
            modality="video",
            consent=Consent(treatment=True, measures=True),
            presenting_concerns=("fine",),
        )
    )
    object.__setattr__(event.consultation, "presenting_concerns", (MARKED,))  # as a path without checks would
    for codec in (Codec(), Codec(encryption.FieldCipher(encryption.Keyring({"k1": b"k" * 32}, "k1")))):
        with pytest.raises(ValidationError) as caught:
            codec.encode(event, "e-1")
        assert caught.value.field == "payload.consultation.presenting_concerns[0]"
        assert caught.value.rule == "encrypted-prefix"
    object.__setattr__(event.consultation, "presenting_concerns", (f'quoting "{MARKED}"',))
    assert "quoting" in Codec().encode(event, "e-1")
