"""Project 4: a financial reference-data store (a small security master).

:mod:`.identifiers` (LEI, ISIN, CUSIP, FIGI, BIC with python-stdnum; check digits by hand),
:mod:`.openfigi` and :mod:`.gleif` (the API clients), :mod:`.stub` (their offline
stand-ins), :mod:`.universe` (the made-up, valid universe they serve), :mod:`.store`
(validated, idempotent loads with history; the security-master query; quality report).
PermID is not covered yet.
"""

from .identifiers import InvalidIdentifier, is_valid, validate
from .store import (history, load_figi_results, load_mapping, lookup_widget, quality, reset,
                    security_master, setup, show, upsert_entities, upsert_instruments)

__all__ = ["InvalidIdentifier", "history", "is_valid", "load_figi_results", "load_mapping", "lookup_widget", "quality", "reset",
           "security_master", "setup", "show", "upsert_entities", "upsert_instruments", "validate"]
