"""The library's loggers: every module that logs takes its logger from :func:`logger`.

A library leaves logging to its host: the ``alliancekit`` logger gets a :class:`logging.NullHandler`, without
which Python's last-resort handler prints the library's warnings to the stderr of a host that configured no
logging. It is added here, by the modules that log, rather than by ``import alliancekit``, which imports
nothing Python has not loaded already (see :mod:`alliancekit`).
"""

import logging

logging.getLogger("alliancekit").addHandler(logging.NullHandler())


def logger(name: str) -> logging.Logger:
    """The logger ``name`` (under ``alliancekit``), its top one quiet unless the host configures logging."""
    return logging.getLogger(name)
