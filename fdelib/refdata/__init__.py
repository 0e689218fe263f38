"""Project 4: a financial reference-data store (a small security master).

:mod:`.identifiers` (LEI, ISIN, CUSIP, SEDOL, FIGI, BIC with python-stdnum; check digits by hand),
:mod:`.openfigi`, :mod:`.gleif` and :mod:`.permid` (the API clients; their HTTP plumbing is
:mod:`fdelib.http`), :mod:`.stub` (their offline stand-ins), :mod:`.universe` (the made-up, valid
universe they serve), :mod:`.codes` (the code lists: countries, currencies, markets — ISO 3166-1,
4217, 10383), :mod:`.store` (validated, idempotent loads with history; PermID candidates;
the security-master query; quality report).
"""

from ..errors import FdeError
from .identifiers import InvalidIdentifier, bic11, is_valid, validate, verdicts
from .store import (
    accepted,
    history,
    links_by_kind,
    load_figi_results,
    load_mapping,
    load_permid_matches,
    lookup_widget,
    permid_candidates,
    plot_links,
    quality,
    refused,
    refused_jobs,
    reset,
    retired_links,
    security_master,
    setup,
    show,
    upsert_entities,
    upsert_instruments,
)

__all__ = [
    "FdeError",
    "InvalidIdentifier",
    "accepted",
    "bic11",
    "history",
    "is_valid",
    "links_by_kind",
    "load_figi_results",
    "load_mapping",
    "load_permid_matches",
    "lookup_widget",
    "permid_candidates",
    "plot_links",
    "quality",
    "refused",
    "refused_jobs",
    "reset",
    "retired_links",
    "security_master",
    "setup",
    "show",
    "upsert_entities",
    "upsert_instruments",
    "validate",
    "verdicts",
]
