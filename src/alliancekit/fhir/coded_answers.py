"""LOINC answer codes item by item: which code is written for a response, and which codes are read as one.

An EHR or an SDC form filler answers PHQ-9 and GAD-7 with LOINC answer codes (``LA...``) rather than numbers.
The measure's definition says which code is which response: ``answer_options[].loinc`` for every item, and
an item's own list (``items[].loinc_answers``) where its LOINC term's answer list differs. GAD-7 1.2 gives
item 2 (68509-9) its own list, whose third answer is ``LA18938-3`` "More days than not", as LOINC's GAD-7
panel (69737-5) has it.

This module is the one place that decides, for the writers (:func:`~alliancekit.fhir.sdc.sdc_questionnaire`,
:func:`~alliancekit.fhir.sdc.sdc_response`) and the readers (``alliancekit import fhir``,
:func:`~alliancekit.fhir.sdc.answers_from_response`, a client's form): :func:`written_answer_codes` is
what an item is answered with, :func:`item_answer_codes` what is read on it, and they agree, so a round
trip is exact. Reading is wider than writing: on every item the measure's own codes are read as well
(``LA6570-1`` on GAD-7 item 2, as alliancekit wrote it before 1.2 and as forms built on the publisher's
one-list form send it), and on a definition published before items had lists of their own (GAD-7 1.0 and
1.1) an item's LOINC code is read where :data:`~alliancekit.fhir.codes.LOINC_ITEM_ANSWER_ALIASES` lists it.
A code names one response position throughout a measure (the definition is refused otherwise), so the
wider reading never reads one code as two answers.

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


def written_answer_codes(measure: Measure, item: Item) -> dict[float, str]:
    """The LOINC answer code written for each response position of ``item``: the item's own list where the
    definition gives one, else the measure's (empty: the measure has no LOINC answer codes)."""
    options = measure.answer_options
    if item.loinc_answers:  # the definition checked: one per option, in order, every option coded
        return dict(zip((option.value for option in options), item.loinc_answers, strict=True))
    return {option.value: option.loinc for option in options if option.loinc}


def item_answer_codes(measure: Measure, item: Item) -> dict[str, float]:
    """The LOINC answer codes read on ``item``, each with the response position it names: those written for
    it (:func:`written_answer_codes`), the measure's own codes, and the item's LOINC codes that a definition
    published without an item list leaves out (:data:`~alliancekit.fhir.codes.LOINC_ITEM_ANSWER_ALIASES`)."""
    measure_codes = {option.loinc: option.value for option in measure.answer_options if option.loinc}
    read = loinc_item_answers(measure.id, item.key, measure_codes)
    read.update({code: value for value, code in written_answer_codes(measure, item).items()})
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
