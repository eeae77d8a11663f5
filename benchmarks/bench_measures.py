"""Validation + scoring benchmark for one ORS response (issue 3 target: p50 <= 10 µs).

Run: ``python benchmarks/bench_measures.py`` (``tox -e bench`` calls :func:`run`). Figures are medians of
many single calls, in microseconds:

* ``ors_validate_score_p50_us``: ``MeasureRegistry.score`` (compiled validator + scorer): the hot path;
* ``ors_document_score_p50_us``: ``score_document`` on a parsed response document;
* ``jsonschema_reference_p50_us``: the prebuilt ``jsonschema`` validator on the same document, plus scoring;
* ``jsonschema_rs_p50_us``: ``jsonschema-rs`` on the document, when it is installed (comparison only).

Layout: one process, no store. Each figure warms up (2,000 calls) before it is measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from alliancekit.measures.validation import reference_validator
from alliancekit.plugins.manager import make_plugin_host

ANSWERS = {"individually": 4.5, "interpersonally": 5.0, "socially": 4.2, "overall": 4.1}


def _p50(call: Callable[[], Any], rounds: int = 20_000, warmup: int = 2_000) -> float:
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        start = clock()
        call()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def run() -> dict[str, float]:
    registry = make_plugin_host(load_entry_points=False).measures()  # the builtin measures only
    entry = registry.entry("ors", "1.0")
    document = {"measure": "ors", "answers": ANSWERS}
    reference = reference_validator(entry.schema)
    scorer = entry.scorer

    def with_reference() -> Any:
        reference.validate(document)
        return scorer(document["answers"])

    results = {
        "ors_validate_score_p50_us": _p50(lambda: registry.score("ors", "1.0", ANSWERS)),
        "ors_document_score_p50_us": _p50(lambda: registry.score_document("ors", "1.0", document)),
        "jsonschema_reference_p50_us": _p50(with_reference, rounds=5_000, warmup=500),
    }
    try:
        import jsonschema_rs
    except ImportError:
        pass
    else:
        fast = jsonschema_rs.validator_for(dict(entry.schema))
        results["jsonschema_rs_p50_us"] = _p50(lambda: (fast.validate(document), scorer(ANSWERS)))
    for name, value in results.items():
        print(f"{name:32s} {value:8.2f}")
    return results


if __name__ == "__main__":
    run()
