"""Reading a LOINC-coded answer (``valueCoding`` from ``http://loinc.org``) as the item's response position.

An EHR or an SDC form filler answers PHQ-9 and GAD-7 with LOINC answer codes (``LA...``) rather than numbers.
The measure's definition says which code is which response (``answer_options[].loinc``); GAD-7 item 2's own
LOINC answer, ``LA18938-3``, is read as the answer it stands for
(:func:`~alliancekit.fhir.codes.loinc_item_answers`).
One reader serves ``alliancekit import fhir``, :func:`~alliancekit.fhir.sdc.answers_from_response` and a
client's form, so that they agree on what a code means and on what is refused.

The ``display`` is not checked: the code is the answer, and a form filler's wording of it varies by language
and version. Errors name the rule, never the code or the display (client data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alliancekit.errors import ValidationError
from alliancekit.fhir.codes import LOINC, loinc_item_answers
from alliancekit.measures.definition import Item, Measure

#: The rules a coded answer can break, by the name an error carries.
NOT_CODED = "not-coded"
SYSTEM = "system"
UNKNOWN_CODE = "unknown-code"
OTHER_ITEM = "other-item"
ONE_VALUE = "one-value"


def has_answer_codes(measure: Measure) -> bool:
    """Whether the definition codes its answers with LOINC (PHQ-9, GAD-7; not ORS, SRS, CORE-10 ...)."""
    return any(option.loinc for option in measure.answer_options)


def item_answer_codes(measure: Measure, item: Item) -> dict[str, float]:
    """The LOINC answer codes ``item`` accepts, each with the response position it names."""
    codes = {option.loinc: option.value for option in measure.answer_options if option.loinc}
    read = loinc_item_answers(measure.id, item.key, codes)
    return {code: value for code, value in read.items() if item.min <= value <= item.max}


def coded_answer(measure: Measure, item: Item, coding: Any, field: str) -> float:
    """The response position a LOINC ``coding`` names for ``item``.

    Raises :class:`~alliancekit.errors.ValidationError` on ``field`` with one of the rules
    :data:`NOT_CODED` (the measure has no LOINC answer codes: answer with a number), :data:`SYSTEM` (not a
    LOINC coding), :data:`UNKNOWN_CODE` (no answer of the measure has that code) or :data:`OTHER_ITEM` (an
    answer of the measure, but of another item's answer list). :data:`ONE_VALUE` is the callers' rule for an
    answer with both a number and a coding.
    """
    if not has_answer_codes(measure):
        # ORS, SRS ...: copyrighted wording and no LOINC answers, so no code can name a response
        raise ValidationError(field, NOT_CODED, "this measure's answers have no LOINC codes")
    if not isinstance(coding, Mapping) or not isinstance(coding.get("code"), str):
        raise ValidationError(field, "type", "a coding with a system and a code")
    if coding.get("system") != LOINC:
        raise ValidationError(field, SYSTEM, f"an answer code from {LOINC}")
    code = coding["code"]
    own = item_answer_codes(measure, item)
    if code in own:
        value = own[code]
        return int(value) if float(value).is_integer() else value
    if any(code in item_answer_codes(measure, other) for other in measure.items):
        raise ValidationError(field, OTHER_ITEM, "an answer code of another item, not of this one")
    raise ValidationError(field, UNKNOWN_CODE, "not one of the measure's answer codes")
