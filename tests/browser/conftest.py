"""Fixtures for page tests in a real browser (see harness.py): one headless Chromium per test process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Browser, find_axe, find_chromium, find_lforms, unavailable


@pytest.fixture(scope="session")
def axe_source() -> str:
    return find_axe()


@pytest.fixture(scope="session")
def lforms_dir() -> Path:
    return find_lforms()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium, chromedriver = find_chromium()
    try:
        import selenium  # noqa: F401 - only to know it is installed
    except ImportError:
        unavailable("selenium is not installed (it is in the test extra)")
    session = Browser(chromium, chromedriver)
    try:
        yield session
    finally:
        session.close()
