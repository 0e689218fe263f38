"""Step 4 — aggregate the clean bars to daily OHLCV per NYSE session, in SQL (fdelib.etl.aggregate_daily)."""

from fdelib import etl
from fdelib.mage import blocks

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def aggregate_daily(clean: dict, **kwargs) -> dict:
    with blocks.step(kwargs, clean) as run:
        sessions = {month: etl.aggregate_daily(run.conn, run.symbol, month, run.interval) for month in run.months()}
    return run.output(daily_rows=sessions[run.month])
