"""measure -> FHIR SDC Questionnaire a form tool can render and score (LHC-Forms, any SDC renderer).

What the form carries (the FHIR guide's SDC section explains each for host developers):

* items with a fixed set of responses are ``choice`` items whose ``answerOption`` is a ``valueCoding`` (the
  item's LOINC answer code where the definition gives one, as
  :func:`~alliancekit.fhir.coded_answers.written_answer_codes` decides, else the position in the measure's
  own answer code system) with the item's score as the ``ordinalValue`` extension, on the option and on its
  coding (so FHIRPath's ``weight()`` finds it in R4 renderers) and as ``itemWeight`` (R5 renderers). A
  reverse-keyed item (CORE-10 items 2 and 3) keeps its positions but weighs them reversed, so the weights
  are the scores;
* visual-analogue items (ORS, SRS: a mark on a line read as 0-10 to one decimal) are ``decimal`` items with
  ``minValue``/``maxValue`` and ``maxDecimalPlaces``;
* ``required`` on every item unless the measure's missing-data rule scores a response without it;
* LOINC codes on the form, the items and the total where they exist, the project's own score code otherwise;
* a read-only total item whose SDC ``calculatedExpression`` (FHIRPath) adds up the weights as alliancekit
  scores them (mean or sum; prorated where the measure allows missing items);
* the licence notice as ``copyright``; item wording only where the licence allows it, short labels otherwise.

The text is in the language :meth:`~alliancekit.measures.Measure.text_for` picks for the client's
``language``; ``Questionnaire.language`` says which. :func:`answers_from_response` reads a
QuestionnaireResponse to one of these forms back into the answers alliancekit scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alliancekit.errors import ResponseError, ValidationError
from alliancekit.fhir.coded_answers import (
    ONE_VALUE,
    coded_answer,
    item_answer_codes,
    written_answer_codes,
)
from alliancekit.fhir.codes import (
    CANONICAL_BASE,
    LOINC,
    MAX_VALUE,
    MEASURE_SCORES,
    MIN_VALUE,
    coding,
    questionnaire_url,
)
from alliancekit.fhir.questionnaire import computable_name, questionnaire_id
from alliancekit.i18n import N_, translate
from alliancekit.measures.definition import (
    NOT_APPLICABLE,
    AnswerConvention,
    CodeTarget,
    Item,
    Measure,
    MissingPolicy,
    ScoringMethod,
)
from alliancekit.measures.exact import points, units

__all__ = [
    "CALCULATED_EXPRESSION",
    "ITEM_WEIGHT",
    "ORDINAL_VALUE",
    "SDC_PROFILE",
    "answer_system",
    "answers_from_response",
    "sdc_questionnaire",
    "sdc_response",
    "total_expressions",
    "total_link_id",
]

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
MAX_DECIMAL_PLACES = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
CALCULATED_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
SDC_PROFILE = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"
INSTRUCTIONS = "instructions"
NA_CODE = "na"
_NOT_APPLICABLE_LABEL = N_("Not applicable")
_TOTAL_LABEL = N_("Total score")


def answer_system(measure_id: str) -> str:
    """The project's code system for a measure's response positions (code = the position, ``"2"``)."""
    return f"{CANONICAL_BASE}/CodeSystem/{measure_id}-answers"


def total_link_id(measure: Measure) -> str:
    """The ``linkId`` of the calculated total: ``total`` unless an item already has that key."""
    keys = set(measure.item_keys)
    return "total" if "total" not in keys else f"{measure.id}-total"


def form_only_links(measure: Measure) -> frozenset[str]:
    """The ``linkId`` s of the form's items that hold nothing to score: its calculated total and its
    instructions. A response may carry them (a renderer fills the total in); every reader ignores them,
    since alliancekit scores the answers itself."""
    return frozenset({total_link_id(measure), INSTRUCTIONS, f"{measure.id}-{INSTRUCTIONS}"}) - set(
        measure.item_keys
    )


def form_answer(measure: Measure, item: Item, coding: Mapping[str, Any], path: str) -> float | str | None:
    """The response position a coding of the form's own answer system (:func:`answer_system`) names on a
    choice item, or ``None`` when the coding is of another system (LOINC's, say: see
    :func:`~alliancekit.fhir.coded_answers.coded_answer`).

    :raises ResponseError: ``enum`` at ``path``: the form's system, but none of the item's options.
    """
    code = coding.get("code")
    if not _choice(item) or coding.get("system") != answer_system(measure.id) or not isinstance(code, str):
        return None
    if code == NA_CODE and item.allows_na:
        return NOT_APPLICABLE
    if code.isdigit() and int(code) in _positions(item):
        return int(code)
    raise ResponseError(path, "enum", "not one of the item's answer options")


def _choice(item: Item) -> bool:
    return item.integral


def _positions(item: Item) -> list[int]:
    return list(range(int(item.min), int(item.max) + 1))


def _score(measure: Measure, item: Item, position: float) -> float:
    """The score a response position earns on ``item`` (reverse-keyed items weigh positions reversed)."""
    if measure.answers is AnswerConvention.RESPONSE_POSITION and item.key in measure.reverse_keyed:
        return points(units(item.min) + units(item.max) - units(position))
    return position


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _required(measure: Measure) -> bool:
    return measure.missing_policy is MissingPolicy.REFUSE


def _options(
    measure: Measure, item: Item, labels: Mapping[float, str], language: str
) -> list[dict[str, Any]]:
    loinc = written_answer_codes(measure, item)
    out = []
    for position in _positions(item):
        weight = _score(measure, item, position)
        ordinal = {"url": ORDINAL_VALUE, "valueDecimal": _number(weight)}
        code = loinc.get(position)
        system, value = (LOINC, code) if code else (answer_system(measure.id), str(position))
        value_coding = {"extension": [ordinal], **coding(system, value, labels.get(position, str(position)))}
        out.append(
            {
                "extension": [ordinal, {"url": ITEM_WEIGHT, "valueDecimal": _number(weight)}],
                "valueCoding": value_coding,
            }
        )
    if item.allows_na:
        label = translate(_NOT_APPLICABLE_LABEL, language)
        out.append({"valueCoding": coding(answer_system(measure.id), NA_CODE, label)})
    return out


def _bound(url: str, value: float) -> dict[str, Any]:
    return {"url": url, "valueDecimal": value}


def _decimals(step: float) -> int:
    text = f"{step:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def total_expressions(measure: Measure) -> tuple[str, str]:
    """FHIRPath for the total as alliancekit scores it: the ``%scores`` variable (the answered items'
    scores) and the total computed from it, empty until the response can be scored."""
    choice = [item.key for item in measure.items if _choice(item)]
    numeric = [item.key for item in measure.items if not _choice(item)]

    def answers(keys: list[str]) -> str:
        listed = " | ".join(f"'{key}'" for key in keys)
        return f"%resource.item.where(linkId in ({listed})).answer.value"

    parts = []
    if choice:
        parts.append(f"{answers(choice)}.where(code != '{NA_CODE}').weight()")
    if numeric:
        parts.append(answers(numeric))
    scores = parts[0] if len(parts) == 1 else f"{parts[0]}.combine({parts[1]})"
    n = len(measure.items)
    needed = n - (measure.max_missing if measure.missing_policy is MissingPolicy.PRORATE else 0)
    if measure.method is ScoringMethod.MEAN:
        total = "%scores.sum() / %scores.count()"
    elif needed < n:  # prorated: the answered items' mean stands in for each missing one
        total = f"%scores.sum() * {n} / %scores.count()"
    else:
        total = "%scores.sum()"
    if not measure.whole_totals:
        total = f"({total}).round(6)"  # alliancekit carries scores to six places (measures.exact)
    return scores, f"iif(%scores.count() >= {needed}, {total})"


def _expression(expression: str, name: str | None = None) -> dict[str, Any]:
    out = {"language": "text/fhirpath", "expression": expression}
    return {"name": name, **out} if name else out


def _total_item(measure: Measure, language: str) -> dict[str, Any]:
    scores, total = total_expressions(measure)
    codes = [coding(c.system, c.code, c.display) for c in measure.codes if c.target is CodeTarget.TOTAL]
    return {
        "extension": [
            {"url": VARIABLE, "valueExpression": _expression(scores, "scores")},
            {"url": CALCULATED_EXPRESSION, "valueExpression": _expression(total)},
        ],
        "linkId": total_link_id(measure),
        "code": codes or [coding(MEASURE_SCORES, f"{measure.id}-total")],
        "text": translate(_TOTAL_LABEL, language),
        "type": "integer" if measure.whole_totals else "decimal",
        "readOnly": True,
    }


def sdc_questionnaire(measure: Measure, *, language: str | None = None) -> dict[str, Any]:
    """The SDC Questionnaire of ``measure`` in ``language`` (BCP 47; the definition's own when ``None`` or
    when no translation serves it)."""
    text = measure.text_for(language)
    item_codes: dict[str, list[dict[str, Any]]] = {}
    for code in measure.codes:
        if code.target is CodeTarget.ITEM and code.item:
            item_codes.setdefault(code.item, []).append(coding(code.system, code.code, code.display))
    pairs = zip(measure.answer_options, text.answer_labels, strict=True)
    labels = {option.value: label for option, label in pairs}
    items: list[dict[str, Any]] = []
    if text.stem:
        link = INSTRUCTIONS if INSTRUCTIONS not in measure.item_keys else f"{measure.id}-{INSTRUCTIONS}"
        items.append({"linkId": link, "text": text.stem, "type": "display"})
    for item in measure.items:
        entry: dict[str, Any] = {"linkId": item.key}
        if item.key in item_codes:
            entry["code"] = item_codes[item.key]
        entry["text"] = text.text(item.key) or text.label(item.key)
        entry["required"] = _required(measure)
        if _choice(item):
            # every option shown at once (radio buttons), as on the paper form, not in a drop-down
            control = {"coding": [coding(ITEM_CONTROL_SYSTEM, "radio-button", "Radio Button")]}
            entry["extension"] = [{"url": ITEM_CONTROL, "valueCodeableConcept": control}]
            entry["type"] = "choice"
            entry["answerOption"] = _options(measure, item, labels, text.language)
        else:
            entry["extension"] = [
                _bound(MIN_VALUE, item.min),
                _bound(MAX_VALUE, item.max),
                {"url": MAX_DECIMAL_PLACES, "valueInteger": _decimals(item.step)},
            ]
            entry["type"] = "decimal"
        items.append(entry)
    items.append(_total_item(measure, text.language))
    rid = questionnaire_id(measure.id, measure.version)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": rid,
        "meta": {"profile": [SDC_PROFILE]},
        "language": text.language,
        "url": questionnaire_url(measure.id),
        "version": measure.version,
        "name": computable_name(measure.id),
        "title": text.title,
        "status": "active",
        "subjectType": ["Patient"],
        "copyright": measure.licence_notice,
    }
    panel = [coding(c.system, c.code, c.display) for c in measure.codes if c.target is CodeTarget.PANEL]
    if panel:
        resource["code"] = panel
    resource["item"] = items
    return resource


def sdc_response(measure: Measure, answers: Mapping[str, float | str | None]) -> dict[str, Any]:
    """A QuestionnaireResponse to :func:`sdc_questionnaire`'s form holding ``answers`` (response positions,
    as :meth:`Practice.record_session` takes them); the inverse of :func:`answers_from_response`."""
    items = []
    for item in measure.items:
        value = answers.get(item.key)
        entry: dict[str, Any] = {"linkId": item.key}
        if value == NOT_APPLICABLE:
            entry["answer"] = [{"valueCoding": coding(answer_system(measure.id), NA_CODE)}]
        elif isinstance(value, int | float) and _choice(item):
            code = written_answer_codes(measure, item).get(value)
            system, code = (LOINC, code) if code else (answer_system(measure.id), str(int(value)))
            entry["answer"] = [{"valueCoding": coding(system, code)}]
        elif isinstance(value, int | float):
            entry["answer"] = [{"valueDecimal": value}]
        items.append(entry)
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire_url(measure.id)}|{measure.version}",
        "status": "completed",
        "item": items,
    }


def answers_from_response(measure: Measure, response: Mapping[str, Any]) -> dict[str, float | str | None]:
    """The answers (response positions, as :meth:`Practice.record_session` takes them) in a
    QuestionnaireResponse to :func:`sdc_questionnaire`'s form; unanswered items are ``None``.

    Refuses (:class:`~alliancekit.errors.ResponseError`, naming the item, never echoing a value) a
    response whose ``status`` is not ``completed`` or ``amended``, an unknown ``linkId``, an item answered
    twice, and an answer of the wrong type or outside the options.
    Whether the answers are complete and in range is for the measure's own validation.
    """
    if response.get("status", "completed") not in ("completed", "amended"):
        # in progress, stopped or entered in error: not answers to score (a response without a status is
        # read, as before)
        raise ResponseError("$.status", "not-completed", "a completed response")
    items = {item.key: item for item in measure.items}
    skip = form_only_links(measure)
    found: dict[str, float | str | None] = dict.fromkeys(items)
    seen: set[str] = set()
    for i, entry in enumerate(response.get("item") or ()):
        link = entry.get("linkId") if isinstance(entry, Mapping) else None
        path = f"$.item[{i}]"
        if link in skip:
            continue
        if link not in items:
            raise ResponseError(f"{path}.linkId", "unknown", "no item of this questionnaire has that linkId")
        if link in seen:
            raise ResponseError(f"{path}.linkId", "unique", "an item may appear once")
        seen.add(link)
        answers = entry.get("answer") or []
        if len(answers) > 1:
            raise ResponseError(f"{path}.answer", "maxItems", "one answer per item")
        if answers:
            item = items[link]
            codes = item_answer_codes(measure, item)
            found[link] = _answer_value(measure, item, answers[0], codes, f"{path}.answer[0]")
    return found


def _answer_value(
    measure: Measure, item: Item, answer: Any, loinc: Mapping[str, float], path: str
) -> float | str:
    if not isinstance(answer, Mapping):
        raise ResponseError(path, "type", "an answer must be an object")
    if sum(1 for key in answer if key.startswith("value")) > 1:
        # a number and a coding (or two of either) for one item: reading one would drop the other unseen
        raise ResponseError(path, ONE_VALUE, "one value per answer: a number or a coding, not both")
    value = answer.get("valueCoding")
    if _choice(item):
        if not isinstance(value, Mapping):
            raise ResponseError(path, "type", "a choice item is answered with valueCoding")
        system, code = value.get("system"), value.get("code")
        if system == LOINC and isinstance(code, str) and code in loinc:
            return _number(loinc[code])
        position = form_answer(measure, item, value, path)
        if position is not None:
            return position
    if value is not None:
        # LOINC's codes (or none, for a measure without them) say why: another system, another item's list
        try:
            return coded_answer(measure, item, value, path)
        except ValidationError as exc:
            raise ResponseError(exc.field, exc.rule, exc.detail) from None
    for key in ("valueDecimal", "valueInteger"):
        value = answer.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    raise ResponseError(path, "type", "a numeric item is answered with valueDecimal")
