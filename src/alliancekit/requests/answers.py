"""A client's answers as submitted: plain answers or a FHIR QuestionnaireResponse, bounded and checked against
the measure's items before the measure's own validation and scoring.

Errors name the field and the rule (``questionnaire_response.item[2].linkId: unknown-link-id``), never a
value the client sent.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from alliancekit.errors import ValidationError
from alliancekit.fhir.coded_answers import ONE_VALUE, coded_answer, item_answer_codes
from alliancekit.fhir.codes import LOINC
from alliancekit.fhir.questionnaire import canonical
from alliancekit.fhir.sdc import answer_system, sdc_questionnaire
from alliancekit.measures.definition import AnswerConvention, Measure
from alliancekit.measures.exact import points, units
from alliancekit.measures.validation import NOT_APPLICABLE, RESPONSE_LIMITS
from alliancekit.security import bounded_json

#: The largest body a submission may carry, as text or as data. A response is a handful of numbers.
MAX_BODY_BYTES = RESPONSE_LIMITS.max_bytes
_VALUE_KEYS = ("valueInteger", "valueDecimal", "valueCoding", "valueString")


def submitted_answers(measure: Measure, answers: object, questionnaire_response: object) -> dict[str, Any]:
    """The answers by item key, from exactly one of ``answers`` and ``questionnaire_response``."""
    if (answers is None) == (questionnaire_response is None):
        raise ValidationError("answers", "one-of", "give answers or a questionnaire_response, not both")
    if answers is not None:
        data = _bounded("answers", answers)
        if not isinstance(data, Mapping):
            raise ValidationError("answers", "type", "an object of answers by item key")
        return dict(data)
    return _from_response(measure, _bounded("questionnaire_response", questionnaire_response))


def _bounded(field: str, value: object) -> Any:
    """Parse JSON text with bounds, or bound data already parsed by its serialised size."""
    if isinstance(value, str | bytes):
        try:
            return bounded_json.loads(value, max_bytes=MAX_BODY_BYTES, max_depth=16, max_string=1024)
        except ValidationError as exc:
            raise ValidationError(field, exc.rule, exc.detail) from None
    try:
        size = len(json.dumps(value, allow_nan=False, default=_refuse).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError):
        raise ValidationError(field, "type", "JSON data (objects, arrays, numbers, text)") from None
    if size > MAX_BODY_BYTES:
        raise ValidationError(field, "max-size", f"at most {MAX_BODY_BYTES} bytes")
    return value


def _refuse(value: object) -> Any:
    raise TypeError("not JSON")


def _from_response(measure: Measure, qr: Any) -> dict[str, Any]:
    field = "questionnaire_response"
    if not isinstance(qr, Mapping) or qr.get("resourceType") != "QuestionnaireResponse":
        raise ValidationError(f"{field}.resourceType", "value", "a FHIR QuestionnaireResponse")
    named = qr.get("questionnaire")
    if named is not None and named not in (
        canonical(measure.id, measure.version),
        canonical(measure.id, "")[:-1],
    ):
        raise ValidationError(
            f"{field}.questionnaire", "mismatch", "the Questionnaire of the request's measure"
        )
    if qr.get("status", "completed") not in ("completed", "amended"):
        # a form saved in progress, stopped or entered in error is not the client's answer to record
        raise ValidationError(f"{field}.status", "not-completed", "a completed response")
    answers: dict[str, Any] = {}
    _collect(qr.get("item", []), f"{field}.item", item_codes(measure), answers)
    return answers


@attrs.frozen
class _ItemCodes:
    """Per item, the response each answer coding of the measure's SDC form names, and how to undo a weight.

    The form codes a response by the item's LOINC answer code where the definition gives one
    (:mod:`alliancekit.fhir.coded_answers` decides which codes are read), else by its position
    in the measure's answer code system (:func:`~alliancekit.fhir.sdc.sdc_questionnaire`). Its
    ``ordinalValue`` is the item's *score* for the response, which for a reverse-keyed item taken as a
    response position (CORE-10 items 2 and 3) is the position reversed, so it is turned back into the
    position here: read as the position, it would be reversed a second time by scoring.
    """

    codes: Mapping[str, Mapping[tuple[str, str], Any]]
    """Read-only: one instance serves every submission of its definition, from any thread."""
    flips: Mapping[str, float]
    measure: Measure

    @classmethod
    def of(cls, measure: Measure) -> _ItemCodes:
        own = answer_system(measure.id)
        codes: dict[str, Mapping[tuple[str, str], Any]] = {}
        for item in measure.items:
            named: dict[tuple[str, str], Any] = {}
            if item.integral:
                for position in range(int(item.min), int(item.max) + 1):
                    named[(own, str(position))] = position
                coded = item_answer_codes(measure, item)  # the one table of LOINC codes read on the item
                named.update({(LOINC, code): position for code, position in coded.items()})
            if item.allows_na:
                named[(own, NOT_APPLICABLE)] = NOT_APPLICABLE
            codes[item.key] = MappingProxyType(named)
        reversed_here = measure.answers is AnswerConvention.RESPONSE_POSITION
        flips = {
            item.key: item.min + item.max
            for item in measure.items
            if reversed_here and item.key in measure.reverse_keyed
        }
        return cls(MappingProxyType(codes), MappingProxyType(flips), measure)


#: How many definitions' item codes are kept: a clinic's forms use a handful of measures (one entry per id and
#: version), and the least recently used goes first beyond this.
ITEM_CODES_KEPT = 64
_kept: OrderedDict[tuple[str, str], tuple[Measure, _ItemCodes]] = OrderedDict()
_kept_lock = threading.Lock()


def item_codes(measure: Measure) -> _ItemCodes:
    """The :class:`_ItemCodes` of ``measure``, derived once per definition rather than for every submission
    (a definition is immutable). Kept by id and version, for the very definition object it was derived from:
    another definition under the same id and version (another plugin host in the process, a test's) is
    derived afresh and takes the place, never served another's codes."""
    key = (measure.id, measure.version)
    with _kept_lock:
        kept = _kept.get(key)
        if kept is not None and kept[0] is measure:
            _kept.move_to_end(key)
            return kept[1]
    made = _ItemCodes.of(measure)  # outside the lock: pure, and two threads deriving it agree
    with _kept_lock:
        _kept[key] = (measure, made)
        _kept.move_to_end(key)
        while len(_kept) > ITEM_CODES_KEPT:
            _kept.popitem(last=False)
    return made


def _collect(items: Any, path: str, codes: _ItemCodes, answers: dict[str, Any]) -> None:
    if not isinstance(items, list):
        raise ValidationError(path, "type", "an array of items")
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("linkId"), str):
            raise ValidationError(f"{here}.linkId", "required", "every item has a linkId")
        if "item" in item:  # a group: its answers are in its items
            _collect(item["item"], f"{here}.item", codes, answers)
        if "answer" not in item:
            continue
        link = item["linkId"]
        if link not in codes.codes:
            raise ValidationError(f"{here}.linkId", "unknown-link-id", "not an item of this questionnaire")
        if link in answers:
            raise ValidationError(f"{here}.linkId", "duplicate", "each item is answered once")
        given = item["answer"]
        if not isinstance(given, list) or len(given) != 1 or not isinstance(given[0], Mapping):
            raise ValidationError(f"{here}.answer", "answer-count", "exactly one answer")
        answers[link] = _value(given[0], f"{here}.answer[0]", codes, link)


def _value(answer: Mapping[str, Any], path: str, codes: _ItemCodes, link: str) -> Any:
    present = [k for k in _VALUE_KEYS if k in answer]
    if len(present) > 1:
        # a number and a coding for one item: which one the client meant is not ours to pick
        raise ValidationError(path, ONE_VALUE, "one value per answer: a number or a coding, not both")
    if not present:
        raise ValidationError(path, "answer-type", "one of valueInteger, valueDecimal or valueCoding")
    kind = present[0]
    value = answer[kind]
    if kind == "valueInteger" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "valueDecimal" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "valueCoding" and isinstance(value, Mapping):
        return _coded(value, path, codes, link)
    raise ValidationError(f"{path}.{kind}", "answer-type", "an integer, a decimal or a coding")


def _coded(coding: Mapping[str, Any], path: str, codes: _ItemCodes, link: str) -> Any:
    """The response a coding names: one of the form's answer codes (LOINC or the measure's own); a coding of
    another system is refused (:func:`~alliancekit.fhir.coded_answers.coded_answer` names the rule). A coding
    of the measure's own system or of none is read by its ordinal value turned back into a position, else by
    its code as a number (or ``na``)."""
    system, code = coding.get("system"), coding.get("code")
    if isinstance(system, str) and isinstance(code, str) and (system, code) in codes.codes[link]:
        return codes.codes[link][(system, code)]
    measure = codes.measure
    if system is not None and system != answer_system(measure.id):
        # LOINC's codes decide (another item's list, an unknown code; none for ORS, SRS ...), and a code of
        # another system is not read by its ordinal or as a number: it may mean anything
        item = next(item for item in measure.items if item.key == link)
        return coded_answer(measure, item, coding, f"{path}.valueCoding")
    for extension in coding.get("extension", []) if isinstance(coding.get("extension"), list) else []:
        if isinstance(extension, Mapping) and str(extension.get("url", "")).endswith("ordinalValue"):
            value = extension.get("valueDecimal")
            if isinstance(value, int | float) and not isinstance(value, bool):
                flip = codes.flips.get(link)
                return value if flip is None else points(units(flip) - units(value))
    if code == NOT_APPLICABLE:
        return code
    if isinstance(code, str):
        try:
            number = float(code)
        except ValueError:
            pass
        else:
            return int(number) if number.is_integer() else number
    raise ValidationError(
        f"{path}.valueCoding", "answer-type", "a coding of one of the item's answer options"
    )


def questionnaire_for(measure: Measure, language: str | None) -> dict[str, Any]:
    """The measure's SDC Questionnaire in ``language`` (:func:`alliancekit.fhir.sdc.sdc_questionnaire`)."""
    return sdc_questionnaire(measure, language=language)
