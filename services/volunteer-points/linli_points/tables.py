"""Every table of the service, in one MetaData (what migrations compare against)."""

from linli_points import schema as _schema  # noqa: F401  (registers its tables)
from linli_points.ledger.tables import metadata

__all__ = ["metadata"]
