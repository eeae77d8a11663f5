"""What ``alliancekit measures ...`` does, as plain functions the CLI wires up.

Each returns text (and an exit code where the command can fail) so that the CLI stays a thin shell and these
are tested without a terminal. Error texts come from the library's errors: path and rule, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Sized
from pathlib import Path
from typing import Any

from alliancekit.errors import AlliancekitError, MeasureDefinitionError, ResponseError
from alliancekit.measures.advice import Advice, definition_advice
from alliancekit.measures.definition import Measure, parse_definition
from alliancekit.measures.norms import Citation
from alliancekit.measures.registry import MeasureRegistry, check_examples
from alliancekit.measures.scoring import Score
from alliancekit.measures.validation import (
    DEFINITION_LIMITS,
    generate_response_schema,
    load_json,
    meta_schema_problems,
)


def _summary(registry: MeasureRegistry, measure_id: str, version: str) -> dict[str, Any]:
    m = registry.get(measure_id, version)
    return {
        "id": m.id,
        "version": m.version,
        "title": m.title,
        "kind": m.kind.value,
        "direction": m.direction.value,
        "items": len(m.items),
        "range": [m.range_min, m.range_max],
        "clinical_cutoff": m.clinical_cutoff,
        "reliable_change": m.reliable_change,
        "supplier": registry.supplier(measure_id, version),
    }


def list_measures(registry: MeasureRegistry, as_json: bool = False) -> str:
    """``alliancekit measures list [--json]``: every registered measure, one line each (or a JSON array)."""
    rows = [_summary(registry, mid, version) for mid, version in registry]
    if as_json:
        return json.dumps(rows, indent=2)
    width = max((len(r["id"]) for r in rows), default=2)
    lines = [f"{'ID':<{width}}  VERSION  KIND      TITLE  (SUPPLIER)"]
    for r in rows:
        lines.append(
            f"{r['id']:<{width}}  {r['version']:<7}  {r['kind']:<8}  {r['title']}  ({r['supplier']})"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def describe(measure: Measure, supplier: str | None = None) -> str:
    """A human-readable description of ``measure`` with every number's citation."""
    lines = [f"{measure.title} ({measure.id} {measure.version})"]
    if supplier:
        lines.append(f"supplied by: {supplier}")
    lines += [
        f"kind: {measure.kind.value}; {measure.direction.value.replace('-', ' ')}",
        f"range: {_fmt(measure.range_min)}-{_fmt(measure.range_max)}; scoring: {measure.method.value}"
        + (f"; reverse-keyed: {', '.join(sorted(measure.reverse_keyed))}" if measure.reverse_keyed else "")
        + f"; missing items: {measure.missing_policy.value}"
        + (f" up to {measure.max_missing}" if measure.max_missing else ""),
        f"licence: {measure.licence_notice}",
        f"source: {_source(measure.source)}",
        "items:",
    ]
    for item in measure.items:
        text = f" - {item.text}" if item.text else ""
        lines.append(f"  {item.key}: {item.label} [{_fmt(item.min)}-{_fmt(item.max)}]{text}")
    for sub in measure.subscales:
        lines.append(f"subscale {sub.key}: {', '.join(sub.items)}")
    for norm in measure.norms:
        head = f"norms ({norm.population}{', default' if norm.default else ''}):"
        lines.append(head)
        if norm.clinical_cutoff is not None:
            cc = norm.clinical_cutoff
            lines.append(f"  clinical if {cc.clinical_if.value} {_fmt(cc.value)}  [{_cite(cc.citation)}]")
        if norm.reliable_change_points is not None:
            rc = norm.reliable_change_points
            lines.append(f"  reliable change: {_fmt(rc.value)} points  [{_cite(rc.citation)}]")
    for band in measure.bands:
        lines.append(f"band {band.key}: {_fmt(band.min)}-{_fmt(band.max)} {band.label}")
    for risk in measure.risk_items:
        lines.append(
            f"risk item {risk.item}: endorsed at {_fmt(risk.threshold)} or above  [{_cite(risk.citation)}]"
        )
    for code in measure.codes:
        target = code.item if code.item else code.target.value
        lines.append(f"code {code.system}|{code.code} ({target})")
    return "\n".join(lines)


def _source(citation: Citation) -> str:
    """The measure's source: the reference in full, then what the definition takes from it (``detail``)."""
    text = citation.reference
    if citation.detail:
        text += f" [{citation.detail}]"
    if citation.status.value == "unconfirmed":
        text += " (UNCONFIRMED)"
    return text


def _cite(citation: Any) -> str:
    text = f"{citation.ref}"
    if citation.detail:
        text += f": {citation.detail}"
    if citation.status.value == "unconfirmed":
        text += " (UNCONFIRMED)"
    return text


def show_measure(registry: MeasureRegistry, measure_id: str, version: str | None = None) -> str:
    """``alliancekit measures show ID``: the latest version unless ``version`` is given.

    :raises UnknownMeasure: no such measure.
    """
    measure = registry.get(measure_id, version)
    return describe(measure, registry.supplier(measure.id, measure.version))


def validate_response(
    registry: MeasureRegistry, measure_id: str, document: bytes | str, version: str | None = None
) -> tuple[int, str]:
    """``alliancekit measures validate ID RESPONSE.json``: ``(0, scored result as JSON)`` or ``(1, error)``.

    ``version`` defaults to the latest.
    """
    try:
        score = scored_response(registry, measure_id, document, version)
    except AlliancekitError as exc:
        return 1, "\n".join(
            f"error: {problem}" for problem in response_refusals(registry, measure_id, document, version, exc)
        )
    return 0, json.dumps(score.to_json(), indent=2)


def scored_response(
    registry: MeasureRegistry, measure_id: str, document: bytes | str, version: str | None = None
) -> Score:
    """The response ``document`` validated and scored (``version`` defaults to the latest).

    :raises AlliancekitError: the measure is unknown, or the response is invalid (its path and rule).
    """
    entry = registry.entry(measure_id, version)
    return registry.score_json(entry.measure.id, entry.measure.version, document)


def response_refusals(
    registry: MeasureRegistry,
    measure_id: str,
    document: bytes | str,
    version: str | None,
    refusal: AlliancekitError,
) -> tuple[AlliancekitError, ...]:
    """Every problem of a response :func:`scored_response` refused with ``refusal``: the registry's list
    (:meth:`MeasureRegistry.response_problems`) when it is a response's refusal, else ``refusal`` alone."""
    if not isinstance(refusal, ResponseError):
        return (refusal,)
    measure = registry.get(measure_id, version)
    return registry.response_problems(measure.id, measure.version, document) or (refusal,)


def check_definition(document: bytes | str, *, strict: bool = False) -> tuple[int, str, tuple[Advice, ...]]:
    """``alliancekit measures check DEFINITION.json``: ``(0, summary, advice)``, or ``(1, error lines, ())``.

    ``advice`` is what the valid definition leaves out (:mod:`alliancekit.measures.advice`); with ``strict``
    any advice makes the code 1.
    """
    try:
        measure, advice = checked_definition(document)
    except AlliancekitError as exc:
        return 1, "\n".join(f"error: {problem}" for problem in definition_refusals(document, exc)), ()
    counts = f"{_count(measure.items, 'item')}, {_count(measure.examples, 'example')}"
    summary = f"ok: {measure.id} {measure.version} ({counts})"
    return (1 if strict and advice else 0), summary, advice


def _count(things: Sized, noun: str) -> str:
    return f"{len(things)} {noun}" + ("" if len(things) == 1 else "s")


def checked_definition(document: bytes | str) -> tuple[Measure, tuple[Advice, ...]]:
    """The definition ``document`` parsed and checked as a registry checks a plugin's, its examples scored,
    with the advice for what it leaves out.

    :raises AlliancekitError: the first thing wrong with it (its JSON path and rule).
    """
    definition = load_json(document, DEFINITION_LIMITS, MeasureDefinitionError)
    measure = parse_definition(definition)
    # the examples are part of the definition's promise: check they score as declared
    registry = MeasureRegistry()
    registry.add(definition, "check")
    check_examples(registry, measure)
    return measure, definition_advice(measure, definition)


def definition_refusals(document: bytes | str, refusal: AlliancekitError) -> tuple[AlliancekitError, ...]:
    """Every problem of a definition :func:`checked_definition` refused with ``refusal``: every meta-schema
    failure when ``refusal`` is one of them; else ``refusal`` alone (the document's bounds are checked
    before the meta-schema, and the consistency rules and the examples only on a definition it passes)."""
    if not isinstance(refusal, MeasureDefinitionError):
        return (refusal,)
    try:
        definition = load_json(document, DEFINITION_LIMITS, MeasureDefinitionError)
    except MeasureDefinitionError:
        return (refusal,)  # not JSON, or past a bound: that is its one problem
    problems = meta_schema_problems(definition)
    found = {(problem.field, problem.rule) for problem in problems}
    return problems if (refusal.field, refusal.rule) in found else (refusal,)


def refusal_json(exc: AlliancekitError | Advice) -> dict[str, Any]:
    """Why a response or a definition is invalid, or what a valid definition leaves out, for ``--json``: its
    path and rule where it has them, and the message (which names them, never a value)."""
    return {"field": getattr(exc, "field", None), "rule": getattr(exc, "rule", None), "message": str(exc)}


def write_response_schemas(registry: MeasureRegistry, directory: Path) -> list[Path]:
    """Write the generated response schema of every registered measure into ``directory``."""
    written = []
    for measure_id, version in registry:
        measure = registry.get(measure_id, version)
        path = directory / f"{measure_id}-{version}.response.schema.json"
        path.write_text(json.dumps(generate_response_schema(measure), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
