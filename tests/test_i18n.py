"""The gettext catalogue: the shipped template matches the source, alert messages go through it, a host's
catalogue translates them (falling back by primary subtag, then to English), and language tags match."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit import i18n
from alliancekit.errors import ValidationError
from alliancekit.feedback.builtin import BUILTIN_RULES
from alliancekit.i18n import N_, add_locale_dir, best_language, catalogue, translate
from alliancekit.i18n_extract import TEMPLATE, _quote, current_template, messages, template
from alliancekit.measures import parse_definition
from alliancekit.measures.builtin import load_builtin_definition

# A synthetic test translation of one of alliancekit's own messages (not a published text).
TEST_MESSAGES = {"A progress review is due.": "TEST: revisión pendiente"}


def write_mo(folder: Path, language: str, entries: dict[str, str]) -> None:
    """A GNU ``.mo`` file (the format msgfmt writes: header, two string tables, sorted ids)."""
    catalogue_entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **entries}
    ids = sorted(catalogue_entries)
    originals = [key.encode() for key in ids]
    translated = [catalogue_entries[key].encode() for key in ids]
    start = 7 * 4 + 16 * len(ids)
    blob = b""
    table_o, table_t = [], []
    for data in originals:
        table_o.append((len(data), start + len(blob)))
        blob += data + b"\0"
    for data in translated:
        table_t.append((len(data), start + len(blob)))
        blob += data + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(ids), 7 * 4, 7 * 4 + 8 * len(ids), 0, 0)
    body = b"".join(struct.pack("<2I", *pair) for pair in table_o + table_t)
    target = folder / language / "LC_MESSAGES" / "alliancekit.mo"
    target.parent.mkdir(parents=True)
    target.write_bytes(header + body + blob)


@pytest.fixture
def host_locale(tmp_path: Path) -> Iterator[Path]:
    write_mo(tmp_path, "es", TEST_MESSAGES)
    add_locale_dir(tmp_path)
    try:
        yield tmp_path
    finally:
        i18n._HOST_DIRS.remove(str(tmp_path))
        catalogue.cache_clear()


def test_the_shipped_template_is_current() -> None:
    """Fails when a message was added, changed or removed without regenerating the template:
    run ``python -m alliancekit.i18n_extract``."""
    assert TEMPLATE.read_text("utf-8") == current_template()


def test_every_builtin_alert_message_is_in_the_template() -> None:
    shipped = TEMPLATE.read_text("utf-8")
    for rule in BUILTIN_RULES:
        assert f"msgid {_quote(rule.message)}" in shipped


def test_the_extractor_finds_marked_strings_only(tmp_path: Path) -> None:
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text(
        'from alliancekit.i18n import N_, translate\nA = N_("one")\nB = translate("two", "es")\n'
        'C = i18n.N_("three")\nD = print("not me")\nE = N_(f"{A}")\nF = N_("one")\n',
        "utf-8",
    )
    found = messages([source], tmp_path)
    assert found == {"one": ["pkg/mod.py"], "two": ["pkg/mod.py"], "three": ["pkg/mod.py"]}
    text = template({'say "hi"\nnow': ["a.py"]})
    assert 'msgid "say \\"hi\\"\\nnow"' in text


def test_english_ships_as_the_message_ids() -> None:
    assert N_("A progress review is due.") == "A progress review is due."
    assert translate("A progress review is due.") == "A progress review is due."
    assert translate("A progress review is due.", "en") == "A progress review is due."
    assert translate("A progress review is due.", "es") == "A progress review is due."  # no catalogue yet


def test_a_host_catalogue_translates_with_subtag_fallback(host_locale: Path) -> None:
    assert translate("A progress review is due.", "es") == "TEST: revisión pendiente"
    assert translate("A progress review is due.", "es-MX") == "TEST: revisión pendiente"
    assert translate("A progress review is due.", "fr") == "A progress review is due."
    assert translate("A message nobody translated.", "es") == "A message nobody translated."
    only_there = catalogue("es", str(host_locale))
    assert only_there.gettext("A progress review is due.") == "TEST: revisión pendiente"


def test_alert_messages_go_through_the_catalogue(host_locale: Path) -> None:
    (review,) = (rule for rule in BUILTIN_RULES if rule.message == "A progress review is due.")
    assert review.message_for(None, "es") == "TEST: revisión pendiente"
    assert review.message_for(None) == "A progress review is due."
    phq9 = parse_definition(load_builtin_definition("phq-9-1.0"))
    deterioration = next(rule for rule in BUILTIN_RULES if rule.message.startswith("{measure} shows"))
    assert deterioration.message_for(phq9, "es") == (
        "Patient Health Questionnaire-9 shows reliable deterioration since intake."
    )
    assert deterioration.message_for(None) == "the measure shows reliable deterioration since intake."


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("es", "es"),
        ("ES", "es"),
        ("es-MX", "es"),
        ("es_MX", "es"),
        ("fr-CA", "fr-CA"),
        ("fr", None),  # fr-CA does not serve plain fr: only a primary subtag serves its regions
        ("de", None),
        (None, None),
        ("", None),
    ],
)
def test_best_language(requested: str | None, expected: str | None) -> None:
    assert best_language(requested, ("en", "es", "fr-CA")) == expected


def test_a_language_that_is_not_a_tag_never_reaches_the_filesystem(host_locale: Path) -> None:
    """The language comes from the client's request: a path in it must not pick a catalogue elsewhere."""
    write_mo(host_locale / "elsewhere", "planted", {"A progress review is due.": "PLANTED"})
    for language in ("elsewhere/planted", "../" + host_locale.name + "/elsewhere/planted", "es/../es"):
        assert translate("A progress review is due.", language) == "A progress review is due."
    assert best_language("es/../es", ("es",)) is None
    assert translate("A progress review is due.", " es ") == "TEST: revisión pendiente"  # spaces aside


def test_many_distinct_languages_do_not_grow_the_catalogue_cache() -> None:
    for i in range(1000):
        translate("A progress review is due.", f"x-{i:04d}")
    assert catalogue.cache_info().currsize <= 128


@pytest.mark.parametrize("language", [5, b"es", ["es"]])
def test_a_language_that_is_not_text_is_refused_by_field_and_rule(language: object) -> None:
    with pytest.raises(ValidationError) as caught:
        translate("A progress review is due.", language)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("language", "type")
    with pytest.raises(ValidationError):
        best_language(language, ("es",))  # type: ignore[arg-type]
