"""The demo practice: a deterministic, entirely synthetic clinic that exercises every lifecycle stage."""

from alliancekit.demo.simulate import DemoSummary, simulate_practice

__all__ = ["DemoSummary", "simulate_practice"]
