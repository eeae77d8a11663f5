"""An SDC Questionnaire (the dict the library's ``open_request`` returns) as an HTML form, and the form's
posted fields back as a FHIR QuestionnaireResponse.

Every question is one ``<fieldset>`` with its ``<legend>``; an item with answer options is a group of
radio buttons with visible labels, a number item an ``<input type=number>`` with its bounds. Fields are
named by position (``item-3``), never by link id, so nothing from the Questionnaire lands in an HTML
``id`` unescaped. The response echoes the chosen option's ``value[x]`` exactly as the Questionnaire gives
it, so the library checks it against the same Questionnaire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from html import escape
from typing import Any

import attrs

from alliancekit.errors import ValidationError

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
NUMBER_TYPES = frozenset({"integer", "decimal"})


@attrs.frozen
class Question:
    """One question the client answers."""

    field: str
    """The form field's name and the HTML id stem (``item-3``)."""
    link_id: str
    text: str
    type: str
    required: bool
    options: tuple[tuple[str, Mapping[str, Any]], ...]
    """(label, the option's ``value[x]`` as a one-key dict) per answer option, in order."""
    low: float | None = None
    high: float | None = None


@attrs.frozen
class Part:
    """What the form shows, in order: a heading or a paragraph of text, or a question."""

    kind: str
    """``heading``, ``text`` or ``question``."""
    text: str = ""
    question: Question | None = None


def _extension(item: Mapping[str, Any], url: str) -> float | None:
    for extension in item.get("extension", ()):
        if extension.get("url") == url:
            for key in ("valueInteger", "valueDecimal"):
                if key in extension:
                    return float(extension[key])
    return None


def _is_calculated(item: Mapping[str, Any]) -> bool:
    return bool(item.get("readOnly")) or any(e.get("url") == CALCULATED for e in item.get("extension", ()))


def _option(option: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    value = {key: v for key, v in option.items() if key.startswith("value")}
    if not value:
        raise ValueError("an answer option without a value")
    ((key, v),) = value.items()
    label = (v.get("display") or v.get("code", "")) if key == "valueCoding" else v
    return str(label), value


def _walk(items: list[Mapping[str, Any]], counter: Iterator[int]) -> Iterator[Part]:
    for item in items:
        kind = item.get("type")
        text = str(item.get("text", ""))
        if kind == "group":
            if text:
                yield Part("heading", text)
            yield from _walk(item.get("item", []), counter)
        elif kind == "display":
            if text:
                yield Part("text", text)
        elif _is_calculated(item):
            continue  # the total the library computes; the client does not answer it
        else:
            options = tuple(_option(o) for o in item.get("answerOption", ()))
            field = f"item-{next(counter)}"
            yield Part(
                "question",
                question=Question(
                    field=field,
                    link_id=str(item["linkId"]),
                    text=text or str(item["linkId"]),
                    type=str(kind),
                    required=bool(item.get("required")),
                    options=options,
                    low=_extension(item, MIN_VALUE),
                    high=_extension(item, MAX_VALUE),
                ),
            )


def form_parts(questionnaire: Mapping[str, Any]) -> list[Part]:
    """The headings, texts and questions of ``questionnaire``, in order."""
    counter = iter(range(1, 10_000))
    return list(_walk(questionnaire.get("item", []), counter))


def questions(parts: list[Part]) -> list[Question]:
    return [p.question for p in parts if p.question is not None]


@attrs.frozen
class Answered:
    """What the client posted: the answer per question field, and the questions left wrong."""

    answers: dict[str, dict[str, Any]]
    """field -> the FHIR answer (``{"valueCoding": ...}``, ``{"valueInteger": 2}``)."""
    chosen: dict[str, str]
    """field -> the posted value, to show the form again as it was."""
    errors: list[tuple[Question, str]]
    """(question, the error's kind: ``missing`` or ``number``), in the form's order."""


def _left_out(q: Question) -> str:
    """The error for a question left out: a number box asks for a number (its bounds), not a choice."""
    return "number" if not q.options and q.type in NUMBER_TYPES else "missing"


def read_answers(parts: list[Part], posted: Mapping[str, str]) -> Answered:
    """Match the posted fields to the questions. A missing required answer or a number out of its bounds is
    an error shown next to its question; the library validates everything again on submission."""
    answers: dict[str, dict[str, Any]] = {}
    chosen: dict[str, str] = {}
    errors: list[tuple[Question, str]] = []
    for q in questions(parts):
        raw = posted.get(q.field, "").strip()
        chosen[q.field] = raw
        if not raw:
            if q.required:
                errors.append((q, _left_out(q)))
            continue
        if q.options:
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a server error)
            if not (raw.isascii() and raw.isdigit()) or not 0 <= int(raw) < len(q.options):
                errors.append((q, "missing"))
                continue
            answers[q.field] = dict(q.options[int(raw)][1])
        elif q.type in NUMBER_TYPES:
            number = _number(raw, q)
            if number is None:
                errors.append((q, "number"))
                continue
            answers[q.field] = (
                {"valueInteger": int(number)} if q.type == "integer" else {"valueDecimal": number}
            )
        else:
            answers[q.field] = {"valueString": raw}
    return Answered(answers, chosen, errors)


#: Where the library's refusal of an answer points: a measure's item (``$.answers.<linkId>``) or an item of
#: the QuestionnaireResponse by position (``questionnaire_response.item[0].item[2]...``).
_ANSWERS = "$.answers"
_RESPONSE_ITEM = re.compile(r"item\[(\d+)\]")


def refused_by_library(
    parts: list[Part], answered: Answered, response: Mapping[str, Any], error: ValidationError
) -> Answered:
    """``answered`` with the error the library raised on submission placed by the question it is about
    (``refused``); a rule about the answers as a whole (too many left out) marks each question left out
    (``missing``); an error that names no question leaves ``errors`` empty."""
    asked = questions(parts)
    link: str | None = None
    if error.field.startswith(_ANSWERS + "."):
        link = error.field[len(_ANSWERS) + 1 :]
    elif error.field.startswith("questionnaire_response.item["):
        link = _link_at(response, error.field)
    elif error.field == _ANSWERS:
        left_out = [(q, _left_out(q)) for q in asked if q.field not in answered.answers]
        return attrs.evolve(answered, errors=left_out)
    return attrs.evolve(answered, errors=[(q, "refused") for q in asked if q.link_id == link])


def _link_at(response: Mapping[str, Any], field: str) -> str | None:
    node: Any = response
    for index in _RESPONSE_ITEM.findall(field.split(".answer", 1)[0]):
        items = node.get("item", []) if isinstance(node, Mapping) else []
        if int(index) >= len(items):
            return None
        node = items[int(index)]
    link = node.get("linkId") if isinstance(node, Mapping) else None
    return link if isinstance(link, str) else None


#: The fields of a posted answer form sent again as they came (the answers and the form's own fields).
_RESENT = re.compile(r"item-\d{1,4}|csrf|token|mode|language")


def resent_fields(posted: Mapping[str, str]) -> dict[str, str]:
    """The posted fields a "send again" form carries, in the order posted."""
    return {k: v for k, v in posted.items() if _RESENT.fullmatch(k)}


def _number(raw: str, q: Question) -> float | None:
    try:
        number = float(raw) if q.type == "decimal" else int(raw)
    except ValueError:
        return None
    if not math.isfinite(number):  # "nan" passes every bound, and the library refuses it
        return None
    if (q.low is not None and number < q.low) or (q.high is not None and number > q.high):
        return None
    return float(number)


def questionnaire_response(questionnaire: Mapping[str, Any], answered: Answered) -> dict[str, Any]:
    """A completed QuestionnaireResponse to ``questionnaire`` with the answers given, its items nested as
    the Questionnaire's groups are."""
    by_link: dict[str, dict[str, Any]] = {}
    for q in questions(form_parts(questionnaire)):
        if q.field in answered.answers:
            by_link[q.link_id] = answered.answers[q.field]

    def items(source: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in source:
            link = str(item.get("linkId", ""))
            if item.get("type") == "group":
                inner = items(item.get("item", []))
                if inner:
                    out.append({"linkId": link, "item": inner})
            elif link in by_link:
                out.append({"linkId": link, "answer": [by_link[link]]})
        return out

    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "completed"}
    url = questionnaire.get("url")
    if url:
        version = questionnaire.get("version")
        response["questionnaire"] = f"{url}|{version}" if version else url
    response["item"] = items(questionnaire.get("item", []))
    return response


# ------------------------------------------------------------------------------------------------ HTML


def _error_id(q: Question) -> str:
    return f"{q.field}-error"


def first_input_id(q: Question) -> str:
    """The id an error summary links to: the first radio button, or the number box."""
    return f"{q.field}-0" if q.options else q.field


def lang_attribute(language: str | None) -> str:
    """`` lang="..."`` for a part in another language than what holds it, or nothing."""
    return f' lang="{escape(language)}"' if language else ""


def render_question(
    q: Question, chosen: str, error: str | None, text: Mapping[str, str], own_language: str | None = None
) -> str:
    """The question as a fieldset; ``error`` is HTML (:func:`error_message`). The app's own words in it (the
    required marker, the error) are marked ``own_language`` when given: the form around them is marked
    with the measure's language, which may differ."""
    described = f' aria-describedby="{_error_id(q)}"' if error else ""
    classes = "question error" if error else "question"
    own = lang_attribute(own_language)
    marker = f' <span class="req"{own}>({escape(text["required"])})</span>' if q.required else ""
    out = [f'<fieldset class="{classes}"{described}>', f"<legend>{escape(q.text)}{marker}</legend>"]
    if error:
        out.append(f'<p class="field-error" id="{_error_id(q)}"{own}>{error}</p>')
    if q.options:
        required = " required" if q.required else ""
        for k, (label, _value) in enumerate(q.options):
            checked = " checked" if chosen == str(k) else ""
            out.append(
                f'<div class="option"><input type="radio" id="{q.field}-{k}" name="{q.field}"'
                f' value="{k}"{checked}{required}><label for="{q.field}-{k}">{escape(label)}</label></div>'
            )
    else:
        bounds = "".join(
            f' {name}="{value:g}"' for name, value in (("min", q.low), ("max", q.high)) if value is not None
        )
        step = ' step="any"' if q.type == "decimal" else ' step="1"'
        mode = "decimal" if q.type == "decimal" else "numeric"
        out.append(
            f'<label class="visually-hidden" for="{q.field}">{escape(q.text)}</label>'
            f'<input type="number" id="{q.field}" name="{q.field}" inputmode="{mode}"{bounds}{step}'
            f' value="{escape(chosen)}"{" required" if q.required else ""}>'
        )
    out.append("</fieldset>")
    return "".join(out)


def error_message(
    q: Question, kind: str, text: Mapping[str, str], question_language: str | None = None
) -> str:
    """The error as HTML: the app's sentence, escaped, with the question's text in it marked
    ``question_language`` when given (the measure's language, when the page's words are in another)."""
    low = "" if q.low is None else f"{q.low:g}"
    high = "" if q.high is None else f"{q.high:g}"
    template = {"number": "number_invalid", "refused": "answer_refused"}.get(kind, "answer_missing")
    sentence = escape(text[template].format(low=low, high=high, question="\0"))
    return sentence.replace("\0", f"<span{lang_attribute(question_language)}>{escape(q.text)}</span>", 1)
