"""Where the bars come from: Alpha Vantage live, or its local stand-in (the default).

``FDE_MODE=live`` with ``ALPHAVANTAGE_API_KEY``: the real API, calls spaced a little over a
second apart (a free key's burst limit is about one request a second; its quota, 25 a day, is the
real limit — see :data:`.alphavantage.FREE_TIER`). Offline: the stand-in of :mod:`.stub`, started
in this process on first use, with the key ``demo``. The client and the stand-in both depend on
the format (:mod:`.alphavantage`); this module, above both, is the only one that knows them both.
"""

from __future__ import annotations

from .. import http
from ..config import Settings, get_settings
from . import stub
from .alphavantage import FREE_TIER, LIVE_URL, Client


def client(settings: Settings | None = None, **options) -> Client:
    """A client for the configured mode: the live API with a key, else the local stand-in."""
    settings = settings or get_settings()
    options.setdefault("max_wait", settings.api_max_wait)
    if settings.live:
        key = http.api_key(
            settings,
            "ALPHAVANTAGE_API_KEY",
            required=True,
            why=f"a key from https://www.alphavantage.co/support/#api-key ({FREE_TIER})",
        )
        options.setdefault("min_interval", 1.2)
        options.setdefault("backoff", 2.0)
        assert key is not None  # api_key refuses a missing required key in live mode
        return Client(LIVE_URL, key, **options)
    return Client(http.base_url(settings, LIVE_URL, stub.serve), "demo", **options)
