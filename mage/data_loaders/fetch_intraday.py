"""Step 1 — fetch a month of intraday bars from Alpha Vantage (offline: the course's stand-in).

fdelib.etl.fetch checks the whole answer before anything is written: an error answer or a bad bar
fails this block — and the Mage run — with fdelib's message. The run begins here first
(fdelib.etl.Run: its record in etl.runs and the one transaction the next three blocks write in).
Pipeline variables: symbol, month (YYYY-MM), interval, seed (the offline stand-in's).
"""

from fdelib import etl
from fdelib.mage import blocks

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def fetch_intraday(**kwargs) -> dict:
    with blocks.step(kwargs) as run:
        run.payload = etl.fetch(run.client, run.symbol, run.month, run.interval)
    return run.output(bars=run.bars())
