"""Contract suites that plugin authors subclass in their own tests (measures, stores, notifiers)."""
