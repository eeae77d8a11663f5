"""Tests of the core: lifecycle rules, facade, stores, crash safety and concurrency (issue 2)."""
