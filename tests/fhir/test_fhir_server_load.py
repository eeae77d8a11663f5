"""The export loads into a real FHIR server, twice, without duplicates: Medplum's FHIR router over its
in-memory repository (``@medplum/fhir-router``, pinned in ``.ci/run``), served on 127.0.0.1 by
``server/medplum_server.cjs``.

Without Node or the package the tests skip and say how to install it; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor
from alliancekit.fhir import episode_bundle, episode_bundles, export_ndjson
from alliancekit.testing.fhir import references

from .conftest import (
    CONSENT_CHANGES,
    PARTICIPANT_CONSENT_CHANGES,
    consent_changes,
    participant_consent_changes,
)

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / ".cache" / "npm" / "node_modules"
SERVER = Path(__file__).parent / "server" / "medplum_server.cjs"
#: What .ci/run installs (Node 20 runs the 4.x line; 5.x needs Node 22).
PACKAGE = "@medplum/fhir-router@4.5.2"
STARTUP_SECONDS = 120


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the FHIR server load test must run)", pytrace=False)
    pytest.skip(f"{reason}; install: npm install --prefix .cache/npm {PACKAGE}")


@pytest.fixture
def medplum() -> Iterator[str]:
    """A fresh server (empty repository) for one test; its base URL."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (MODULES / "@medplum" / "fhir-router").is_dir():
        _unavailable(f"{PACKAGE} is not installed in .cache/npm")
    env = {**os.environ, "NODE_PATH": str(MODULES)}
    proc = subprocess.Popen(
        [str(node), str(SERVER), "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints its port once it listens
        if not line.startswith("listening "):
            assert proc.stderr is not None
            pytest.fail(f"the FHIR server did not start: {line}{proc.stderr.read()[-2000:]}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - it stops on SIGTERM
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL we built
        f"{base}/{path}", data=data, method=method, headers={"content-type": "application/fhir+json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
        return json.loads(response.read())


def _load(base: str, bundles: list[dict[str, Any]]) -> Counter[str]:
    """POST each Bundle; every entry must succeed. Returns the entries' statuses counted."""
    statuses: Counter[str] = Counter()
    for bundle in bundles:
        answer = _call(base, "POST", "", bundle)
        assert answer["type"] == f"{bundle['type']}-response", answer
        for entry in answer["entry"]:
            status = entry["response"]["status"]
            assert status in ("200", "201"), entry["response"]
            statuses[status] += 1
    return statuses


def _stored(base: str, types: set[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for rtype in sorted(types):
        found = _call(base, "GET", f"{rtype}?_count=1000")
        out[rtype] = [e["resource"] for e in found.get("entry", [])]
        assert len(out[rtype]) < 1000, "raise _count: the search was cut"
    return out


def _expected(bundles: list[dict[str, Any]]) -> Counter[str]:
    """Resources the export holds, each once (every episode's Bundle repeats its Questionnaires)."""
    seen = {(e["resource"]["resourceType"], e["resource"]["id"]) for b in bundles for e in b["entry"]}
    return Counter(rtype for rtype, _ in seen)


def _check_server_holds(base: str, expected: Counter[str]) -> None:
    stored = _stored(base, set(expected))
    assert Counter({t: len(rs) for t, rs in stored.items()}) == expected
    known = {f"{r['resourceType']}/{r['id']}" for rs in stored.values() for r in rs}
    for resources in stored.values():
        for resource in resources:
            contained = {f"#{c['id']}" for c in resource.get("contained", ())}
            for ref in references(resource):
                assert ref in known or ref in contained, f"{resource['resourceType']}: dangling {ref}"
    # the identifiers survived the load as exported (no server rewrote them)
    for resources in stored.values():
        for resource in resources:
            if resource["resourceType"] in ("Provenance", "Questionnaire"):
                continue
            own = resource["identifier"]
            own = own[0] if isinstance(own, list) else own
            assert own["value"]
            assert not own["value"].startswith("urn:uuid:")


#: Episodes loaded (the demo's first): the in-memory repository matches each conditional create by scanning
#: every resource of its type with FHIRPath, so a load grows with the square of its size (109 entries onto
#: 109 took 5 s on a busy machine); the whole demo would take many minutes.
EPISODES = 4


def _episodes(demo: Practice, actor: Actor) -> list[str]:
    return demo.episode_ids(actor)[:EPISODES]


def test_batch_bundles_load_twice_without_duplicates(
    medplum: str, demo: Practice, exporter_actor: Actor
) -> None:
    bundles = [
        episode_bundle(demo, exporter_actor, ep, bundle_type="batch")
        for ep in _episodes(demo, exporter_actor)
    ]
    expected = _expected(bundles)
    assert sum(expected.values()) > 100
    first = _load(medplum, bundles)
    assert first["201"] >= sum(expected.values()) - expected["Provenance"]  # created, each once
    _check_server_holds(medplum, expected)
    second = _load(medplum, bundles)
    assert second["201"] == 0  # nothing created again...
    _check_server_holds(medplum, expected)  # ...and nothing twice


def test_an_episodes_changes_of_consent_load_twice_as_consents_without_duplicates(
    medplum: str, exporter_actor: Actor, tmp_path: Path
) -> None:
    """The demo changes no one's consent: an episode that does, its batch Bundle loaded twice; the server
    holds one Consent per change, created once (matched by identifier the second time), and finds the one
    in force by its status as an integrator would."""
    practice, _, ep = consent_changes(tmp_path / "p.sqlite")
    with practice:
        batch = [episode_bundle(practice, exporter_actor, ep, bundle_type="batch")]
    expected = _expected(batch)
    assert expected["Consent"] == len(CONSENT_CHANGES)
    assert _load(medplum, batch)["201"] >= sum(expected.values()) - expected["Provenance"]
    _check_server_holds(medplum, expected)
    assert _load(medplum, batch)["201"] == 0
    _check_server_holds(medplum, expected)
    found = _call(medplum, "GET", "Consent?status=active")
    (active,) = [e["resource"] for e in found.get("entry", [])]
    assert (active["dateTime"], active["provision"]["type"]) == (CONSENT_CHANGES[-1][0], "deny")


def test_a_participants_changes_of_consent_load_twice_without_duplicates(
    medplum: str, exporter_actor: Actor, tmp_path: Path
) -> None:
    """A partner's changes of consent with the client's: one Consent per change, created once; the ones in
    force are the client's and the partner's last."""
    practice, _, ep = participant_consent_changes(tmp_path / "p.sqlite")
    with practice:
        batch = [episode_bundle(practice, exporter_actor, ep, bundle_type="batch")]
    expected = _expected(batch)
    assert expected["Consent"] == len(PARTICIPANT_CONSENT_CHANGES)
    assert _load(medplum, batch)["201"] >= sum(expected.values()) - expected["Provenance"]
    _check_server_holds(medplum, expected)
    assert _load(medplum, batch)["201"] == 0
    _check_server_holds(medplum, expected)
    found = _call(medplum, "GET", "Consent?status=active")
    active = sorted(e["resource"]["dateTime"] for e in found.get("entry", []))
    assert active == [PARTICIPANT_CONSENT_CHANGES[1][0], PARTICIPANT_CONSENT_CHANGES[2][0]]


def test_transactions_load_twice_without_duplicates(
    medplum: str, demo: Practice, exporter_actor: Actor
) -> None:
    bundles = [
        part
        for ep in _episodes(demo, exporter_actor)
        for part in episode_bundles(demo, exporter_actor, ep, bundle_type="transaction")
    ]
    assert all(len(b["entry"]) <= 50 for b in bundles)
    assert len(bundles) > len(_episodes(demo, exporter_actor))  # some episodes were split
    expected = _expected(bundles)
    _load(medplum, bundles)
    _check_server_holds(medplum, expected)
    _load(medplum, bundles)
    _check_server_holds(medplum, expected)


def test_the_server_refuses_a_transaction_of_conditional_creates_over_its_bound(
    medplum: str, demo: Practice, exporter_actor: Actor
) -> None:
    """Why transactions are updates by id: Medplum refuses more than 8 conditional entries in one."""
    batch = max(
        (
            episode_bundle(demo, exporter_actor, ep, bundle_type="batch")
            for ep in _episodes(demo, exporter_actor)
        ),
        key=lambda b: len(b["entry"]),
    )
    conditional = [e for e in batch["entry"] if "ifNoneExist" in e["request"]]
    assert len(conditional) > 8
    with pytest.raises(urllib.error.HTTPError) as refused:
        _call(medplum, "POST", "", {**batch, "type": "transaction", "entry": conditional[:9]})
    assert refused.value.code == 400
    refused.value.close()


def _put_bulk(base: str, folder: Path) -> int:
    """Load a Bulk export as a server loads NDJSON: every resource of every file the manifest lists, in its
    order, as an update by id (the export's own stable ids, the relative references between them)."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    loaded = 0
    for output in manifest["output"]:
        name = output["url"].rsplit("/", 1)[1]
        for line in (folder / name).read_text("utf-8").splitlines():
            resource = json.loads(line)
            stored = _call(base, "PUT", f"{resource['resourceType']}/{resource['id']}", resource)
            assert stored["id"] == resource["id"]
            loaded += 1
    return loaded


def test_a_bulk_export_loads_twice_with_its_questionnaires_and_nothing_twice(
    medplum: str, demo: Practice, exporter_actor: Actor, tmp_path: Path
) -> None:
    """The NDJSON directory with its manifest (a base URL given), loaded twice: the server holds each
    resource once, as many of each type as the manifest counts; every response's Questionnaire is there
    (by its canonical ``url|version``); every reference resolves, but a Provenance's target of a Goal's
    version (``Goal/<id>/_history/<n>``): alliancekit's version numbers, which a server does not keep."""
    folder = tmp_path / "bulk"
    export_ndjson(
        demo,
        exporter_actor,
        folder,
        purpose="treatment",
        episode_ids=_episodes(demo, exporter_actor),
        base_url="https://files.example.org/export-1",
    )
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert all(o["url"].startswith("https://files.example.org/export-1/") for o in manifest["output"])
    expected = Counter({o["type"]: o["count"] for o in manifest["output"]})
    assert expected["Questionnaire"] > 0
    for _ in range(2):
        assert _put_bulk(medplum, folder) == sum(expected.values())
        stored = _stored(medplum, set(expected))
        assert Counter({t: len(rs) for t, rs in stored.items()}) == expected
    canonical = {f"{q['url']}|{q['version']}" for q in stored["Questionnaire"]}
    assert {r["questionnaire"] for r in stored["QuestionnaireResponse"]} <= canonical
    known = {f"{r['resourceType']}/{r['id']}" for rs in stored.values() for r in rs}
    versioned = []
    for resources in stored.values():
        for resource in resources:
            contained = {f"#{c['id']}" for c in resource.get("contained", ())}
            for ref in references(resource):
                if ref in known or ref in contained:
                    continue
                assert resource["resourceType"] == "Provenance", f"{resource['resourceType']}: dangling {ref}"
                versioned.append(ref)
    assert versioned
    assert all(ref.startswith("Goal/") and ref.partition("/_history/")[0] in known for ref in versioned)
