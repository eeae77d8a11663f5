"""Who may rotate the encryption keys of a store that holds several clinics, and whose audit logs the
rotation is entered in: on SQLite files on disk.

Before it, an administrator of one clinic re-encrypted every clinic's free text in the file, and the rotation
was entered in their own clinic's log only: another clinic's log never showed its records rewritten.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, open_practice
from alliancekit.domain import Consent, Consultation, Purpose, Role
from alliancekit.errors import AccessDenied
from alliancekit.security.encryption import FieldCipher, Keyring

pytest.importorskip("cryptography")

D = date(2026, 1, 5)
K1, K2 = b"1" * 32, b"2" * 32
SYSTEM = Actor("key-rotation", Role.SYSTEM, clinic_id="ops", purpose=Purpose.OPERATIONS)


def _admin(clinic: str) -> Actor:
    return Actor(f"it-{clinic}", Role.ADMINISTRATOR, clinic_id=clinic)


def _cipher(primary: str) -> FieldCipher:
    return FieldCipher(Keyring({"k1": K1, "k2": K2}, primary))


def _practice(path: Path, *clinics: str) -> Path:
    """Each clinic with an episode holding free text (a presenting concern), encrypted under k1."""
    with open_practice(path, cipher=_cipher("k1")) as practice:
        for clinic in clinics:
            me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic_id=clinic)
            ep = practice.start_episode(me, client_ref=f"host-{clinic}", clinician_id=me.id, opened_on=D)
            consent = Consent(treatment=True, measures=True)
            concern = ("synthetic concern",)
            consultation = Consultation(D, "video", consent, presenting_concerns=concern)
            practice.record_consultation(me, ep, consultation)
    return path


def _rotations(path: Path) -> list[tuple[str, str, str, str]]:
    """Every rotate-keys entry in the file: (clinic, actor, role, outcome)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT clinic_id, actor_id, actor_role, outcome FROM audit WHERE action = 'rotate-keys'"
            " ORDER BY clinic_id, outcome"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_an_administrator_rotates_the_keys_of_a_store_of_their_own_clinic(tmp_path: Path) -> None:
    live = _practice(tmp_path / "north.sqlite", "north")
    with open_practice(live, cipher=_cipher("k2")) as practice:
        assert practice.rotate_encryption(_admin("north")).rewritten > 0
    assert _rotations(live) == [("north", "it-north", "administrator", "allowed")]


def test_an_administrator_of_one_clinic_is_refused_a_store_of_several_and_nothing_is_rewritten(
    tmp_path: Path,
) -> None:
    live = _practice(tmp_path / "shared.sqlite", "north", "south")
    with open_practice(live, cipher=_cipher("k2")) as practice:
        with pytest.raises(AccessDenied, match="another clinic's records"):
            practice.rotate_encryption(_admin("north"))
        # still all under k1: the system actor finds every field to rewrite
        assert _rotations(live) == [("north", "it-north", "administrator", "refused")]
        rewritten = practice.rotate_encryption(SYSTEM).rewritten
    assert rewritten == 2  # one presenting concern in each clinic's episode
    # each clinic whose records were rewritten sees it in its own log, in its own chains
    assert _rotations(live) == [
        ("north", "key-rotation", "system", "allowed"),
        ("north", "it-north", "administrator", "refused"),
        ("south", "key-rotation", "system", "allowed"),
    ]
    with open_practice(live, cipher=_cipher("k2"), read_only=True) as again:
        for clinic in ("north", "south"):
            assert again.verify(_admin(clinic)).ok
