"""alliancekit-postgres: the PostgreSQL store for alliancekit (group practices, many clinics on one database).

Open it by location, ``open_practice("postgresql://app@db/practice?clinic=north")``, or build a
:class:`PostgresStore` directly. See :mod:`alliancekit_postgres.store` for how the clinic is chosen and how
row-level security keeps clinics apart.
"""

from alliancekit_postgres.store import ConnectionLost, PostgresStore, migrate, open_postgres, parse_location

__version__ = "0.1.0"

__all__ = ["ConnectionLost", "PostgresStore", "__version__", "migrate", "open_postgres", "parse_location"]
