"""The fitted expectation model is kept in the store: read once by a practice opened later, never fitted on
the write path, and ignored (the norms stand in) when what is stored does not fit this practice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.feedback import FeedbackConfig
from alliancekit.feedback.expectation import FIT_KEY, BandCurve, BandFit, ExpectationFit
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.store.sqlite import SQLiteStore

ADMIN = Actor("adm-1", Role.ADMINISTRATOR, "north")
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
FIT = ExpectationFit(
    AT,
    (BandFit("phq-9", "moderately-severe", BandCurve(-5.5, -4.25, -3.1, -1.0, 0.5, 3), 1.25),),
    3,
    5,
)


def _practice(path: Path, **options: object) -> Practice:
    return Practice(SQLiteStore(path), plugins=get_plugin_host(), clock=lambda: AT, **options)  # type: ignore[arg-type]


def test_the_stored_text_reads_back_as_the_same_fit() -> None:
    assert ExpectationFit.from_json(FIT.to_json(), 3) == FIT
    assert ExpectationFit.from_json(FIT.to_json(), 30).min_episodes_per_band == 30  # the reader's rule


@pytest.mark.parametrize(
    "text",
    [
        '{"format": 2, "bands": []}',
        '{"format": 1}',
        "[]",
        "not json",
        (
            '{"format":1,"fitted_at":null,"intake_bins":5,'
            '"bands":[{"measure":"phq-9","band":"b","slopes":[1],"episodes":3,"residual_sd":null}]}'
        ),
    ],
)
def test_a_stored_text_that_is_no_fit_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="fit"):
        ExpectationFit.from_json(text, 3)


def test_a_practice_reads_the_stored_fit_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with _practice(path) as writer:
        writer._s.store.save_meta(FIT_KEY, FIT.to_json())  # as refit_expectations stores it
    reader = _practice(path, feedback=FeedbackConfig(min_episodes_per_band=3))
    try:
        assert reader.expectations.fit == FIT
        measure = reader.plugins.measures().get("phq-9")
        expected = reader.expectations.expect(measure, 17.0, 4)
        assert expected is not None
        assert (expected.source, expected.episodes) == ("fitted", 3)
        with _practice(path) as other:  # another process stores something else meanwhile
            other._s.store.save_meta(FIT_KEY, ExpectationFit(AT, (), 3, 5).to_json())
        assert reader.expectations.fit == FIT  # read once, cached: a host refits to take a new fit
    finally:
        reader.close()


def test_a_stored_fit_that_does_not_fit_this_practice_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.sqlite"
    with _practice(path) as writer:
        writer._s.store.save_meta(FIT_KEY, FIT.to_json())
    with caplog.at_level(logging.WARNING), _practice(path, feedback=FeedbackConfig(intake_bins=4)) as reader:
        assert reader.expectations.fit.fitted_at is None
    assert "intake bins" in caplog.text
    with _practice(path) as writer:
        writer._s.store.save_meta(FIT_KEY, '{"format": 99}')
    with caplog.at_level(logging.WARNING), _practice(path) as reader:
        assert reader.expectations.fit.fitted_at is None
        assert reader.expectations.curves() == {}
    assert "ignored until the next refit" in caplog.text


def test_refit_stores_the_fit_before_putting_it_in_use(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with _practice(path) as practice:
        fit = practice.refit_expectations(ADMIN)
        assert (fit.fitted_at, fit.intake_bins) == (AT, 5)
    with _practice(path) as later:
        assert later.expectations.fit == fit
        assert [e.action for e in later.audit_entries(ADMIN)].count("refit-expectations") == 1
