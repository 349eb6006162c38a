"""Every table of the service, in one MetaData (what migrations compare against)."""

from linli_points.ledger.tables import metadata

__all__ = ["metadata"]
